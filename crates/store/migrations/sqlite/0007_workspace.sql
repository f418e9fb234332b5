-- The team workspace: the people who log in to /app/, their sessions, and the audit
-- log of every change made through the workspace, the API or the command line.
-- Tables are plural nouns; a row's key is `id`, and `<table>_id` names it elsewhere.

-- A person with a role. The email is stored lower-cased, so it is unique however it
-- was typed; the password is an argon2id hash in PHC form, never the password.
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    -- set when an owner disables the user: they can no longer log in
    disabled_at TEXT
);

-- A logged-in browser. Only the SHA-256 of the cookie's token is kept, so a copy of
-- the table opens no session. The CSRF token goes into every form the session is shown.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Who changed what, when, with the subject before and after (JSON text; NULL when it
-- did not exist before or no longer exists after).
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    -- user, api_key or cli
    actor_kind TEXT NOT NULL,
    -- the user's or key's id; NULL for the command line
    actor_id INTEGER,
    -- the user's email or the key's name, as it was then
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    -- what was changed: template:shipped/en, api_key:3, user:2, message:<uuid>, customer:7
    subject TEXT NOT NULL,
    before_json TEXT,
    after_json TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_subject ON audit_log (subject, at);
