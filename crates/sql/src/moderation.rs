//! `ModerationStore` on the relational engines: roles, the open-report queue grouped by the
//! content reported, and resolving a group (hiding a post or suspending its author, closing the
//! reports and appending the event in one transaction).

use crate::credentials::{revoke_families, Families};
use crate::events::append_to_outbox;
use crate::profiles::record_user_change;
use crate::store::{column, id_column, numbered_placeholders, translate};
use crate::SqlStore;
use async_trait::async_trait;
use std::collections::HashMap;
use veilgram_core::events::EventEnvelope;
use veilgram_core::ports::{
    Actor, Appealed, AutomaticAction, AutomaticDecision, ContentRef, ModeratedContent,
    ModerationAction, ModerationLogEntry, ModerationStore, ReportGroup, ReportTarget, Reporter,
    Revocation,
};
use veilgram_core::{CommentId, ReportId, StoreError, Timestamp, UserId};

/// The post or comment a report target is.
fn content_of(target: &ReportTarget) -> ContentRef {
    match target.comment_id {
        Some(comment) => ContentRef::Comment(comment),
        None => ContentRef::Post(target.post_id),
    }
}

/// The kind (as reports and the log name it), table and id of a post or comment.
fn content_key(content: ContentRef) -> (&'static str, &'static str, String) {
    match content {
        ContentRef::Post(post) => ("post", "posts", post.to_string()),
        ContentRef::Comment(comment) => ("comment", "comments", comment.to_string()),
    }
}

/// One line of the moderation log, in the transaction that made the decision.
struct LogLine<'a> {
    decision: &'a str,
    category: Option<&'a str>,
    rule: Option<&'a str>,
    score: Option<f64>,
    actor: String,
}

async fn log_decision(
    transaction: &mut crate::store::WriteTransaction,
    target: &ReportTarget,
    line: LogLine<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let (kind, target_id) = target_key(target);
    sqlx::query(
        "INSERT INTO moderation_log (id, target_kind, target_id, post_id, decision, category, \
         rule, score, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(kind)
    .bind(target_id)
    .bind(target.post_id.to_string())
    .bind(line.decision)
    .bind(line.category)
    .bind(line.rule)
    .bind(line.score)
    .bind(line.actor)
    .bind(now.as_millis())
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    Ok(())
}

/// Sets a post's or comment's moderation state (and reason) where it is now `only_from`.
async fn set_state(
    transaction: &mut crate::store::WriteTransaction,
    target: &ReportTarget,
    state: &str,
    reason: Option<&str>,
    only_from: &str,
) -> Result<bool, StoreError> {
    let (_, table, id) = content_key(content_of(target));
    let changed = sqlx::query(&format!(
        "UPDATE {table} SET moderation_state = $1, moderation_reason = $2 \
         WHERE id = $3 AND {only_from}"
    ))
    .bind(state)
    .bind(reason)
    .bind(id)
    .execute(&mut **transaction)
    .await
    .map_err(translate)?;
    Ok(changed.rows_affected() > 0)
}

/// Open reports about content that still exists (a deleted post or comment needs no verdict).
const OPEN_ABOUT_LIVE_CONTENT: &str = "r.status = 'open' AND \
     ((r.target_kind = 'post' AND EXISTS (SELECT 1 FROM posts p WHERE p.id = r.target_id)) \
      OR (r.target_kind = 'comment' AND EXISTS \
          (SELECT 1 FROM comments c WHERE c.id = r.target_id AND c.deleted_at IS NULL)))";

impl SqlStore {
    /// The posts (or comments) of `kind` with these ids that still exist, with their authors
    /// and text, by id: one query for a page of reports.
    async fn targets_of(
        &self,
        kind: &str,
        ids: &[String],
    ) -> Result<HashMap<String, (ReportTarget, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders = numbered_placeholders(1, ids.len());
        let sql = if kind == "post" {
            format!(
                "SELECT id, id AS post_id, NULL AS comment_id, author_id, text FROM posts \
                 WHERE id IN ({placeholders})"
            )
        } else {
            format!(
                "SELECT id, post_id, id AS comment_id, author_id, text FROM comments \
                 WHERE id IN ({placeholders}) AND deleted_at IS NULL"
            )
        };
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id.clone());
        }
        let mut found = HashMap::with_capacity(ids.len());
        for row in query.fetch_all(&self.pool).await.map_err(translate)? {
            let comment_id: Option<String> = column(&row, "comment_id")?;
            let author_id: Option<String> = column(&row, "author_id")?;
            let target = ReportTarget {
                post_id: id_column(&row, "post_id")?,
                comment_id: comment_id.and_then(|id| id.parse::<CommentId>().ok()),
                author_id: author_id.and_then(|id| id.parse::<UserId>().ok()),
            };
            found.insert(column(&row, "id")?, (target, column(&row, "text")?));
        }
        Ok(found)
    }
}

fn target_key(target: &ReportTarget) -> (&'static str, String) {
    let (kind, _, id) = content_key(content_of(target));
    (kind, id)
}

#[async_trait]
impl ModerationStore for SqlStore {
    async fn role(&self, user_id: UserId) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT role FROM users WHERE id = $1")
            .bind(user_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)
    }

    async fn set_role(&self, user_id: UserId, role: &str) -> Result<bool, StoreError> {
        let updated = sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role)
            .bind(user_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(translate)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn open_reports(
        &self,
        after: Option<ReportId>,
        limit: i64,
    ) -> Result<Vec<ReportGroup>, StoreError> {
        // Report ids are time-ordered: the smallest is the oldest.
        let sql = format!(
            "SELECT MIN(r.id) AS report_id, r.target_kind, r.target_id, \
             CAST(COUNT(*) AS BIGINT) AS reports, MIN(r.created_at) AS first_at \
             FROM reports r WHERE {OPEN_ABOUT_LIVE_CONTENT} \
             GROUP BY r.target_kind, r.target_id HAVING MIN(r.id) > $1 \
             ORDER BY MIN(r.id) LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(after.map(|id| id.to_string()).unwrap_or_default())
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(translate)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let targets: Vec<String> = rows
            .iter()
            .map(|row| column::<String>(row, "target_id"))
            .collect::<Result<_, _>>()?;
        let reasons_sql = format!(
            "SELECT target_id, reason, CAST(COUNT(*) AS BIGINT) AS n FROM reports \
             WHERE status = 'open' AND target_id IN ({}) GROUP BY target_id, reason ORDER BY reason",
            numbered_placeholders(1, targets.len())
        );
        let mut query = sqlx::query(&reasons_sql);
        for target in &targets {
            query = query.bind(target.clone());
        }
        let mut reasons: HashMap<String, Vec<(String, i64)>> = HashMap::new();
        for row in query.fetch_all(&self.pool).await.map_err(translate)? {
            reasons
                .entry(column(&row, "target_id")?)
                .or_default()
                .push((column(&row, "reason")?, column(&row, "n")?));
        }
        let mut by_kind: HashMap<String, Vec<String>> = HashMap::new();
        for row in &rows {
            by_kind
                .entry(column(row, "target_kind")?)
                .or_default()
                .push(column(row, "target_id")?);
        }
        let mut contents = HashMap::new();
        for (kind, ids) in &by_kind {
            contents.extend(self.targets_of(kind, ids).await?);
        }
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let target_id: String = column(&row, "target_id")?;
            // Gone since the query above: nothing left to judge.
            let Some((target, text)) = contents.remove(&target_id) else {
                continue;
            };
            groups.push(ReportGroup {
                report_id: id_column(&row, "report_id")?,
                target,
                text,
                reports: column(&row, "reports")?,
                reasons: reasons.remove(&target_id).unwrap_or_default(),
                first_reported_at: Timestamp::from_millis(column(&row, "first_at")?),
            });
        }
        Ok(groups)
    }

    async fn report_target(&self, report_id: ReportId) -> Result<Option<ReportTarget>, StoreError> {
        let row = sqlx::query(
            "SELECT target_kind, target_id FROM reports WHERE id = $1 AND status = 'open'",
        )
        .bind(report_id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(translate)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let kind: String = column(&row, "target_kind")?;
        let target_id: String = column(&row, "target_id")?;
        Ok(self
            .targets_of(&kind, std::slice::from_ref(&target_id))
            .await?
            .remove(&target_id)
            .map(|(target, _)| target))
    }

    async fn resolve(
        &self,
        target: &ReportTarget,
        action: ModerationAction,
        by: Actor,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut transaction = self.begin_write().await?;
        let mut revocations = Vec::new();
        match action {
            ModerationAction::Hide if target.comment_id.is_none() => {
                set_state(&mut transaction, target, "hidden", None, "1 = 1").await?;
            }
            ModerationAction::Warn => {
                set_state(
                    &mut transaction,
                    target,
                    "warned",
                    Some("moderator"),
                    "moderation_state <> 'hidden'",
                )
                .await?;
            }
            // Nothing wrong: what automatic moderation warned about or hid is shown again.
            ModerationAction::Dismiss => {
                set_state(
                    &mut transaction,
                    target,
                    "visible",
                    None,
                    "moderation_state <> 'visible'",
                )
                .await?;
            }
            ModerationAction::SuspendAuthor => {
                let Some(author) = target.author_id else {
                    return Err(StoreError::NotFound);
                };
                sqlx::query(
                    "UPDATE users SET suspended_at = $1, \
                     deactivated_at = COALESCE(deactivated_at, $1) WHERE id = $2",
                )
                .bind(now.as_millis())
                .bind(author.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
                revocations =
                    revoke_families(&mut transaction, &Families::AllOfUser(author), now).await?;
                record_user_change(&mut transaction, author, now).await?;
            }
            _ => {}
        }
        let (kind, target_id) = target_key(target);
        sqlx::query(
            "UPDATE reports SET status = 'resolved', resolved_at = $1, resolved_by = $2, \
             action = $3 WHERE status = 'open' AND target_kind = $4 AND target_id = $5",
        )
        .bind(now.as_millis())
        .bind(by.recorded())
        .bind(action.as_str())
        .bind(kind)
        .bind(target_id)
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        log_decision(
            &mut transaction,
            target,
            LogLine {
                decision: action.as_str(),
                category: None,
                rule: None,
                score: None,
                actor: by.recorded(),
            },
            now,
        )
        .await?;
        append_to_outbox(&mut transaction, event).await?;
        transaction.commit().await?;
        Ok(revocations)
    }

    async fn content(&self, content: ContentRef) -> Result<Option<ModeratedContent>, StoreError> {
        let (sql, id) = match content {
            ContentRef::Comment(comment) => (
                "SELECT c.post_id, c.id AS comment_id, c.author_id, c.text, c.moderation_state, \
                 u.created_at AS signed_up_at FROM comments c LEFT JOIN users u ON u.id = c.author_id \
                 WHERE c.id = $1 AND c.deleted_at IS NULL",
                comment.to_string(),
            ),
            ContentRef::Post(post) => (
                "SELECT p.id AS post_id, NULL AS comment_id, p.author_id, p.text, p.moderation_state, \
                 u.created_at AS signed_up_at FROM posts p LEFT JOIN users u ON u.id = p.author_id \
                 WHERE p.id = $1",
                post.to_string(),
            ),
        };
        let Some(row) = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?
        else {
            return Ok(None);
        };
        let author_id: Option<String> = column(&row, "author_id")?;
        let comment_id: Option<String> = column(&row, "comment_id")?;
        Ok(Some(ModeratedContent {
            target: ReportTarget {
                post_id: id_column(&row, "post_id")?,
                comment_id: comment_id.and_then(|id| id.parse().ok()),
                author_id: author_id.and_then(|id| id.parse().ok()),
            },
            text: column(&row, "text")?,
            state: column(&row, "moderation_state")?,
            author_signed_up_at: column::<Option<i64>>(&row, "signed_up_at")?
                .map(Timestamp::from_millis),
        }))
    }

    async fn fingerprint_candidates(
        &self,
        target: &ReportTarget,
        author: UserId,
        fingerprint: &str,
        bands: [i64; 4],
        now: Timestamp,
    ) -> Result<Vec<(UserId, String)>, StoreError> {
        const DAY_MS: i64 = 86_400_000;
        let (kind, target_id) = target_key(target);
        let mut transaction = self.begin_write().await?;
        sqlx::query("DELETE FROM content_fingerprints WHERE created_at < $1")
            .bind(now.as_millis() - 2 * DAY_MS)
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        sqlx::query(
            "INSERT INTO content_fingerprints (target_kind, target_id, author_id, fingerprint, \
             band0, band1, band2, band3, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (target_kind, target_id) DO UPDATE SET fingerprint = $4, band0 = $5, \
             band1 = $6, band2 = $7, band3 = $8",
        )
        .bind(kind)
        .bind(&target_id)
        .bind(author.to_string())
        .bind(fingerprint)
        .bind(bands[0])
        .bind(bands[1])
        .bind(bands[2])
        .bind(bands[3])
        .bind(now.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        let rows = sqlx::query(
            "SELECT author_id, fingerprint FROM content_fingerprints WHERE created_at >= $1 \
             AND (band0 = $2 OR band1 = $3 OR band2 = $4 OR band3 = $5) LIMIT 1000",
        )
        .bind(now.as_millis() - DAY_MS)
        .bind(bands[0])
        .bind(bands[1])
        .bind(bands[2])
        .bind(bands[3])
        .fetch_all(&mut *transaction)
        .await
        .map_err(translate)?;
        transaction.commit().await?;
        rows.iter()
            .map(|row| Ok((id_column(row, "author_id")?, column(row, "fingerprint")?)))
            .collect()
    }

    async fn open_reporters(&self, content: ContentRef) -> Result<Vec<Reporter>, StoreError> {
        let (kind, _, id) = content_key(content);
        let rows = sqlx::query(
            "SELECT u.created_at, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM reports e WHERE e.reporter_id = r.reporter_id \
               AND e.status = 'resolved' AND e.action <> 'dismiss') AS upheld, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM reports e WHERE e.reporter_id = r.reporter_id \
               AND e.status = 'resolved' AND e.action = 'dismiss') AS dismissed \
             FROM reports r JOIN users u ON u.id = r.reporter_id \
             WHERE r.target_kind = $1 AND r.target_id = $2 AND r.status = 'open'",
        )
        .bind(kind)
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                Ok(Reporter {
                    signed_up_at: Timestamp::from_millis(column(row, "created_at")?),
                    upheld: column(row, "upheld")?,
                    dismissed: column(row, "dismissed")?,
                })
            })
            .collect()
    }

    async fn decide(
        &self,
        target: &ReportTarget,
        decision: &AutomaticDecision,
        now: Timestamp,
        event: &EventEnvelope,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.begin_write().await?;
        let category = Some(decision.category.as_str()).filter(|c| !c.is_empty());
        let changed = match decision.action {
            // Only a warning the system gave: a moderator's stands until a moderator lifts it.
            AutomaticAction::Allow => {
                set_state(
                    &mut transaction,
                    target,
                    "visible",
                    None,
                    "moderation_state = 'warned' AND moderation_reason <> 'moderator'",
                )
                .await?
            }
            AutomaticAction::Queue => false,
            AutomaticAction::Warn => {
                set_state(
                    &mut transaction,
                    target,
                    "warned",
                    category,
                    "moderation_state = 'visible'",
                )
                .await?
            }
            AutomaticAction::Hide => {
                set_state(
                    &mut transaction,
                    target,
                    "hidden",
                    category,
                    "moderation_state <> 'hidden'",
                )
                .await?
            }
        };
        let review = matches!(
            decision.action,
            AutomaticAction::Queue | AutomaticAction::Hide
        );
        if review {
            // One open report of the system's own per item: a moderator's verdict closes it.
            let (kind, target_id) = target_key(target);
            sqlx::query(
                "INSERT INTO reports (id, target_kind, target_id, reporter_id, reason, note, \
                 created_at) SELECT $1, $2, $3, NULL, 'automatic', $4, $5 \
                 WHERE NOT EXISTS (SELECT 1 FROM reports WHERE target_kind = $2 \
                   AND target_id = $3 AND reporter_id IS NULL AND status = 'open')",
            )
            .bind(ReportId::generate().to_string())
            .bind(kind)
            .bind(target_id)
            .bind(format!("{} {:.2}", decision.rule, decision.score))
            .bind(now.as_millis())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        }
        if changed || review {
            log_decision(
                &mut transaction,
                target,
                LogLine {
                    decision: decision.action.as_str(),
                    category,
                    rule: Some(decision.rule.as_str()).filter(|r| !r.is_empty()),
                    score: Some(decision.score),
                    actor: Actor::System.recorded(),
                },
                now,
            )
            .await?;
        }
        if changed {
            append_to_outbox(&mut transaction, event).await?;
        }
        transaction.commit().await?;
        Ok(changed)
    }

    async fn appeal(
        &self,
        content: ContentRef,
        author: UserId,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<Appealed, StoreError> {
        let (kind, table, id) = content_key(content);
        let alive = if kind == "comment" {
            " AND deleted_at IS NULL"
        } else {
            ""
        };
        let mut transaction = self.begin_write().await?;
        let Some(state) = sqlx::query_scalar::<_, String>(&format!(
            "SELECT moderation_state FROM {table} WHERE id = $1 AND author_id = $2{alive}"
        ))
        .bind(&id)
        .bind(author.to_string())
        .fetch_optional(&mut *transaction)
        .await
        .map_err(translate)?
        else {
            return Ok(Appealed::NotFound);
        };
        if state == "visible" {
            return Ok(Appealed::NothingToAppeal);
        }
        // The decision standing: the newest warning or hide logged (none for one made before
        // there was a log: that one is appealed as '').
        let decision: Option<String> = sqlx::query_scalar(
            "SELECT id FROM moderation_log WHERE target_kind = $1 AND target_id = $2 \
             AND decision IN ('warn', 'hide') ORDER BY id DESC LIMIT 1",
        )
        .bind(kind)
        .bind(&id)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(translate)?;
        let decision = decision.unwrap_or_else(|| format!("{kind}:{id}"));
        let filed = sqlx::query(
            "INSERT INTO appeals (decision_id, target_kind, target_id, author_id, note, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&decision)
        .bind(kind)
        .bind(&id)
        .bind(author.to_string())
        .bind(note)
        .bind(now.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        if filed.rows_affected() == 0 {
            return Ok(Appealed::AlreadyAppealed);
        }
        sqlx::query(
            "INSERT INTO reports (id, target_kind, target_id, reporter_id, reason, note, created_at) \
             VALUES ($1, $2, $3, NULL, 'appeal', $4, $5)",
        )
        .bind(ReportId::generate().to_string())
        .bind(kind)
        .bind(&id)
        .bind(note)
        .bind(now.as_millis())
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        transaction.commit().await?;
        Ok(Appealed::Filed)
    }

    async fn moderation_log(
        &self,
        before: Option<uuid::Uuid>,
        limit: i64,
    ) -> Result<Vec<ModerationLogEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, post_id, target_kind, target_id, decision, category, rule, score, actor, \
             created_at FROM moderation_log WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before.map_or_else(|| "~".to_owned(), |id| id.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(translate)?;
        rows.iter()
            .map(|row| {
                let kind: String = column(row, "target_kind")?;
                let target_id: String = column(row, "target_id")?;
                let actor: String = column(row, "actor")?;
                Ok(ModerationLogEntry {
                    id: id_column(row, "id")?,
                    post_id: id_column(row, "post_id")?,
                    comment_id: if kind == "comment" {
                        target_id.parse().ok()
                    } else {
                        None
                    },
                    decision: column(row, "decision")?,
                    category: column(row, "category")?,
                    rule: column(row, "rule")?,
                    score: column(row, "score")?,
                    by_system: actor == "system",
                    created_at: Timestamp::from_millis(column(row, "created_at")?),
                })
            })
            .collect()
    }
}
