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
        "INSERT INTO customer_metrics (customer_id, orders, spent_minor, first_order_minor,
            first_order_at, last_order_at, updated_at)
         SELECT $1, COUNT(*), COALESCE(SUM(total_minor), 0),
            (SELECT f.total_minor FROM orders f
             WHERE f.customer_id = $1 AND f.status NOT IN ('cancelled', 'refunded')
             ORDER BY f.placed_at, f.id LIMIT 1),
            MIN(placed_at), MAX(placed_at), $2
         FROM orders WHERE customer_id = $1 AND status NOT IN ('cancelled', 'refunded')
         ON CONFLICT (customer_id) DO UPDATE SET orders = excluded.orders,
            spent_minor = excluded.spent_minor, first_order_minor = excluded.first_order_minor,
            first_order_at = excluded.first_order_at, last_order_at = excluded.last_order_at,
            updated_at = excluded.updated_at",
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
        "SELECT orders, spent_minor, first_order_at, last_order_at, rfm_recency,
            rfm_frequency, rfm_monetary, p_alive, expected_orders_90d, next_order_at,
            expected_value_minor, scored_at
         FROM customer_metrics WHERE customer_id = $1",
    )
    .bind(customer_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut metrics = CustomerMetrics::new(
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
    );
    let rfm: (Option<i64>, Option<i64>, Option<i64>) =
        (row.try_get(4)?, row.try_get(5)?, row.try_get(6)?);
    if let (Some(r), Some(f), Some(m)) = rfm {
        metrics.rfm = Some(Rfm {
            recency: r,
            frequency: f,
            monetary: m,
        });
    }
    metrics.p_alive = row.try_get(7)?;
    metrics.expected_orders_90d = row.try_get(8)?;
    metrics.next_order_at = row.try_get(9)?;
    metrics.expected_value_minor = row.try_get(10)?;
    metrics.scored_at = row.try_get(11)?;
    Ok(Some(metrics))
}

/// Every customer with an order, for scoring.
pub(super) async fn scoring_inputs(conn: &mut Conn) -> Result<Vec<ScoringInput>> {
    let rows = sqlx::query(
        "SELECT customer_id, orders, spent_minor, first_order_minor, first_order_at,
            last_order_at
         FROM customer_metrics WHERE orders > 0 ORDER BY customer_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ScoringInput {
                customer_id: r.try_get(0)?,
                orders: r.try_get(1)?,
                spent_minor: r.try_get(2)?,
                first_order_minor: r.try_get::<Option<i64>, _>(3)?.unwrap_or(0),
                first_order_at: r.try_get(4)?,
                last_order_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Columns per row of [`save_scores`]' statement.
const SCORE_COLUMNS: usize = 9;

/// Writes a chunk of customers' scores with one statement.
pub(super) async fn save_scores(
    conn: &mut Conn,
    scores: &[CustomerScores],
    now: DateTime<Utc>,
) -> Result<()> {
    let sql = format!(
        "UPDATE customer_metrics SET rfm_recency = v.column2, rfm_frequency = v.column3,
            rfm_monetary = v.column4, p_alive = v.column5, expected_orders_90d = v.column6,
            next_order_at = v.column7, expected_value_minor = v.column8,
            scored_at = v.column9
         FROM (VALUES {}) AS v
         WHERE customer_metrics.customer_id = v.column1",
        placeholders(scores.len(), SCORE_COLUMNS)
    );
    let mut query = sqlx::query(&sql);
    for s in scores {
        query = query
            .bind(s.customer_id)
            .bind(s.rfm.recency)
            .bind(s.rfm.frequency)
            .bind(s.rfm.monetary)
            .bind(s.p_alive)
            .bind(s.expected_orders_90d)
            .bind(s.next_order_at)
            .bind(s.expected_value_minor)
            .bind(now);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}
