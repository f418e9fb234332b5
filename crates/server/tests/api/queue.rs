//! The queue: order updates go out before promotions when the rate limit is short, and
//! `GET /api/v1/queue` tells when the backlog will be out.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{json, Value};
use tidings::config::sms::SenderKind;
use tidings::http::api::Scope;

use store::MessageView;

use crate::escalation::{add_event, queued_message, queued_message_with, update_message};
use crate::helpers::{json, Backend, Options, TestApp};
use crate::messaging::{sms_rig, Rig, RCS_PHONE, SMS_ONLY_PHONE};
use crate::on_both_backends;

async fn due_order_updates_are_claimed_before_older_promotions(backend: Backend) {
    // Arrange: a promotion waiting for an hour, then an order update due now.
    let app = TestApp::spawn(backend).await;
    let promotion = queued_message(&app, "Q-1").await;
    let hour_ago = Utc::now() - TimeDelta::hours(1);
    let older = "purpose = 'promotional', next_attempt_at = $1";
    update_message(&app, promotion, older, hour_ago).await;
    let update = queued_message(&app, "Q-2").await;

    // Act: room for one message at a time.
    let now = Utc::now();
    let lease = now + TimeDelta::minutes(1);
    let first = app.store.claim_due_messages(1, now, lease).await.unwrap();
    let second = app.store.claim_due_messages(1, now, lease).await.unwrap();

    // Assert
    assert_eq!(first.iter().map(|m| m.id).collect::<Vec<_>>(), [update]);
    assert_eq!(second.iter().map(|m| m.id).collect::<Vec<_>>(), [promotion]);
}

/// A port that takes connections and never answers: sends to it stay in flight, so
/// what was queued stays queued while the test looks.
fn silent_provider() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

async fn the_queue_shows_each_channels_backlog_and_when_it_will_be_out(backend: Backend) {
    // Arrange: SMS from a long code (1 segment a second), texts of two segments or more.
    let silent = silent_provider();
    let address = silent.local_addr().unwrap();
    let options = Options { processor: false };
    let app = TestApp::spawn_configured(backend, options, |config| {
        config.sms.base_url = format!("http://{address}");
        config.sms.account_sid = Some("AC00000000000000000000000000000000".into());
        config.sms.auth_token = Some("auth-token".to_string().into());
        config.sms.from = Some("+15005550006".into());
        config.sms.sender_kind = Some(SenderKind::LongCode);
    })
    .await;
    let admin =
        tidings::cli::create_api_key(&app.store, "admin", Scope::Admin, &store::Actor::cli())
            .await
            .unwrap();
    let long = format!("Order {{{{ order.number }}}}: {}", "news ".repeat(40));
    let template = json!({"contentMessage": {"text": long}});
    let url = app.url("/api/v1/templates/confirmed/en");
    let saved = app
        .client
        .put(url)
        .bearer_auth(admin)
        .json(&template)
        .send()
        .await;
    assert_eq!(saved.unwrap().status(), 200);
    for external_id in ["Q-3", "Q-4", "Q-5"] {
        queued_message(&app, external_id).await;
    }
    // A promotion by SMS, queued before the updates yet sent after them, and one that
    // no channel may carry: SMS, the only one here, already gave up on it.
    let consent = json!([{"purpose": "promotional", "channel": "sms", "granted": true}]);
    let by_sms = queued_message_with(&app, "Q-8", consent).await;
    let promotion = "purpose = 'promotional', next_attempt_at = $1";
    update_message(&app, by_sms, promotion, Utc::now() - TimeDelta::hours(1)).await;
    let stuck = queued_message(&app, "Q-6").await;
    let given_up = "purpose = 'promotional', exhausted = 'sms'";
    update_message(&app, stuck, given_up, Utc::now()).await;

    // Act
    let queue = json(app.api_get("/api/v1/queue").await).await;

    // Assert
    assert_eq!(
        (queue["queued"].as_u64(), queue["examined"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(queue["dispatching"], true);
    let sms = &queue["backlog"][0];
    assert_eq!(sms["channel"], "sms", "{queue:#}");
    assert_eq!(sms["purpose"], "transactional");
    assert_eq!(sms["messages"], 3);
    assert_eq!(sms["rate_per_second"], 1);
    let segments = sms["segments"].as_i64().unwrap();
    assert!(segments >= 6, "segments, not messages: {queue:#}");
    let at = |key: &str, of: &Value| of[key].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let lasts = at("finishes_at", sms) - at("at", &queue);
    assert_eq!(lasts, TimeDelta::seconds(segments));
    let later = &queue["backlog"][1];
    assert_eq!(later["channel"], "sms", "{queue:#}");
    assert_eq!(later["purpose"], "promotional");
    let behind = later["segments"].as_i64().unwrap();
    assert!(behind >= 2, "{queue:#}");
    let lasts = at("finishes_at", later) - at("at", &queue);
    assert_eq!(lasts, TimeDelta::seconds(segments + behind));
    let stuck = &queue["backlog"][2];
    assert_eq!(
        (&stuck["channel"], &stuck["purpose"]),
        (&Value::Null, &json!("promotional"))
    );
    assert_eq!(
        (&stuck["messages"], &stuck["finishes_at"]),
        (&json!(1), &Value::Null)
    );
    assert_eq!(queue["backlog"].as_array().unwrap().len(), 3);
    drop(silent);
}

/// Makes the order confirmation and "shipped" texts two segments long.
async fn long_texts(rig: &Rig) {
    let admin =
        tidings::cli::create_api_key(&rig.app.store, "admin", Scope::Admin, &store::Actor::cli())
            .await
            .unwrap();
    let long = format!("Order {{{{ order.number }}}}: {}", "news ".repeat(40));
    for key in ["confirmed", "shipped"] {
        let url = rig.app.url(&format!("/api/v1/templates/{key}/en"));
        let body = json!({"contentMessage": {"text": long}});
        let saved = rig
            .app
            .client
            .put(url)
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await;
        assert_eq!(saved.unwrap().status(), 200);
    }
}

/// Whether a message went out as a text.
fn texted(m: &MessageView) -> bool {
    m.channel.as_deref() == Some("sms") && matches!(m.state.as_str(), "sent" | "delivered")
}

async fn a_slow_number_takes_texts_at_its_pace_in_segments(backend: Backend) {
    // Arrange: a number that takes one segment a second, and texts of two segments.
    let rig = sms_rig(
        backend,
        |config| config.sms.sender_rate_per_second = Some(1),
        |_| {},
    )
    .await;
    long_texts(&rig).await;

    // Act: two texts for a phone without RCS.
    let order_id = rig.order_for(SMS_ONLY_PHONE, "Q-7").await;
    add_event(&rig, order_id, "in_transit").await;
    let both_sent = |m: &[MessageView]| m.len() == 2 && m.iter().all(texted);
    rig.messages_until(order_id, both_sent).await;

    // Assert: the second waited for both segments of the first, not one message's worth.
    let texts = rig.sms_texts().await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    let created = |i: usize| texts[i]["dateCreated"].as_str().unwrap().parse();
    let (first, second): (DateTime<Utc>, DateTime<Utc>) =
        (created(0).unwrap(), created(1).unwrap());
    for text in &texts {
        assert_eq!(text["numSegments"], 2, "{text}");
    }
    let gap = second - first;
    assert!(gap >= TimeDelta::milliseconds(1800), "texts {gap} apart");
}

async fn a_slow_number_holds_up_no_other_customer(backend: Backend) {
    // Arrange: a number that takes one segment a second, and six segments to text one
    // customer.
    let rig = sms_rig(
        backend,
        |config| config.sms.sender_rate_per_second = Some(1),
        |_| {},
    )
    .await;
    long_texts(&rig).await;
    let texts_for = rig.order_for(SMS_ONLY_PHONE, "Q-8").await;
    for status in ["in_transit", "out_for_delivery", "delivered"] {
        add_event(&rig, texts_for, status).await;
    }
    let all_claimed = |m: &[MessageView]| m.len() == 4 && m.iter().all(|m| m.state != "pending");
    rig.messages_until(texts_for, all_claimed).await;

    // Act: another customer's order, on RCS, once every text is on its way.
    let other = json!({
        "external_id": "Q-9",
        "number": "#Q-9",
        "currency": "USD",
        "total": "42.00",
        "placed_at": "2026-11-20T10:00:00Z",
        "status": "confirmed",
        "customer": {"phone": RCS_PHONE, "first_name": "Bo", "locale": "en"},
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "42.00"}]
    });
    let created = rig.app.api_post("/api/v1/orders", &other).await;
    assert_eq!(created.status(), 201);
    let on_rcs = json(created).await["id"].as_i64().unwrap();

    // Assert: the RCS message went out while the texts were still being paced.
    let sent = |m: &[MessageView]| m.len() == 1 && m[0].sent_at.is_some();
    let rcs = rig.messages_until(on_rcs, sent).await.remove(0);
    let all_texted = |m: &[MessageView]| m.len() == 4 && m.iter().all(texted);
    let texts = rig.messages_until(texts_for, all_texted).await;
    let last_text = texts.iter().filter_map(|m| m.sent_at).max().unwrap();
    assert_eq!(rcs.channel.as_deref(), Some("rcs"));
    assert!(
        rcs.sent_at.unwrap() < last_text,
        "the RCS message waited for the texts: sent at {:?}, last text at {last_text}",
        rcs.sent_at
    );
}

on_both_backends!(
    a_slow_number_holds_up_no_other_customer,
    a_slow_number_takes_texts_at_its_pace_in_segments,
    due_order_updates_are_claimed_before_older_promotions,
    the_queue_shows_each_channels_backlog_and_when_it_will_be_out,
);
