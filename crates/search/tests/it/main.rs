//! The search port's contract (`veilgram_testkit::contracts::search`) on both adapters: the
//! embedded tantivy index, in memory and on disk, and the OpenSearch adapter against the server
//! `scripts/opensearch` runs (PyPI's noida-db, which answers the Elasticsearch 8 REST API; no
//! OpenSearch can be installed here), or the one `VEILGRAM_TEST_OPENSEARCH_URL` names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use veilgram_core::ports::{Search, SearchError, SearchIndex, SearchSort};
use veilgram_search::{OpenSearchIndex, OpenSearchSettings, TantivySearch};
use veilgram_testkit::contracts::search as contract;

/// An empty OpenSearch index of its own (a fresh alias and index per call).
async fn opensearch() -> OpenSearchIndex {
    let url = tokio::task::spawn_blocking(veilgram_testkit::opensearch::url)
        .await
        .unwrap();
    let settings = OpenSearchSettings {
        url,
        username: None,
        password: None,
        prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
    };
    OpenSearchIndex::connect(&settings).await.expect("connect")
}

macro_rules! on_every_adapter {
    ($($suite:ident),* $(,)?) => {
        mod tantivy_memory {
            $(#[tokio::test]
            async fn $suite() {
                let index = veilgram_search::TantivySearch::in_memory().unwrap();
                super::contract::$suite(&index).await;
            })*
        }
        mod tantivy_disk {
            $(#[tokio::test]
            async fn $suite() {
                let directory = tempfile::tempdir().unwrap();
                let index = veilgram_search::TantivySearch::open(directory.path()).unwrap();
                super::contract::$suite(&index).await;
            })*
        }
        mod opensearch {
            $(#[tokio::test]
            async fn $suite() {
                let index = super::opensearch().await;
                super::contract::$suite(&index).await;
            })*
        }
    };
}

on_every_adapter!(
    korean_and_english_fragments_find_their_words_and_nothing_across_words,
    sorts_page_after_their_position_and_posts_leave_the_index,
    accounts_are_found_by_nickname_and_status_apart_from_posts,
    a_rebuild_serves_the_old_index_until_it_switches,
);

#[tokio::test]
async fn an_unreachable_opensearch_is_unavailable_not_an_error_of_the_request() {
    let settings = OpenSearchSettings {
        url: "http://127.0.0.1:1".into(),
        username: Some("veilgram".into()),
        password: Some("secret".into()),
        prefix: "unreachable".into(),
    };
    let error = OpenSearchIndex::connect(&settings).await.err().unwrap();
    assert!(matches!(error, SearchError::Unavailable(_)), "{error}");
    assert!(
        !format!("{settings:?}").contains("secret"),
        "the password is never shown"
    );
}

#[tokio::test]
async fn a_reopened_disk_index_keeps_what_was_committed() {
    let directory = tempfile::tempdir().unwrap();
    let post = veilgram_core::ports::PostDocument {
        id: veilgram_core::PostId::generate(),
        author_id: veilgram_core::UserId::random(),
        text: "한강 산책".into(),
        hashtags: vec![],
        public: true,
        created_at: veilgram_core::Timestamp::now(),
        like_count: 0,
    };
    {
        let index = TantivySearch::open(directory.path()).unwrap();
        index.put_post(post.clone()).await.unwrap();
        index.commit().await.unwrap();
    }
    let index = TantivySearch::open(directory.path()).unwrap();
    let search = Search {
        query: "산책",
        sort: SearchSort::Relevance,
        public_only: true,
        after: None,
        limit: 10,
    };
    let hits = index.search_posts(&search).await.unwrap();
    assert_eq!(hits.first().map(|hit| hit.id), Some(post.id));
}

fn post_at(text: &str, created: i64) -> veilgram_core::ports::PostDocument {
    veilgram_core::ports::PostDocument {
        id: veilgram_core::PostId::generate(),
        author_id: veilgram_core::UserId::random(),
        text: text.into(),
        hashtags: vec![],
        public: true,
        created_at: veilgram_core::Timestamp::from_millis(created),
        like_count: 0,
    }
}

/// Every page of a search, each after the last hit of the one before.
async fn every_page(index: &TantivySearch, query: &str, sort: SearchSort) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let search = Search {
            query,
            sort,
            public_only: false,
            after,
            limit: 4,
        };
        let hits = index.search_posts(&search).await.unwrap();
        let Some(last) = hits.last() else {
            return ids;
        };
        after = Some(last.position);
        ids.extend(hits.iter().map(|hit| *hit.id.as_uuid()));
    }
}

// The embedded index reads `recent` from the head of each segment (they are sorted newest
// first) and stops early: pages must still be exact across segments, ties, edits that put an
// old post into the newest segment, and deletions.
#[tokio::test]
async fn recent_pages_are_exact_across_segments_edits_and_ties() {
    let directory = tempfile::tempdir().unwrap();
    let index = TantivySearch::open(directory.path()).unwrap();
    let mut posts = Vec::new();
    for segment in 0..5 {
        for n in 0..6 {
            let number = segment * 6 + n;
            // Two posts per millisecond, so ids decide ties.
            let post = post_at(&format!("한강 산책 {number}"), 1_000 + number / 2);
            index.put_post(post.clone()).await.unwrap();
            posts.push(post);
        }
        index.commit().await.unwrap();
    }
    for edited in [0, 1, 10] {
        posts[edited].text = format!("한강 산책 고침 {edited}");
        index.put_post(posts[edited].clone()).await.unwrap();
    }
    let deleted = posts.remove(20);
    index.remove_post(deleted.id).await.unwrap();
    index.commit().await.unwrap();

    let mut expected: Vec<(i64, uuid::Uuid)> = posts
        .iter()
        .map(|post| (post.created_at.as_millis(), *post.id.as_uuid()))
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    let expected: Vec<uuid::Uuid> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(
        every_page(&index, "산책", SearchSort::Recent).await,
        expected
    );
}

// `relevance` ranks the newest matching posts (the window), so a query's cost does not grow
// with the index; within the window the best match comes first.
#[tokio::test]
async fn relevance_ranks_the_newest_window_of_matching_posts() {
    let best = post_at("서울 서울 서울", 1);
    let others: Vec<_> = (2..6)
        .map(|created| {
            post_at(
                &format!("서울에서 보낸 아주 길고 긴 하루 {created}"),
                created,
            )
        })
        .collect();
    let whole = TantivySearch::in_memory().unwrap();
    let windowed = TantivySearch::in_memory().unwrap().with_relevance_window(3);
    for index in [&whole, &windowed] {
        index.put_post(best.clone()).await.unwrap();
        for post in &others {
            index.put_post(post.clone()).await.unwrap();
        }
        index.commit().await.unwrap();
    }
    let all = every_page(&whole, "서울", SearchSort::Relevance).await;
    assert_eq!(all.len(), 5);
    assert_eq!(all[0], *best.id.as_uuid(), "the best match ranks first");

    let newest = every_page(&windowed, "서울", SearchSort::Relevance).await;
    let mut expected: Vec<uuid::Uuid> = others[1..].iter().map(|post| *post.id.as_uuid()).collect();
    let mut found = newest.clone();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "only the newest three matches are ranked");
}
