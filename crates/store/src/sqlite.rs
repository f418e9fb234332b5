//! The SQLite backend: one file in WAL mode, one writer.
//!
//! SQLite takes one writer at a time, so writes go through a pool of one connection and
//! every write transaction starts with `BEGIN IMMEDIATE` (taking the write lock up front
//! rather than failing to upgrade a read lock half way). Reads use a separate pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::collections::HashSet;

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
    /// times faster than one per row) in one commit.
    pub(crate) async fn accept_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<Accepted>> {
        let mut tx = self.begin_write().await?;
        let mut inserted = HashSet::new();
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let sql = multi_row_insert(chunk.len());
            let mut query = sqlx::query(&sql);
            for d in chunk {
                query = query
                    .bind(&d.source)
                    .bind(&d.delivery_id)
                    .bind(&d.topic)
                    .bind(&d.body)
                    .bind(d.received_at);
            }
            for row in query.fetch_all(&mut *tx).await? {
                inserted.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
            }
        }
        tx.commit().await?;

        // A delivery is new if it was inserted, once: a second copy of the same id in
        // one batch is a duplicate of the first.
        Ok(deliveries
            .iter()
            .map(|d| {
                let key = (d.source.clone(), d.delivery_id.clone());
                if inserted.remove(&key) {
                    Accepted::New
                } else {
                    Accepted::Duplicate
                }
            })
            .collect())
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

/// Rows per insert statement: 5 parameters each, well under SQLite's 32,766.
const INSERT_CHUNK: usize = 500;

fn multi_row_insert(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let n = i * 5;
            format!(
                "(${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    format!(
        "INSERT INTO inbox (source, delivery_id, topic, body, received_at) VALUES {}
         ON CONFLICT (source, delivery_id) DO NOTHING RETURNING source, delivery_id",
        values.join(", ")
    )
}
