//! The users service: profiles, nickname rules and the profanity filter, deactivation, deletion
//! and data export.
//!
//! # Layout
//! - [`nickname`]: [`Nickname::parse`], the only way to make a nickname, and its uniqueness key.
//! - [`profanity`]: the Korean and English filter over the word lists in `data/`.
//! - [`cache`]: a short-TTL in-process profile cache, invalidated by this process's writes.
//! - [`service`]: [`UsersService`], the operations the gateway calls.
//!
//! # Invariants
//! - A stored nickname is always NFKC-normalised, passed the rules and the filter, and is unique
//!   by its key (NFKC + case folding + confusable folding).
//! - Public profiles never expose `created_at`: nothing public reveals when someone signed up.

pub mod cache;
pub mod nickname;
pub mod profanity;
pub mod service;

pub use nickname::{Nickname, NicknameError};
pub use service::{Export, ProfileUpdate, UserError, UsersService};
