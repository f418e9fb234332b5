//! The PostgreSQL backend: several nodes can share one database.
//!
//! Rows an operation changes are locked with `FOR UPDATE`; inbox claims skip rows
//! another node holds (`FOR UPDATE SKIP LOCKED`). Bulk inserts use one statement over
//! arrays, since each commit waits for the disk.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, Pool, Postgres, Row, Transaction};

use crate::error::Result;
use crate::models::{Accepted, Delivery};

type Db = Postgres;
const FOR_UPDATE: &str = " FOR UPDATE";
const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

#[path = "shared/mod.rs"]
mod shared;

#[derive(Clone)]
pub struct Backend {
    write: Pool<Db>,
    /// The same pool as `write`: PostgreSQL takes concurrent writers.
    read: Pool<Db>,
}

impl Backend {
    pub(crate) async fn connect(url: &str) -> Result<Backend> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(Backend {
            write: pool.clone(),
            read: pool,
        })
    }

    pub(crate) async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.write)
            .await?;
        Ok(())
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Db>> {
        Ok(self.write.begin().await?)
    }

    /// A connection for the dispatcher's claims and outcomes; see
    /// [`Backend::begin_relaxed`].
    async fn relaxed_connection(&self) -> Result<PoolConnection<Db>> {
        Ok(self.write.acquire().await?)
    }

    /// Begins a transaction whose commit does not wait for the WAL flush
    /// (`synchronous_commit = off`, for this transaction only).
    ///
    /// A crash of the database server can lose the last of these commits, never leave
    /// one half applied: a lost claim makes the message due again, a lost outcome lets
    /// its lease expire, and the message is sent again with the same id, as after any
    /// crash between a provider's answer and its record. In exchange the dispatcher's
    /// two commits per batch stop waiting for the disk.
    async fn begin_relaxed(conn: &mut PoolConnection<Db>) -> Result<Transaction<'_, Db>> {
        let mut tx = conn.begin().await?;
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Stores deliveries with one statement: the inbox rows, then the bodies of those
    /// that were new, joined back by key.
    pub(crate) async fn accept_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<Accepted>> {
        let firsts = crate::models::first_copies(deliveries);
        let mut sources = Vec::with_capacity(firsts.len());
        let mut ids = Vec::with_capacity(firsts.len());
        let mut topics = Vec::with_capacity(firsts.len());
        let mut bodies = Vec::with_capacity(firsts.len());
        let mut times = Vec::with_capacity(firsts.len());
        for d in &firsts {
            sources.push(d.source.as_str());
            ids.push(d.delivery_id.as_str());
            topics.push(d.topic.as_str());
            bodies.push(d.body.as_slice());
            times.push(d.received_at);
        }
        let inserted = sqlx::query(
            "WITH input AS (
                SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[],
                    $5::timestamptz[]) AS t (source, delivery_id, topic, body, received_at)
             ), stored AS (
                INSERT INTO inbox (source, delivery_id, topic, received_at)
                SELECT source, delivery_id, topic, received_at FROM input
                ON CONFLICT (source, delivery_id) DO NOTHING
                RETURNING id, source, delivery_id
             ), stored_bodies AS (
                INSERT INTO inbox_bodies (inbox_id, body)
                SELECT stored.id, input.body FROM stored JOIN input USING (source, delivery_id)
             )
             SELECT source, delivery_id FROM stored",
        )
        .bind(&sources)
        .bind(&ids)
        .bind(&topics)
        .bind(&bodies)
        .bind(&times)
        .fetch_all(&self.write)
        .await?;

        let stored: std::collections::HashSet<(String, String)> = inserted
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()?;
        let new = firsts
            .iter()
            .copied()
            .filter(|d| stored.contains(&(d.source.clone(), d.delivery_id.clone())));
        Ok(crate::models::acceptance(deliveries, new))
    }
}
