//! The posts service: posts with hashtags and mentions, likes, reports, idempotent creation.
//!
//! # Layout
//! - [`text`]: hashtag and mention parsing.
//! - [`service`]: [`PostsService`], the operations the gateway calls.
//!
//! # Invariants
//! - Every change writes its domain event in the same transaction (through the store).
//! - A post the caller may not see answers exactly like one that does not exist.
//! - Nothing the client must not set (author, counts, timestamps, ids) is taken from the client.

pub mod service;
pub mod text;

pub use service::{NewPostRequest, PostError, PostsService};
