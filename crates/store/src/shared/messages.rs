//! Outgoing messages through their states, provider receipts, inbound messages and
//! templates.

use domain::{
    Channel, ConsentRecord, InboundInput, Keyword, MessageState, Purpose, ReceiptInput,
    SubscriptionInput,
};

use super::*;

/// Hands leases that ran out (a dispatcher stopped mid-send) back to the queue; the
/// provider ignores a second send with the same message id, so a resend is safe.
pub(super) async fn release_expired_leases(conn: &mut Conn, now: DateTime<Utc>) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE outbox SET state = 'pending', claimed_until = NULL, updated_at = $1
         WHERE state = 'sending' AND claimed_until < $1",
    )
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Marks up to `limit` due messages as being sent until `lease_until`; their ids, order
/// updates before promotions (a campaign queued for hours must not hold up "your parcel
/// is out for delivery"), then the longest waiting first.
pub(super) async fn claim_due(
    conn: &mut Conn,
    limit: i64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<Uuid>> {
    let sql = format!(
        "UPDATE outbox SET state = 'sending', claimed_until = $1, updated_at = $2
         WHERE id IN (
            SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $2
            ORDER BY CASE WHEN purpose = 'transactional' THEN 0 ELSE 1 END, next_attempt_at
            LIMIT $3{SKIP_LOCKED})
         RETURNING id"
    );
    let rows = sqlx::query(&sql)
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?)
}

/// The claimed messages with their order (none for replies), customer and shipment, in `ids` order.
pub(super) async fn load_due(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<DueMessage>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT m.id, m.template_key, m.status, m.purpose, m.attempts,
                o.id, o.number, o.currency, o.total_minor, o.placed_at, o.status,
                o.status_detail, o.tracking_token, o.shipping_address,
                c.id, c.first_name, c.last_name, c.phone, c.email, c.locale,
                s.id, s.carrier, s.tracking_number, s.tracking_url, s.estimated_delivery,
                c.time_zone, m.exhausted, m.escalated_at, m.only_channel, c.unsubscribe_token
             FROM outbox m LEFT JOIN orders o ON o.id = m.order_id
             LEFT JOIN customers c ON c.id = m.customer_id
             LEFT JOIN shipments s ON s.id = m.shipment_id
             WHERE m.id IN ({})",
            list.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(due_from_row(&row)?);
        }
    }
    // By a map: finding each id in `ids` made the sort quadratic in the batch size.
    let position: std::collections::HashMap<Uuid, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    found.sort_by_key(|m| position.get(&m.id).copied());
    add_consents(conn, &mut found).await?;
    add_recent_promotional(conn, &mut found).await?;
    Ok(found)
}

/// The customers' consent in force (the newest record per purpose and channel).
async fn add_consents(conn: &mut Conn, messages: &mut [DueMessage]) -> Result<()> {
    let mut customers: Vec<i64> = messages
        .iter()
        .filter_map(|m| m.customer.as_ref().map(|c| c.id))
        .collect();
    customers.sort_unstable();
    customers.dedup();
    let mut found: Vec<(i64, ConsentState)> = Vec::new();
    for chunk in customers.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT customer_id, purpose, channel, granted FROM consents
             WHERE customer_id IN ({}) ORDER BY id",
            list_placeholders(chunk.len())
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let state = ConsentState {
                purpose: row.try_get(1)?,
                channel: row.try_get(2)?,
                granted: row.try_get(3)?,
            };
            found.push((row.try_get(0)?, state));
        }
    }
    for message in messages.iter_mut() {
        let Some(customer) = message.customer.as_ref().map(|c| c.id) else {
            continue;
        };
        // Oldest first, so a later decision replaces an earlier one.
        for (_, state) in found.iter().filter(|(id, _)| *id == customer) {
            message
                .consents
                .retain(|c| (&c.purpose, &c.channel) != (&state.purpose, &state.channel));
            message.consents.push(state.clone());
        }
    }
    Ok(())
}

/// For promotional messages, when their customer's promotional messages of the last
/// week were sent.
async fn add_recent_promotional(conn: &mut Conn, messages: &mut [DueMessage]) -> Result<()> {
    let since = Utc::now() - Duration::weeks(1);
    for message in messages.iter_mut() {
        let Some(customer) = message.customer.as_ref().map(|c| c.id) else {
            continue;
        };
        if message.purpose != "promotional" {
            continue;
        }
        let rows = sqlx::query(
            "SELECT sent_at FROM outbox
             WHERE customer_id = $1 AND purpose = 'promotional' AND sent_at > $2",
        )
        .bind(customer)
        .bind(since)
        .fetch_all(&mut *conn)
        .await?;
        message.recent_promotional = rows
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

fn list_placeholders(count: usize) -> String {
    (1..=count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn due_from_row(r: &<Db as sqlx::Database>::Row) -> Result<DueMessage> {
    let order = match r.try_get::<Option<i64>, _>(5)? {
        None => None,
        Some(_) => Some(order_from_row(r)?),
    };
    let customer = match r.try_get::<Option<i64>, _>(14)? {
        None => None,
        Some(id) => Some(MessageCustomer {
            id,
            first_name: r.try_get(15)?,
            last_name: r.try_get(16)?,
            phone: r.try_get(17)?,
            email: r.try_get(18)?,
            locale: r.try_get(19)?,
            time_zone: r.try_get(25)?,
            unsubscribe_token: r.try_get(29)?,
        }),
    };
    let shipment = match r.try_get::<Option<i64>, _>(20)? {
        None => None,
        Some(id) => Some(MessageShipment {
            id,
            carrier: r.try_get(21)?,
            tracking_number: r.try_get(22)?,
            tracking_url: r.try_get(23)?,
            estimated_delivery: r.try_get(24)?,
        }),
    };
    Ok(DueMessage {
        id: r.try_get(0)?,
        template_key: r.try_get(1)?,
        status: optional_status(r.try_get(2)?)?,
        purpose: r.try_get(3)?,
        attempts: r.try_get(4)?,
        order,
        customer,
        shipment,
        exhausted: r
            .try_get::<String, _>(26)?
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        only_channel: r.try_get(28)?,
        consents: Vec::new(),
        recent_promotional: Vec::new(),
        escalated: r.try_get::<Option<DateTime<Utc>>, _>(27)?.is_some(),
    })
}

/// The order columns of a [`load_due`] row that has an order.
fn order_from_row(r: &<Db as sqlx::Database>::Row) -> Result<MessageOrder> {
    let address: Option<String> = r.try_get(13)?;
    Ok(MessageOrder {
        id: r.try_get(5)?,
        number: r.try_get(6)?,
        currency: r.try_get(7)?,
        total_minor: r.try_get(8)?,
        placed_at: r.try_get(9)?,
        status: parse_status(&r.try_get::<String, _>(10)?)?,
        status_detail: r.try_get(11)?,
        tracking_token: r.try_get(12)?,
        shipping_address: address.and_then(|a| serde_json::from_str(&a).ok()),
    })
}

/// A nullable status column: NULL for messages about no order.
fn optional_status(name: Option<String>) -> Result<Option<Status>> {
    name.as_deref().map(parse_status).transpose()
}

/// Records a batch of outcomes. Messages sent after one provider call, nearly all of a
/// batch, are written with three statements per chunk instead of three per message
/// (the write lock is held that much less); the others go one by one.
pub(super) async fn record_outcomes(
    conn: &mut Conn,
    outcomes: &[Outcome],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(outcomes.len());
    if !outcomes.iter().all(|o| seen.insert(o.message_id)) {
        // A message named twice: its outcomes are recorded in order, one by one.
        for outcome in outcomes {
            record_outcome(conn, outcome, now).await?;
        }
        return Ok(());
    }
    let mut sent = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match (&outcome.attempt, &outcome.next) {
            (Some(attempt), SendOutcome::Sent { channel }) => {
                sent.push((attempt, channel.as_str()));
            }
            _ => record_outcome(conn, outcome, now).await?,
        }
    }
    for chunk in sent.chunks(ROWS_PER_STATEMENT / 8) {
        record_sent(conn, chunk, now).await?;
    }
    Ok(())
}

/// Attempts, state and history of messages sent after one call each, as
/// [`record_outcome`] writes them, in three statements.
async fn record_sent(
    conn: &mut Conn,
    sent: &[(&AttemptRecord, &str)],
    now: DateTime<Utc>,
) -> Result<()> {
    // VALUES columns are named column1, column2, ... by both SQLite and PostgreSQL.
    let sql = format!(
        "INSERT INTO message_attempts (message_id, attempt, channel, started_at, duration_ms,
            outcome, http_status, detail)
         SELECT v.column1, o.attempts + 1, v.column2, v.column3, v.column4, v.column5,
            v.column6, v.column7
         FROM (VALUES {}) AS v JOIN outbox o ON o.id = v.column1",
        placeholders(sent.len(), 7)
    );
    let mut query = sqlx::query(&sql);
    for (a, _) in sent {
        query = query
            .bind(a.message_id)
            .bind(&a.channel)
            .bind(a.started_at)
            .bind(a.duration_ms)
            .bind(&a.outcome)
            .bind(a.http_status)
            .bind(&a.detail);
    }
    query.execute(&mut *conn).await?;

    let sql = format!(
        "UPDATE outbox SET state = CASE WHEN state IN ('pending', 'sending') THEN 'sent'
                ELSE state END,
            channel = v.column2, sent_at = COALESCE(sent_at, v.column3),
            attempts = attempts + 1, claimed_until = NULL, last_error = NULL,
            updated_at = v.column4
         FROM (VALUES {}) AS v WHERE outbox.id = v.column1",
        placeholders(sent.len(), 4)
    );
    let mut query = sqlx::query(&sql);
    for (a, channel) in sent {
        query = query
            .bind(a.message_id)
            .bind(*channel)
            .bind(a.started_at)
            .bind(now);
    }
    query.execute(&mut *conn).await?;

    let sql = format!(
        "INSERT INTO message_events (message_id, state, at, detail) VALUES {}",
        placeholders(sent.len(), 4)
    );
    let mut query = sqlx::query(&sql);
    for (a, channel) in sent {
        query = query
            .bind(a.message_id)
            .bind(MessageState::Sent.as_str())
            .bind(now)
            .bind(format!("sent on {channel}"));
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Records one message's attempt (if a provider was called) and moves the message on:
/// sent, back to the queue, on to the next channel, deferred, or failed. A receipt that
/// arrived while the send call was in flight has already moved the message further;
/// that state is kept.
pub(super) async fn record_outcome(
    conn: &mut Conn,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(attempt) = &outcome.attempt {
        insert_attempt(conn, attempt).await?;
    }
    let id = outcome.message_id;
    let tried = u8::from(outcome.attempt.is_some());
    let (state, detail) = match &outcome.next {
        SendOutcome::Sent { channel } => {
            let started = outcome.attempt.as_ref().map_or(now, |a| a.started_at);
            mark_sent(conn, id, channel, started, now).await?;
            (MessageState::Sent, Some(format!("sent on {channel}")))
        }
        SendOutcome::Retry { at, error } => {
            mark_retry(conn, id, *at, error, now).await?;
            let detail = format!("retry at {}: {error}", at.format("%Y-%m-%d %H:%M:%S UTC"));
            (MessageState::Pending, Some(detail))
        }
        SendOutcome::Failed { error } => {
            mark_failed(conn, id, error, tried, now).await?;
            (MessageState::Failed, Some(error.clone()))
        }
        SendOutcome::Reroute { channel, reason } => {
            reroute(conn, id, channel, reason, tried, now).await?;
            let detail = format!("{channel} gave up ({reason}); trying the next channel");
            (MessageState::Pending, Some(detail))
        }
        SendOutcome::Defer { until, reason } => {
            mark_retry_at(conn, id, *until, 0, now).await?;
            let at = until.format("%Y-%m-%d %H:%M UTC");
            (
                MessageState::Pending,
                Some(format!("deferred until {at}: {reason}")),
            )
        }
        SendOutcome::KeepDelivered { reason } => {
            settle_escalation(conn, id, reason, tried, now).await?;
            (
                MessageState::Delivered,
                Some(format!("not sent again: {reason}")),
            )
        }
    };
    insert_message_event(conn, id, state, now, detail.as_deref()).await
}

/// Back to the queue on the channels left: `channel` joins those given up on.
pub(super) async fn reroute(
    conn: &mut Conn,
    id: Uuid,
    channel: &str,
    reason: &str,
    tried: u8,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'pending', next_attempt_at = $2,
            attempts = attempts + $3, last_error = $4, claimed_until = NULL, updated_at = $2,
            exhausted = CASE WHEN exhausted = '' THEN $5 ELSE exhausted || ',' || $5 END
         WHERE id = $1 AND state IN ('pending', 'sending', 'sent', 'revoked')",
    )
    .bind(id)
    .bind(now)
    .bind(i64::from(tried))
    .bind(reason)
    .bind(channel)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn mark_retry_at(
    conn: &mut Conn,
    id: Uuid,
    at: DateTime<Utc>,
    tried: u8,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'pending', next_attempt_at = $2, attempts = attempts + $3,
            claimed_until = NULL, updated_at = $4
         WHERE id = $1 AND state = 'sending'",
    )
    .bind(id)
    .bind(at)
    .bind(i64::from(tried))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn insert_attempt(conn: &mut Conn, a: &AttemptRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO message_attempts (message_id, attempt, channel, started_at, duration_ms,
            outcome, http_status, detail)
         VALUES ($1, (SELECT attempts + 1 FROM outbox WHERE id = $1), $2, $3, $4, $5, $6, $7)",
    )
    .bind(a.message_id)
    .bind(&a.channel)
    .bind(a.started_at)
    .bind(a.duration_ms)
    .bind(&a.outcome)
    .bind(a.http_status)
    .bind(&a.detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn mark_sent(
    conn: &mut Conn,
    id: Uuid,
    channel: &str,
    sent_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = CASE WHEN state IN ('pending', 'sending') THEN 'sent'
                ELSE state END,
            channel = $2, sent_at = COALESCE(sent_at, $3), attempts = attempts + 1,
            claimed_until = NULL, last_error = NULL, updated_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(channel)
    .bind(sent_at)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn mark_retry(
    conn: &mut Conn,
    id: Uuid,
    at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'pending', next_attempt_at = $2, attempts = attempts + 1,
            last_error = $3, claimed_until = NULL, updated_at = $4
         WHERE id = $1 AND state = 'sending'",
    )
    .bind(id)
    .bind(at)
    .bind(error)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn mark_failed(
    conn: &mut Conn,
    id: Uuid,
    error: &str,
    tried: u8,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'failed', attempts = attempts + $4, last_error = $2,
            claimed_until = NULL, updated_at = $3
         WHERE id = $1 AND state IN ('pending', 'sending')",
    )
    .bind(id)
    .bind(error)
    .bind(now)
    .bind(i64::from(tried))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn insert_message_event(
    conn: &mut Conn,
    id: Uuid,
    state: MessageState,
    at: DateTime<Utc>,
    detail: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO message_events (message_id, state, at, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(state.as_str())
    .bind(at)
    .bind(detail)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Applies a provider's receipt. A receipt for a message this store never sent (another
/// system sharing the agent, a test tool) changes nothing and is not an error.
pub(super) async fn apply_receipt(
    conn: &mut Conn,
    input: &ReceiptInput,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let Ok(id) = Uuid::parse_str(&input.message_id) else {
        tracing::debug!(message_id = %input.message_id, "receipt for a message id not ours");
        return Ok(Applied::default());
    };
    let sql = format!("SELECT state, channel, escalated_at FROM outbox WHERE id = $1{FOR_UPDATE}");
    let Some(row) = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        tracing::debug!(message_id = %id, "receipt for an unknown message");
        return Ok(Applied::default());
    };
    let before = MessageState::parse(&row.try_get::<String, _>(0)?)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let channel: Option<String> = row.try_get(1)?;
    let escalated = row.try_get::<Option<DateTime<Utc>>, _>(2)?.is_some();
    // An escalated message's failure leaves it delivered (see `state_after_receipt`).
    let on_its_channel = channel.as_deref() == Some(input.channel.as_str());
    let gave_up = input.receipt == domain::Receipt::Failed && before == MessageState::Sent;
    if gave_up && on_its_channel && !escalated {
        return fall_back_after_failure(conn, id, input, now).await;
    }
    let after = state_after_receipt(before, input, escalated);
    let (delivered_at, read_at) = match input.receipt {
        domain::Receipt::Read => (Some(input.at), Some(input.at)),
        domain::Receipt::Delivered => (Some(input.at), None),
        _ => (None, None),
    };
    sqlx::query(
        "UPDATE outbox SET state = $2, delivered_at = COALESCE(delivered_at, $3),
            read_at = COALESCE(read_at, $4), updated_at = $5,
            last_error = COALESCE($6, last_error)
         WHERE id = $1",
    )
    .bind(id)
    .bind(after.as_str())
    .bind(delivered_at)
    .bind(read_at)
    .bind(now)
    .bind(&input.error)
    .execute(&mut *conn)
    .await?;
    let reported = input.receipt.state().unwrap_or(before);
    let detail = match &input.error {
        Some(error) => format!("{} receipt: {error}", input.receipt.as_str()),
        None => format!("{} receipt", input.receipt.as_str()),
    };
    insert_message_event(conn, id, reported, input.at, Some(&detail)).await?;
    Ok(Applied::default())
}

/// The provider gave up on a message it had taken: the next channel gets it, with the
/// provider's reason on the message. Should no channel be left, the dispatcher fails it
/// with that reason.
async fn fall_back_after_failure(
    conn: &mut Conn,
    id: Uuid,
    input: &ReceiptInput,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let channel = input.channel.as_str();
    let reason = input
        .error
        .as_deref()
        .unwrap_or("the provider reported a failure");
    reroute(conn, id, channel, reason, 0, now).await?;
    let failed = format!("failed receipt: {reason}");
    insert_message_event(conn, id, MessageState::Failed, input.at, Some(&failed)).await?;
    let detail = format!("{channel} gave up ({reason}); trying the next channel");
    insert_message_event(conn, id, MessageState::Pending, now, Some(&detail)).await?;
    Ok(Applied::default())
}

/// The state a receipt leaves a message in: the further of the two along the way
/// forward.
///
/// An escalated message (delivered on RCS, unread, handed to the next channel) has two
/// sends behind one id. RCS receipts other than READ are late news about the first: a
/// repeated DELIVERED must not mark the queued second send done. A READ counts from
/// either channel, since the customer has seen the update. And the second send failing
/// or expiring leaves the message delivered, as it was on RCS, not failed.
fn state_after_receipt(
    before: MessageState,
    input: &ReceiptInput,
    escalated: bool,
) -> MessageState {
    let Some(reported) = input.receipt.state() else {
        return before;
    };
    if !escalated {
        return before.advance(reported);
    }
    match reported {
        MessageState::Read => before.advance(reported),
        _ if input.channel == domain::Channel::Rcs => before,
        MessageState::Failed | MessageState::Revoked => before.advance(MessageState::Delivered),
        _ => before.advance(reported),
    }
}

/// Keeps a message a customer sent, linked to the customer with that phone number (a
/// number not on file becomes a contact of its own). A keyword (STOP, START, HELP) also
/// changes consent and queues its one reply, in the same transaction. A replay of the
/// same provider message adds nothing.
pub(super) async fn record_inbound(
    conn: &mut Conn,
    input: &InboundInput,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let customer_id = Some(customer_for_inbound(conn, &input.phone, now).await?);
    let Some(inbound_id) = insert_inbound(conn, input, customer_id, now).await? else {
        // A replay: the keyword it may be was answered when it first came.
        return Ok(Applied {
            customer_id,
            ..Applied::default()
        });
    };
    let notifications = match input.keyword() {
        Some(keyword) => answer_keyword(conn, input, keyword, inbound_id, customer_id, now).await?,
        None => 0,
    };
    Ok(Applied {
        customer_id,
        notifications,
        ..Applied::default()
    })
}

/// Stores an inbound message; its id, or `None` when the provider sent it before.
async fn insert_inbound(
    conn: &mut Conn,
    input: &InboundInput,
    customer_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let content = serde_json::to_string(&input.content)
        .map_err(|e| StoreError::Corrupt(format!("inbound content: {e}")))?;
    let row = sqlx::query(
        "INSERT INTO inbound_messages (channel, provider_message_id, customer_id, phone, kind,
            body, content, sent_at, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (channel, provider_message_id) DO NOTHING RETURNING id",
    )
    .bind(input.channel.as_str())
    .bind(&input.provider_message_id)
    .bind(customer_id)
    .bind(input.phone.as_str())
    .bind(input.content.kind())
    .bind(input.content.summary())
    .bind(content)
    .bind(input.at)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// The consent source of a keyword texted on any channel.
pub(super) const KEYWORD_SOURCE: &str = "keyword";

/// Applies a keyword: STOP and START change promotional consent on the channel it came
/// on, for every customer with the number; the customer it was filed under gets the one
/// reply, unless the provider already answered it. How many replies were queued.
async fn answer_keyword(
    conn: &mut Conn,
    input: &InboundInput,
    keyword: Keyword,
    inbound_id: i64,
    customer_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<usize> {
    if let Some(granted) = keyword.grants_promotional() {
        let record = ConsentRecord {
            purpose: Purpose::Promotional,
            channel: input.channel,
            granted,
            source: KEYWORD_SOURCE.to_string(),
            recorded_at: input.at,
        };
        record_consent_by_phone(conn, input.phone.as_str(), &record).await?;
    }
    let Some(customer_id) = customer_id else {
        return Ok(0);
    };
    if input.provider_answered {
        return Ok(0);
    }
    let reply = Reply {
        customer_id,
        template_key: keyword.reply_template(),
        channel: input.channel,
        reply_to: Some(inbound_id),
    };
    queue_reply(conn, &reply, now).await
}

/// A message answering the customer, about no order.
struct Reply {
    customer_id: i64,
    template_key: &'static str,
    /// It goes back on the channel the customer used, and on no other.
    channel: Channel,
    /// The inbound message it answers, when it answers one (events carry no message).
    reply_to: Option<i64>,
}

/// How long an opt-out or opt-in acknowledgement covers a repeat of the same request.
/// Google Messages' Unsubscribe menu sends a STOP text and an UNSUBSCRIBE event
/// together; the customer should read one confirmation, not two.
const ACK_REPEAT_WINDOW_MINUTES: i64 = 10;

/// Queues a reply: transactional (the customer asked for it, so quiet hours, caps and
/// revoked promotional consent do not hold it), due now. Returns 1, or 0 when the same
/// acknowledgement was just queued, or this inbound message already has its reply.
async fn queue_reply(conn: &mut Conn, reply: &Reply, now: DateTime<Utc>) -> Result<usize> {
    if repeats_last_ack(conn, reply, now).await? {
        return Ok(0);
    }
    let done = sqlx::query(
        "INSERT INTO outbox (id, customer_id, template_key, purpose, created_at,
            next_attempt_at, updated_at, only_channel, reply_to)
         VALUES ($1, $2, $3, 'transactional', $4, $4, $4, $5, $6)
         ON CONFLICT (reply_to) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(reply.customer_id)
    .bind(reply.template_key)
    .bind(now)
    .bind(reply.channel.as_str())
    .bind(reply.reply_to)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() as usize)
}

/// Whether `reply` acknowledges the same change as the customer's latest
/// acknowledgement on its channel, queued within the window. STOP, START, STOP gets three
/// answers; STOP and the unsubscribe event together get one.
async fn repeats_last_ack(conn: &mut Conn, reply: &Reply, now: DateTime<Utc>) -> Result<bool> {
    let acks = [
        Keyword::OptOut.reply_template(),
        Keyword::OptIn.reply_template(),
    ];
    if !acks.contains(&reply.template_key) {
        return Ok(false);
    }
    // Ids are UUIDv7: the greatest is the latest queued.
    let last = sqlx::query(
        "SELECT template_key, created_at FROM outbox
         WHERE customer_id = $1 AND only_channel = $2 AND template_key IN ($3, $4)
         ORDER BY id DESC LIMIT 1",
    )
    .bind(reply.customer_id)
    .bind(reply.channel.as_str())
    .bind(acks[0])
    .bind(acks[1])
    .fetch_optional(&mut *conn)
    .await?;
    let Some(last) = last else {
        return Ok(false);
    };
    let key: String = last.try_get(0)?;
    let at: DateTime<Utc> = last.try_get(1)?;
    let window = Duration::minutes(ACK_REPEAT_WINDOW_MINUTES);
    Ok(key == reply.template_key && at > now - window)
}

/// The customer most recently updated with this phone number.
pub(super) async fn customer_by_phone(conn: &mut Conn, phone: &str) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT id FROM customers WHERE phone = $1 ORDER BY updated_at DESC, id DESC LIMIT 1",
    )
    .bind(phone)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Records `record` for every customer with the number: the person behind a phone may
/// be on file more than once (a guest order and an account).
async fn record_consent_by_phone(
    conn: &mut Conn,
    phone: &str,
    record: &ConsentRecord,
) -> Result<()> {
    let rows = sqlx::query("SELECT id FROM customers WHERE phone = $1")
        .bind(phone)
        .fetch_all(&mut *conn)
        .await?;
    for row in rows {
        record_consent(conn, row.try_get(0)?, record).await?;
    }
    Ok(())
}

/// Records a customer's unsubscribe or resubscribe (RBM's UNSUBSCRIBE and SUBSCRIBE
/// events) as promotional consent on that channel, for every customer with the number,
/// and queues the acknowledgement. Transactional messages about orders the customer
/// placed stay allowed, as RBM's rules for unsubscribed users allow.
pub(super) async fn record_subscription(
    conn: &mut Conn,
    input: &SubscriptionInput,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let verb = if input.subscribed {
        "subscribe"
    } else {
        "unsubscribe"
    };
    let record = ConsentRecord {
        purpose: Purpose::Promotional,
        channel: input.channel,
        granted: input.subscribed,
        source: format!("{}:{verb}", input.channel.as_str()),
        recorded_at: input.at,
    };
    record_consent_by_phone(conn, input.phone.as_str(), &record).await?;
    let Some(customer_id) = customer_by_phone(conn, input.phone.as_str()).await? else {
        return Ok(Applied::default());
    };
    let keyword = if input.subscribed {
        Keyword::OptIn
    } else {
        Keyword::OptOut
    };
    let reply = Reply {
        customer_id,
        template_key: keyword.reply_template(),
        channel: input.channel,
        reply_to: None,
    };
    Ok(Applied {
        customer_id: Some(customer_id),
        notifications: queue_reply(conn, &reply, now).await?,
        ..Applied::default()
    })
}

/// Every message to a customer (order updates and replies), oldest first.
pub(super) async fn list_customer_messages(
    conn: &mut Conn,
    customer_id: i64,
) -> Result<Vec<MessageView>> {
    messages_where(conn, "customer_id", customer_id).await
}

/// Every message about an order, with history and attempts, oldest first.
pub(super) async fn list_messages(conn: &mut Conn, order_id: i64) -> Result<Vec<MessageView>> {
    messages_where(conn, "order_id", order_id).await
}

/// The messages whose `column` (a fixed column name, never input) is `id`, oldest first.
async fn messages_where(conn: &mut Conn, column: &str, id: i64) -> Result<Vec<MessageView>> {
    let sql = format!("{MESSAGE_SELECT} WHERE {column} = $1 ORDER BY id");
    let rows = sqlx::query(&sql).bind(id).fetch_all(&mut *conn).await?;
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        messages.push(message_view(conn, row).await?);
    }
    Ok(messages)
}

/// The columns [`message_view`] reads.
pub(super) const MESSAGE_SELECT: &str =
    "SELECT id, order_id, template_key, status, state, channel, attempts, last_error,
        created_at, sent_at, delivered_at, read_at
     FROM outbox";

/// A message row (selected with [`MESSAGE_SELECT`]) with its history and attempts.
pub(super) async fn message_view(
    conn: &mut Conn,
    r: &<Db as sqlx::Database>::Row,
) -> Result<MessageView> {
    let id: Uuid = r.try_get(0)?;
    Ok(MessageView {
        id,
        order_id: r.try_get(1)?,
        template_key: r.try_get(2)?,
        status: optional_status(r.try_get(3)?)?,
        state: r.try_get(4)?,
        channel: r.try_get(5)?,
        attempts: r.try_get(6)?,
        last_error: r.try_get(7)?,
        created_at: r.try_get(8)?,
        sent_at: r.try_get(9)?,
        delivered_at: r.try_get(10)?,
        read_at: r.try_get(11)?,
        history: message_history(conn, id).await?,
        attempt_log: message_attempts(conn, id).await?,
    })
}

async fn message_history(conn: &mut Conn, id: Uuid) -> Result<Vec<MessageEventView>> {
    let rows = sqlx::query(
        "SELECT state, at, detail FROM message_events WHERE message_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MessageEventView {
                state: r.try_get(0)?,
                at: r.try_get(1)?,
                detail: r.try_get(2)?,
            })
        })
        .collect()
}

async fn message_attempts(conn: &mut Conn, id: Uuid) -> Result<Vec<AttemptView>> {
    let rows = sqlx::query(
        "SELECT attempt, channel, started_at, duration_ms, outcome, http_status, detail
         FROM message_attempts WHERE message_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AttemptView {
                attempt: r.try_get(0)?,
                channel: r.try_get(1)?,
                started_at: r.try_get(2)?,
                duration_ms: r.try_get(3)?,
                outcome: r.try_get(4)?,
                http_status: r.try_get(5)?,
                detail: r.try_get(6)?,
            })
        })
        .collect()
}

/// Messages by state.
pub(super) async fn message_counts(conn: &mut Conn) -> Result<MessageCounts> {
    let rows = sqlx::query("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        .fetch_all(&mut *conn)
        .await?;
    let mut counts = MessageCounts::default();
    for row in rows {
        let (state, n): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        let slot = match state.as_str() {
            "pending" => &mut counts.pending,
            "sending" => &mut counts.sending,
            "sent" => &mut counts.sent,
            "delivered" => &mut counts.delivered,
            "read" => &mut counts.read,
            "failed" => &mut counts.failed,
            "revoked" => &mut counts.revoked,
            _ => continue,
        };
        *slot = n;
    }
    Ok(counts)
}

/// Messages waiting to be sent (queued or being sent) by purpose.
pub(super) async fn queued_counts(conn: &mut Conn) -> Result<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT purpose, COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')
         GROUP BY purpose ORDER BY purpose DESC",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Up to `limit` messages waiting to be sent, in the order the dispatcher claims them,
/// loaded as it loads them.
pub(super) async fn queued_messages(conn: &mut Conn, limit: i64) -> Result<Vec<DueMessage>> {
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM outbox WHERE state IN ('pending', 'sending')
         ORDER BY CASE WHEN purpose = 'transactional' THEN 0 ELSE 1 END, next_attempt_at
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    load_due(conn, &ids).await
}

/// What a customer sent, for one customer, oldest first.
pub(super) async fn list_inbound(conn: &mut Conn, customer_id: i64) -> Result<Vec<InboundView>> {
    let rows = sqlx::query(
        "SELECT id, channel, provider_message_id, customer_id, kind, body, sent_at
         FROM inbound_messages WHERE customer_id = $1 ORDER BY id",
    )
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InboundView {
                id: r.try_get(0)?,
                channel: r.try_get(1)?,
                provider_message_id: r.try_get(2)?,
                customer_id: r.try_get(3)?,
                kind: r.try_get(4)?,
                body: r.try_get(5)?,
                sent_at: r.try_get(6)?,
            })
        })
        .collect()
}

/// A stored template override, if one exists for exactly this key and locale.
pub(super) async fn get_template(
    conn: &mut Conn,
    key: &str,
    locale: &str,
) -> Result<Option<String>> {
    let row = sqlx::query("SELECT body FROM templates WHERE key = $1 AND locale = $2")
        .bind(key)
        .bind(locale)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Every stored override: key, locale, body.
pub(super) async fn list_templates(conn: &mut Conn) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query("SELECT key, locale, body FROM templates ORDER BY key, locale")
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

pub(super) async fn put_template(
    conn: &mut Conn,
    key: &str,
    locale: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO templates (key, locale, body, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (key, locale) DO UPDATE SET body = excluded.body,
            updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(locale)
    .bind(body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use domain::{Channel, Receipt};

    use super::*;

    fn receipt(channel: Channel, receipt: Receipt) -> ReceiptInput {
        ReceiptInput {
            message_id: Uuid::nil().to_string(),
            channel,
            receipt,
            at: Utc::now(),
            error: None,
        }
    }

    #[test]
    fn a_late_rcs_delivery_does_not_settle_an_escalated_message() {
        let late = receipt(Channel::Rcs, Receipt::Delivered);
        for before in [
            MessageState::Pending,
            MessageState::Sending,
            MessageState::Sent,
        ] {
            assert_eq!(state_after_receipt(before, &late, true), before);
        }
        // Before escalation the same receipt moves the message on as always.
        let sent = MessageState::Sent;
        assert_eq!(
            state_after_receipt(sent, &late, false),
            MessageState::Delivered
        );
    }

    #[test]
    fn a_read_counts_on_an_escalated_message_from_either_channel() {
        for channel in [Channel::Rcs, Channel::Sms] {
            let read = receipt(channel, Receipt::Read);
            for before in [
                MessageState::Pending,
                MessageState::Sent,
                MessageState::Delivered,
            ] {
                assert_eq!(state_after_receipt(before, &read, true), MessageState::Read);
            }
        }
    }

    #[test]
    fn the_second_send_failing_leaves_an_escalated_message_delivered() {
        let failed = receipt(Channel::Sms, Receipt::Failed);
        let sent = MessageState::Sent;
        assert_eq!(
            state_after_receipt(sent, &failed, true),
            MessageState::Delivered
        );
        assert_eq!(
            state_after_receipt(sent, &failed, false),
            MessageState::Failed
        );
        let delivered = receipt(Channel::Sms, Receipt::Delivered);
        assert_eq!(
            state_after_receipt(sent, &delivered, true),
            MessageState::Delivered
        );
        let rcs_failed = receipt(Channel::Rcs, Receipt::Failed);
        assert_eq!(state_after_receipt(sent, &rcs_failed, true), sent);
    }
}
