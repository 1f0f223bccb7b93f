//! Search: the embedded index of posts (tantivy) behind the `SearchIndex` port, the Korean and
//! English text analysis it uses, and the indexer consumer group that keeps it in step with
//! the event log.

pub mod analysis;
pub mod index;
pub mod indexer;

pub use index::TantivySearch;
pub use indexer::Indexer;
