//! Migration 0005 on a database that already holds messages: the SQLite outbox is
//! rebuilt under foreign keys, so its attempts and history must come through, and
//! every existing customer must get an unsubscribe token. Run on SQLite, and on
//! PostgreSQL when `TIDINGS_TEST_POSTGRES_URL` names a server.

use std::borrow::Cow;

use chrono::{TimeZone, Utc};
use sqlx::migrate::Migrator;
use store::Store;
use uuid::Uuid;

/// The migrations before 0005.
fn before_replies(all: Migrator) -> Migrator {
    let kept: Vec<_> = all
        .migrations
        .iter()
        .filter(|m| m.version < 5)
        .cloned()
        .collect();
    Migrator {
        migrations: Cow::Owned(kept),
        ..all
    }
}

/// A customer with an order, one message, its attempt and its history, written with
/// the 0004 schema. Expands against any pool.
macro_rules! seed {
    ($pool:expr, $message_id:expr) => {{
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 10, 0, 0).unwrap();
        let statements = [
            "INSERT INTO customers (id, source, phone, created_at, updated_at)
             VALUES (1, 'api', '+16135550123', $1, $1)",
            "INSERT INTO orders (id, source, external_id, number, customer_id, currency,
                total_minor, placed_at, status, track_progress, tracking_token, created_at,
                updated_at)
             VALUES (1, 'api', 'O-1', '#1', 1, 'USD', 100, $1, 'confirmed', 'ordered',
                'tok-1', $1, $1)",
        ];
        for sql in statements {
            sqlx::query(sql).bind(at).execute($pool).await.unwrap();
        }
        sqlx::query(
            "INSERT INTO outbox (id, order_id, customer_id, status, template_key, purpose,
                created_at, next_attempt_at, updated_at, state, channel, attempts, sent_at)
             VALUES ($1, 1, 1, 'confirmed', 'confirmed', 'transactional', $2, $2, $2,
                'sent', 'rcs', 1, $2)",
        )
        .bind($message_id)
        .bind(at)
        .execute($pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO message_attempts (message_id, attempt, channel, started_at,
                duration_ms, outcome, http_status)
             VALUES ($1, 1, 'rcs', $2, 12, 'sent', 200)",
        )
        .bind($message_id)
        .bind(at)
        .execute($pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO message_events (message_id, state, at, detail)
             VALUES ($1, 'sent', $2, 'sent on rcs')",
        )
        .bind($message_id)
        .bind(at)
        .execute($pool)
        .await
        .unwrap();
    }};
}

/// What the upgraded store must still know, and the token it must have added.
async fn check_upgraded(store: &Store, message_id: Uuid) {
    let messages = store.list_messages(1).await.unwrap();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.id, message_id);
    assert_eq!(message.order_id, Some(1));
    assert_eq!(message.state, "sent");
    assert_eq!(message.attempt_log.len(), 1);
    assert_eq!(message.history.len(), 1);
    let token = store.unsubscribe_token(1).await.unwrap().expect("a token");
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        store.customer_by_unsubscribe_token(&token).await.unwrap(),
        Some(1)
    );
}

#[tokio::test]
async fn sqlite_keeps_messages_attempts_and_history_through_0005() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/upgrade.db", dir.path().display());
    let options = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    before_replies(sqlx::migrate!("./migrations/sqlite"))
        .run(&pool)
        .await
        .unwrap();
    let message_id = Uuid::now_v7();
    seed!(&pool, message_id);
    pool.close().await;

    let store = Store::open(&url)
        .await
        .expect("0005 applies over existing rows");

    check_upgraded(&store, message_id).await;
}

#[tokio::test]
async fn postgres_keeps_messages_attempts_and_history_through_0005() {
    let Some(admin_url) = std::env::var("TIDINGS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("TIDINGS_TEST_POSTGRES_URL is not set: PostgreSQL test skipped");
        return;
    };
    let name = format!("tidings_upgrade_{}", Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{name}");
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    before_replies(sqlx::migrate!("./migrations/postgres"))
        .run(&pool)
        .await
        .unwrap();
    let message_id = Uuid::now_v7();
    seed!(&pool, message_id);
    pool.close().await;

    let store = Store::open(&url)
        .await
        .expect("0005 applies over existing rows");

    check_upgraded(&store, message_id).await;
}
