//! The posts service: posts with hashtags and mentions, likes, reports, idempotent creation.
//!
//! # Layout
//! - [`service`]: [`PostsService`], the operations the gateway calls. Hashtag and mention
//!   parsing lives in `veilgram_core::text`, shared with comments.
//!
//! # Invariants
//! - Every change writes its domain event in the same transaction (through the store).
//! - A post the caller may not see answers exactly like one that does not exist.
//! - Nothing the client must not set (author, counts, timestamps, ids) is taken from the client.

pub mod service;

pub use service::{NewPostRequest, PollRequest, PostError, PostsService};
