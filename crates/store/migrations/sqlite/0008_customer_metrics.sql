-- Customer metrics: what each customer's orders add up to, kept current in the
-- transaction that writes an order, so that segments read them without scanning orders.
-- Cancelled and refunded orders do not count.
CREATE TABLE customer_metrics (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id),
    orders INTEGER NOT NULL,
    spent_minor INTEGER NOT NULL,
    -- The first order's total, so that the mean of the repeat orders is known.
    first_order_minor INTEGER,
    first_order_at TEXT,
    last_order_at TEXT,
    updated_at TEXT NOT NULL,
    -- Scores, recomputed on a schedule over every customer; NULL until the first run.
    -- RFM quintiles, 1 to 5, 5 the best.
    rfm_recency INTEGER,
    rfm_frequency INTEGER,
    rfm_monetary INTEGER,
    -- BG/NBD: the probability of still being a customer, the orders expected in the
    -- next 90 days, and when the next one is expected (NULL: none within a year).
    p_alive REAL,
    expected_orders_90d REAL,
    next_order_at TEXT,
    -- Gamma-Gamma spend per order times the orders expected in the next year.
    expected_value_minor INTEGER,
    scored_at TEXT
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
