//! The PostgreSQL backend: several nodes can share one database.
//!
//! Rows an operation changes are locked with `FOR UPDATE`; inbox claims skip rows
//! another node holds (`FOR UPDATE SKIP LOCKED`). Bulk inserts use one statement over
//! arrays, since each commit waits for the disk.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres, Row, Transaction};

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

    pub(crate) async fn accept_deliveries(&self, deliveries: &[Delivery]) -> Result<Vec<Accepted>> {
        let mut sources = Vec::with_capacity(deliveries.len());
        let mut ids = Vec::with_capacity(deliveries.len());
        let mut topics = Vec::with_capacity(deliveries.len());
        let mut bodies = Vec::with_capacity(deliveries.len());
        let mut times = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            sources.push(d.source.as_str());
            ids.push(d.delivery_id.as_str());
            topics.push(d.topic.as_str());
            bodies.push(d.body.as_slice());
            times.push(d.received_at);
        }
        let inserted = sqlx::query(
            "INSERT INTO inbox (source, delivery_id, topic, body, received_at)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[],
                $5::timestamptz[])
             ON CONFLICT (source, delivery_id) DO NOTHING
             RETURNING source, delivery_id",
        )
        .bind(&sources)
        .bind(&ids)
        .bind(&topics)
        .bind(&bodies)
        .bind(&times)
        .fetch_all(&self.write)
        .await?;

        // A delivery is new if this statement inserted it, once: a second copy of the
        // same id in one batch is a duplicate of the first.
        let mut fresh: std::collections::HashSet<(String, String)> = inserted
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<std::result::Result<_, sqlx::Error>>()?;
        Ok(deliveries
            .iter()
            .map(|d| {
                let key = (d.source.clone(), d.delivery_id.clone());
                if fresh.remove(&key) {
                    Accepted::New
                } else {
                    Accepted::Duplicate
                }
            })
            .collect())
    }
}
