//! The relational adapter: one set of queries that runs on SQLite (the embedded default, WAL) and
//! on PostgreSQL, through sqlx's `Any` driver.
//!
//! # Layout
//! - [`url`]: [`DatabaseUrl`] decides the engine from the URL scheme and refuses anything else.
//! - [`store`]: [`SqlStore`], the pool, migrations and the write-transaction helper.
//! - `credentials`, `profiles`: the `CredentialStore` and `ProfileStore` ports of core.
//! - `batch`: group commit of the hot writes (sign-ups, posts, comments, likes) on SQLite.
//! - `posts`, `comments`, `polls`, `graph`: the `PostStore`, `CommentStore`, `PollStore` and
//!   `GraphStore` ports.
//! - `reactions`: likes and reports, one implementation for posts and comments.
//! - `secrets`: the `ServerSecrets` port (keys shared by every process).
//! - `search`: the `SearchSource` port, what the search index is filled from.
//! - `feeds`: the `FeedStore` port, what feed caches are rebuilt from.
//! - `events`: the transactional outbox and the embedded event log with consumer offsets.
//! - `media`, `jobs`: the `MediaStore` port (uploads, stored files, attachment, discarding)
//!   and the `JobQueue` port (the embedded job queue).
//!
//! # Invariants
//! - Every query text is shared by both engines: `$N` placeholders, `BIGINT` milliseconds for
//!   instants, `TEXT` UUIDs, `ON CONFLICT`, `RETURNING`. Dialect differences are two DDL words spelled by
//!   `store::render_migration`, the write-transaction start in [`SqlStore::begin_write`], and
//!   the event-log append lock.
//! - Each port method is one transaction, or (SQLite) one write inside a group commit that is
//!   redone alone if its batch fails: it either writes everything or nothing.

mod address_blocks;
mod batch;
mod comments;
mod credentials;
mod events;
mod feeds;
mod graph;
mod idempotency;
mod jobs;
mod leases;
mod media;
mod moderation;
mod notifications;
mod polls;
mod posts;
mod profiles;
mod push;
mod reactions;
mod search;
mod secrets;
pub mod store;
pub mod url;

pub use batch::CommitStats;
pub use store::{PoolSettings, SqlStore};
pub use url::{DatabaseUrl, Engine};
