//! The audit log: one row per change, written in the transaction of the change.

use super::*;

/// What one change did, for [`insert_audit`].
pub(super) struct Change<'a> {
    pub action: &'a str,
    pub subject: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

pub(super) async fn insert_audit(
    conn: &mut Conn,
    actor: &Actor,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_kind, actor_id, actor, action, subject, before_json,
            after_json)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now)
    .bind(actor.kind.as_str())
    .bind(actor.id)
    .bind(&actor.name)
    .bind(change.action)
    .bind(&change.subject)
    .bind(change.before.map(|v| v.to_string()))
    .bind(change.after.map(|v| v.to_string()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(super) async fn list_audit(conn: &mut Conn, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
    let rows = sqlx::query(
        "SELECT id, at, actor_kind, actor_id, actor, action, subject, before_json, after_json
         FROM audit_log
         WHERE ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR action = $2)
            AND ($3 IS NULL OR subject = $3) AND ($4 IS NULL OR at >= $4)
            AND ($5 IS NULL OR at < $5) AND ($6 IS NULL OR id < $6)
            AND ($8 IS NULL OR substr(action, 1, length($8) + 1) = $8 || '.')
         ORDER BY id DESC LIMIT $7",
    )
    .bind(&filter.actor)
    .bind(&filter.action)
    .bind(&filter.subject)
    .bind(filter.since)
    .bind(filter.until)
    .bind(filter.before_id)
    .bind(filter.limit)
    .bind(&filter.kind)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(audit_entry).collect()
}

fn audit_entry(row: &<Db as sqlx::Database>::Row) -> Result<AuditEntry> {
    let json = |index: usize| -> Result<Option<serde_json::Value>> {
        let text: Option<String> = row.try_get(index)?;
        text.map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("audit_log JSON: {e}")))
    };
    Ok(AuditEntry {
        id: row.try_get(0)?,
        at: row.try_get(1)?,
        actor_kind: row.try_get(2)?,
        actor_id: row.try_get(3)?,
        actor: row.try_get(4)?,
        action: row.try_get(5)?,
        subject: row.try_get(6)?,
        before: json(7)?,
        after: json(8)?,
    })
}

/// A template save, with the stored body it replaced.
pub(super) async fn put_template_audited(
    conn: &mut Conn,
    key: &str,
    locale: &str,
    body: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let before = get_template(conn, key, locale).await?;
    put_template(conn, key, locale, body, now).await?;
    let as_json = |text: &str| {
        serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.into()))
    };
    let change = Change {
        action: "template.save",
        subject: format!("template:{key}/{locale}"),
        before: before.as_deref().map(as_json),
        after: Some(as_json(body)),
    };
    insert_audit(conn, actor, change, now).await
}

/// A dead letter queued again; `false`, with nothing recorded, when it is not failed.
pub(super) async fn redrive_audited(
    conn: &mut Conn,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    if !redrive(conn, id, &actor.label(), now).await? {
        return Ok(false);
    }
    let change = Change {
        action: "message.redrive",
        subject: format!("message:{id}"),
        before: Some(serde_json::json!({ "state": "failed" })),
        after: Some(serde_json::json!({ "state": "pending" })),
    };
    insert_audit(conn, actor, change, now).await?;
    Ok(true)
}

/// A consent decision recorded by someone in the workspace (a customer who asked by
/// phone or email), with the decision in force before it.
pub(super) async fn record_consent_audited(
    conn: &mut Conn,
    customer_id: i64,
    record: &domain::ConsentRecord,
    actor: &Actor,
) -> Result<()> {
    let before = consent_in_force(conn, customer_id, record).await?;
    record_consent(conn, customer_id, record).await?;
    let decision = |granted: bool| {
        serde_json::json!({
            "purpose": record.purpose.as_str(),
            "channel": record.channel.as_str(),
            "granted": granted,
        })
    };
    let change = Change {
        action: "consent.edit",
        subject: format!("customer:{customer_id}"),
        before: before.map(decision),
        after: Some(decision(record.granted)),
    };
    insert_audit(conn, actor, change, record.recorded_at).await
}

async fn consent_in_force(
    conn: &mut Conn,
    customer_id: i64,
    record: &domain::ConsentRecord,
) -> Result<Option<bool>> {
    let row = sqlx::query(
        "SELECT granted FROM consents WHERE customer_id = $1 AND purpose = $2 AND channel = $3
         ORDER BY id DESC LIMIT 1",
    )
    .bind(customer_id)
    .bind(record.purpose.as_str())
    .bind(record.channel.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Refuses a consent edit for a customer Tidings does not know.
pub(super) async fn get_customer_row_exists(conn: &mut Conn, customer_id: i64) -> Result<()> {
    sqlx::query("SELECT id FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("customer {customer_id}")))?;
    Ok(())
}
