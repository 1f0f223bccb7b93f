//! `PollStore` on the relational engines, and the poll part of post hydration.

use crate::events::append_to_outbox;
use crate::posts::visible_to;
use crate::store::{
    column, id_column, numbered_placeholders, translate, values_placeholders, WriteTransaction,
};
use crate::SqlStore;
use async_trait::async_trait;
use veilgram_core::error::Conflict;
use veilgram_core::events::EventFor;
use veilgram_core::ports::{NewPoll, PollRecord, PollStore};
use veilgram_core::{PollId, PostId, StoreError, Timestamp, UserId};

/// Which polls to load.
pub(crate) enum Polls<'a> {
    OfPosts(&'a [PostId]),
    One(PollId),
}

pub(crate) async fn insert_poll(
    transaction: &mut WriteTransaction,
    post_id: PostId,
    poll: &NewPoll,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO polls (id, post_id, closes_at) VALUES ($1, $2, $3)")
        .bind(poll.id.to_string())
        .bind(post_id.to_string())
        .bind(poll.closes_at.as_millis())
        .execute(&mut **transaction)
        .await
        .map_err(translate)?;
    let sql = format!(
        "INSERT INTO poll_options (poll_id, option_index, text) VALUES {}",
        values_placeholders(poll.options.len(), 3)
    );
    let mut query = sqlx::query(&sql);
    for (index, text) in poll.options.iter().enumerate() {
        query = query
            .bind(poll.id.to_string())
            .bind(index as i64)
            .bind(text.as_str());
    }
    query.execute(&mut **transaction).await.map_err(translate)?;
    Ok(())
}

impl SqlStore {
    /// Loads polls with their options and the viewer's own vote, in one query. Visibility of the
    /// posts is the caller's business.
    pub(crate) async fn load_polls(
        &self,
        which: Polls<'_>,
        viewer: Option<UserId>,
    ) -> Result<Vec<PollRecord>, StoreError> {
        let (condition, values): (String, Vec<String>) = match which {
            Polls::OfPosts([]) => return Ok(Vec::new()),
            Polls::OfPosts(posts) => (
                format!("pl.post_id IN ({})", numbered_placeholders(2, posts.len())),
                posts.iter().map(ToString::to_string).collect(),
            ),
            Polls::One(poll) => ("pl.id = $2".to_owned(), vec![poll.to_string()]),
        };
        let sql = format!(
            "SELECT pl.id, pl.post_id, pl.closes_at, pl.total_votes, o.option_index, o.text, o.votes, \
             (SELECT v.option_index FROM poll_votes v WHERE v.poll_id = pl.id AND v.user_id = $1) AS my_vote \
             FROM polls pl JOIN poll_options o ON o.poll_id = pl.id WHERE {condition} \
             ORDER BY pl.id, o.option_index"
        );
        let mut query =
            sqlx::query(&sql).bind(viewer.map(|viewer| viewer.to_string()).unwrap_or_default());
        for value in values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(translate)?;
        let mut polls: Vec<PollRecord> = Vec::new();
        for row in &rows {
            let id: PollId = id_column(row, "id")?;
            if polls.last().is_none_or(|poll| poll.id != id) {
                polls.push(PollRecord {
                    id,
                    post_id: id_column(row, "post_id")?,
                    options: Vec::new(),
                    total_votes: column(row, "total_votes")?,
                    closes_at: Timestamp::from_millis(column(row, "closes_at")?),
                    my_vote: column(row, "my_vote")?,
                });
            }
            if let Some(poll) = polls.last_mut() {
                poll.options
                    .push((column(row, "text")?, column(row, "votes")?));
            }
        }
        Ok(polls)
    }
}

#[async_trait]
impl PollStore for SqlStore {
    async fn poll(
        &self,
        poll_id: PollId,
        viewer: Option<UserId>,
    ) -> Result<Option<PollRecord>, StoreError> {
        let sql = format!(
            "SELECT pl.id FROM polls pl JOIN posts p ON p.id = pl.post_id JOIN users author ON author.id = p.author_id \
             WHERE pl.id = $1 AND {}",
            visible_to("$2")
        );
        let visible: Option<String> = sqlx::query_scalar(&sql)
            .bind(poll_id.to_string())
            .bind(viewer.map(|viewer| viewer.to_string()).unwrap_or_default())
            .fetch_optional(&self.pool)
            .await
            .map_err(translate)?;
        if visible.is_none() {
            return Ok(None);
        }
        Ok(self.load_polls(Polls::One(poll_id), viewer).await?.pop())
    }

    async fn vote(
        &self,
        poll_id: PollId,
        voter: UserId,
        option_index: i64,
        now: Timestamp,
        event: EventFor<PostId>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let sql = format!(
            "SELECT pl.post_id, pl.closes_at, (SELECT COUNT(*) FROM poll_options o WHERE o.poll_id = pl.id) AS option_count \
             FROM polls pl JOIN posts p ON p.id = pl.post_id JOIN users author ON author.id = p.author_id \
             WHERE pl.id = $1 AND {}",
            visible_to("$2")
        );
        let row = sqlx::query(&sql)
            .bind(poll_id.to_string())
            .bind(voter.to_string())
            .fetch_optional(&mut *transaction)
            .await
            .map_err(translate)?
            .ok_or(StoreError::NotFound)?;
        if Timestamp::from_millis(column(&row, "closes_at")?) <= now {
            return Err(StoreError::Conflict(Conflict::PollClosed));
        }
        if option_index < 0 || option_index >= column::<i64>(&row, "option_count")? {
            return Err(StoreError::Conflict(Conflict::PollOption));
        }
        sqlx::query("INSERT INTO poll_votes (poll_id, user_id, option_index, created_at) VALUES ($1, $2, $3, $4)")
            .bind(poll_id.to_string())
            .bind(voter.to_string())
            .bind(option_index)
            .bind(now.as_millis())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        sqlx::query(
            "UPDATE poll_options SET votes = votes + 1 WHERE poll_id = $1 AND option_index = $2",
        )
        .bind(poll_id.to_string())
        .bind(option_index)
        .execute(&mut *transaction)
        .await
        .map_err(translate)?;
        sqlx::query("UPDATE polls SET total_votes = total_votes + 1 WHERE id = $1")
            .bind(poll_id.to_string())
            .execute(&mut *transaction)
            .await
            .map_err(translate)?;
        append_to_outbox(&mut transaction, &event(id_column(&row, "post_id")?)).await?;
        transaction.commit().await
    }

    async fn announce_closed(
        &self,
        now: Timestamp,
        limit: i64,
        event: EventFor<(PollId, PostId, UserId)>,
    ) -> Result<usize, StoreError> {
        let mut transaction = self.begin_write().await?;
        let due = sqlx::query(
            "SELECT pl.id, pl.post_id, p.author_id FROM polls pl JOIN posts p ON p.id = pl.post_id \
             WHERE pl.closed_announced = 0 AND pl.closes_at <= $1 ORDER BY pl.closes_at LIMIT $2",
        )
        .bind(now.as_millis())
        .bind(limit)
        .fetch_all(&mut *transaction)
        .await
        .map_err(translate)?;
        for row in &due {
            let poll: PollId = id_column(row, "id")?;
            sqlx::query("UPDATE polls SET closed_announced = 1 WHERE id = $1")
                .bind(poll.to_string())
                .execute(&mut *transaction)
                .await
                .map_err(translate)?;
            let closed = event((
                poll,
                id_column(row, "post_id")?,
                id_column(row, "author_id")?,
            ));
            append_to_outbox(&mut transaction, &closed).await?;
        }
        transaction.commit().await?;
        Ok(due.len())
    }
}
