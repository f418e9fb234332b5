-- Replies to keywords: a message may concern no order (the one answer to STOP, START or
-- HELP), so `order_id` and `status` become optional. A message without an order has a
-- customer and a kind (its template key), and may be pinned to one channel.
--
-- SQLite cannot drop NOT NULL in place, so the table is rebuilt the way its manual
-- describes (https://sqlite.org/lang_altertable.html#otheralter): create, copy, drop,
-- rename, then recreate every index. message_attempts and message_events reference
-- outbox, and foreign keys stay on during a migration (the pragma is a no-op inside its
-- transaction): dropping outbox under them would orphan their rows and fail the
-- commit, even after the rebuilt table holds every id again. So they are set aside,
-- dropped before outbox, and rebuilt after it.

CREATE TABLE outbox_rebuilt (
    id BLOB PRIMARY KEY,
    order_id INTEGER REFERENCES orders (id),
    shipment_id INTEGER REFERENCES shipments (id),
    customer_id INTEGER REFERENCES customers (id),
    -- the order status the message announces; NULL for messages about no order
    status TEXT,
    template_key TEXT NOT NULL,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    created_at TEXT NOT NULL,
    channel TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    claimed_until TEXT,
    last_error TEXT,
    sent_at TEXT,
    delivered_at TEXT,
    read_at TEXT,
    updated_at TEXT,
    exhausted TEXT NOT NULL DEFAULT '',
    -- the only channel the message may go on (a keyword's reply goes back the way the
    -- keyword came, with no fallback); NULL lets the delivery policy choose
    only_channel TEXT,
    -- the inbound message this one answers; unique, so an inbound gets one reply
    reply_to INTEGER UNIQUE REFERENCES inbound_messages (id),
    CHECK (order_id IS NOT NULL OR customer_id IS NOT NULL)
);
INSERT INTO outbox_rebuilt (id, order_id, shipment_id, customer_id, status, template_key,
    purpose, state, created_at, channel, attempts, next_attempt_at, claimed_until,
    last_error, sent_at, delivered_at, read_at, updated_at, exhausted)
SELECT id, order_id, shipment_id, customer_id, status, template_key,
    purpose, state, created_at, channel, attempts, next_attempt_at, claimed_until,
    last_error, sent_at, delivered_at, read_at, updated_at, exhausted
FROM outbox;

CREATE TABLE message_attempts_kept AS SELECT * FROM message_attempts;
CREATE TABLE message_events_kept AS SELECT * FROM message_events;
DROP TABLE message_attempts;
DROP TABLE message_events;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;

CREATE INDEX outbox_order ON outbox (order_id);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_sending ON outbox (claimed_until) WHERE state = 'sending';
CREATE INDEX outbox_undelivered ON outbox (sent_at) WHERE state = 'sent';
CREATE INDEX outbox_customer_sent ON outbox (customer_id, sent_at) WHERE purpose = 'promotional';

-- As 0002 defines them.
CREATE TABLE message_attempts (
    id INTEGER PRIMARY KEY,
    message_id BLOB NOT NULL REFERENCES outbox (id),
    attempt INTEGER NOT NULL,
    channel TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- sent | retry | rejected | unreachable | error
    outcome TEXT NOT NULL,
    http_status INTEGER,
    detail TEXT
);
INSERT INTO message_attempts (id, message_id, attempt, channel, started_at, duration_ms,
    outcome, http_status, detail)
SELECT id, message_id, attempt, channel, started_at, duration_ms, outcome, http_status,
    detail
FROM message_attempts_kept;
DROP TABLE message_attempts_kept;
CREATE INDEX message_attempts_message ON message_attempts (message_id, id);

CREATE TABLE message_events (
    id INTEGER PRIMARY KEY,
    message_id BLOB NOT NULL REFERENCES outbox (id),
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT
);
INSERT INTO message_events (id, message_id, state, at, detail)
SELECT id, message_id, state, at, detail FROM message_events_kept;
DROP TABLE message_events_kept;
CREATE INDEX message_events_message ON message_events (message_id, id);

-- A customer's messages: their replies, and whether an acknowledgement was just queued.
CREATE INDEX outbox_customer ON outbox (customer_id, id);

-- One-click email unsubscribe (RFC 8058): each customer's link carries a random token,
-- since the link works without a login and must not be guessable; it names no one.
ALTER TABLE customers ADD COLUMN unsubscribe_token TEXT;
UPDATE customers SET unsubscribe_token = lower(hex(randomblob(16)));
CREATE UNIQUE INDEX customers_unsubscribe_token ON customers (unsubscribe_token);
