-- Customer metrics: what each customer's orders add up to, kept current in the
-- transaction that writes an order, so that segments read them without scanning orders.
-- Cancelled and refunded orders do not count.
CREATE TABLE customer_metrics (
    customer_id BIGINT PRIMARY KEY REFERENCES customers (id),
    orders BIGINT NOT NULL,
    spent_minor BIGINT NOT NULL,
    -- The first order's total, so that the mean of the repeat orders is known.
    first_order_minor BIGINT,
    first_order_at TIMESTAMPTZ,
    last_order_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL,
    -- Scores, recomputed on a schedule over every customer; NULL until the first run.
    -- RFM quintiles, 1 to 5, 5 the best.
    rfm_recency BIGINT,
    rfm_frequency BIGINT,
    rfm_monetary BIGINT,
    -- BG/NBD: the probability of still being a customer, the orders expected in the
    -- next 90 days, and when the next one is expected (NULL: none within a year).
    p_alive DOUBLE PRECISION,
    expected_orders_90d DOUBLE PRECISION,
    next_order_at TIMESTAMPTZ,
    -- Gamma-Gamma spend per order times the orders expected in the next year.
    expected_value_minor BIGINT,
    scored_at TIMESTAMPTZ
);

-- Customers who ordered before this table existed.
INSERT INTO customer_metrics (customer_id, orders, spent_minor, first_order_minor,
    first_order_at, last_order_at, updated_at)
SELECT customer_id, COUNT(*), SUM(total_minor),
    (SELECT f.total_minor FROM orders f
     WHERE f.customer_id = o.customer_id AND f.status NOT IN ('cancelled', 'refunded')
     ORDER BY f.placed_at, f.id LIMIT 1),
    MIN(placed_at), MAX(placed_at), MAX(updated_at)
FROM orders o
WHERE customer_id IS NOT NULL AND status NOT IN ('cancelled', 'refunded')
GROUP BY customer_id;
