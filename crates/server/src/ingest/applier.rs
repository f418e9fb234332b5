//! The applier: REST requests that change orders are stored and applied by one task
//! with group commit, as webhooks are accepted by the writer.
//!
//! On SQLite a request applied in a transaction of its own pays one disk sync and one
//! turn at the single write lock; at a few hundred requests a second those turns queue
//! up behind one another and behind the dispatcher's writes. The applier takes whatever
//! requests queued while its last commit ran and applies them in the next one, each in
//! a savepoint, so one request's failure is its own.
//!
//! PostgreSQL takes writes on many connections at once, and a request there costs
//! round trips more than syncs: one transaction per request, side by side, answers
//! sooner than a batch whose statements run one after another. There the applier
//! applies each request at once in its own transaction.

use std::sync::Arc;

use domain::Command;
use store::{Accepted, Applied, ApplyOptions, Delivery, Store, StoreError};
use tokio::sync::{mpsc, oneshot, Notify};

use super::IngestError;

/// What a request got: stored and applied (or found to be a repeat), or why not.
pub type Outcome = Result<(Accepted, Applied), ApplyError>;

/// Why a request was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The queue is full or Tidings is stopping: nothing was stored.
    #[error(transparent)]
    Queue(#[from] IngestError),
    /// The store refused the request or failed; nothing of it was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Pending {
    delivery: Delivery,
    command: Command,
    reply: oneshot::Sender<Result<(Accepted, Applied), StoreError>>,
}

/// The handle REST handlers use to hand requests to the applier.
#[derive(Clone)]
pub struct Applier {
    store: Store,
    /// The queue to the batching task; `None` where each request commits on its own.
    queue: Option<mpsc::Sender<Pending>>,
    queued: Arc<Notify>,
}

impl Applier {
    /// Applies a request and waits until it is committed, found to be a repeat, or
    /// refused.
    ///
    /// # Errors
    /// When the queue is full, the applier has stopped, or the store refused the request.
    pub async fn apply(&self, delivery: Delivery, command: Command) -> Outcome {
        let Some(queue) = &self.queue else {
            let opts = ApplyOptions::live();
            let done = self
                .store
                .ingest_and_apply(&delivery, &command, &opts)
                .await?;
            if done.1.notifications > 0 {
                self.queued.notify_one();
            }
            return Ok(done);
        };
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            delivery,
            command,
            reply,
        };
        queue.try_send(pending).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => IngestError::Busy,
            mpsc::error::TrySendError::Closed(_) => IngestError::Closed,
        })?;
        match answer.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(IngestError::Closed.into()),
        }
    }
}

/// Starts the applier. On SQLite a task batches requests; it stops once every
/// [`Applier`] handle is dropped and the queue is drained. `queued` is told whenever a
/// commit queued messages, so they go out at once.
pub fn spawn(
    store: Store,
    capacity: usize,
    batch_max: usize,
    queued: Arc<Notify>,
) -> (Applier, tokio::task::JoinHandle<()>) {
    if store.backend_name() == "postgres" {
        let applier = Applier {
            store,
            queue: None,
            queued,
        };
        return (applier, tokio::spawn(async {}));
    }
    let (queue, receiver) = mpsc::channel(capacity);
    let task = tokio::spawn(run(store.clone(), receiver, batch_max, queued.clone()));
    let applier = Applier {
        store,
        queue: Some(queue),
        queued,
    };
    (applier, task)
}

async fn run(
    store: Store,
    mut receiver: mpsc::Receiver<Pending>,
    batch_max: usize,
    queued: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(batch_max);
    while receiver.recv_many(&mut batch, batch_max).await > 0 {
        let (requests, replies): (Vec<_>, Vec<_>) = batch
            .drain(..)
            .map(|p| ((p.delivery, p.command), p.reply))
            .unzip();
        let results = apply_all(&store, &requests).await;
        if results
            .iter()
            .any(|r| matches!(r, Ok((_, applied)) if applied.notifications > 0))
        {
            queued.notify_one();
        }
        for (reply, result) in replies.into_iter().zip(results) {
            // A client that went away no longer waits for its answer.
            let _ = reply.send(result);
        }
    }
    tracing::debug!("applier stopped");
}

/// Applies a batch in one commit; should the commit itself fail, each request is tried
/// alone, so that every one gets its own answer and no request fails for another's sake.
async fn apply_all(
    store: &Store,
    requests: &[(Delivery, Command)],
) -> Vec<Result<(Accepted, Applied), StoreError>> {
    let opts = ApplyOptions::live();
    match store.ingest_and_apply_many(requests, &opts).await {
        Ok(results) => results,
        Err(error) => {
            tracing::warn!(
                error.message = %error,
                size = requests.len(),
                "a batch of API requests failed to commit; applying them one by one"
            );
            let mut results = Vec::with_capacity(requests.len());
            for (delivery, command) in requests {
                results.push(store.ingest_and_apply(delivery, command, &opts).await);
            }
            results
        }
    }
}
