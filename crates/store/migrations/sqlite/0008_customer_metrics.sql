-- Customer metrics: what each customer's orders add up to, kept current in the
-- transaction that writes an order, so that segments read them without scanning orders.
-- Cancelled and refunded orders do not count.
CREATE TABLE customer_metrics (
    customer_id INTEGER PRIMARY KEY REFERENCES customers (id),
    orders INTEGER NOT NULL,
    spent_minor INTEGER NOT NULL,
    first_order_at TEXT,
    last_order_at TEXT,
    updated_at TEXT NOT NULL
);

-- Customers who ordered before this table existed.
INSERT INTO customer_metrics (customer_id, orders, spent_minor, first_order_at,
    last_order_at, updated_at)
SELECT customer_id, COUNT(*), SUM(total_minor), MIN(placed_at), MAX(placed_at),
    MAX(updated_at)
FROM orders
WHERE customer_id IS NOT NULL AND status NOT IN ('cancelled', 'refunded')
GROUP BY customer_id;
