//! `GET|POST /webhooks/kannel`: Kannel's delivery reports, verified by the `secret`
//! in the DLR URL, stored once per message and report type, and turned into receipts;
//! and the whole loop through a real Kannel when one is installed.

#[path = "../../../channels/tests/kannel_gateway/mod.rs"]
mod kannel_gateway;

use std::time::Duration;

use channels::sms::kannel::{KannelClient, KannelConfig};
use domain::PhoneNumber;
use secrecy::SecretString;
use uuid::Uuid;

use crate::helpers::{json, Backend, Options, TestApp};
use crate::messaging::{Rig, SMS_ONLY_PHONE};
use crate::on_both_backends;

const DLR_SECRET: &str = "kannel-api-test-dlr-secret-42";
const PHONE: &str = "+16136120808";

on_both_backends!(
    a_report_with_the_secret_is_stored_once_per_type,
    a_wrong_or_missing_secret_is_refused_and_nothing_is_stored,
    a_server_without_a_dlr_secret_refuses_everything,
    delivered_moves_the_message_and_a_later_failure_never_undoes_it,
    malformed_reports_name_the_parameter,
    a_message_sent_through_kannel_is_delivered_by_its_report,
    texts_from_phones_arrive_through_kannel_once_and_stop_revokes_consent,
    a_malformed_or_unsigned_text_is_refused_and_nothing_is_stored,
    the_dispatcher_sends_sms_through_kannel_when_it_is_the_provider,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, Options { processor: false }, |config| {
        config.sms.dlr_secret = Some(DLR_SECRET.to_string().into());
    })
    .await
}

/// Calls the webhook as Kannel does, with `query` after the `?`.
async fn report(app: &TestApp, query: &str) -> reqwest::Response {
    let url = app.url(&format!("/webhooks/kannel?{query}"));
    app.client.get(url).send().await.expect("request sent")
}

/// The query Kannel sends for `message_id` and report `status`.
fn dlr(message_id: &str, status: u8) -> String {
    format!("message_id={message_id}&status={status}&answer=ACK%2F&secret={DLR_SECRET}")
}

async fn stored_deliveries(app: &TestApp) -> i64 {
    let counts = app.store.inbox_counts().await.unwrap();
    counts.pending + counts.done + counts.failed
}

/// Creates a confirmed order for a customer with [`PHONE`], and returns its id and its
/// one queued message's id.
async fn order_with_message(app: &TestApp) -> (i64, String) {
    let body = serde_json::json!({
        "external_id": "K-1",
        "number": "#K1",
        "currency": "USD",
        "total": "42.00",
        "placed_at": "2026-11-20T10:00:00Z",
        "status": "confirmed",
        "customer": {"phone": PHONE, "first_name": "Ana", "locale": "en"},
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "42.00"}]
    });
    let created = app.api_post("/api/v1/orders", &body).await;
    assert_eq!(created.status(), 201);
    let order_id = json(created).await["id"].as_i64().unwrap();
    let outbox = app.store.list_outbox(order_id).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    (order_id, outbox[0].id.to_string())
}

async fn message_state(app: &TestApp, order_id: i64) -> store::MessageView {
    let mut messages = app.store.list_messages(order_id).await.unwrap();
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

async fn a_report_with_the_secret_is_stored_once_per_type(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let id = "0190a6d2-0000-7000-8000-000000000001";

    // Act
    let submitted = report(&app, &dlr(id, 8)).await;
    let delivered = report(&app, &dlr(id, 1)).await;
    let replayed = report(&app, &dlr(id, 1)).await;
    let posted = app
        .client
        .post(app.url(&format!("/webhooks/kannel?{}", dlr(id, 2))))
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(json(submitted).await["status"], "accepted");
    assert_eq!(json(delivered).await["status"], "accepted");
    assert_eq!(json(replayed).await["status"], "duplicate");
    assert_eq!(json(posted).await["status"], "accepted");
    assert_eq!(stored_deliveries(&app).await, 3);
}

async fn a_wrong_or_missing_secret_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = app(backend).await;
    let id = "0190a6d2-0000-7000-8000-000000000001";

    let missing = report(&app, &format!("message_id={id}&status=1")).await;
    let wrong = report(&app, &format!("message_id={id}&status=1&secret=guess")).await;
    let prefix = &DLR_SECRET[..10];
    let short = report(&app, &format!("message_id={id}&status=1&secret={prefix}")).await;

    for answer in [missing, wrong, short] {
        assert_eq!(answer.status(), 401);
        assert_eq!(json(answer).await["error"]["code"], "unauthorized");
    }
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn a_server_without_a_dlr_secret_refuses_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let answer = report(&app, &dlr("0190a6d2-0000-7000-8000-000000000001", 1)).await;

    assert_eq!(answer.status(), 401);
    let message = json(answer).await["error"]["message"].to_string();
    assert!(message.contains("sms.dlr_secret"), "{message}");
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn delivered_moves_the_message_and_a_later_failure_never_undoes_it(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (order_id, message_id) = order_with_message(&app).await;

    // Act
    for status in [4, 8, 1] {
        assert_eq!(report(&app, &dlr(&message_id, status)).await.status(), 200);
    }
    app.drain().await;
    let delivered = message_state(&app, order_id).await;
    report(&app, &dlr(&message_id, 2)).await;
    app.drain().await;

    // Assert
    assert_eq!(delivered.state, "delivered");
    assert!(delivered.delivered_at.is_some());
    assert_eq!(message_state(&app, order_id).await.state, "delivered");
}

async fn malformed_reports_name_the_parameter(backend: Backend) {
    let app = app(backend).await;
    let secret = format!("secret={DLR_SECRET}");
    let id = "0190a6d2-0000-7000-8000-000000000001";

    let cases = [
        (format!("status=1&{secret}"), "message_id"),
        (format!("message_id=42&status=1&{secret}"), "message_id"),
        (format!("message_id={id}&{secret}"), "status"),
        // What arrives when Kannel did not replace the escape code.
        (format!("message_id={id}&status=%25d&{secret}"), "status"),
    ];

    for (query, parameter) in cases {
        let answer = report(&app, &query).await;
        assert_eq!(answer.status(), 422, "{query}");
        let message = json(answer).await["error"]["message"].to_string();
        assert!(message.contains(parameter), "{query}: {message}");
    }
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn a_message_sent_through_kannel_is_delivered_by_its_report(backend: Backend) {
    // Arrange
    let Some(kannel) = kannel_gateway::Kannel::start() else {
        return;
    };
    let app = app(backend).await;
    let (order_id, message_id) = order_with_message(&app).await;
    let password = SecretString::from(kannel_gateway::PASSWORD);
    let mut config = KannelConfig::new(
        &kannel.sendsms_url,
        kannel_gateway::USERNAME,
        password,
        "Shop",
    );
    config.dlr_url = Some(app.url("/webhooks/kannel"));
    config.dlr_secret = Some(SecretString::from(DLR_SECRET));
    let client = KannelClient::new(config).expect("a client");
    let to = PhoneNumber::parse(PHONE, "US").expect("a number");

    // Act
    let id = Uuid::parse_str(&message_id).expect("a UUID");
    client
        .send(&to, id, "Your order #K1 is confirmed")
        .await
        .expect("Kannel accepts the message");

    // Assert: fakesmsc got it, and its delivery report (1) reached the webhook.
    kannel.wait_for_message("Your order #K1 is confirmed");
    // Kannel calls the DLR URL for the SMSC's acknowledgement (8) and the delivery (1),
    // in either order; the 8 changes nothing.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        app.drain().await;
        let state = message_state(&app, order_id).await.state;
        if state == "delivered" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the message is {state}, not delivered, after 5s\n{}",
            kannel.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `get-url` an operator puts in kannel.conf's `sms-service`, as the default
/// configuration documents it.
fn inbound_url(app: &TestApp) -> String {
    let query = format!("id=%I&from=%p&to=%P&text=%a&ts=%T&secret={DLR_SECRET}");
    app.url(&format!("/webhooks/kannel/inbound?{query}"))
}

async fn customer_id(app: &TestApp, order_id: i64) -> i64 {
    let order = app.store.get_order(order_id).await.unwrap();
    order.customer_id.expect("the order's customer")
}

async fn texts_from_phones_arrive_through_kannel_once_and_stop_revokes_consent(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let Some(kannel) = kannel_gateway::Kannel::start_with_inbound(&inbound_url(&app)) else {
        return;
    };
    let (order_id, _) = order_with_message(&app).await;
    let customer_id = customer_id(&app, order_id).await;

    // Act
    kannel.send_from_phone(PHONE, "+15005550006", "Where is my parcel? 📦");
    kannel.send_from_phone(PHONE, "+15005550006", "STOP");

    // Assert: the text is in the customer's conversation, the STOP in their consents.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (texts, customer) = loop {
        app.drain().await;
        let texts = app.store.list_inbound(customer_id).await.unwrap();
        let customer = app.store.get_customer(customer_id).await.unwrap();
        let stopped = customer
            .consents
            .iter()
            .any(|c| c.channel == "sms" && !c.granted);
        if texts.len() == 2 && stopped {
            break (texts, customer);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "after 10 s: texts {texts:?}, consents {:?}\n{}",
            customer.consents,
            kannel.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bodies: Vec<&str> = texts.iter().map(|t| t.body.as_str()).collect();
    assert_eq!(bodies, ["Where is my parcel? 📦", "STOP"], "{texts:?}");
    assert!(texts.iter().all(|t| t.channel == "sms"));
    assert!(texts[0].provider_message_id.starts_with("kannel:"));
    let sms = customer.consents.iter().filter(|c| c.channel == "sms");
    let sms: Vec<_> = sms.map(|c| (c.granted, c.source.as_str())).collect();
    assert_eq!(sms.last(), Some(&(false, "keyword")), "{sms:?}");
    // Two texts, two deliveries: Kannel's retries would be the same two.
    assert_eq!(
        stored_deliveries(&app).await,
        3,
        "the order and the two texts"
    );
}

async fn a_malformed_or_unsigned_text_is_refused_and_nothing_is_stored(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let call = |query: String| {
        let url = app.url(&format!("/webhooks/kannel/inbound?{query}"));
        app.client.get(url).send()
    };
    let good = "id=b00c8ee3&from=%2B16136120808&text=hello&ts=1796403181";

    // Act
    let unsigned = call(good.to_string()).await.unwrap();
    let wrong = call(format!("{good}&secret=nope")).await.unwrap();
    let no_sender = call(format!("id=1&text=hi&secret={DLR_SECRET}"))
        .await
        .unwrap();
    let unfilled = call(format!("id=%25I&from=%25p&secret={DLR_SECRET}"))
        .await
        .unwrap();
    let signed = call(format!("{good}&secret={DLR_SECRET}")).await.unwrap();
    let again = call(format!("{good}&secret={DLR_SECRET}")).await.unwrap();

    // Assert
    assert_eq!(unsigned.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert_eq!(no_sender.status(), 422);
    let unfilled_status = unfilled.status();
    let explanation = unfilled.text().await.unwrap();
    assert_eq!(unfilled_status, 422, "{explanation}");
    assert!(explanation.contains("id=%I"), "{explanation}");
    assert_eq!(signed.status(), 200);
    assert_eq!(again.status(), 200);
    assert_eq!(stored_deliveries(&app).await, 1, "one text, stored once");
}

async fn the_dispatcher_sends_sms_through_kannel_when_it_is_the_provider(backend: Backend) {
    // Arrange: Kannel as the SMS provider; Tidings at a port known up front, since the
    // DLR URL it gives Kannel names its public URL.
    let Some(kannel) = kannel_gateway::Kannel::start() else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let rig = Rig::start_full(
        backend,
        |config| {
            config.listen = format!("127.0.0.1:{port}");
            config.public_url = format!("http://127.0.0.1:{port}");
            config.sms.provider = tidings::config::sms::SmsProvider::Kannel;
            config.sms.kannel_url = Some(kannel.sendsms_url.clone());
            config.sms.username = Some(kannel_gateway::USERNAME.into());
            config.sms.password = Some(kannel_gateway::PASSWORD.to_string().into());
            config.sms.from = Some("Shop".into());
            config.sms.dlr_secret = Some(DLR_SECRET.to_string().into());
        },
        |_| {},
    )
    .await;

    // Act
    let order_id = rig.order_for(SMS_ONLY_PHONE, "K-20").await;

    // Assert: RBM has no RCS for the phone, so the text goes to the SMSC through Kannel,
    // and Kannel's delivery report marks it delivered.
    let delivered = |m: &[store::MessageView]| m.len() == 1 && m[0].state == "delivered";
    let message = &rig.messages_until(order_id, delivered).await[0];
    assert_eq!(message.channel.as_deref(), Some("sms"), "{message:#?}");
    let attempts: Vec<(&str, &str)> = message
        .attempt_log
        .iter()
        .map(|a| (a.channel.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(attempts, [("rcs", "unreachable"), ("sms", "sent")]);
    // fakesmsc logs the text URL-encoded; with the link it takes two concatenated parts.
    let line = kannel.wait_for_message("order+%23K-20");
    let link = format!("http%3A%2F%2F127.0.0.1%3A{port}%2Ft%2F");
    assert!(line.contains(&link), "{line}");
    assert!(line.contains("udh %05%00%03"), "a concatenated SMS: {line}");
}
