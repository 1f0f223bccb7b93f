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
