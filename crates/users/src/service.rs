//! `UsersService`: the profile operations of API.md on top of the `ProfileStore` port.

use crate::nickname::{Nickname, NicknameError};
use crate::profanity::ProfanityFilter;
use std::sync::Arc;
use veilgram_core::ports::{ProfileChange, ProfileStore, Revocation, SessionSummary, UserRecord};
use veilgram_core::{StoreError, Timestamp, UserId};

pub const MAX_STATUS_MESSAGE_CHARS: usize = 150;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    InvalidNickname(#[from] NicknameError),
    #[error("that nickname is taken")]
    NicknameTaken,
    #[error("status message must be at most 150 characters without control characters")]
    InvalidStatusMessage,
    #[error("media not found")]
    MediaNotFound,
    #[error("user not found")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for UserError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict("nickname") => Self::NicknameTaken,
            other => Self::Store(other),
        }
    }
}

/// A requested profile change, as received (not yet validated).
#[derive(Clone, Debug, Default)]
pub struct ProfileUpdate {
    pub nickname: Option<String>,
    pub status_message: Option<String>,
    pub avatar_media_id: Option<String>,
}

/// Everything the service holds about a user, for `GET /users/me/export`.
#[derive(Clone, Debug)]
pub struct Export {
    pub profile: UserRecord,
    pub sessions: Vec<SessionSummary>,
}

pub struct UsersService {
    store: Arc<dyn ProfileStore>,
    filter: ProfanityFilter,
}

impl UsersService {
    pub fn new(store: Arc<dyn ProfileStore>) -> Self {
        Self {
            store,
            filter: ProfanityFilter::bundled(),
        }
    }

    pub fn parse_nickname(&self, raw: &str) -> Result<Nickname, UserError> {
        Ok(Nickname::parse(raw, &self.filter)?)
    }

    /// The caller's own profile (deactivated or not: a token proves the account is theirs).
    pub async fn me(&self, user_id: UserId) -> Result<UserRecord, UserError> {
        self.store.user(user_id).await?.ok_or(UserError::NotFound)
    }

    /// Someone's public profile; deactivated accounts are hidden as if they did not exist.
    pub async fn public_profile(&self, user_id: UserId) -> Result<UserRecord, UserError> {
        match self.store.user(user_id).await? {
            Some(user) if user.deactivated_at.is_none() => Ok(user),
            _ => Err(UserError::NotFound),
        }
    }

    pub async fn update(
        &self,
        user_id: UserId,
        update: ProfileUpdate,
    ) -> Result<UserRecord, UserError> {
        // Everything is validated before anything is written.
        let nickname = update
            .nickname
            .as_deref()
            .map(|raw| self.parse_nickname(raw))
            .transpose()?;
        let status_message = update
            .status_message
            .map(validate_status_message)
            .transpose()?;
        if update.avatar_media_id.is_some() {
            // Media arrive with the media service; until then no media id can exist.
            return Err(UserError::MediaNotFound);
        }
        let change = ProfileChange {
            nickname: nickname.map(Nickname::into_parts),
            status_message,
        };
        Ok(self.store.update_profile(user_id, &change).await?)
    }

    /// Hides the account until its next login and ends its sessions.
    pub async fn deactivate(&self, user_id: UserId) -> Result<Vec<Revocation>, UserError> {
        Ok(self.store.deactivate(user_id, Timestamp::now()).await?)
    }

    /// Erases the account and frees its nickname.
    pub async fn delete(&self, user_id: UserId) -> Result<Revocation, UserError> {
        Ok(self.store.delete_account(user_id, Timestamp::now()).await?)
    }

    pub async fn export(&self, user_id: UserId) -> Result<Export, UserError> {
        let profile = self.me(user_id).await?;
        let sessions = self.store.sessions(user_id).await?;
        Ok(Export { profile, sessions })
    }
}

fn validate_status_message(text: String) -> Result<String, UserError> {
    let trimmed = text.trim();
    if trimmed.chars().count() > MAX_STATUS_MESSAGE_CHARS
        || trimmed.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(UserError::InvalidStatusMessage);
    }
    Ok(trimmed.to_owned())
}
