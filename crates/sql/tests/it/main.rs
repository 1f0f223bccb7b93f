//! The storage contract: every port method, run against SQLite and PostgreSQL alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod credentials;
mod events;
mod group_commit;
mod jobs;
mod profiles;
mod schema;

use std::time::Duration;
use veilgram_core::ports::{NewAccount, NewRefreshToken, NewSession, SecretHash};
use veilgram_core::{SessionFamilyId, Timestamp, UserId};

pub fn hash(label: &str) -> SecretHash {
    let mut bytes = [0u8; 32];
    for (index, byte) in label.bytes().enumerate().take(32) {
        bytes[index] = byte;
    }
    bytes[31] = label.len() as u8;
    bytes
}

pub fn account(nickname: &str) -> NewAccount {
    NewAccount {
        user_id: UserId::random(),
        nickname: nickname.to_owned(),
        nickname_key: nickname.to_lowercase(),
        recovery_key_hash: hash(&format!("recovery-{nickname}")),
        created_at: Timestamp::now(),
    }
}

pub fn refresh_token(user_id: UserId, family_id: SessionFamilyId, label: &str) -> NewRefreshToken {
    let now = Timestamp::now();
    NewRefreshToken {
        family_id,
        user_id,
        token_hash: hash(&format!("refresh-{label}")),
        expires_at: now.plus(Duration::from_secs(3600)),
        access_token_hash: hash(&format!("access-{label}")),
        access_expires_at: now.plus(Duration::from_secs(900)),
        created_at: now,
    }
}

pub fn session(user_id: UserId, label: &str) -> NewSession {
    let family_id = SessionFamilyId::random();
    NewSession {
        family_id,
        family_expires_at: Timestamp::now().plus(Duration::from_secs(7200)),
        first_token: refresh_token(user_id, family_id, label),
    }
}

pub fn deleted(user_id: UserId) -> veilgram_core::events::EventEnvelope {
    veilgram_core::events::EventEnvelope::new(
        Some(user_id),
        Timestamp::now(),
        veilgram_core::events::DomainEvent::UserDeleted { user_id },
    )
}
