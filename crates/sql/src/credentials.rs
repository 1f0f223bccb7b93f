//! `CredentialStore` on the relational engines: accounts, session families, refresh tokens and
//! the append-only access-token revocation list.

use crate::batch::Write;
use crate::profiles::{announce_profile, record_profile_change};
use crate::store::{column, hash_column, id_column, translate, WriteTransaction};
use crate::SqlStore;
use async_trait::async_trait;
use veilgram_core::ports::{
    CredentialStore, NewAccount, NewRefreshToken, NewSession, RefreshTokenRecord, Revocation,
    RevocationEntry, SecretHash,
};
use veilgram_core::{SessionFamilyId, StoreError, Timestamp, UserId};

pub(crate) async fn insert_session(
    transaction: &mut WriteTransaction,
    session: &NewSession,
) -> Result<(), StoreError> {
    let token = &session.first_token;
    sqlx::query(
        "INSERT INTO session_families (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(session.family_id.to_string())
    .bind(token.user_id.to_string())
    .bind(token.created_at.as_millis())
    .bind(session.family_expires_at.as_millis())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    insert_refresh_token(transaction, token).await
}

async fn insert_refresh_token(
    transaction: &mut WriteTransaction,
    token: &NewRefreshToken,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at, \
         access_token_hash, access_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token.token_hash.to_vec())
    .bind(token.family_id.to_string())
    .bind(token.user_id.to_string())
    .bind(token.created_at.as_millis())
    .bind(token.expires_at.as_millis())
    .bind(token.access_token_hash.to_vec())
    .bind(token.access_expires_at.as_millis())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    Ok(())
}

/// Appends one revocation to the list.
pub(crate) async fn insert_revocation(
    transaction: &mut WriteTransaction,
    revocation: &Revocation,
    now: Timestamp,
) -> Result<(), StoreError> {
    let query = sqlx::query(
        "INSERT INTO access_revocations (token_hash, user_id, expires_at, revoked_at) \
         VALUES ($1, $2, $3, $4)",
    );
    let query = match revocation {
        Revocation::Token {
            token_hash,
            expires_at,
        } => query
            .bind(Some(token_hash.to_vec()))
            .bind(None::<String>)
            .bind(expires_at.as_millis())
            .bind(now.as_millis()),
        Revocation::Subject {
            user_id,
            revoked_at,
        } => query
            .bind(None::<Vec<u8>>)
            .bind(Some(user_id.to_string()))
            .bind(revoked_at.as_millis())
            .bind(revoked_at.as_millis()),
    };
    query.execute(&mut **transaction).await.map_err(translate)?;
    Ok(())
}

/// Which session families a revocation ends.
///
/// Access tokens carry no `iat` or `jti`, so two minted for one user in the same second are the
/// same string; "the family of an access token" is therefore a set, usually of one.
pub(crate) enum Families {
    One(SessionFamilyId),
    AllOfUser(UserId),
    MintedAccessToken(SecretHash),
    AllOfUserExceptMinted(UserId, SecretHash),
}

enum Bound {
    Text(String),
    Bytes(Vec<u8>),
}

impl Families {
    /// The SQL condition on `session_families` (placeholders from `$2`) and its bound values.
    fn condition(&self) -> (&'static str, Vec<Bound>) {
        match self {
            Self::One(family) => ("id = $2", vec![Bound::Text(family.to_string())]),
            Self::AllOfUser(user) => ("user_id = $2", vec![Bound::Text(user.to_string())]),
            Self::MintedAccessToken(hash) => (
                "id IN (SELECT family_id FROM refresh_tokens WHERE access_token_hash = $2)",
                vec![Bound::Bytes(hash.to_vec())],
            ),
            Self::AllOfUserExceptMinted(user, hash) => (
                "user_id = $2 AND id NOT IN \
                 (SELECT family_id FROM refresh_tokens WHERE access_token_hash = $3)",
                vec![Bound::Text(user.to_string()), Bound::Bytes(hash.to_vec())],
            ),
        }
    }
}

/// Marks the given families revoked and revokes every access token minted in them that has not
/// expired yet. Returns those token revocations.
pub(crate) async fn revoke_families(
    transaction: &mut WriteTransaction,
    families: &Families,
    now: Timestamp,
) -> Result<Vec<Revocation>, StoreError> {
    let (condition, values) = families.condition();
    let select = format!(
        "SELECT access_token_hash, access_expires_at FROM refresh_tokens \
         WHERE access_expires_at > $1 AND family_id IN \
         (SELECT id FROM session_families WHERE revoked_at IS NULL AND {condition})"
    );
    let mut query = sqlx::query(&select).bind(now.as_millis());
    for value in &values {
        query = match value {
            Bound::Text(text) => query.bind(text.clone()),
            Bound::Bytes(bytes) => query.bind(bytes.clone()),
        };
    }
    let tokens = query
        .fetch_all(&mut **transaction)
        .await
        .map_err(translate)?;

    let update = format!(
        "UPDATE session_families SET revoked_at = $1 WHERE revoked_at IS NULL AND {condition}"
    );
    let mut query = sqlx::query(&update).bind(now.as_millis());
    for value in &values {
        query = match value {
            Bound::Text(text) => query.bind(text.clone()),
            Bound::Bytes(bytes) => query.bind(bytes.clone()),
        };
    }
    query.execute(&mut **transaction).await.map_err(translate)?;

    let mut revocations = Vec::with_capacity(tokens.len());
    for row in &tokens {
        let revocation = Revocation::Token {
            token_hash: hash_column(row, "access_token_hash")?,
            expires_at: Timestamp::from_millis(column(row, "access_expires_at")?),
        };
        insert_revocation(transaction, &revocation, now).await?;
        revocations.push(revocation);
    }
    Ok(revocations)
}

async fn insert_account(
    transaction: &mut WriteTransaction,
    account: &NewAccount,
    session: &NewSession,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, nickname, nickname_key, recovery_key_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account.user_id.to_string())
    .bind(account.nickname.as_str())
    .bind(account.nickname_key.as_str())
    .bind(account.recovery_key_hash.to_vec())
    .bind(account.created_at.as_millis())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    announce_profile(transaction, account.user_id, account.created_at).await?;
    insert_session(transaction, session).await
}

/// A sign-up: the account and its first session.
struct CreateAccount {
    account: NewAccount,
    session: NewSession,
}

#[async_trait]
impl Write for CreateAccount {
    type Output = ();

    async fn apply(&self, transaction: &mut WriteTransaction) -> Result<(), StoreError> {
        insert_account(transaction, &self.account, &self.session).await
    }
}

#[async_trait]
impl CredentialStore for SqlStore {
    async fn create_account(
        &self,
        account: &NewAccount,
        session: &NewSession,
    ) -> Result<(), StoreError> {
        self.write(CreateAccount {
            account: account.clone(),
            session: session.clone(),
        })
        .await
    }

    async fn recovery_key_hash(&self, user_id: UserId) -> Result<Option<SecretHash>, StoreError> {
        // A suspended account cannot sign in: to login it looks like no account at all.
        let row = sqlx::query(
            "SELECT recovery_key_hash FROM users WHERE id = $1 AND suspended_at IS NULL",
        )
        .bind(user_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        row.map(|row| hash_column(&row, "recovery_key_hash"))
            .transpose()
    }

    async fn start_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let user_id = session.first_token.user_id;
        let mut transaction = self.begin_write().await?;
        let deactivated: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT deactivated_at FROM users WHERE id = $1 AND suspended_at IS NULL",
        )
        .bind(user_id.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(translate)?;
        match deactivated {
            None => return Err(StoreError::NotFound),
            Some(Some(_)) => {
                // Logging in reactivates the account.
                sqlx::query("UPDATE users SET deactivated_at = NULL WHERE id = $1")
                    .bind(user_id.to_string())
                    .execute(&mut *transaction)
                    .await
                    .map_err(translate)?;
                record_profile_change(&mut transaction, user_id, session.first_token.created_at)
                    .await?;
            }
            Some(None) => {}
        }
        insert_session(&mut transaction, session).await?;
        transaction.commit().await
    }

    async fn find_refresh_token(
        &self,
        token_hash: &SecretHash,
    ) -> Result<Option<RefreshTokenRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT t.family_id, t.user_id, t.expires_at, t.spent_at, \
             f.expires_at AS family_expires_at, f.revoked_at AS family_revoked_at \
             FROM refresh_tokens t JOIN session_families f ON f.id = t.family_id \
             WHERE t.token_hash = $1",
        )
        .bind(token_hash.to_vec())
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RefreshTokenRecord {
            family_id: id_column(&row, "family_id")?,
            user_id: id_column(&row, "user_id")?,
            expires_at: Timestamp::from_millis(column(&row, "expires_at")?),
            spent_at: column::<Option<i64>>(&row, "spent_at")?.map(Timestamp::from_millis),
            family_expires_at: Timestamp::from_millis(column(&row, "family_expires_at")?),
            family_revoked_at: column::<Option<i64>>(&row, "family_revoked_at")?
                .map(Timestamp::from_millis),
        }))
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &SecretHash,
        replacement: &NewRefreshToken,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        // The conditional update is the arbiter of concurrent refreshes: exactly one wins.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL \
             AND family_id IN (SELECT id FROM session_families WHERE id = $3 AND revoked_at IS NULL)",
        )
        .bind(now.as_millis())
        .bind(old_hash.to_vec())
        .bind(replacement.family_id.to_string())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        if spent.rows_affected() != 1 {
            return Ok(false);
        }
        insert_refresh_token(&mut transaction, replacement).await?;
        transaction.commit().await?;
        Ok(true)
    }

    async fn revoke_family(
        &self,
        family_id: SessionFamilyId,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut transaction = self.begin_write().await?;
        let revocations = revoke_families(&mut transaction, &Families::One(family_id), now).await?;
        transaction.commit().await?;
        Ok(revocations)
    }

    async fn revoke_session_of_access_token(
        &self,
        access_token_hash: &SecretHash,
        access_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut transaction = self.begin_write().await?;
        let mut revocations = revoke_families(
            &mut transaction,
            &Families::MintedAccessToken(*access_token_hash),
            now,
        )
        .await?;
        let presented = Revocation::Token {
            token_hash: *access_token_hash,
            expires_at: access_expires_at,
        };
        if !revocations.contains(&presented) {
            insert_revocation(&mut transaction, &presented, now).await?;
            revocations.push(presented);
        }
        transaction.commit().await?;
        Ok(revocations)
    }

    async fn replace_recovery_key(
        &self,
        user_id: UserId,
        new_hash: &SecretHash,
        keep_access_token_hash: &SecretHash,
        now: Timestamp,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut transaction = self.begin_write().await?;
        let updated = sqlx::query("UPDATE users SET recovery_key_hash = $1 WHERE id = $2")
            .bind(new_hash.to_vec())
            .bind(user_id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let families = Families::AllOfUserExceptMinted(user_id, *keep_access_token_hash);
        let revocations = revoke_families(&mut transaction, &families, now).await?;
        transaction.commit().await?;
        Ok(revocations)
    }

    async fn revocations_since(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RevocationEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT sequence, token_hash, user_id, expires_at, revoked_at FROM access_revocations \
             WHERE sequence > $1 ORDER BY sequence LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                let sequence: i64 = column(row, "sequence")?;
                let expires_at = Timestamp::from_millis(column(row, "expires_at")?);
                let user_id: Option<String> = column(row, "user_id")?;
                let revocation = match user_id {
                    Some(_) => Revocation::Subject {
                        user_id: id_column(row, "user_id")?,
                        revoked_at: Timestamp::from_millis(column(row, "revoked_at")?),
                    },
                    None => Revocation::Token {
                        token_hash: hash_column(row, "token_hash")?,
                        expires_at,
                    },
                };
                Ok(RevocationEntry {
                    sequence,
                    revocation,
                })
            })
            .collect()
    }

    async fn purge_expired(
        &self,
        now: Timestamp,
        subject_horizon: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut transaction = self.begin_write().await?;
        let mut removed = 0;
        for (sql, bound) in [
            (
                "DELETE FROM access_revocations WHERE token_hash IS NOT NULL AND expires_at < $1",
                now,
            ),
            (
                "DELETE FROM access_revocations WHERE user_id IS NOT NULL AND revoked_at < $1",
                subject_horizon,
            ),
            ("DELETE FROM session_families WHERE expires_at < $1", now),
        ] {
            removed += sqlx::query(sql)
                .bind(bound.as_millis())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?
                .rows_affected();
        }
        transaction.commit().await?;
        Ok(removed)
    }
}
