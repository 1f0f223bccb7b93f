//! The comments service: threaded comments with bounded depth, likes, reports, deletion rules,
//! and thread pseudonyms.
//!
//! # Layout
//! - [`service`]: [`CommentsService`], the operations the gateway calls.
//!
//! # Thread pseudonyms
//! In a post created with `anonymous_thread`, commenters appear as `OP` (the post's author) or
//! `#1`, `#2`, … in order of their first comment. The number is stored under
//! `HMAC-SHA256(thread key, post id, account id)`, with a server-wide key kept in the database
//! (shared by every process), so the alias table alone does not say who is behind an alias, the
//! same person keeps one alias within a thread, and aliases do not link across threads. The API
//! never shows the account behind an alias; blocking "the author of this comment" reaches it
//! without revealing it.
//!
//! # Invariants
//! - A comment on a post the caller may not see, or by someone the caller blocked or was blocked
//!   by, answers like a comment that does not exist.
//! - Every change writes its domain event in the same transaction (through the store).

pub mod service;

pub use service::{BlockedAuthor, CommentError, CommentsService, ThreadView};
