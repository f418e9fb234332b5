//! Unread escalation: an order update delivered on RCS but not read in time is sent once
//! more on the next channel, as one more attempt of the same message.
//!
//! The store's part (which messages are claimed, how outcomes and late receipts land)
//! is checked on rows put in place directly; the whole path runs against the emulator.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use domain::{Channel, Command, Receipt, ReceiptInput};
use serde_json::{json, Value};
use store::{ApplyOptions, AttemptRecord, MessageView, Outcome, SendOutcome};
use uuid::Uuid;

use crate::helpers::{Backend, TestApp};
use crate::messaging::{sms_rig, Rig, RCS_PHONE};
use crate::on_both_backends;

const REASON: &str = "delivered on rcs but not read within 600 s";

/// Changes one message's row as of `at`: `assignments` may use `$1`, bound to `at`.
pub async fn update_message(app: &TestApp, id: Uuid, assignments: &str, at: DateTime<Utc>) {
    let sql = format!("UPDATE outbox SET {assignments}, updated_at = $1 WHERE id = $2");
    if app.database_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
        let done = sqlx::query(&sql)
            .bind(at)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
        let done = sqlx::query(&sql)
            .bind(at)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        pool.close().await;
    }
}

/// A confirmed order with one queued `confirmed` message; the message's id.
pub async fn queued_message(app: &TestApp, external_id: &str) -> Uuid {
    queued_message_with(app, external_id, json!([])).await
}

/// As [`queued_message`], for a customer who gave these consents.
pub async fn queued_message_with(app: &TestApp, external_id: &str, consents: Value) -> Uuid {
    let body = json!({
        "external_id": external_id,
        "number": format!("#{external_id}"),
        "currency": "USD",
        "total": "12.00",
        "placed_at": "2026-11-20T10:00:00Z",
        "status": "confirmed",
        "customer": {"phone": RCS_PHONE, "first_name": "Ana", "locale": "en",
            "consents": consents},
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "12.00"}]
    });
    let created = app.api_post("/api/v1/orders", &body).await;
    assert_eq!(created.status(), 201);
    let order_id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let messages = app.store.list_messages(order_id).await.unwrap();
    assert_eq!(messages.len(), 1);
    messages[0].id
}

/// Puts a queued message in the state of one sent on RCS and delivered at `at`;
/// `changes` (SQL assignments, `$1` being `at`) alter it further.
async fn delivered_on_rcs(app: &TestApp, id: Uuid, at: DateTime<Utc>, changes: &str) {
    let delivered = "state = 'delivered', channel = 'rcs', attempts = 1, sent_at = $1,
        delivered_at = $1";
    update_message(app, id, delivered, at).await;
    if !changes.is_empty() {
        update_message(app, id, changes, at).await;
    }
}

async fn apply_receipt(app: &TestApp, id: Uuid, channel: Channel, receipt: Receipt) {
    let command = Command::Receipt(ReceiptInput {
        message_id: id.to_string(),
        channel,
        receipt,
        at: Utc::now(),
        error: None,
    });
    let applied = app
        .store
        .apply_batch(&[command], &ApplyOptions::live(), None)
        .await
        .unwrap();
    applied.into_iter().next().unwrap().unwrap();
}

async fn escalate(app: &TestApp, delivered_before: DateTime<Utc>) -> Vec<Uuid> {
    let templates = ["confirmed".to_string()];
    app.store
        .escalate_unread(&templates, delivered_before, REASON, 100)
        .await
        .unwrap()
}

fn sms_attempt(id: Uuid, outcome: &str) -> AttemptRecord {
    AttemptRecord {
        message_id: id,
        channel: "sms".into(),
        started_at: Utc::now(),
        duration_ms: 3,
        outcome: outcome.into(),
        http_status: Some(if outcome == "sent" { 201 } else { 400 }),
        detail: None,
    }
}

fn attempts(message: &MessageView) -> Vec<(i64, &str, &str)> {
    message
        .attempt_log
        .iter()
        .map(|a| (a.attempt, a.channel.as_str(), a.outcome.as_str()))
        .collect()
}

async fn only_unread_transactional_rcs_order_updates_are_escalated_once(backend: Backend) {
    // Arrange: one message of each kind, delivered an hour ago unless said otherwise.
    let app = TestApp::spawn(backend).await;
    let hour_ago = Utc::now() - TimeDelta::hours(1);
    let unread = queued_message(&app, "E-1").await;
    delivered_on_rcs(&app, unread, hour_ago, "").await;
    let read = queued_message(&app, "E-2").await;
    delivered_on_rcs(&app, read, hour_ago, "state = 'read', read_at = $1").await;
    let promotional = queued_message(&app, "E-3").await;
    delivered_on_rcs(&app, promotional, hour_ago, "purpose = 'promotional'").await;
    let recent = queued_message(&app, "E-4").await;
    delivered_on_rcs(&app, recent, Utc::now(), "").await;
    let other_template = queued_message(&app, "E-5").await;
    delivered_on_rcs(&app, other_template, hour_ago, "template_key = 'shipped'").await;
    let by_sms = queued_message(&app, "E-6").await;
    delivered_on_rcs(&app, by_sms, hour_ago, "channel = 'sms'").await;

    // Act
    let cutoff = Utc::now() - TimeDelta::minutes(10);
    let escalated = escalate(&app, cutoff).await;

    // Assert: only the unread one, once, queued with RCS given up on.
    assert_eq!(escalated, [unread]);
    assert_eq!(escalate(&app, cutoff).await, Vec::<Uuid>::new());
    let message = app.store.get_message(unread).await.unwrap();
    assert_eq!(message.state, "pending");
    let last = message.history.last().unwrap();
    assert_eq!(
        (last.state.as_str(), last.detail.as_deref()),
        ("pending", Some(REASON))
    );
    for id in [read, promotional, recent, other_template, by_sms] {
        let untouched = app.store.get_message(id).await.unwrap();
        assert_ne!(untouched.state, "pending", "{untouched:#?}");
        assert!(untouched.history.is_empty(), "{untouched:#?}");
    }

    let now = Utc::now();
    let due = app
        .store
        .claim_due_messages(10, now, now + TimeDelta::minutes(1))
        .await;
    let due = due.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, unread);
    assert!(due[0].escalated);
    assert_eq!(due[0].exhausted, ["rcs"]);
    assert_eq!(due[0].attempts, 1);
}

async fn the_second_send_is_one_more_attempt_and_late_receipts_keep_it(backend: Backend) {
    // Arrange: two escalated messages, claimed for their second send.
    let app = TestApp::spawn(backend).await;
    let hour_ago = Utc::now() - TimeDelta::hours(1);
    let sent = queued_message(&app, "E-7").await;
    let refused = queued_message(&app, "E-8").await;
    for id in [sent, refused] {
        delivered_on_rcs(&app, id, hour_ago, "").await;
    }
    let mut escalated = escalate(&app, Utc::now()).await;
    escalated.sort();
    assert_eq!(escalated.len(), 2);
    let now = Utc::now();
    let due = app
        .store
        .claim_due_messages(10, now, now + TimeDelta::minutes(1))
        .await;
    assert_eq!(due.unwrap().len(), 2);

    // Act: a repeated RCS delivery arrives while the second sends are in flight; one goes
    // out by SMS, the other is refused and stays delivered. Both outcomes in one batch.
    apply_receipt(&app, sent, Channel::Rcs, Receipt::Delivered).await;
    let outcomes = [
        Outcome {
            message_id: sent,
            attempt: Some(sms_attempt(sent, "sent")),
            next: SendOutcome::Sent {
                channel: "sms".into(),
            },
        },
        Outcome {
            message_id: refused,
            attempt: Some(sms_attempt(refused, "rejected")),
            next: SendOutcome::KeepDelivered {
                reason: "the number cannot receive texts".into(),
            },
        },
    ];
    app.store
        .record_send_outcomes(&outcomes, Utc::now())
        .await
        .unwrap();

    // Assert: each the second attempt of its message.
    let message = app.store.get_message(sent).await.unwrap();
    assert_eq!((message.state.as_str(), message.attempts), ("sent", 2));
    assert_eq!(message.channel.as_deref(), Some("sms"));
    assert_eq!(attempts(&message), [(2, "sms", "sent")]);
    let message = app.store.get_message(refused).await.unwrap();
    assert_eq!((message.state.as_str(), message.attempts), ("delivered", 2));
    assert_eq!(attempts(&message), [(2, "sms", "rejected")]);
    assert_eq!(
        message.last_error.as_deref(),
        Some("the number cannot receive texts")
    );
    let last = message.history.last().unwrap();
    assert_eq!(last.state, "delivered");
    assert!(last
        .detail
        .as_deref()
        .unwrap()
        .starts_with("not sent again"));

    // The SMS delivery lands; an RCS read then counts; nothing is escalated again.
    apply_receipt(&app, sent, Channel::Sms, Receipt::Delivered).await;
    assert_eq!(
        app.store.get_message(sent).await.unwrap().state,
        "delivered"
    );
    let later = Utc::now() + TimeDelta::hours(1);
    assert_eq!(escalate(&app, later).await, Vec::<Uuid>::new());
    apply_receipt(&app, sent, Channel::Rcs, Receipt::Read).await;
    assert_eq!(app.store.get_message(sent).await.unwrap().state, "read");
}

async fn an_escalated_message_read_before_its_second_send_is_not_sent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = queued_message(&app, "E-9").await;
    delivered_on_rcs(&app, id, Utc::now() - TimeDelta::hours(1), "").await;
    assert_eq!(escalate(&app, Utc::now()).await, [id]);

    apply_receipt(&app, id, Channel::Rcs, Receipt::Read).await;

    assert_eq!(app.store.get_message(id).await.unwrap().state, "read");
    let now = Utc::now();
    let due = app
        .store
        .claim_due_messages(10, now, now + TimeDelta::minutes(1))
        .await;
    assert!(due.unwrap().is_empty());
}

/// A rig sending RCS and SMS, escalating after one second; the handset at
/// [`RCS_PHONE`] reads what it gets only when `reads` is set.
async fn escalating_rig(backend: Backend, reads: bool) -> Rig {
    sms_rig(
        backend,
        |config| config.delivery.escalate_unread_after_secs = Some(1),
        |emulator| {
            if !reads {
                emulator.phones[0].read_after_ms = None;
            }
        },
    )
    .await
}

pub async fn add_event(rig: &Rig, order_id: i64, status: &str) {
    let event = json!({"status": status, "raw_status": status,
        "happened_at": "2026-11-21T08:00:00Z"});
    let added = rig
        .app
        .api_post(&format!("/api/v1/orders/{order_id}/events"), &event)
        .await;
    assert!(added.status().is_success(), "{}", added.status());
}

fn by_template<'a>(messages: &'a [MessageView], key: &str) -> &'a MessageView {
    messages.iter().find(|m| m.template_key == key).unwrap()
}

async fn an_unread_delivery_update_is_texted_once_and_never_again(backend: Backend) {
    // Arrange: the customer never opens the conversation.
    let rig = escalating_rig(backend, false).await;
    let order_id = rig.order_for(RCS_PHONE, "E-10").await;

    // Act: "out for delivery" is delivered on RCS and left unread past a second.
    add_event(&rig, order_id, "out_for_delivery").await;
    let texted = |m: &[MessageView]| {
        m.len() == 2
            && m.iter()
                .any(|m| m.attempt_log.len() == 2 && m.state == "delivered")
    };
    rig.messages_until(order_id, texted).await;
    // Several more sweeps go by.
    tokio::time::sleep(Duration::from_millis(3500)).await;

    // Assert: one more attempt, by SMS, and only for the time-critical update.
    let messages = rig.app.store.list_messages(order_id).await.unwrap();
    let update = by_template(&messages, "out_for_delivery");
    assert_eq!(
        attempts(update),
        [(1, "rcs", "sent"), (2, "sms", "sent")],
        "{update:#?}"
    );
    assert_eq!(update.channel.as_deref(), Some("sms"));
    let detail = update.attempt_log[1].detail.as_deref().unwrap();
    assert!(detail.contains("not read within 1 s"), "{detail}");
    let confirmed = by_template(&messages, "confirmed");
    assert_eq!(attempts(confirmed), [(1, "rcs", "sent")]);
    assert_eq!(confirmed.state, "delivered");

    let texts = rig.sms_texts().await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["to"], RCS_PHONE);
    assert_eq!(rig.rcs_messages(RCS_PHONE).await, 2);
}

async fn a_read_delivery_update_is_never_escalated(backend: Backend) {
    let rig = escalating_rig(backend, true).await;
    let order_id = rig.order_for(RCS_PHONE, "E-11").await;

    add_event(&rig, order_id, "out_for_delivery").await;
    let all_read = |m: &[MessageView]| m.len() == 2 && m.iter().all(|m| m.state == "read");
    rig.messages_until(order_id, all_read).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let messages = rig.app.store.list_messages(order_id).await.unwrap();
    let update = by_template(&messages, "out_for_delivery");
    assert_eq!(attempts(update), [(1, "rcs", "sent")]);
    assert_eq!(update.state, "read");
    assert_eq!(rig.sms_texts().await, Vec::<Value>::new());
}

async fn an_unread_update_no_other_channel_takes_stays_delivered(backend: Backend) {
    // Arrange: RCS only, and the customer never reads.
    let rig = Rig::start_full(
        backend,
        |config| config.delivery.escalate_unread_after_secs = Some(1),
        |emulator| emulator.phones[0].read_after_ms = None,
    )
    .await;
    let order_id = rig.order_for(RCS_PHONE, "E-12").await;

    // Act
    add_event(&rig, order_id, "out_for_delivery").await;
    let settled = |m: &[MessageView]| {
        m.iter().any(|m| {
            let last = m.history.last().and_then(|e| e.detail.as_deref());
            last.is_some_and(|d| d.starts_with("not sent again"))
        })
    };
    rig.messages_until(order_id, settled).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Assert: still delivered, sent once, handed on once.
    let messages = rig.app.store.list_messages(order_id).await.unwrap();
    let update = by_template(&messages, "out_for_delivery");
    assert_eq!(update.state, "delivered", "{update:#?}");
    assert_eq!(attempts(update), [(1, "rcs", "sent")]);
    assert_eq!(update.attempts, 1);
    let error = update.last_error.as_deref().unwrap();
    assert!(error.starts_with("no channel may carry it"), "{error}");
    let handed_on = update
        .history
        .iter()
        .filter(|e| e.state == "pending")
        .count();
    assert_eq!(handed_on, 1, "{update:#?}");
    assert_eq!(rig.rcs_messages(RCS_PHONE).await, 2);
}

on_both_backends!(
    an_unread_update_no_other_channel_takes_stays_delivered,
    only_unread_transactional_rcs_order_updates_are_escalated_once,
    the_second_send_is_one_more_attempt_and_late_receipts_keep_it,
    an_escalated_message_read_before_its_second_send_is_not_sent,
    an_unread_delivery_update_is_texted_once_and_never_again,
    a_read_delivery_update_is_never_escalated,
);
