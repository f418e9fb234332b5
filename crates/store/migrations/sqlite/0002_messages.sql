-- Messaging: templates, the life of each outgoing message, and what customers send.

-- Template overrides, one per key and locale; keys without a row use the built-in
-- template. The body is an RBM message whose strings hold template expressions.
CREATE TABLE templates (
    key TEXT NOT NULL,
    locale TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (key, locale)
);

-- Outbox rows are the messages: the dispatcher moves each through its states
-- (pending, sending, sent, delivered, read; failed or revoked).
ALTER TABLE outbox ADD COLUMN channel TEXT;
ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- When the message is due; the dispatcher takes due rows in this order.
ALTER TABLE outbox ADD COLUMN next_attempt_at TEXT;
-- A dispatcher's lease on a row it is sending; past it, another may take the row.
ALTER TABLE outbox ADD COLUMN claimed_until TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN sent_at TEXT;
ALTER TABLE outbox ADD COLUMN delivered_at TEXT;
ALTER TABLE outbox ADD COLUMN read_at TEXT;
ALTER TABLE outbox ADD COLUMN updated_at TEXT;
UPDATE outbox SET next_attempt_at = created_at, updated_at = created_at;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_sending ON outbox (claimed_until) WHERE state = 'sending';

-- Every call to a provider for a message, and its answer.
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
CREATE INDEX message_attempts_message ON message_attempts (message_id, id);

-- A message's status history: each change, with where it came from.
CREATE TABLE message_events (
    id INTEGER PRIMARY KEY,
    message_id BLOB NOT NULL REFERENCES outbox (id),
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX message_events_message ON message_events (message_id, id);

-- What customers sent, on any channel; a conversation reads these beside the outbox.
CREATE TABLE inbound_messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    customer_id INTEGER REFERENCES customers (id),
    phone TEXT NOT NULL,
    -- text | suggestion | location | file
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    content TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (channel, provider_message_id)
);
CREATE INDEX inbound_messages_customer ON inbound_messages (customer_id, id);
