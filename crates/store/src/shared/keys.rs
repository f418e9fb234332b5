//! API keys and imports.

use super::*;

pub(super) async fn insert_api_key(
    conn: &mut Conn,
    name: &str,
    scope: &str,
    prefix: &str,
    key_hash: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let row = sqlx::query(
        "INSERT INTO api_keys (name, scope, prefix, key_hash, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(scope)
    .bind(prefix)
    .bind(key_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.try_get(0)?)
}

pub(super) async fn find_api_key(conn: &mut Conn, key_hash: &str) -> Result<Option<ApiKey>> {
    let row = sqlx::query(
        "SELECT id, name, scope, prefix, created_at FROM api_keys
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(ApiKey {
            id: r.try_get(0)?,
            name: r.try_get(1)?,
            scope: r.try_get(2)?,
            prefix: r.try_get(3)?,
            created_at: r.try_get(4)?,
        })
    })
    .transpose()
}

pub(super) async fn import_rows_done(conn: &mut Conn, file_key: &str) -> Result<i64> {
    let row = sqlx::query("SELECT rows_done FROM import_runs WHERE file_key = $1")
        .bind(file_key)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?.unwrap_or(0))
}

pub(super) async fn set_import_rows_done(
    conn: &mut Conn,
    file_key: &str,
    rows_done: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO import_runs (file_key, rows_done, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (file_key) DO UPDATE SET rows_done = excluded.rows_done,
            updated_at = excluded.updated_at",
    )
    .bind(file_key)
    .bind(rows_done)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
