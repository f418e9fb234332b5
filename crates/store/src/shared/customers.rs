//! Customers.

use super::*;

pub(super) async fn upsert_customer(
    conn: &mut Conn,
    source: &str,
    customer: &CustomerInput,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    if !customer.is_identifiable() {
        return Ok(None);
    }
    let email = customer.email.as_ref().map(|e| e.as_str().to_string());
    let phone = customer.phone.as_ref().map(|p| p.as_str().to_string());
    let existing = find_customer(conn, source, customer, &email, &phone).await?;

    let (id, new) = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE customers SET email = COALESCE($2, email), phone = COALESCE($3, phone),
                    first_name = COALESCE($4, first_name), last_name = COALESCE($5, last_name),
                    locale = COALESCE($6, locale), time_zone = COALESCE($7, time_zone),
                    external_id = COALESCE(external_id, $8), updated_at = $9,
                    source = CASE WHEN source = $10 THEN $11 ELSE source END
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&email)
            .bind(&phone)
            .bind(&customer.first_name)
            .bind(&customer.last_name)
            .bind(customer.locale.as_ref().map(|l| l.as_str()))
            .bind(customer.time_zone.as_ref().map(|t| t.as_str()))
            .bind(&customer.external_id)
            .bind(now)
            // A contact made from an inbound message becomes the store's customer.
            .bind(INBOUND_SOURCE)
            .bind(source)
            .execute(&mut *conn)
            .await?;
            (id, false)
        }
        None => (
            insert_customer(conn, source, customer, &email, &phone, now).await?,
            true,
        ),
    };

    if new {
        record_first_consents(conn, id, customer).await?;
    } else {
        record_consents(conn, id, customer).await?;
    }
    Ok(Some(id))
}

/// The source of a contact made from a message sent by a number not on file.
pub(super) const INBOUND_SOURCE: &str = "inbound";

/// The customer with `phone`, or a new contact holding only the number.
///
/// Someone who texts STOP before any order with the number still opts out: the consent
/// is kept on the contact, and the keyword is answered, as carriers expect of every
/// number a business texts from. A later order with the number joins the contact (see
/// [`upsert_customer`]).
pub(super) async fn customer_for_inbound(
    conn: &mut Conn,
    phone: &domain::PhoneNumber,
    now: DateTime<Utc>,
) -> Result<i64> {
    if let Some(id) = customer_by_phone(conn, phone.as_str()).await? {
        return Ok(id);
    }
    let contact = CustomerInput {
        phone: Some(phone.clone()),
        ..CustomerInput::default()
    };
    let number = Some(phone.as_str().to_string());
    insert_customer(conn, INBOUND_SOURCE, &contact, &None, &number, now).await
}

async fn insert_customer(
    conn: &mut Conn,
    source: &str,
    customer: &CustomerInput,
    email: &Option<String>,
    phone: &Option<String>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO customers (source, external_id, email, phone, first_name, last_name,
                    locale, time_zone, created_at, updated_at, unsubscribe_token)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id",
    )
    .bind(source)
    .bind(&customer.external_id)
    .bind(email)
    .bind(phone)
    .bind(&customer.first_name)
    .bind(&customer.last_name)
    .bind(customer.locale.as_ref().map(|l| l.as_str()))
    .bind(customer.time_zone.as_ref().map(|t| t.as_str()))
    .bind(now)
    .bind(crate::new_tracking_token())
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

/// The same person across sources: the source's own id first, then email, then phone.
/// One statement, each branch on its own index, as this runs for every order.
pub(super) async fn find_customer(
    conn: &mut Conn,
    source: &str,
    customer: &CustomerInput,
    email: &Option<String>,
    phone: &Option<String>,
) -> Result<Option<i64>> {
    let found = sqlx::query(
        "SELECT id, 1 AS priority FROM customers WHERE source = $1 AND external_id = $2
         UNION ALL SELECT id, 2 FROM customers WHERE email = $3
         UNION ALL SELECT id, 3 FROM customers WHERE phone = $4
         ORDER BY priority, id LIMIT 1",
    )
    .bind(source)
    .bind(&customer.external_id)
    .bind(email)
    .bind(phone)
    .fetch_optional(&mut *conn)
    .await?;
    found
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(Into::into)
}

/// Appends the consent records that change what is in force; repeats add nothing.
pub(super) async fn record_consents(
    conn: &mut Conn,
    customer_id: i64,
    customer: &CustomerInput,
) -> Result<()> {
    for record in &customer.consents {
        record_consent(conn, customer_id, record).await?;
    }
    Ok(())
}

/// A new customer's consent records, in one statement: with nothing in force yet, only
/// a record repeating the one before it for the same purpose and channel is left out.
async fn record_first_consents(
    conn: &mut Conn,
    customer_id: i64,
    customer: &CustomerInput,
) -> Result<()> {
    let mut in_force = std::collections::HashMap::new();
    let records: Vec<&domain::ConsentRecord> = customer
        .consents
        .iter()
        .filter(|r| in_force.insert((r.purpose, r.channel), r.granted) != Some(r.granted))
        .collect();
    if records.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO consents (customer_id, purpose, channel, granted, source, recorded_at)
         VALUES {}",
        placeholders(records.len(), 6)
    );
    let mut query = sqlx::query(&sql);
    for record in records {
        query = query
            .bind(customer_id)
            .bind(record.purpose.as_str())
            .bind(record.channel.as_str())
            .bind(record.granted)
            .bind(&record.source)
            .bind(record.recorded_at);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Appends one consent record unless the same decision is already in force.
pub(super) async fn record_consent(
    conn: &mut Conn,
    customer_id: i64,
    record: &domain::ConsentRecord,
) -> Result<()> {
    let current: Option<bool> = sqlx::query(
        "SELECT granted FROM consents WHERE customer_id = $1 AND purpose = $2 AND channel = $3
         ORDER BY id DESC LIMIT 1",
    )
    .bind(customer_id)
    .bind(record.purpose.as_str())
    .bind(record.channel.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| row.try_get(0))
    .transpose()?;
    if current == Some(record.granted) {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO consents (customer_id, purpose, channel, granted, source, recorded_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(customer_id)
    .bind(record.purpose.as_str())
    .bind(record.channel.as_str())
    .bind(record.granted)
    .bind(&record.source)
    .bind(record.recorded_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The consent source of a one-click unsubscribe from an email's link or header.
const EMAIL_UNSUBSCRIBE_SOURCE: &str = "email:unsubscribe";

/// Withdraws promotional email consent from the customer whose unsubscribe token this
/// is; their id, or `None` for a token no customer has. A repeat records nothing more.
pub(super) async fn unsubscribe_email(
    conn: &mut Conn,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>> {
    let Some(customer_id) = customer_by_unsubscribe_token(conn, token).await? else {
        return Ok(None);
    };
    let record = domain::ConsentRecord {
        purpose: domain::Purpose::Promotional,
        channel: domain::Channel::Email,
        granted: false,
        source: EMAIL_UNSUBSCRIBE_SOURCE.to_string(),
        recorded_at: now,
    };
    record_consent(conn, customer_id, &record).await?;
    Ok(Some(customer_id))
}

/// The customer an unsubscribe token belongs to.
pub(super) async fn customer_by_unsubscribe_token(
    conn: &mut Conn,
    token: &str,
) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM customers WHERE unsubscribe_token = $1")
        .bind(token)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// A customer's unsubscribe token.
pub(super) async fn unsubscribe_token(conn: &mut Conn, customer_id: i64) -> Result<Option<String>> {
    let row = sqlx::query("SELECT unsubscribe_token FROM customers WHERE id = $1")
        .bind(customer_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?.flatten())
}
