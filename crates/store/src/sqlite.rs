//! The SQLite backend: one file in WAL mode, one writer.
//!
//! SQLite takes one writer at a time, so writes go through a pool of one connection and
//! every write transaction starts with `BEGIN IMMEDIATE` (taking the write lock up front
//! rather than failing to upgrade a read lock half way). Reads use a separate pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashMap;

use sqlx::{Pool, Row, Sqlite, Transaction};

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
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
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
        Ok(Backend { write, read })
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
