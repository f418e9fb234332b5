-- Tables are plural nouns; `<table>_id` columns reference `<table>.id`. Times are UTC
-- (sqlx writes them as RFC 3339 text here), money is integer minor units beside a
-- currency code. Hot append tables (inbox, tracking_events, outbox) carry as few
-- secondary indexes as they can.

-- Raw deliveries, stored before processing so that nothing accepted is lost.
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at TEXT NOT NULL,
    -- pending | done | failed
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT,
    processed_at TEXT,
    UNIQUE (source, delivery_id)
);
CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT,
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    locale TEXT,
    time_zone TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX customers_email ON customers (email);
CREATE INDEX customers_phone ON customers (phone);

-- Consent decisions, appended; the newest per purpose and channel is in force.
CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    purpose TEXT NOT NULL,
    channel TEXT NOT NULL,
    granted INTEGER NOT NULL,
    source TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX consents_customer ON consents (customer_id, purpose, channel, id);

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    sku TEXT,
    title TEXT NOT NULL,
    UNIQUE (source, external_id)
);

-- The track_* columns hold the order's own status machine state (domain::Track).
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    number TEXT NOT NULL,
    customer_id INTEGER REFERENCES customers (id),
    currency TEXT NOT NULL,
    total_minor INTEGER NOT NULL,
    placed_at TEXT NOT NULL,
    shipping_address TEXT,
    fully_shipped INTEGER,
    status TEXT NOT NULL,
    status_detail TEXT,
    track_progress TEXT NOT NULL,
    track_last_scan_at TEXT,
    track_side TEXT,
    track_side_at TEXT,
    track_terminal TEXT,
    tracking_token TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX orders_customer ON orders (customer_id);

CREATE TABLE line_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    external_id TEXT,
    product_id INTEGER REFERENCES products (id),
    sku TEXT,
    title TEXT NOT NULL,
    variant TEXT,
    quantity INTEGER NOT NULL,
    unit_price_minor INTEGER NOT NULL
);
CREATE INDEX line_items_order ON line_items (order_id);

CREATE TABLE shipments (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    external_id TEXT NOT NULL,
    carrier TEXT,
    tracking_number TEXT,
    tracking_url TEXT,
    estimated_delivery TEXT,
    status TEXT NOT NULL,
    track_progress TEXT NOT NULL,
    track_last_scan_at TEXT,
    track_side TEXT,
    track_side_at TEXT,
    track_terminal TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (order_id, external_id)
);
CREATE INDEX shipments_tracking_number ON shipments (tracking_number);

CREATE TABLE tracking_events (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    shipment_id INTEGER REFERENCES shipments (id),
    status TEXT,
    raw_status TEXT NOT NULL,
    detail TEXT,
    location TEXT,
    happened_at TEXT NOT NULL,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    UNIQUE (order_id, fingerprint)
);

-- Notification intents, written in the transaction of the status change.
CREATE TABLE outbox (
    id BLOB PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    shipment_id INTEGER REFERENCES shipments (id),
    customer_id INTEGER REFERENCES customers (id),
    status TEXT NOT NULL,
    template_key TEXT NOT NULL,
    purpose TEXT NOT NULL,
    -- pending until the dispatcher takes it
    state TEXT NOT NULL DEFAULT 'pending',
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_order ON outbox (order_id);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    -- the first characters of the key, to tell keys apart in lists
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Where a resumable import stopped: rows of a file already applied.
CREATE TABLE import_runs (
    file_key TEXT PRIMARY KEY,
    rows_done INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
