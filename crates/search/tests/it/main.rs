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
