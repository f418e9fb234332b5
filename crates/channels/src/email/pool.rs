//! lettre's pooled transport, built at the first send and replaced after a send that
//! was cut off.

use std::sync::{Mutex, MutexGuard, PoisonError};

use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

/// One pooled transport at a time, shared by every send.
///
/// Built late because building it spawns the pool's cleanup task, which needs a Tokio
/// runtime, and a sender should be buildable (to check the configuration) without one.
///
/// Replaced after a timeout because lettre's own timeout covers only connecting: a send
/// that hangs later is cut off by the caller's timer, and lettre then puts its
/// connection back into the pool as if it were fine, in the middle of an exchange the
/// server may still answer. A fresh pool keeps the next send off it; the old pool
/// closes its connections once the last send using it ends.
pub(super) struct SharedTransport {
    builder: AsyncSmtpTransportBuilder,
    /// A std mutex: never held across an await.
    current: Mutex<Current>,
}

/// The transport in use, and which one it is, so that two sends that time out on the
/// same transport replace it only once.
struct Current {
    generation: u64,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

/// A transport handed to one send, with the generation to name when discarding it.
pub(super) struct Lease {
    pub generation: u64,
    pub transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SharedTransport {
    pub(super) fn new(builder: AsyncSmtpTransportBuilder) -> SharedTransport {
        SharedTransport {
            builder,
            current: Mutex::new(Current {
                generation: 0,
                transport: None,
            }),
        }
    }

    /// The current transport, built now if there is none. Call inside a Tokio runtime.
    pub(super) fn lease(&self) -> Lease {
        let mut current = self.lock();
        let transport = current
            .transport
            .get_or_insert_with(|| self.builder.clone().build())
            .clone();
        Lease {
            generation: current.generation,
            transport,
        }
    }

    /// Drops the transport of `generation` if it is still the current one; the next
    /// lease builds a fresh one.
    pub(super) fn discard(&self, generation: u64) {
        let old = {
            let mut current = self.lock();
            if current.generation != generation {
                return;
            }
            current.generation += 1;
            current.transport.take()
        };
        // Dropped outside the lock: the last handle's drop spawns the pool's shutdown.
        drop(old);
    }

    fn lock(&self) -> MutexGuard<'_, Current> {
        // The guarded code cannot panic halfway through a change; a poisoned lock
        // still holds a consistent value.
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for SharedTransport {
    fn drop(&mut self) {
        // Dropping lettre's pool spawns a task that closes its connections, which
        // panics outside a Tokio runtime (a sender that outlives it). Without a runtime
        // nothing could serve those connections anyway; they close with the process.
        if tokio::runtime::Handle::try_current().is_err() {
            let current = self
                .current
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(transport) = current.transport.take() {
                std::mem::forget(transport);
            }
        }
    }
}
