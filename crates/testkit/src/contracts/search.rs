//! The search port's contract: what every adapter (the embedded tantivy index, OpenSearch)
//! must do, with real Korean and English text. Each suite takes an empty index.

use veilgram_core::ports::{PostDocument, PostSearch, SearchIndex, SearchSort};
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

async fn found(index: &dyn SearchIndex, query: &str, sort: SearchSort) -> Vec<PostId> {
    let search = PostSearch {
        query,
        sort,
        public_only: false,
        after: None,
        limit: 50,
    };
    let hits = index.search_posts(&search).await.expect("search");
    hits.into_iter().map(|hit| hit.post_id).collect()
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
            let search = PostSearch {
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
            seen.extend(hits.into_iter().map(|hit| hit.post_id));
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
    let public = PostSearch {
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
