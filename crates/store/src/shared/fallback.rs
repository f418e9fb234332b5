//! Falling back to the next channel: messages whose time to live ran out on a channel,
//! and messages sent but not delivered in time.

use super::*;

/// Sends every message whose time to live ran out (state `revoked` by the provider's
/// receipt) on to the next channel; how many.
pub(super) async fn reroute_expired(conn: &mut Conn, now: DateTime<Utc>) -> Result<usize> {
    let rows = sqlx::query(
        "SELECT id, channel FROM outbox WHERE state = 'revoked' AND channel IS NOT NULL
         LIMIT 1000",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in &rows {
        let id: Uuid = row.try_get(0)?;
        let channel: String = row.try_get(1)?;
        let reason = "its time to live ran out before delivery";
        reroute(conn, id, &channel, reason, 0, now).await?;
        let detail = format!("{channel} gave up ({reason}); trying the next channel");
        insert_message_event(conn, id, domain::MessageState::Pending, now, Some(&detail)).await?;
    }
    Ok(rows.len())
}

/// Messages sent on `channel` before `cutoff` and still not delivered, oldest first:
/// each to revoke, then send elsewhere.
pub(super) async fn stalled_sends(
    conn: &mut Conn,
    channel: &str,
    cutoff: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<StalledSend>> {
    let rows = sqlx::query(
        "SELECT m.id, c.phone FROM outbox m LEFT JOIN customers c ON c.id = m.customer_id
         WHERE m.state = 'sent' AND m.channel = $1 AND m.sent_at < $2
         ORDER BY m.sent_at LIMIT $3",
    )
    .bind(channel)
    .bind(cutoff)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StalledSend {
                id: r.try_get(0)?,
                phone: r.try_get(1)?,
            })
        })
        .collect()
}

/// Sends a message that `channel` did not deliver on to the next channel, if it is
/// still undelivered; `false` when a receipt moved it on first.
pub(super) async fn reroute_stalled(
    conn: &mut Conn,
    id: Uuid,
    channel: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let sql = format!("SELECT state FROM outbox WHERE id = $1{FOR_UPDATE}");
    let state: Option<String> = sqlx::query_scalar(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if state.as_deref() != Some("sent") {
        return Ok(false);
    }
    reroute(conn, id, channel, reason, 0, now).await?;
    let detail = format!("{channel} gave up ({reason}); trying the next channel");
    insert_message_event(conn, id, domain::MessageState::Pending, now, Some(&detail)).await?;
    Ok(true)
}
