//! Orders.

use super::*;

pub(super) async fn upsert_order(
    conn: &mut Conn,
    input: &OrderInput,
    opts: &ApplyOptions,
) -> Result<Applied> {
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
    let mut agg = match existing {
        Some(row) => {
            let id = row.try_get(0)?;
            update_order_row(conn, id, input, customer_id, &address, opts.now).await?;
            // An update without items (a status change, say) keeps the ones stored.
            if !input.line_items.is_empty() {
                delete_line_items(conn, id).await?;
            }
            let mut agg = load_aggregate(conn, id).await?;
            // Its total or customer may have changed.
            agg.metrics_due = true;
            agg
        }
        None => {
            let id = insert_order_row(conn, input, customer_id, &address, opts.now).await?;
            Aggregate::new_order(id, customer_id, source, input.fully_shipped)
        }
    };
    if !input.line_items.is_empty() {
        insert_line_items(conn, agg.order_id, source, input).await?;
    }

    let before = agg.track.status();
    let new_events = record_events(conn, &agg, None, &input.events, source, opts.now).await?;
    agg.new_events += new_events.len();
    apply_to_track(&mut agg, None, Some(before), &new_events, opts);
    for shipment in &input.shipments {
        apply_shipment(conn, &mut agg, shipment, source, opts).await?;
    }
    finish(conn, agg, opts).await
}

pub(super) async fn insert_order_row(
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

pub(super) async fn update_order_row(
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

/// Clears an order's items before a new version of the order lists them again.
async fn delete_line_items(conn: &mut Conn, order_id: i64) -> Result<()> {
    sqlx::query("DELETE FROM line_items WHERE order_id = $1")
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn insert_line_items(
    conn: &mut Conn,
    order_id: i64,
    source: &str,
    input: &OrderInput,
) -> Result<()> {
    let products = upsert_products(conn, source, &input.line_items).await?;
    for chunk in input.line_items.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO line_items (order_id, external_id, product_id, sku, title, variant,
                quantity, unit_price_minor)
             VALUES {}",
            placeholders(chunk.len(), 8)
        );
        let mut query = sqlx::query(&sql);
        for item in chunk {
            let product_id = item
                .product_external_id
                .as_ref()
                .and_then(|p| products.get(p));
            query = query
                .bind(order_id)
                .bind(&item.external_id)
                .bind(product_id.copied())
                .bind(&item.sku)
                .bind(&item.title)
                .bind(&item.variant)
                .bind(item.quantity)
                .bind(item.unit_price_minor);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Creates or renames the products the items name; returns their ids by external id.
async fn upsert_products(
    conn: &mut Conn,
    source: &str,
    items: &[domain::LineItemInput],
) -> Result<std::collections::HashMap<String, i64>> {
    // One row per product: PostgreSQL refuses to update the same row twice in a statement.
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<(&String, &domain::LineItemInput)> = items
        .iter()
        .filter_map(|item| item.product_external_id.as_ref().map(|p| (p, item)))
        .filter(|(p, _)| seen.insert(*p))
        .collect();
    let mut ids = std::collections::HashMap::new();
    for chunk in distinct.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO products (source, external_id, sku, title) VALUES {}
             ON CONFLICT (source, external_id)
             DO UPDATE SET title = excluded.title, sku = COALESCE(excluded.sku, products.sku)
             RETURNING external_id, id",
            placeholders(chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for (external_id, item) in chunk {
            query = query
                .bind(source)
                .bind(*external_id)
                .bind(&item.sku)
                .bind(&item.title);
        }
        for row in query.fetch_all(&mut *conn).await? {
            ids.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    Ok(ids)
}
