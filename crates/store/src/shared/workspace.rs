//! The workspace: users, their sessions, and API keys as the workspace manages them.
//! Every change here writes its audit entry in the same transaction.

use super::*;

const USER_COLUMNS: &str =
    "users.id, users.email, users.role, users.created_at, users.password_changed_at,
     users.disabled_at";

fn user_from(row: &<Db as sqlx::Database>::Row) -> Result<User> {
    Ok(User {
        id: row.try_get(0)?,
        email: row.try_get(1)?,
        role: row.try_get(2)?,
        created_at: row.try_get(3)?,
        password_changed_at: row.try_get(4)?,
        disabled_at: row.try_get(5)?,
    })
}

fn user_json(user: &User) -> serde_json::Value {
    serde_json::json!({
        "email": user.email,
        "role": user.role,
        "disabled": user.disabled_at.is_some(),
    })
}

pub(super) async fn insert_user(
    conn: &mut Conn,
    email: &str,
    role: &str,
    password_hash: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<User> {
    let sql = format!(
        "INSERT INTO users (email, role, password_hash, created_at, password_changed_at)
         VALUES ($1, $2, $3, $4, $4) ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(email)
        .bind(role)
        .bind(password_hash)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("a user with email {email} already exists")))?;
    let user = user_from(&row)?;
    let change = Change {
        action: "user.add",
        subject: format!("user:{}", user.id),
        before: None,
        after: Some(user_json(&user)),
    };
    insert_audit(conn, actor, change, now).await?;
    Ok(user)
}

pub(super) async fn get_user(conn: &mut Conn, id: i64) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
    user_from(&row)
}

pub(super) async fn list_users(conn: &mut Conn) -> Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY email");
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter().map(user_from).collect()
}

/// A user and their password hash, by lower-cased email.
pub(super) async fn user_credentials(
    conn: &mut Conn,
    email: &str,
) -> Result<Option<(User, String)>> {
    let sql = format!("SELECT {USER_COLUMNS}, users.password_hash FROM users WHERE email = $1");
    let row = sqlx::query(&sql)
        .bind(email)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| Ok((user_from(&r)?, r.try_get(6)?))).transpose()
}

pub(super) async fn change_user(
    conn: &mut Conn,
    id: i64,
    change: &UserChange<'_>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<User> {
    let before = get_user(conn, id).await?;
    let action = match change {
        UserChange::Role(role) => {
            update_user(conn, "UPDATE users SET role = $2 WHERE id = $1", id, role).await?;
            "user.role"
        }
        UserChange::Disabled(disabled) => {
            let at = disabled.then_some(now);
            let sql = "UPDATE users SET disabled_at = $2 WHERE id = $1";
            sqlx::query(sql)
                .bind(id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            if *disabled {
                end_sessions(conn, id, None).await?;
                "user.disable"
            } else {
                "user.enable"
            }
        }
        UserChange::Password { hash, keep_session } => {
            let sql = "UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1";
            sqlx::query(sql)
                .bind(id)
                .bind(hash)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            end_sessions(conn, id, *keep_session).await?;
            "user.password"
        }
    };
    let after = get_user(conn, id).await?;
    // The hash never enters the log; a password change shows as its time.
    let (before_json, after_json) = match change {
        UserChange::Password { .. } => (
            serde_json::json!({ "password_changed_at": before.password_changed_at }),
            serde_json::json!({ "password_changed_at": after.password_changed_at }),
        ),
        _ => (user_json(&before), user_json(&after)),
    };
    let entry = Change {
        action,
        subject: format!("user:{id}"),
        before: Some(before_json),
        after: Some(after_json),
    };
    insert_audit(conn, actor, entry, now).await?;
    Ok(after)
}

async fn update_user(conn: &mut Conn, sql: &str, id: i64, value: &str) -> Result<()> {
    sqlx::query(sql)
        .bind(id)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends a user's sessions, all of them or all but one.
async fn end_sessions(conn: &mut Conn, user_id: i64, keep: Option<i64>) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR id <> $2)")
        .bind(user_id)
        .bind(keep)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn insert_session(
    conn: &mut Conn,
    user_id: i64,
    token_hash: &str,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    // Each login sweeps the sessions that ran out, so the table never grows unbounded.
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf_token)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The live session with this token hash: not expired, of a user not disabled.
pub(super) async fn find_session(
    conn: &mut Conn,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, sessions.id, sessions.csrf_token, sessions.expires_at
         FROM sessions JOIN users ON users.id = sessions.user_id
         WHERE sessions.token_hash = $1 AND sessions.expires_at > $2
            AND users.disabled_at IS NULL"
    );
    let row = sqlx::query(&sql)
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|r| {
        Ok(Session {
            user: user_from(&r)?,
            id: r.try_get(6)?,
            csrf_token: r.try_get(7)?,
            expires_at: r.try_get(8)?,
        })
    })
    .transpose()
}

pub(super) async fn delete_session(conn: &mut Conn, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn insert_api_key_audited(
    conn: &mut Conn,
    name: &str,
    scope: &str,
    prefix: &str,
    key_hash: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<i64> {
    let id = insert_api_key(conn, name, scope, prefix, key_hash, now).await?;
    let change = Change {
        action: "api_key.create",
        subject: format!("api_key:{id}"),
        before: None,
        after: Some(serde_json::json!({ "name": name, "scope": scope, "prefix": prefix })),
    };
    insert_audit(conn, actor, change, now).await?;
    Ok(id)
}

pub(super) async fn list_api_keys(conn: &mut Conn) -> Result<Vec<ApiKeyListing>> {
    let rows = sqlx::query(
        "SELECT id, name, scope, prefix, created_at, revoked_at FROM api_keys
         ORDER BY revoked_at IS NOT NULL, id",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ApiKeyListing {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                scope: r.try_get(2)?,
                prefix: r.try_get(3)?,
                created_at: r.try_get(4)?,
                revoked_at: r.try_get(5)?,
            })
        })
        .collect()
}

/// Revokes a live key; `false`, with nothing recorded, when it was already revoked.
pub(super) async fn revoke_api_key(
    conn: &mut Conn,
    id: i64,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<bool> {
    let row = sqlx::query("SELECT name, scope, revoked_at IS NULL FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("API key {id}")))?;
    let (name, scope, live): (String, String, bool) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if !live {
        return Ok(false);
    }
    sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let key =
        |revoked: bool| serde_json::json!({ "name": name, "scope": scope, "revoked": revoked });
    let change = Change {
        action: "api_key.revoke",
        subject: format!("api_key:{id}"),
        before: Some(key(false)),
        after: Some(key(true)),
    };
    insert_audit(conn, actor, change, now).await?;
    Ok(true)
}
