-- The delivery policy: channels a message has given up on, so that it falls back along
-- the shop's list, and what the frequency caps and the fallback sweep look up.

-- Channels tried and given up on for this message (RCS unreachable, expired or not
-- delivered in time), comma-separated.
ALTER TABLE outbox ADD COLUMN exhausted TEXT NOT NULL DEFAULT '';
-- Sent but not yet delivered: the sweep for messages to revoke and send elsewhere.
CREATE INDEX outbox_undelivered ON outbox (sent_at) WHERE state = 'sent';
-- A customer's recent promotional messages, for frequency caps.
CREATE INDEX outbox_customer_sent ON outbox (customer_id, sent_at) WHERE purpose = 'promotional';
