//! Messages for operators: one message by id, the dead letters, and sending a dead letter
//! again.

use super::*;

/// One message with its history and attempts.
pub(super) async fn get_message(conn: &mut Conn, id: Uuid) -> Result<MessageView> {
    let sql = format!("{MESSAGE_SELECT} WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
    message_view(conn, &row).await
}

/// Messages that will not be sent without an operator, the most recent first.
pub(super) async fn dead_letters(conn: &mut Conn, limit: i64) -> Result<Vec<MessageView>> {
    let sql = format!("{MESSAGE_SELECT} WHERE state = 'failed' ORDER BY updated_at DESC LIMIT $1");
    let rows = sqlx::query(&sql).bind(limit).fetch_all(&mut *conn).await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        messages.push(message_view(conn, row).await?);
    }
    Ok(messages)
}

/// Puts a failed message back in the queue, due now, with every channel to try again,
/// and notes who asked. `false` when
/// the message is not failed (it may have been sent in the meantime).
pub(super) async fn redrive(
    conn: &mut Conn,
    id: Uuid,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'pending', next_attempt_at = $2, claimed_until = NULL,
            exhausted = '', updated_at = $2
         WHERE id = $1 AND state = 'failed'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let detail = format!("sent again at the request of {by}");
    sqlx::query(
        "INSERT INTO message_events (message_id, state, at, detail)
         VALUES ($1, 'pending', $2, $3)",
    )
    .bind(id)
    .bind(now)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}
