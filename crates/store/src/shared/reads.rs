//! Reads.

use super::*;

pub(super) async fn order_id_by_ref(conn: &mut Conn, order: &OrderRef) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM orders WHERE source = $1 AND external_id = $2")
        .bind(order.source.as_str())
        .bind(&order.external_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(super) async fn order_id_by_token(conn: &mut Conn, token: &str) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT id FROM orders WHERE tracking_token = $1")
        .bind(token)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

pub(super) async fn get_order(conn: &mut Conn, id: i64) -> Result<OrderView> {
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

pub(super) async fn get_line_items(conn: &mut Conn, order_id: i64) -> Result<Vec<LineItemView>> {
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

pub(super) async fn get_shipments(conn: &mut Conn, order_id: i64) -> Result<Vec<ShipmentView>> {
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

pub(super) async fn get_timeline(conn: &mut Conn, order_id: i64) -> Result<Vec<TimelineEntry>> {
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

pub(super) async fn get_customer(conn: &mut Conn, id: i64) -> Result<CustomerView> {
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
        metrics: None,
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
    customer.metrics = customer_metrics(conn, id).await?;
    Ok(customer)
}

pub(super) async fn list_outbox(conn: &mut Conn, order_id: i64) -> Result<Vec<OutboxRow>> {
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
