//! The users service: profiles, nickname rules and the profanity filter, deactivation, deletion
//! and data export.
//!
//! # Layout
//! - [`nickname`]: [`Nickname::parse`], the only way to make a nickname, and its uniqueness key.
//! - `profanity`: the Korean and English filter, `veilgram_classify`'s keyword rules (the same
//!   normaliser and lists automatic moderation reads text through).
//! - [`cache`]: a short-TTL in-process profile cache, invalidated by this process's writes.
//! - [`service`]: [`UsersService`], the operations the gateway calls.
//!
//! # Invariants
//! - A stored nickname is always NFKC-normalised, passed the rules and the filter, and is unique
//!   by its key (NFKC + case folding + confusable folding).
//! - Public profiles never expose `created_at`: nothing public reveals when someone signed up.

pub mod cache;
pub mod nickname;
pub mod profanity {
    pub use veilgram_classify::ProfanityFilter;
}
pub mod service;

pub use nickname::{Nickname, NicknameError};
pub use service::{Export, ProfileUpdate, UserError, UsersService};
