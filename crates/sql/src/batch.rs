//! Group commit of sign-ups on SQLite.
//!
//! SQLite admits one writer at a time, and each statement is a round trip to the connection's
//! worker thread, so a sign-up (begin, three inserts, commit) spends most of its time waiting in
//! line. Batching the sign-ups that queue up meanwhile into one transaction shares the begin and
//! the commit among them. If any statement of a batch fails (a nickname taken), the batch is
//! rolled back and its sign-ups are retried one by one, so each gets its own answer and a
//! failure writes nothing.

use crate::credentials::insert_account;
use crate::SqlStore;
use tokio::sync::{mpsc, oneshot};
use veilgram_core::ports::{NewAccount, NewSession};
use veilgram_core::StoreError;

const MAX_BATCH: usize = 64;
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<(), StoreError>>;

#[derive(Clone)]
pub(crate) struct SignupBatcher {
    queue: mpsc::Sender<(NewAccount, NewSession, Reply)>,
}

impl SignupBatcher {
    /// Starts the batching task on `store` (which must itself have no batcher).
    pub(crate) fn start(store: SqlStore) -> Self {
        let (queue, mut receiver) = mpsc::channel::<(NewAccount, NewSession, Reply)>(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
                commit_batch(&store, std::mem::take(&mut batch)).await;
            }
        });
        Self { queue }
    }

    pub(crate) async fn create_account(
        &self,
        account: &NewAccount,
        session: &NewSession,
    ) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((account.clone(), session.clone(), reply))
            .await
            .map_err(|_| StoreError::Unavailable("sign-up writer stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("sign-up writer stopped".into()))?
    }
}

async fn commit_batch(store: &SqlStore, batch: Vec<(NewAccount, NewSession, Reply)>) {
    if batch.len() > 1 {
        let together = async {
            let mut transaction = store.begin_write().await?;
            for (account, session, _) in &batch {
                insert_account(&mut transaction, account, session).await?;
            }
            transaction.commit().await
        };
        if together.await.is_ok() {
            for (_, _, reply) in batch {
                let _ = reply.send(Ok(()));
            }
            return;
        }
    }
    for (account, session, reply) in batch {
        let _ = reply.send(store.create_account_now(&account, &session).await);
    }
}
