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

/// Hands order updates delivered on RCS before `delivered_before` and not read since to
/// the next channel, once each: `rcs` joins the channels given up on and the message is
/// due again now. Up to `limit` of them, oldest delivery first; their ids.
///
/// The claim is one conditional update (with `SKIP LOCKED` on PostgreSQL), so nodes
/// sweeping at once take disjoint messages, and a READ receipt committed first leaves
/// its message alone. `escalated_at` is set once and never cleared: no message goes
/// round twice.
pub(super) async fn escalate_unread(
    conn: &mut Conn,
    templates: &[String],
    delivered_before: DateTime<Utc>,
    reason: &str,
    limit: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    if templates.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = (0..templates.len())
        .map(|i| format!("${}", i + 4))
        .collect();
    let unread = "state = 'delivered' AND channel = 'rcs' AND purpose = 'transactional'
        AND read_at IS NULL AND escalated_at IS NULL";
    let sql = format!(
        "UPDATE outbox SET state = 'pending', next_attempt_at = $1, escalated_at = $1,
            claimed_until = NULL, updated_at = $1,
            exhausted = CASE WHEN exhausted = '' THEN 'rcs' ELSE exhausted || ',rcs' END
         WHERE {unread} AND id IN (
            SELECT id FROM outbox WHERE {unread} AND delivered_at < $2
                AND template_key IN ({})
            ORDER BY delivered_at LIMIT $3{SKIP_LOCKED})
         RETURNING id",
        keys.join(", ")
    );
    let mut query = sqlx::query(&sql)
        .bind(now)
        .bind(delivered_before)
        .bind(limit);
    for key in templates {
        query = query.bind(key);
    }
    let ids: Vec<Uuid> = query
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    for id in &ids {
        insert_message_event(conn, *id, domain::MessageState::Pending, now, Some(reason)).await?;
    }
    Ok(ids)
}

/// Puts an escalated message that the next channel could not take back to delivered
/// (the customer has it on RCS), with why it was not sent again; `tried` is 1 when a
/// provider was called for it, so that the attempt is counted. A receipt that moved the
/// message on first keeps its state.
pub(super) async fn settle_escalation(
    conn: &mut Conn,
    id: Uuid,
    reason: &str,
    tried: u8,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + $4, claimed_until = NULL, last_error = $2,
            updated_at = $3,
            state = CASE WHEN state IN ('pending', 'sending') THEN 'delivered' ELSE state END
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .bind(i64::from(tried))
    .execute(&mut *conn)
    .await?;
    Ok(())
}
