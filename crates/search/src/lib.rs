//! Search: the embedded index of posts (tantivy) and the OpenSearch adapter behind the
//! `SearchIndex` port, the Korean and
//! English text analysis it uses, and the indexer consumer group that keeps it in step with
//! the event log.

pub mod analysis;
pub mod index;
pub mod indexer;
pub mod opensearch;

pub use index::TantivySearch;
pub use indexer::Indexer;
pub use opensearch::{OpenSearchIndex, OpenSearchSettings};

use veilgram_core::ports::{Hit, SearchPosition, SearchSort};

/// What a document is: posts and accounts share one index (on both adapters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Post = 0,
    User = 1,
}

impl Kind {
    /// The `kind` field's value on OpenSearch.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Post => "post",
            Self::User => "user",
        }
    }

    /// The order a search of this kind follows: accounts carry no creation time, so `Recent`
    /// orders them as `Relevance`.
    pub(crate) fn sort(self, asked: SearchSort) -> SearchSort {
        match (self, asked) {
            (Self::User, SearchSort::Recent) => SearchSort::Relevance,
            (_, sort) => sort,
        }
    }
}

/// `(key, id)` pairs an adapter found, as the port's hits.
pub(crate) fn hits<Id>(
    found: Vec<(f64, uuid::Uuid)>,
    id: impl Fn(uuid::Uuid) -> Id,
) -> Vec<Hit<Id>> {
    found
        .into_iter()
        .map(|(key, uuid)| Hit {
            id: id(uuid),
            position: SearchPosition { key, id: uuid },
        })
        .collect()
}
