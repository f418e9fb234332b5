-- Raw delivery bodies move to a table of their own. An inbox row changes as it is
-- processed (state, attempts, times), and SQLite writes a changed row out whole: with
-- the body inside, every change rewrote kilobytes of overflow pages, and reading the
-- columns stored after the body walked them. The body is written once and never changes.
-- No foreign key: a body is inserted in the same transaction as its inbox row, and the
-- check would cost a lookup per row on the hottest write path.
CREATE TABLE inbox_bodies (
    inbox_id INTEGER PRIMARY KEY,
    body BLOB NOT NULL
);
INSERT INTO inbox_bodies (inbox_id, body) SELECT id, body FROM inbox;
ALTER TABLE inbox DROP COLUMN body;
