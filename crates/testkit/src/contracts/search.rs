//! The search port's contract: what every adapter (the embedded tantivy index, OpenSearch)
//! must do, with real Korean and English text. Each suite takes an empty index.

use veilgram_core::ports::{PostDocument, Search, SearchIndex, SearchSort, UserDocument};
use veilgram_core::{PostId, Timestamp, UserId};

fn post(text: &str, tags: &[&str], public: bool, created: i64, likes: i64) -> PostDocument {
    PostDocument {
        id: PostId::generate(),
        author_id: UserId::random(),
        text: text.to_owned(),
        hashtags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
        public,
        created_at: Timestamp::from_millis(created),
        like_count: likes,
    }
}

fn user(nickname: &str, status: &str, followers: i64) -> UserDocument {
    UserDocument {
        id: UserId::random(),
        nickname: nickname.to_owned(),
        status_message: status.to_owned(),
        followers_count: followers,
    }
}

fn everywhere(query: &str, sort: SearchSort) -> Search<'_> {
    Search {
        query,
        sort,
        public_only: false,
        after: None,
        limit: 50,
    }
}

async fn found_users(index: &dyn SearchIndex, query: &str, sort: SearchSort) -> Vec<UserId> {
    let hits = index
        .search_users(&everywhere(query, sort))
        .await
        .expect("search");
    hits.into_iter().map(|hit| hit.id).collect()
}

async fn found(index: &dyn SearchIndex, query: &str, sort: SearchSort) -> Vec<PostId> {
    let search = Search {
        query,
        sort,
        public_only: false,
        after: None,
        limit: 50,
    };
    let hits = index.search_posts(&search).await.expect("search");
    hits.into_iter().map(|hit| hit.id).collect()
}

pub async fn korean_and_english_fragments_find_their_words_and_nothing_across_words(
    index: &dyn SearchIndex,
) {
    let insta = post("인스타그램에 올린 사진", &[], true, 1, 0);
    let seoul = post("서울에서 만나요 그리고 서울의 밤", &["야경"], true, 2, 0);
    let photo = post("Photography at ＢＵＳＡＮ", &["바다"], true, 3, 0);
    let apart = post("스타 그램", &[], true, 4, 0);
    for document in [&insta, &seoul, &photo, &apart] {
        index.put_post(document.clone()).await.expect("put");
    }
    index.commit().await.expect("commit");
    let relevance = SearchSort::Relevance;
    assert_eq!(
        found(index, "스타그", relevance).await,
        vec![insta.id],
        "infix, one word"
    );
    assert_eq!(
        found(index, "서울", relevance).await,
        vec![seoul.id],
        "with particles"
    );
    assert_eq!(
        found(index, "PHOTO", relevance).await,
        vec![photo.id],
        "prefix, case"
    );
    assert_eq!(
        found(index, "busan", relevance).await,
        vec![photo.id],
        "full width"
    );
    assert_eq!(
        found(index, "#바다", relevance).await,
        vec![photo.id],
        "hashtag with #"
    );
    assert_eq!(
        found(index, "야경", relevance).await,
        vec![seoul.id],
        "hashtag without #"
    );
    assert_eq!(
        found(index, "서울 밤", relevance).await,
        vec![seoul.id],
        "every word"
    );
    assert!(found(index, "서울 바다", relevance).await.is_empty());
    let star = found(index, "스타", relevance).await;
    assert_eq!(star.first(), Some(&apart.id), "the whole word ranks first");
    assert_eq!(star.len(), 2);
    assert!(
        found(index, "\"*( AND \\", relevance).await.is_empty(),
        "syntax is text"
    );
}

pub async fn sorts_page_after_their_position_and_posts_leave_the_index(index: &dyn SearchIndex) {
    let posts: Vec<PostDocument> = (0..25)
        .map(|n| {
            post(
                &format!("고양이 사진 {n}"),
                &[],
                n % 5 != 0,
                1_000 + n,
                n % 3,
            )
        })
        .collect();
    for document in &posts {
        index.put_post(document.clone()).await.expect("put");
    }
    index.commit().await.expect("commit");
    for sort in [
        SearchSort::Recent,
        SearchSort::Popular,
        SearchSort::Relevance,
    ] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let search = Search {
                query: "고양",
                sort,
                public_only: false,
                after,
                limit: 7,
            };
            let hits = index.search_posts(&search).await.expect("search");
            if hits.is_empty() {
                break;
            }
            after = hits.last().map(|hit| hit.position);
            seen.extend(hits.into_iter().map(|hit| hit.id));
        }
        let mut unique = seen.clone();
        unique.sort_by_key(|id| id.to_string());
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (25, 25), "{sort:?}: each once");
        if sort == SearchSort::Recent {
            let newest: Vec<PostId> = posts.iter().rev().map(|post| post.id).collect();
            assert_eq!(seen, newest);
        }
    }
    let public = Search {
        query: "고양이",
        sort: SearchSort::Recent,
        public_only: true,
        after: None,
        limit: 50,
    };
    assert_eq!(index.search_posts(&public).await.expect("search").len(), 20);
    index.remove_post(posts[24].id).await.expect("remove");
    index
        .remove_author(posts[23].author_id)
        .await
        .expect("remove");
    index.commit().await.expect("commit");
    let left = found(index, "고양이", SearchSort::Recent).await;
    assert_eq!(left.len(), 23);
    assert_eq!(left.first(), Some(&posts[22].id));
}

pub async fn accounts_are_found_by_nickname_and_status_apart_from_posts(index: &dyn SearchIndex) {
    let cat = user("서울고양이", "Photography lover", 3);
    let mina = user("mina_kim", "부산에서 삽니다", 10);
    let other = user("고양이집사", "", 7);
    for account in [&cat, &mina, &other] {
        index.put_user(account.clone()).await.expect("put");
    }
    let post = post("고양이 사진 부산", &[], true, 1, 0);
    index.put_post(post.clone()).await.expect("put");
    index.commit().await.expect("commit");
    let relevance = SearchSort::Relevance;
    assert_eq!(
        found_users(index, "MINA", relevance).await,
        vec![mina.id],
        "nickname prefix"
    );
    assert_eq!(
        found_users(index, "부산", relevance).await,
        vec![mina.id],
        "status, particle"
    );
    assert_eq!(
        found_users(index, "photo", relevance).await,
        vec![cat.id],
        "status prefix"
    );
    assert_eq!(
        found_users(index, "고양이집사", relevance).await,
        vec![other.id],
        "whole nickname"
    );
    assert_eq!(
        found_users(index, "고양", SearchSort::Popular).await,
        vec![other.id, cat.id],
        "most followed first"
    );
    assert_eq!(
        found(index, "부산", relevance).await,
        vec![post.id],
        "posts apart"
    );
    // Updating replaces: the old status no longer finds the account.
    let moved = UserDocument {
        status_message: "제주에서 삽니다".into(),
        ..mina.clone()
    };
    index.put_user(moved).await.expect("put");
    index.remove_user(other.id).await.expect("remove");
    index.remove_author(cat.id).await.expect("remove");
    index.commit().await.expect("commit");
    assert!(found_users(index, "부산", relevance).await.is_empty());
    assert_eq!(found_users(index, "제주", relevance).await, vec![mina.id]);
    assert!(found_users(index, "고양", relevance).await.is_empty());
    assert_eq!(
        found(index, "고양이", relevance).await,
        vec![post.id],
        "posts stay"
    );
}

pub async fn a_rebuild_serves_the_old_index_until_it_switches(index: &dyn SearchIndex) {
    let old = post("오래된 글 archive", &[], true, 1, 0);
    index.put_post(old.clone()).await.expect("put");
    index.commit().await.expect("commit");
    let fresh = post("새로운 글 archive", &[], true, 2, 0);
    let account = user("archivist", "", 0);
    let mut rebuild = index.rebuild().await.expect("rebuild");
    rebuild.put_posts(vec![fresh.clone()]).await.expect("put");
    rebuild.put_users(vec![account.clone()]).await.expect("put");
    let relevance = SearchSort::Relevance;
    assert_eq!(
        found(index, "archive", relevance).await,
        vec![old.id],
        "before the switch"
    );
    assert!(found_users(index, "archiv", relevance).await.is_empty());
    rebuild.switch().await.expect("switch");
    assert_eq!(
        found(index, "archive", relevance).await,
        vec![fresh.id],
        "after it"
    );
    assert_eq!(
        found_users(index, "archiv", relevance).await,
        vec![account.id]
    );
    // The rebuilt index is written as any other.
    index.remove_post(fresh.id).await.expect("remove");
    index.commit().await.expect("commit");
    assert!(found(index, "archive", relevance).await.is_empty());
}
