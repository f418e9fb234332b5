//! The inbox: processing stored deliveries.

use super::*;

/// Claims pending deliveries, parses and applies each in its own savepoint, and records
/// the outcome. Returns how many deliveries were handled.
pub(super) async fn process_inbox<F>(
    conn: &mut Conn,
    limit: i64,
    parse: &F,
    opts: &ApplyOptions,
) -> Result<usize>
where
    F: Fn(&InboxRow) -> std::result::Result<Command, String>,
{
    // Bodies are fetched one by one as they are processed: a batch the write budget cuts
    // short reads no body it does not use.
    let sql = format!(
        "SELECT id, source, delivery_id, topic, attempts FROM inbox
         WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
         ORDER BY id LIMIT $2{}",
        SKIP_LOCKED
    );
    let rows = sqlx::query(&sql)
        .bind(opts.now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let started = std::time::Instant::now();
    let mut handled = 0;
    for row in rows {
        // SQLite has one writer: a webhook waiting to be stored waits for this
        // transaction, so it commits after a few milliseconds whatever is left.
        if started.elapsed() > WRITE_BUDGET {
            break;
        }
        let id: i64 = row.try_get(0)?;
        let delivery = InboxRow {
            id,
            source: row.try_get(1)?,
            delivery_id: row.try_get(2)?,
            topic: row.try_get(3)?,
            body: fetch_body(conn, id).await?,
            attempts: row.try_get(4)?,
        };
        process_one(conn, &delivery, parse, opts).await?;
        handled += 1;
    }
    Ok(handled)
}

#[tracing::instrument(
    name = "process delivery",
    level = "debug",
    skip_all,
    fields(inbox_id = delivery.id, source = %delivery.source, topic = %delivery.topic)
)]
pub(super) async fn process_one<F>(
    conn: &mut Conn,
    delivery: &InboxRow,
    parse: &F,
    opts: &ApplyOptions,
) -> Result<()>
where
    F: Fn(&InboxRow) -> std::result::Result<Command, String>,
{
    let command = match parse(delivery) {
        Ok(command) => command,
        Err(reason) => {
            tracing::warn!(inbox_id = delivery.id, %reason, "stored delivery cannot be parsed");
            return mark_delivery(
                conn,
                delivery.id,
                "failed",
                delivery.attempts + 1,
                None,
                Some(&reason),
                opts.now,
            )
            .await;
        }
    };

    let mut savepoint = conn.begin().await?;
    match apply_command(&mut savepoint, &command, opts).await {
        Ok(_) => {
            savepoint.commit().await?;
            mark_delivery(
                conn,
                delivery.id,
                "done",
                delivery.attempts + 1,
                None,
                None,
                opts.now,
            )
            .await
        }
        Err(StoreError::Database(e)) if is_connection_error(&e) => Err(StoreError::Database(e)),
        Err(error) => {
            savepoint.rollback().await?;
            let attempts = delivery.attempts + 1;
            let reason = error.to_string();
            if attempts >= MAX_ATTEMPTS {
                tracing::error!(inbox_id = delivery.id, %reason, "delivery failed for good");
                return mark_delivery(
                    conn,
                    delivery.id,
                    "failed",
                    attempts,
                    None,
                    Some(&reason),
                    opts.now,
                )
                .await;
            }
            // Typically an event for an order that has not arrived yet: try again later.
            let retry_at = opts.now + Duration::seconds(2i64.pow(attempts as u32).min(3_600));
            tracing::debug!(inbox_id = delivery.id, %reason, attempts, "delivery will be retried");
            mark_delivery(
                conn,
                delivery.id,
                "pending",
                attempts,
                Some(retry_at),
                Some(&reason),
                opts.now,
            )
            .await
        }
    }
}

pub(super) fn is_connection_error(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

pub(super) async fn mark_delivery(
    conn: &mut Conn,
    id: i64,
    state: &str,
    attempts: i64,
    next_attempt_at: Option<DateTime<Utc>>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let processed_at = (state != "pending").then_some(now);
    sqlx::query(
        "UPDATE inbox SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5,
            processed_at = $6
         WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(attempts)
    .bind(next_attempt_at)
    .bind(error)
    .bind(processed_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A stored delivery's body.
async fn fetch_body(conn: &mut Conn, inbox_id: i64) -> Result<Vec<u8>> {
    let row = sqlx::query("SELECT body FROM inbox_bodies WHERE inbox_id = $1")
        .bind(inbox_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get(0)?)
}

/// Stores one delivery already processed, in the transaction that applies it (the REST
/// path); `Duplicate` when its id was seen before. Should the apply fail, the
/// transaction takes the row back with it, so a row is never left marked done unapplied.
pub(super) async fn insert_processed_delivery(
    conn: &mut Conn,
    delivery: &Delivery,
    now: DateTime<Utc>,
) -> Result<Accepted> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (source, delivery_id, topic, received_at, state, attempts,
            processed_at)
         VALUES ($1, $2, $3, $4, 'done', 1, $5)
         ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id",
    )
    .bind(&delivery.source)
    .bind(&delivery.delivery_id)
    .bind(&delivery.topic)
    .bind(delivery.received_at)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = inserted else {
        return Ok(Accepted::Duplicate);
    };
    sqlx::query("INSERT INTO inbox_bodies (inbox_id, body) VALUES ($1, $2)")
        .bind(row.try_get::<i64, _>(0)?)
        .bind(&delivery.body)
        .execute(&mut *conn)
        .await?;
    Ok(Accepted::New)
}

pub(super) async fn inbox_counts(conn: &mut Conn) -> Result<InboxCounts> {
    let rows = sqlx::query("SELECT state, COUNT(*) FROM inbox GROUP BY state")
        .fetch_all(&mut *conn)
        .await?;
    let mut counts = InboxCounts::default();
    for row in rows {
        let state: String = row.try_get(0)?;
        let n: i64 = row.try_get(1)?;
        match state.as_str() {
            "pending" => counts.pending = n,
            "done" => counts.done = n,
            _ => counts.failed += n,
        }
    }
    Ok(counts)
}
