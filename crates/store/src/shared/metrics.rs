//! Customer metrics, kept current as orders are written.
//!
//! Each write of an order recounts its customer's orders in the same transaction: one
//! statement over the `orders_customer` index, cheaper than keeping running sums right
//! through edits, cancellations and refunds.

use super::*;

/// Cancelled and refunded orders are not purchases.
const NOT_PURCHASES: [Status; 2] = [Status::Cancelled, Status::Refunded];

/// Whether an order moving from `before` to `after` changes what it counts for.
pub(super) fn counts_differently(before: Status, after: Status) -> bool {
    NOT_PURCHASES.contains(&before) != NOT_PURCHASES.contains(&after)
}

/// Recounts the customer's orders into their metrics row.
pub(super) async fn refresh_customer_metrics(
    conn: &mut Conn,
    customer_id: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO customer_metrics (customer_id, orders, spent_minor, first_order_at,
            last_order_at, updated_at)
         SELECT $1, COUNT(*), COALESCE(SUM(total_minor), 0), MIN(placed_at), MAX(placed_at), $2
         FROM orders WHERE customer_id = $1 AND status NOT IN ('cancelled', 'refunded')
         ON CONFLICT (customer_id) DO UPDATE SET orders = excluded.orders,
            spent_minor = excluded.spent_minor, first_order_at = excluded.first_order_at,
            last_order_at = excluded.last_order_at, updated_at = excluded.updated_at",
    )
    .bind(customer_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The customer's metrics; `None` before their first order.
pub(super) async fn customer_metrics(
    conn: &mut Conn,
    customer_id: i64,
) -> Result<Option<CustomerMetrics>> {
    let row = sqlx::query(
        "SELECT orders, spent_minor, first_order_at, last_order_at FROM customer_metrics
         WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(CustomerMetrics::new(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    )))
}
