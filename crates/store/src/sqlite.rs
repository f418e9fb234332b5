//! The SQLite backend: one file in WAL mode, one writer.
//!
//! SQLite takes one writer at a time, so writes go through a pool of one connection and
//! every write transaction starts with `BEGIN IMMEDIATE` (taking the write lock up front
//! rather than failing to upgrade a read lock half way). Reads use a separate pool.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Pool, Row, Sqlite, Transaction};

use crate::error::Result;
use crate::models::{Accepted, Delivery};

type Db = Sqlite;
/// SQLite locks the whole database for a write transaction; no row locks to take.
const FOR_UPDATE: &str = "";
const SKIP_LOCKED: &str = "";

#[path = "shared/mod.rs"]
mod shared;

#[derive(Clone)]
pub struct Backend {
    /// The single writer connection; its pool queues writers in arrival order.
    write: Pool<Db>,
    read: Pool<Db>,
    /// Set while the writer commits without syncing (see [`Backend::relaxed_connection`]).
    relaxed: Arc<AtomicBool>,
}

impl Backend {
    pub(crate) async fn connect(url: &str) -> Result<Backend> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Checkpoints run beside the writer (see `spawn_checkpointer`), not inside
            // the commit of whichever write happens to cross the threshold.
            .pragma("wal_autocheckpoint", "0")
            // With group commit, FULL costs little: acknowledged means on disk.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
            }
        }
        let relaxed = Arc::new(AtomicBool::new(false));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_release(restore_sync(relaxed.clone()))
            .connect_with(options.clone())
            .await?;
        let checkpoint = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        spawn_checkpointer(checkpoint, write.clone());
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Backend {
            write,
            read,
            relaxed,
        })
    }

    pub(crate) async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.write)
            .await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Db>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The write connection, set to commit without waiting for the disk, for the
    /// dispatcher's claims and outcomes.
    ///
    /// Every commit at `synchronous = FULL` holds the one write lock through a disk sync,
    /// and the dispatcher commits twice per batch: with the webhooks' and the API's
    /// commits that made three syncs in a row for an order's message to wait behind.
    /// At `NORMAL` a commit reaches the operating system, so a crash of Tidings loses
    /// nothing; a power cut can lose the last of these commits, which the next synced
    /// commit would have carried to disk. A lost claim makes the message due again and
    /// a lost outcome lets its lease expire; either way the message is sent again with
    /// the same id, as after any crash between a provider's answer and its record.
    /// The connection returns to `FULL` when released (see [`restore_sync`]).
    async fn relaxed_connection(&self) -> Result<PoolConnection<Db>> {
        let mut conn = self.write.acquire().await?;
        // Set first: if this future is dropped after the pragma ran, the release still
        // restores FULL.
        self.relaxed.store(true, Ordering::Release);
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await?;
        Ok(conn)
    }

    /// Begins a write transaction on a connection from [`Backend::relaxed_connection`].
    async fn begin_relaxed(conn: &mut PoolConnection<Db>) -> Result<Transaction<'_, Db>> {
        Ok(conn.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Stores deliveries with multi-row inserts (one statement per chunk is several
    /// times faster than one per row) in one commit: inbox rows first, then the bodies
    /// of those that were new.
    pub(crate) async fn accept_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<Accepted>> {
        let firsts = crate::models::first_copies(deliveries);
        let mut tx = self.begin_write().await?;
        let mut fresh = Vec::with_capacity(firsts.len());
        for chunk in firsts.chunks(INSERT_CHUNK) {
            let sql = multi_row_insert(chunk.len());
            let mut query = sqlx::query(&sql);
            for d in chunk {
                query = query
                    .bind(&d.source)
                    .bind(&d.delivery_id)
                    .bind(&d.topic)
                    .bind(d.received_at);
            }
            // SQLite returns the inserted rows in no promised order: match them by key.
            let by_key: HashMap<(&str, &str), &Delivery> = chunk
                .iter()
                .map(|d| ((d.source.as_str(), d.delivery_id.as_str()), *d))
                .collect();
            for row in query.fetch_all(&mut *tx).await? {
                let key: (&str, &str) = (row.try_get(1)?, row.try_get(2)?);
                if let Some(d) = by_key.get(&key) {
                    fresh.push((row.try_get::<i64, _>(0)?, *d));
                }
            }
        }
        for chunk in fresh.chunks(INSERT_CHUNK) {
            let sql = format!(
                "INSERT INTO inbox_bodies (inbox_id, body) VALUES {}",
                shared_placeholders(chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for (id, d) in chunk {
                query = query.bind(id).bind(&d.body);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(crate::models::acceptance(
            deliveries,
            fresh.iter().map(|(_, d)| *d),
        ))
    }
}

type Conn = sqlx::SqliteConnection;
type Meta = sqlx::pool::PoolConnectionMetadata;
/// Whether the released connection may go back to the pool.
type Restored<'c> =
    Pin<Box<dyn Future<Output = std::result::Result<bool, sqlx::Error>> + Send + 'c>>;

/// The write pool's release hook: a connection left at `synchronous = NORMAL` goes back
/// to `FULL` before any other write can use it, or is closed (a new one opens at FULL).
fn restore_sync(
    relaxed: Arc<AtomicBool>,
) -> impl for<'c> Fn(&'c mut Conn, Meta) -> Restored<'c> + Send + Sync + 'static {
    move |conn, _| {
        let relaxed = relaxed.clone();
        Box::pin(async move {
            if !relaxed.swap(false, Ordering::AcqRel) {
                return Ok(true);
            }
            match sqlx::query("PRAGMA synchronous = FULL").execute(conn).await {
                Ok(_) => Ok(true),
                Err(error) => {
                    tracing::warn!(error.message = %error, "closing the write connection: \
                        could not restore synchronous = FULL");
                    Ok(false)
                }
            }
        })
    }
}

/// How long a connection waits for another's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL pages (4 KiB) past which a checkpoint waits for the writer so the WAL can restart.
const WAL_PAGES_LIMIT: i64 = 16_384;

/// Checkpoints the WAL beside the writer.
///
/// A checkpoint run by SQLite's automatic threshold happens inside a writer's commit and
/// stalls every webhook waiting behind it. Here a PASSIVE checkpoint, on a connection of
/// its own, copies pages while the writer goes on. The WAL file can only start over once
/// every page is copied and no write is in progress, which a writer that never pauses
/// never allows; so past [`WAL_PAGES_LIMIT`] pages a RESTART checkpoint takes its turn
/// on the write connection, queued like any other write, and finishes the little that
/// the passive ones left.
fn spawn_checkpointer(checkpoint_pool: Pool<Db>, write: Pool<Db>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            match checkpoint(&checkpoint_pool, "PASSIVE").await {
                Ok(pages) if pages > WAL_PAGES_LIMIT => {
                    if let Err(error) = restart_wal(&write).await {
                        tracing::warn!(error.message = %error, "WAL restart failed");
                    }
                }
                Ok(_) => {}
                Err(sqlx::Error::PoolClosed) => break,
                Err(error) => tracing::warn!(error.message = %error, "WAL checkpoint failed"),
            }
        }
    });
}

/// A RESTART checkpoint on the write connection. It waits for readers to leave the
/// WAL while holding up every writer, so it may wait only briefly; if a reader stays,
/// the next tick tries again.
async fn restart_wal(write: &Pool<Db>) -> std::result::Result<(), sqlx::Error> {
    let mut conn = write.acquire().await?;
    sqlx::query("PRAGMA busy_timeout = 20")
        .execute(&mut *conn)
        .await?;
    let restarted = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
        .execute(&mut *conn)
        .await;
    let timeout = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
    sqlx::query(&timeout).execute(&mut *conn).await?;
    restarted.map(|_| ())
}

/// Runs a checkpoint and returns the WAL's size in pages.
async fn checkpoint(pool: &Pool<Db>, mode: &str) -> std::result::Result<i64, sqlx::Error> {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    let row = sqlx::query(&sql).fetch_one(pool).await?;
    row.try_get(1)
}

/// Rows per insert statement: 4 parameters each, well under SQLite's 32,766.
const INSERT_CHUNK: usize = 500;

fn multi_row_insert(rows: usize) -> String {
    format!(
        "INSERT INTO inbox (source, delivery_id, topic, received_at) VALUES {}
         ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id, source, delivery_id",
        shared_placeholders(rows, 4)
    )
}

fn shared_placeholders(rows: usize, columns: usize) -> String {
    shared::placeholders(rows, columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's `synchronous` levels.
    const NORMAL: i64 = 1;
    const FULL: i64 = 2;

    async fn sync_level(conn: &mut sqlx::SqliteConnection) -> i64 {
        sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(conn)
            .await
            .expect("PRAGMA synchronous answers")
    }

    async fn writer_sync_level(backend: &Backend) -> i64 {
        let mut conn = backend.write.acquire().await.expect("the writer is free");
        sync_level(&mut conn).await
    }

    #[tokio::test]
    async fn the_writer_is_back_at_full_sync_after_a_relaxed_write() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let backend = Backend::connect(&url).await.unwrap();
        assert_eq!(writer_sync_level(&backend).await, FULL);

        let mut conn = backend.relaxed_connection().await.unwrap();
        assert_eq!(sync_level(&mut conn).await, NORMAL);
        let tx = Backend::begin_relaxed(&mut conn).await.unwrap();
        tx.commit().await.unwrap();
        drop(conn);
        assert_eq!(writer_sync_level(&backend).await, FULL);

        // A write abandoned half way, as when its task is cancelled.
        let mut conn = backend.relaxed_connection().await.unwrap();
        let tx = Backend::begin_relaxed(&mut conn).await.unwrap();
        drop(tx);
        drop(conn);
        assert_eq!(writer_sync_level(&backend).await, FULL);
    }
}
