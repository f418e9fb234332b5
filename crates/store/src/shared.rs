//! Queries and write procedures common to both backends.
//!
//! This file is compiled twice, as `crate::sqlite::shared` and `crate::postgres::shared`;
//! each parent module defines `Db` and the `FOR_UPDATE` clause of its dialect. Both
//! backends accept `$n` placeholders, `ON CONFLICT` and `RETURNING`, so the SQL text is
//! the same; what differs (pool setup, claim locking, bulk inserts) lives in the parent.

use chrono::{DateTime, Duration, Utc};
use domain::{
    derive_order_status, template_for, Command, CustomerInput, EventInput, EventTarget, OrderFacts,
    OrderInput, OrderRef, OrderStatus, Partial, ShipmentInput, Status, Track,
};
use sqlx::{Acquire, Row};
use uuid::Uuid;

use super::{Db, FOR_UPDATE};
use crate::error::{Result, StoreError};
use crate::models::*;
use crate::ApplyOptions;

type Conn = <Db as sqlx::Database>::Connection;

/// Inbox rows that failed this many times are left as `failed` for an operator.
const MAX_ATTEMPTS: i64 = 8;

/// Applies one command inside the caller's transaction.
pub(crate) async fn apply_command(
    conn: &mut Conn,
    command: &Command,
    opts: &ApplyOptions,
) -> Result<Applied> {
    match command {
        Command::UpsertOrder(input) => upsert_order(conn, input, opts).await,
        Command::UpsertShipment { order, shipment } => {
            let mut agg = load_aggregate_by_ref(conn, order).await?;
            let source = agg.source.clone();
            apply_shipment(conn, &mut agg, shipment, &source, opts).await?;
            finish(conn, agg, opts).await
        }
        Command::AddEvents {
            target,
            estimated_delivery,
            events,
            reported_by,
        } => {
            let reported_by = reported_by.as_str();
            add_events(conn, target, *estimated_delivery, events, reported_by, opts).await
        }
        Command::UpsertCustomer { source, customer } => {
            let id = upsert_customer(conn, source.as_str(), customer, opts.now).await?;
            Ok(Applied {
                customer_id: id,
                ..Applied::default()
            })
        }
        Command::Ignore { .. } => Ok(Applied::default()),
    }
}

// ---------------------------------------------------------------------------------------
// Customers

pub(crate) async fn upsert_customer(
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

    let id = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE customers SET email = COALESCE($2, email), phone = COALESCE($3, phone),
                    first_name = COALESCE($4, first_name), last_name = COALESCE($5, last_name),
                    locale = COALESCE($6, locale), time_zone = COALESCE($7, time_zone),
                    external_id = COALESCE(external_id, $8), updated_at = $9
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
            .execute(&mut *conn)
            .await?;
            id
        }
        None => sqlx::query(
            "INSERT INTO customers (source, external_id, email, phone, first_name, last_name,
                    locale, time_zone, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
        )
        .bind(source)
        .bind(&customer.external_id)
        .bind(&email)
        .bind(&phone)
        .bind(&customer.first_name)
        .bind(&customer.last_name)
        .bind(customer.locale.as_ref().map(|l| l.as_str()))
        .bind(customer.time_zone.as_ref().map(|t| t.as_str()))
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?,
    };

    record_consents(conn, id, customer).await?;
    Ok(Some(id))
}

/// The same person across sources: the source's own id first, then email, then phone.
async fn find_customer(
    conn: &mut Conn,
    source: &str,
    customer: &CustomerInput,
    email: &Option<String>,
    phone: &Option<String>,
) -> Result<Option<i64>> {
    if let Some(external_id) = &customer.external_id {
        let found = sqlx::query("SELECT id FROM customers WHERE source = $1 AND external_id = $2")
            .bind(source)
            .bind(external_id)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some(row) = found {
            return Ok(Some(row.try_get(0)?));
        }
    }
    for (column, value) in [("email", email), ("phone", phone)] {
        let Some(value) = value else { continue };
        let sql = format!("SELECT id FROM customers WHERE {column} = $1 ORDER BY id LIMIT 1");
        if let Some(row) = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&mut *conn)
            .await?
        {
            return Ok(Some(row.try_get(0)?));
        }
    }
    Ok(None)
}

/// Appends the consent records that change what is in force; repeats add nothing.
async fn record_consents(
    conn: &mut Conn,
    customer_id: i64,
    customer: &CustomerInput,
) -> Result<()> {
    for record in &customer.consents {
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
            continue;
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
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Orders

async fn upsert_order(conn: &mut Conn, input: &OrderInput, opts: &ApplyOptions) -> Result<Applied> {
    let source = input.order.source.as_str();
    let customer_id = upsert_customer(conn, source, &input.customer, opts.now).await?;
    let address = input
        .shipping_address
        .as_ref()
        .map(|a| serde_json::to_string(a).unwrap_or_default());

    let sql = format!("SELECT id FROM orders WHERE source = $1 AND external_id = $2{FOR_UPDATE}");
    let existing = sqlx::query(&sql)
        .bind(source)
        .bind(&input.order.external_id)
        .fetch_optional(&mut *conn)
        .await?;
    let order_id: i64 = match existing {
        Some(row) => {
            let id = row.try_get(0)?;
            update_order_row(conn, id, input, customer_id, &address, opts.now).await?;
            id
        }
        None => insert_order_row(conn, input, customer_id, &address, opts.now).await?,
    };
    if !input.line_items.is_empty() {
        replace_line_items(conn, order_id, source, input).await?;
    }

    let mut agg = load_aggregate(conn, order_id).await?;
    let before = agg.track.status();
    let new_events = record_events(conn, &agg, None, &input.events, source, opts.now).await?;
    agg.new_events += new_events.len();
    apply_to_track(&mut agg, None, Some(before), &new_events, opts);
    for shipment in &input.shipments {
        apply_shipment(conn, &mut agg, shipment, source, opts).await?;
    }
    finish(conn, agg, opts).await
}

async fn insert_order_row(
    conn: &mut Conn,
    input: &OrderInput,
    customer_id: Option<i64>,
    address: &Option<String>,
    now: DateTime<Utc>,
) -> Result<i64> {
    let track = Track::starting_at(Status::Placed);
    let row = sqlx::query(
        "INSERT INTO orders (source, external_id, number, customer_id, currency, total_minor,
            placed_at, shipping_address, fully_shipped, status, track_progress, tracking_token,
            created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $12) RETURNING id",
    )
    .bind(input.order.source.as_str())
    .bind(&input.order.external_id)
    .bind(&input.number)
    .bind(customer_id)
    .bind(input.currency.as_str())
    .bind(input.total_minor)
    .bind(input.placed_at)
    .bind(address)
    .bind(input.fully_shipped)
    .bind(track.progress.as_str())
    .bind(crate::new_tracking_token())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

async fn update_order_row(
    conn: &mut Conn,
    id: i64,
    input: &OrderInput,
    customer_id: Option<i64>,
    address: &Option<String>,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE orders SET number = $2, customer_id = COALESCE($3, customer_id), currency = $4,
            total_minor = $5, shipping_address = COALESCE($6, shipping_address),
            fully_shipped = COALESCE($7, fully_shipped), updated_at = $8
         WHERE id = $1",
    )
    .bind(id)
    .bind(&input.number)
    .bind(customer_id)
    .bind(input.currency.as_str())
    .bind(input.total_minor)
    .bind(address)
    .bind(input.fully_shipped)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn replace_line_items(
    conn: &mut Conn,
    order_id: i64,
    source: &str,
    input: &OrderInput,
) -> Result<()> {
    sqlx::query("DELETE FROM line_items WHERE order_id = $1")
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    for item in &input.line_items {
        let product_id = match &item.product_external_id {
            Some(external_id) => Some(upsert_product(conn, source, external_id, item).await?),
            None => None,
        };
        sqlx::query(
            "INSERT INTO line_items (order_id, external_id, product_id, sku, title, variant,
                quantity, unit_price_minor)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(order_id)
        .bind(&item.external_id)
        .bind(product_id)
        .bind(&item.sku)
        .bind(&item.title)
        .bind(&item.variant)
        .bind(item.quantity)
        .bind(item.unit_price_minor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn upsert_product(
    conn: &mut Conn,
    source: &str,
    external_id: &str,
    item: &domain::LineItemInput,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO products (source, external_id, sku, title) VALUES ($1, $2, $3, $4)
         ON CONFLICT (source, external_id)
         DO UPDATE SET title = excluded.title, sku = COALESCE(excluded.sku, products.sku)
         RETURNING id",
    )
    .bind(source)
    .bind(external_id)
    .bind(&item.sku)
    .bind(&item.title)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

// ---------------------------------------------------------------------------------------
// Shipments and events

async fn add_events(
    conn: &mut Conn,
    target: &EventTarget,
    estimated_delivery: Option<DateTime<Utc>>,
    events: &[EventInput],
    reported_by: &str,
    opts: &ApplyOptions,
) -> Result<Applied> {
    let (mut agg, shipment_external_id) = match target {
        EventTarget::Order(order) => (load_aggregate_by_ref(conn, order).await?, None),
        EventTarget::Shipment {
            order,
            shipment_external_id,
        } => (
            load_aggregate_by_ref(conn, order).await?,
            Some(shipment_external_id.clone()),
        ),
        EventTarget::TrackingNumber {
            tracking_number,
            carrier,
        } => {
            let (order_id, external_id) =
                find_shipment_by_tracking(conn, tracking_number, carrier.as_deref()).await?;
            (load_aggregate(conn, order_id).await?, Some(external_id))
        }
    };

    match shipment_external_id {
        None => {
            let before = agg.track.status();
            let new_events = record_events(conn, &agg, None, events, reported_by, opts.now).await?;
            agg.new_events += new_events.len();
            apply_to_track(&mut agg, None, Some(before), &new_events, opts);
        }
        Some(external_id) => {
            let shipment = ShipmentInput {
                external_id,
                carrier: None,
                tracking_number: None,
                tracking_url: None,
                estimated_delivery,
                events: events.to_vec(),
            };
            apply_shipment(conn, &mut agg, &shipment, reported_by, opts).await?;
        }
    }
    finish(conn, agg, opts).await
}

async fn find_shipment_by_tracking(
    conn: &mut Conn,
    tracking_number: &str,
    carrier: Option<&str>,
) -> Result<(i64, String)> {
    let rows = sqlx::query(
        "SELECT order_id, external_id, carrier FROM shipments WHERE tracking_number = $1
         ORDER BY id DESC",
    )
    .bind(tracking_number)
    .fetch_all(&mut *conn)
    .await?;
    // Tracking numbers are unique per carrier, not globally: prefer the carrier's match.
    let matches_carrier = |row: &&<Db as sqlx::Database>::Row| {
        let stored: Option<String> = row.try_get(2).ok().flatten();
        match (carrier, stored) {
            (Some(wanted), Some(stored)) => carrier_key(wanted) == carrier_key(&stored),
            _ => true,
        }
    };
    let row = rows.iter().find(matches_carrier).ok_or_else(|| {
        StoreError::NotFound(format!("shipment with tracking number {tracking_number}"))
    })?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Carrier names compared loosely: "FedEx", "fedex" and "Fed Ex" are one carrier.
fn carrier_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

async fn apply_shipment(
    conn: &mut Conn,
    agg: &mut Aggregate,
    input: &ShipmentInput,
    reported_by: &str,
    opts: &ApplyOptions,
) -> Result<()> {
    let index = upsert_shipment_row(conn, agg, input, opts.now).await?;
    let before = agg.shipments[index]
        .existed
        .then(|| agg.shipments[index].track.status());
    let new_events =
        record_events(conn, agg, Some(index), &input.events, reported_by, opts.now).await?;
    agg.new_events += new_events.len();
    apply_to_track(agg, Some(index), before, &new_events, opts);
    agg.shipments[index].existed = true;
    Ok(())
}

/// Creates or updates the shipment row and returns its index in the aggregate.
async fn upsert_shipment_row(
    conn: &mut Conn,
    agg: &mut Aggregate,
    input: &ShipmentInput,
    now: DateTime<Utc>,
) -> Result<usize> {
    if let Some(index) = agg
        .shipments
        .iter()
        .position(|s| s.external_id == input.external_id)
    {
        sqlx::query(
            "UPDATE shipments SET carrier = COALESCE($2, carrier),
                tracking_number = COALESCE($3, tracking_number),
                tracking_url = COALESCE($4, tracking_url),
                estimated_delivery = COALESCE($5, estimated_delivery), updated_at = $6
             WHERE id = $1",
        )
        .bind(agg.shipments[index].id)
        .bind(&input.carrier)
        .bind(&input.tracking_number)
        .bind(&input.tracking_url)
        .bind(input.estimated_delivery)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        return Ok(index);
    }

    let track = Track::default();
    let row = sqlx::query(
        "INSERT INTO shipments (order_id, external_id, carrier, tracking_number, tracking_url,
            estimated_delivery, status, track_progress, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $8) RETURNING id",
    )
    .bind(agg.order_id)
    .bind(&input.external_id)
    .bind(&input.carrier)
    .bind(&input.tracking_number)
    .bind(&input.tracking_url)
    .bind(input.estimated_delivery)
    .bind(track.progress.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    agg.shipments.push(ShipmentState {
        id: row.try_get(0)?,
        external_id: input.external_id.clone(),
        track,
        existed: false,
        changed: true,
    });
    Ok(agg.shipments.len() - 1)
}

/// Writes events to the timeline and returns those that were not there yet.
async fn record_events(
    conn: &mut Conn,
    agg: &Aggregate,
    shipment: Option<usize>,
    events: &[EventInput],
    source: &str,
    now: DateTime<Utc>,
) -> Result<Vec<EventInput>> {
    let (shipment_id, key) = match shipment {
        Some(i) => (
            Some(agg.shipments[i].id),
            agg.shipments[i].external_id.as_str(),
        ),
        None => (None, ""),
    };
    let mut fresh = Vec::new();
    for event in events {
        let inserted = sqlx::query(
            "INSERT INTO tracking_events (order_id, shipment_id, status, raw_status, detail,
                location, happened_at, source, fingerprint, recorded_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (order_id, fingerprint) DO NOTHING",
        )
        .bind(agg.order_id)
        .bind(shipment_id)
        .bind(event.status.map(Status::as_str))
        .bind(&event.raw_status)
        .bind(&event.detail)
        .bind(&event.location)
        .bind(event.happened_at)
        .bind(source)
        .bind(event.fingerprint(key))
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted > 0 {
            fresh.push(event.clone());
        }
    }
    Ok(fresh)
}

/// Runs new events through a track's status machine and queues the notification the
/// change calls for. `before` is `None` for a shipment that did not exist.
fn apply_to_track(
    agg: &mut Aggregate,
    shipment: Option<usize>,
    before: Option<Status>,
    events: &[EventInput],
    opts: &ApplyOptions,
) {
    let (track, shipment_id) = match shipment {
        Some(i) => {
            let shipment = &mut agg.shipments[i];
            shipment.changed = true;
            (&mut shipment.track, Some(shipment.id))
        }
        None => (&mut agg.track, None),
    };
    for event in events {
        match event.status {
            Some(Status::Refunded) if opts.notify => {
                agg.notifications.push((None, Status::Refunded, "refunded"));
            }
            Some(status) => {
                track.apply(status, event.happened_at);
            }
            None => {}
        }
    }

    let after = track.status();
    // A voided label is not news for the customer; an order cancellation is.
    let voided_label = shipment.is_some() && after == Status::Cancelled;
    if before == Some(after) || voided_label || !opts.notify {
        return;
    }
    if let Some(template) = template_for(before, after) {
        agg.notifications.push((shipment_id, after, template));
    }
}

// ---------------------------------------------------------------------------------------
// The order aggregate: the order's track and its shipments', loaded and written back

struct ShipmentState {
    id: i64,
    external_id: String,
    track: Track,
    /// False for a shipment created by the command being applied.
    existed: bool,
    changed: bool,
}

struct Aggregate {
    order_id: i64,
    customer_id: Option<i64>,
    source: String,
    fully_shipped: Option<bool>,
    track: Track,
    status: OrderStatus,
    shipments: Vec<ShipmentState>,
    new_events: usize,
    notifications: Vec<(Option<i64>, Status, &'static str)>,
}

async fn load_aggregate_by_ref(conn: &mut Conn, order: &OrderRef) -> Result<Aggregate> {
    let sql = format!("SELECT id FROM orders WHERE source = $1 AND external_id = $2{FOR_UPDATE}");
    let row = sqlx::query(&sql)
        .bind(order.source.as_str())
        .bind(&order.external_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!(
                "order {} from {}",
                order.external_id,
                order.source.as_str()
            ))
        })?;
    load_aggregate(conn, row.try_get(0)?).await
}

async fn load_aggregate(conn: &mut Conn, order_id: i64) -> Result<Aggregate> {
    let sql = format!(
        "SELECT customer_id, source, fully_shipped, status, status_detail, track_progress,
            track_last_scan_at, track_side, track_side_at, track_terminal
         FROM orders WHERE id = $1{FOR_UPDATE}"
    );
    let row = sqlx::query(&sql)
        .bind(order_id)
        .fetch_one(&mut *conn)
        .await?;
    let status = OrderStatus {
        status: parse_status(&row.try_get::<String, _>(3)?)?,
        partial: row
            .try_get::<Option<String>, _>(4)?
            .as_deref()
            .and_then(Partial::parse),
    };
    let track = read_track(&row, 5)?;
    let mut agg = Aggregate {
        order_id,
        customer_id: row.try_get(0)?,
        source: row.try_get(1)?,
        fully_shipped: row.try_get(2)?,
        track,
        status,
        shipments: Vec::new(),
        new_events: 0,
        notifications: Vec::new(),
    };

    let rows = sqlx::query(
        "SELECT id, external_id, track_progress, track_last_scan_at, track_side, track_side_at,
            track_terminal
         FROM shipments WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        agg.shipments.push(ShipmentState {
            id: row.try_get(0)?,
            external_id: row.try_get(1)?,
            track: read_track(&row, 2)?,
            existed: true,
            changed: false,
        });
    }
    Ok(agg)
}

/// Writes the tracks, the derived order status and the notifications.
async fn finish(conn: &mut Conn, agg: Aggregate, opts: &ApplyOptions) -> Result<Applied> {
    for shipment in agg.shipments.iter().filter(|s| s.changed) {
        let t = TrackColumns::from(&shipment.track);
        sqlx::query(
            "UPDATE shipments SET status = $2, track_progress = $3, track_last_scan_at = $4,
                track_side = $5, track_side_at = $6, track_terminal = $7
             WHERE id = $1",
        )
        .bind(shipment.id)
        .bind(shipment.track.status().as_str())
        .bind(t.progress)
        .bind(t.last_scan_at)
        .bind(t.side)
        .bind(t.side_at)
        .bind(t.terminal)
        .execute(&mut *conn)
        .await?;
    }

    let statuses: Vec<Status> = agg.shipments.iter().map(|s| s.track.status()).collect();
    let facts = OrderFacts {
        track: agg.track.clone(),
        fully_shipped: agg.fully_shipped.unwrap_or(true),
    };
    let derived = derive_order_status(&facts, &statuses);
    let t = TrackColumns::from(&agg.track);
    sqlx::query(
        "UPDATE orders SET status = $2, status_detail = $3, track_progress = $4,
            track_last_scan_at = $5, track_side = $6, track_side_at = $7, track_terminal = $8,
            updated_at = $9
         WHERE id = $1",
    )
    .bind(agg.order_id)
    .bind(derived.status.as_str())
    .bind(derived.partial.map(Partial::as_str))
    .bind(t.progress)
    .bind(t.last_scan_at)
    .bind(t.side)
    .bind(t.side_at)
    .bind(t.terminal)
    .bind(opts.now)
    .execute(&mut *conn)
    .await?;

    for (shipment_id, status, template) in &agg.notifications {
        insert_notification(conn, &agg, *shipment_id, *status, template, opts.now).await?;
    }
    if derived != agg.status {
        tracing::debug!(order_id = agg.order_id, status = %derived.status, "order status changed");
    }
    Ok(Applied {
        order_id: Some(agg.order_id),
        customer_id: agg.customer_id,
        new_events: agg.new_events,
        notifications: agg.notifications.len(),
    })
}

async fn insert_notification(
    conn: &mut Conn,
    agg: &Aggregate,
    shipment_id: Option<i64>,
    status: Status,
    template: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, order_id, shipment_id, customer_id, status, template_key,
            purpose, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'transactional', $7)",
    )
    .bind(Uuid::now_v7())
    .bind(agg.order_id)
    .bind(shipment_id)
    .bind(agg.customer_id)
    .bind(status.as_str())
    .bind(template)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

struct TrackColumns {
    progress: &'static str,
    last_scan_at: Option<DateTime<Utc>>,
    side: Option<&'static str>,
    side_at: Option<DateTime<Utc>>,
    terminal: Option<&'static str>,
}

impl From<&Track> for TrackColumns {
    fn from(track: &Track) -> Self {
        TrackColumns {
            progress: track.progress.as_str(),
            last_scan_at: track.last_scan_at,
            side: track.side.map(|(flag, _)| flag.status().as_str()),
            side_at: track.side.map(|(_, at)| at),
            terminal: track.terminal.map(Status::as_str),
        }
    }
}

/// Reads the five track columns starting at `first`.
fn read_track(row: &<Db as sqlx::Database>::Row, first: usize) -> Result<Track> {
    let side = match row.try_get::<Option<String>, _>(first + 2)? {
        Some(name) => {
            let flag = match parse_status(&name)? {
                Status::Delayed => domain::status::Flag::Delayed,
                Status::DeliveryException => domain::status::Flag::DeliveryException,
                other => return Err(StoreError::Corrupt(format!("{other} is not a side state"))),
            };
            let at: Option<DateTime<Utc>> = row.try_get(first + 3)?;
            Some((
                flag,
                at.ok_or_else(|| StoreError::Corrupt("side state without time".into()))?,
            ))
        }
        None => None,
    };
    Ok(Track {
        progress: parse_status(&row.try_get::<String, _>(first)?)?,
        last_scan_at: row.try_get(first + 1)?,
        side,
        terminal: row
            .try_get::<Option<String>, _>(first + 4)?
            .as_deref()
            .map(parse_status)
            .transpose()?,
    })
}

fn parse_status(name: &str) -> Result<Status> {
    Status::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown status {name:?}")))
}

// ---------------------------------------------------------------------------------------
// The inbox: processing stored deliveries

/// Claims pending deliveries, parses and applies each in its own savepoint, and records
/// the outcome. Returns how many deliveries were handled.
pub(crate) async fn process_inbox<F>(
    conn: &mut Conn,
    limit: i64,
    parse: &F,
    opts: &ApplyOptions,
) -> Result<usize>
where
    F: Fn(&InboxRow) -> std::result::Result<Command, String>,
{
    let sql = format!(
        "SELECT id, source, delivery_id, topic, body, attempts FROM inbox
         WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= $1)
         ORDER BY id LIMIT $2{}",
        super::SKIP_LOCKED
    );
    let rows = sqlx::query(&sql)
        .bind(opts.now)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
    let mut handled = 0;
    for row in rows {
        let delivery = InboxRow {
            id: row.try_get(0)?,
            source: row.try_get(1)?,
            delivery_id: row.try_get(2)?,
            topic: row.try_get(3)?,
            body: row.try_get(4)?,
            attempts: row.try_get(5)?,
        };
        process_one(conn, &delivery, parse, opts).await?;
        handled += 1;
    }
    Ok(handled)
}

async fn process_one<F>(
    conn: &mut Conn,
    delivery: &InboxRow,
    parse: &F,
    opts: &ApplyOptions,
) -> Result<()>
where
    F: Fn(&InboxRow) -> std::result::Result<Command, String>,
{
    let span = tracing::debug_span!("process_delivery", inbox_id = delivery.id, source = %delivery.source, topic = %delivery.topic);
    let _enter = span.enter();
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

fn is_connection_error(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

async fn mark_delivery(
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

/// Stores one delivery; `Duplicate` when its id was seen before.
pub(crate) async fn insert_delivery(conn: &mut Conn, delivery: &Delivery) -> Result<Accepted> {
    let inserted = sqlx::query(
        "INSERT INTO inbox (source, delivery_id, topic, body, received_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (source, delivery_id) DO NOTHING",
    )
    .bind(&delivery.source)
    .bind(&delivery.delivery_id)
    .bind(&delivery.topic)
    .bind(&delivery.body)
    .bind(delivery.received_at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(if inserted > 0 {
        Accepted::New
    } else {
        Accepted::Duplicate
    })
}

/// Marks a delivery processed in the request that stored it (the REST path).
pub(crate) async fn mark_done(
    conn: &mut Conn,
    source: &str,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "UPDATE inbox SET state = 'done', attempts = attempts + 1, processed_at = $3
         WHERE source = $1 AND delivery_id = $2",
    )
    .bind(source)
    .bind(delivery_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn inbox_counts(conn: &mut Conn) -> Result<InboxCounts> {
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

// ---------------------------------------------------------------------------------------
// Reads

pub(crate) async fn order_id_by_ref(conn: &mut Conn, order: &OrderRef) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM orders WHERE source = $1 AND external_id = $2")
        .bind(order.source.as_str())
        .bind(&order.external_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(crate) async fn order_id_by_token(conn: &mut Conn, token: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM orders WHERE tracking_token = $1")
        .bind(token)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(crate) async fn get_order(conn: &mut Conn, id: i64) -> Result<OrderView> {
    let row = sqlx::query(
        "SELECT id, source, external_id, number, customer_id, currency, total_minor, status,
            status_detail, placed_at, shipping_address, tracking_token, updated_at
         FROM orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("order {id}")))?;
    let address: Option<String> = row.try_get(10)?;
    let mut order = OrderView {
        id: row.try_get(0)?,
        source: row.try_get(1)?,
        external_id: row.try_get(2)?,
        number: row.try_get(3)?,
        customer_id: row.try_get(4)?,
        currency: row.try_get(5)?,
        total_minor: row.try_get(6)?,
        status: parse_status(&row.try_get::<String, _>(7)?)?,
        status_detail: row
            .try_get::<Option<String>, _>(8)?
            .as_deref()
            .and_then(Partial::parse),
        placed_at: row.try_get(9)?,
        shipping_address: address.and_then(|a| serde_json::from_str(&a).ok()),
        tracking_token: row.try_get(11)?,
        updated_at: row.try_get(12)?,
        line_items: Vec::new(),
        shipments: Vec::new(),
        timeline: Vec::new(),
    };
    order.line_items = get_line_items(conn, id).await?;
    order.shipments = get_shipments(conn, id).await?;
    order.timeline = get_timeline(conn, id).await?;
    Ok(order)
}

async fn get_line_items(conn: &mut Conn, order_id: i64) -> Result<Vec<LineItemView>> {
    let rows = sqlx::query(
        "SELECT sku, title, variant, quantity, unit_price_minor FROM line_items
         WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LineItemView {
                sku: r.try_get(0)?,
                title: r.try_get(1)?,
                variant: r.try_get(2)?,
                quantity: r.try_get(3)?,
                unit_price_minor: r.try_get(4)?,
            })
        })
        .collect()
}

async fn get_shipments(conn: &mut Conn, order_id: i64) -> Result<Vec<ShipmentView>> {
    let rows = sqlx::query(
        "SELECT id, external_id, carrier, tracking_number, tracking_url, estimated_delivery, status
         FROM shipments WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ShipmentView {
                id: r.try_get(0)?,
                external_id: r.try_get(1)?,
                carrier: r.try_get(2)?,
                tracking_number: r.try_get(3)?,
                tracking_url: r.try_get(4)?,
                estimated_delivery: r.try_get(5)?,
                status: parse_status(&r.try_get::<String, _>(6)?)?,
            })
        })
        .collect()
}

async fn get_timeline(conn: &mut Conn, order_id: i64) -> Result<Vec<TimelineEntry>> {
    let rows = sqlx::query(
        "SELECT shipment_id, status, raw_status, detail, location, happened_at, source
         FROM tracking_events WHERE order_id = $1 ORDER BY happened_at, id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TimelineEntry {
                shipment_id: r.try_get(0)?,
                status: r
                    .try_get::<Option<String>, _>(1)?
                    .as_deref()
                    .map(parse_status)
                    .transpose()?,
                raw_status: r.try_get(2)?,
                detail: r.try_get(3)?,
                location: r.try_get(4)?,
                happened_at: r.try_get(5)?,
                source: r.try_get(6)?,
            })
        })
        .collect()
}

pub(crate) async fn get_customer(conn: &mut Conn, id: i64) -> Result<CustomerView> {
    let row = sqlx::query(
        "SELECT id, source, external_id, email, phone, first_name, last_name, locale, time_zone
         FROM customers WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("customer {id}")))?;
    let mut customer = CustomerView {
        id: row.try_get(0)?,
        source: row.try_get(1)?,
        external_id: row.try_get(2)?,
        email: row.try_get(3)?,
        phone: row.try_get(4)?,
        first_name: row.try_get(5)?,
        last_name: row.try_get(6)?,
        locale: row.try_get(7)?,
        time_zone: row.try_get(8)?,
        consents: Vec::new(),
        order_ids: Vec::new(),
    };
    let consents = sqlx::query(
        "SELECT purpose, channel, granted, source, recorded_at FROM consents
         WHERE customer_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    for r in consents {
        customer.consents.push(ConsentView {
            purpose: r.try_get(0)?,
            channel: r.try_get(1)?,
            granted: r.try_get(2)?,
            source: r.try_get(3)?,
            recorded_at: r.try_get(4)?,
        });
    }
    let orders =
        sqlx::query("SELECT id FROM orders WHERE customer_id = $1 ORDER BY placed_at DESC")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    customer.order_ids = orders
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    Ok(customer)
}

pub(crate) async fn list_outbox(conn: &mut Conn, order_id: i64) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT id, order_id, shipment_id, customer_id, status, template_key, purpose, state,
            created_at
         FROM outbox WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OutboxRow {
                id: r.try_get(0)?,
                order_id: r.try_get(1)?,
                shipment_id: r.try_get(2)?,
                customer_id: r.try_get(3)?,
                status: parse_status(&r.try_get::<String, _>(4)?)?,
                template_key: r.try_get(5)?,
                purpose: r.try_get(6)?,
                state: r.try_get(7)?,
                created_at: r.try_get(8)?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// API keys and imports

pub(crate) async fn insert_api_key(
    conn: &mut Conn,
    name: &str,
    scope: &str,
    prefix: &str,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO api_keys (name, scope, prefix, key_hash, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(scope)
    .bind(prefix)
    .bind(key_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub(crate) async fn find_api_key(conn: &mut Conn, key_hash: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query(
        "SELECT id, name, scope, prefix, created_at FROM api_keys
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(ApiKey {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            scope: r.try_get(2)?,
            prefix: r.try_get(3)?,
            created_at: r.try_get(4)?,
        })
    })
    .transpose()
}

pub(crate) async fn import_rows_done(conn: &mut Conn, file_key: &str) -> Result<i64> {
    let row = sqlx::query("SELECT rows_done FROM import_runs WHERE file_key = $1")
        .bind(file_key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
}

pub(crate) async fn set_import_rows_done(
    conn: &mut Conn,
    file_key: &str,
    rows_done: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_runs (file_key, rows_done, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (file_key) DO UPDATE SET rows_done = excluded.rows_done,
            updated_at = excluded.updated_at",
    )
    .bind(file_key)
    .bind(rows_done)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The backend's public face, over the functions above

impl super::Backend {
    pub(crate) async fn process_inbox<F>(
        &self,
        limit: i64,
        parse: &F,
        opts: &ApplyOptions,
    ) -> Result<usize>
    where
        F: Fn(&InboxRow) -> std::result::Result<Command, String>,
    {
        let mut tx = self.begin_write().await?;
        let handled = process_inbox(&mut tx, limit, parse, opts).await?;
        tx.commit().await?;
        Ok(handled)
    }

    pub(crate) async fn ingest_and_apply(
        &self,
        delivery: &Delivery,
        command: &Command,
        opts: &ApplyOptions,
    ) -> Result<(Accepted, Applied)> {
        let mut tx = self.begin_write().await?;
        if insert_delivery(&mut tx, delivery).await? == Accepted::Duplicate {
            return Ok((Accepted::Duplicate, Applied::default()));
        }
        let applied = apply_command(&mut tx, command, opts).await?;
        mark_done(&mut tx, &delivery.source, &delivery.delivery_id, opts.now).await?;
        tx.commit().await?;
        Ok((Accepted::New, applied))
    }

    pub(crate) async fn apply_batch(
        &self,
        commands: &[Command],
        opts: &ApplyOptions,
        progress: Option<(&str, i64)>,
    ) -> Result<Vec<Result<Applied>>> {
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(commands.len());
        for command in commands {
            let mut savepoint = tx.begin().await?;
            let result = apply_command(&mut savepoint, command, opts).await;
            match &result {
                Ok(_) => savepoint.commit().await?,
                Err(StoreError::Database(e)) if is_connection_error(e) => {
                    return Err(result.unwrap_err())
                }
                Err(_) => savepoint.rollback().await?,
            }
            results.push(result);
        }
        if let Some((file_key, rows_done)) = progress {
            set_import_rows_done(&mut tx, file_key, rows_done, opts.now).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    pub(crate) async fn import_rows_done(&self, file_key: &str) -> Result<i64> {
        import_rows_done(&mut *self.read.acquire().await?, file_key).await
    }

    pub(crate) async fn get_order(&self, id: i64) -> Result<OrderView> {
        get_order(&mut *self.read.acquire().await?, id).await
    }

    pub(crate) async fn order_id_by_ref(&self, order: &OrderRef) -> Result<Option<i64>> {
        order_id_by_ref(&mut *self.read.acquire().await?, order).await
    }

    pub(crate) async fn order_id_by_token(&self, token: &str) -> Result<Option<i64>> {
        order_id_by_token(&mut *self.read.acquire().await?, token).await
    }

    pub(crate) async fn get_customer(&self, id: i64) -> Result<CustomerView> {
        get_customer(&mut *self.read.acquire().await?, id).await
    }

    pub(crate) async fn list_outbox(&self, order_id: i64) -> Result<Vec<OutboxRow>> {
        list_outbox(&mut *self.read.acquire().await?, order_id).await
    }

    pub(crate) async fn inbox_counts(&self) -> Result<InboxCounts> {
        inbox_counts(&mut *self.read.acquire().await?).await
    }

    pub(crate) async fn create_api_key(
        &self,
        name: &str,
        scope: &str,
        prefix: &str,
        hash: &str,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = insert_api_key(&mut tx, name, scope, prefix, hash, Utc::now()).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub(crate) async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>> {
        find_api_key(&mut *self.read.acquire().await?, hash).await
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}
