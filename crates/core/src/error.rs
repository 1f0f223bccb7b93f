//! What a storage port can answer besides success. Adapters translate driver errors into these.

/// The failure of a storage operation, translated from the engine's own error by the adapter.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// A rule was violated (a uniqueness rule, or a state the change needs); which one.
    #[error("conflict on {0}")]
    Conflict(Conflict),
    /// The engine failed or could not be reached. The message is for logs, never for clients.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

/// The rule a [`StoreError::Conflict`] broke: one enum, matched by the services, instead of
/// strings each crate had to spell alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// Two access tokens with the same digest (minted in the same second).
    AccessToken,
    /// Two first comments raced for one alias number.
    Alias,
    /// The poll has closed.
    PollClosed,
    /// Two requests raced for one idempotency key.
    IdempotencyKey,
    /// The idempotency key was used with a different request.
    IdempotencyMismatch,
    /// The nickname is taken.
    Nickname,
    /// No such poll option.
    PollOption,
    /// The parent comment is not on this post.
    Parent,
    /// Another uniqueness rule.
    Unique,
    /// A second vote.
    Vote,
}

impl Conflict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::Alias => "alias",
            Self::PollClosed => "closed",
            Self::IdempotencyKey => "idempotency_key",
            Self::IdempotencyMismatch => "idempotency_mismatch",
            Self::Nickname => "nickname",
            Self::PollOption => "option",
            Self::Parent => "parent",
            Self::Unique => "unique",
            Self::Vote => "vote",
        }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
