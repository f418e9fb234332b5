//! The connections kept open between sends, each checked before it carries another
//! message.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Rset;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::connection::Connector;
use super::error::EmailError;

/// The longest a connection that is no longer wanted gets to say QUIT.
const QUIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Open connections to one SMTP server, shared by every send.
///
/// A send takes the most recently returned connection, so that under a light load the
/// others age out, and puts it back only when the transaction left it fit for another:
/// a send that fails on the network, or is cut off by its timeout, drops its
/// connection with it. Idle connections are closed after the idle timeout by a task
/// that starts with the first connection returned, so a pool can be built (to check the
/// configuration) without a Tokio runtime.
pub(super) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    /// Most recently returned last. A std mutex: never held across an await.
    idle: Mutex<Vec<Idle>>,
    /// Most connections kept open while idle; more may be open during sends.
    max_idle: usize,
    /// How long a connection may sit idle before it is closed.
    idle_timeout: Duration,
    /// The task closing idle connections that outlived `idle_timeout`; restarted when
    /// the runtime it ran on has gone.
    reaper: Mutex<Option<JoinHandle<()>>>,
}

struct Idle {
    connection: AsyncSmtpConnection,
    since: Instant,
}

impl Pool {
    pub(super) fn new(connector: Connector, max_idle: usize, idle_timeout: Duration) -> Pool {
        let shared = Shared {
            connector,
            idle: Mutex::new(Vec::new()),
            max_idle,
            idle_timeout,
            reaper: Mutex::new(None),
        };
        Pool {
            shared: Arc::new(shared),
        }
    }

    /// A connection ready for a mail transaction: an idle one that answers RSET, or a
    /// new one, which must be connected by `deadline`.
    ///
    /// RSET both checks that the server still listens (servers close idle connections
    /// on their own schedule) and ends whatever transaction a refused message left
    /// open. An idle connection that fails it is dropped and the next one tried.
    ///
    /// # Errors
    /// When no idle connection is usable and a new one cannot be opened.
    pub(super) async fn checkout(
        &self,
        deadline: Instant,
    ) -> Result<AsyncSmtpConnection, EmailError> {
        while let Some(mut connection) = self.take_idle() {
            if connection.command(Rset).await.is_ok() {
                return Ok(connection);
            }
            tracing::debug!("an idle SMTP connection failed RSET; dropped");
        }
        self.shared.connector.open(deadline).await
    }

    /// Keeps `connection` for the next send, or closes it when enough are idle already.
    /// Call inside a Tokio runtime.
    pub(super) fn checkin(&self, connection: AsyncSmtpConnection) {
        if connection.has_broken() {
            return;
        }
        let surplus = {
            let mut idle = self.shared.lock_idle();
            if idle.len() < self.shared.max_idle {
                let since = Instant::now();
                idle.push(Idle { connection, since });
                None
            } else {
                Some(connection)
            }
        };
        match surplus {
            Some(connection) => close(connection),
            None => self.start_reaper(),
        }
    }

    /// The most recently returned idle connection that has not outlived the idle
    /// timeout; older ones met on the way are closed.
    fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        let expired = self.shared.take_expired();
        expired.into_iter().for_each(close);
        self.shared.lock_idle().pop().map(|idle| idle.connection)
    }

    fn start_reaper(&self) {
        let mut reaper = self
            .shared
            .reaper
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if reaper.as_ref().is_some_and(|task| !task.is_finished()) {
            return;
        }
        let shared = Arc::downgrade(&self.shared);
        let period = self.shared.idle_timeout.max(Duration::from_millis(100)) / 2;
        *reaper = Some(tokio::spawn(reap(shared, period)));
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let mut reaper = self
            .shared
            .reaper
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = reaper.take() {
            task.abort();
        }
    }
}

impl Shared {
    /// Removes the idle connections older than the idle timeout.
    fn take_expired(&self) -> Vec<AsyncSmtpConnection> {
        let now = Instant::now();
        let mut idle = self.lock_idle();
        // Oldest first: the expired ones are a prefix.
        let fresh = idle
            .iter()
            .position(|entry| now.duration_since(entry.since) < self.idle_timeout)
            .unwrap_or(idle.len());
        idle.drain(..fresh).map(|entry| entry.connection).collect()
    }

    fn lock_idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        // The guarded code cannot panic halfway through a change; a poisoned lock
        // still holds a consistent value.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes idle connections past their time every `period`, until the pool is gone.
async fn reap(shared: Weak<Shared>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.take_expired().into_iter().for_each(close);
    }
}

/// Says QUIT and closes `connection` in a task of its own, so no send waits for it.
fn close(mut connection: AsyncSmtpConnection) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(QUIT_TIMEOUT, connection.quit()).await;
    });
}
