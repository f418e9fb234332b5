-- Raw delivery bodies move to a table of their own, written once and never changed,
-- while the inbox row beside it changes as it is processed. (SQLite rewrites a changed
-- row whole; the two backends keep one schema.) No foreign key: a body is inserted in
-- the same transaction as its inbox row, and the check would cost a lookup per row on
-- the hottest write path.
CREATE TABLE inbox_bodies (
    inbox_id BIGINT PRIMARY KEY,
    body BYTEA NOT NULL
);
INSERT INTO inbox_bodies (inbox_id, body) SELECT id, body FROM inbox;
ALTER TABLE inbox DROP COLUMN body;
