-- Unread escalation: a time-critical order update delivered on RCS but not read in
-- time is sent once more on the next channel.

-- When the message was handed to the next channel because it went unread; set once,
-- so that no message is escalated twice.
ALTER TABLE outbox ADD COLUMN escalated_at TIMESTAMPTZ;
-- Delivered and not yet read: the sweep for messages to escalate.
CREATE INDEX outbox_unread ON outbox (delivered_at) WHERE state = 'delivered';
