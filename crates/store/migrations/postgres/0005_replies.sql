-- Replies to keywords: a message may concern no order (the one answer to STOP, START or
-- HELP), so `order_id` and `status` become optional. A message without an order has a
-- customer and a kind (its template key), and may be pinned to one channel.
ALTER TABLE outbox ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE outbox ALTER COLUMN status DROP NOT NULL;
-- The only channel the message may go on (a keyword's reply goes back the way the
-- keyword came, with no fallback); NULL lets the delivery policy choose.
ALTER TABLE outbox ADD COLUMN only_channel TEXT;
-- The inbound message this one answers; unique, so an inbound gets one reply.
ALTER TABLE outbox ADD COLUMN reply_to BIGINT UNIQUE REFERENCES inbound_messages (id);
ALTER TABLE outbox ADD CONSTRAINT outbox_about_someone
    CHECK (order_id IS NOT NULL OR customer_id IS NOT NULL);

-- A customer's messages: their replies, and whether an acknowledgement was just queued.
CREATE INDEX outbox_customer ON outbox (customer_id, id);

-- One-click email unsubscribe (RFC 8058): each customer's link carries a random token,
-- since the link works without a login and must not be guessable; it names no one.
-- gen_random_uuid() draws 122 bits from the server's strong random source.
ALTER TABLE customers ADD COLUMN unsubscribe_token TEXT UNIQUE;
UPDATE customers SET unsubscribe_token = replace(gen_random_uuid()::text, '-', '');
