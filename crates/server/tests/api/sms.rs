//! `POST /webhooks/sms`: Twilio's status callbacks and inbound texts, verified by
//! `X-Twilio-Signature`, stored once, and turned into receipts, inbound messages and
//! keywords: STOP, START and HELP change consent and queue their one reply.

use channels::sms::twilio::sign;
use serde_json::json;

use crate::helpers::{json, Backend, Options, TestApp};
use crate::on_both_backends;

const AUTH_TOKEN: &str = "twilio-test-auth-token";
/// The test configuration's `public_url`: what Twilio calls, so what it signs.
const PUBLIC_URL: &str = "https://track.example";
const PHONE: &str = "+16136120707";

on_both_backends!(
    a_signed_status_callback_is_accepted_with_empty_twiml,
    a_bad_or_missing_signature_is_refused_and_nothing_is_stored,
    a_server_without_an_auth_token_refuses_everything,
    delivered_moves_the_message_and_undelivered_never_undoes_it,
    an_inbound_text_is_stored_for_its_customer_on_the_sms_channel,
    stop_revokes_sms_consent_and_start_grants_it_again,
    a_stop_from_a_number_not_on_file_is_kept_for_its_first_order,
    a_stop_twilio_already_answered_changes_consent_but_queues_no_reply,
    help_gets_one_answer_and_leaves_consent_alone,
    a_replayed_callback_changes_nothing,
    malformed_requests_name_the_field,
);

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_configured(backend, Options { processor: false }, |config| {
        config.sms.auth_token = Some(AUTH_TOKEN.to_string().into());
    })
    .await
}

/// Posts `params` to `/webhooks/sms{query}` with `signature`, when given.
async fn post_with(
    app: &TestApp,
    query: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/webhooks/sms{query}")))
        .form(params);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.expect("request sent")
}

/// Posts `params` signed as Twilio signs them for the public URL.
async fn post(app: &TestApp, query: &str, params: &[(&str, &str)]) -> reqwest::Response {
    let url = format!("{PUBLIC_URL}/webhooks/sms{query}");
    let signature = sign(AUTH_TOKEN, &url, params);
    post_with(app, query, params, Some(&signature)).await
}

/// The query of the status callback URL the dispatcher gives a message.
fn callback_query(message_id: &str) -> String {
    format!("?message_id={message_id}")
}

fn status(message_status: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
        ("MessageStatus", message_status),
        ("SmsStatus", message_status),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+15005550006"),
        ("To", PHONE),
        ("ApiVersion", "2010-04-01"),
    ]
}

fn inbound<'a>(sid: &'a str, body: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", PHONE),
        ("To", "+15005550006"),
        ("Body", body),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// Creates a confirmed order for a customer with [`PHONE`]: its id and customer's id.
async fn order_with_customer(app: &TestApp) -> (i64, i64) {
    let body = json!({
        "external_id": "S-1",
        "number": "#S1",
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
    let order = app.store.get_order(order_id).await.unwrap();
    (order_id, order.customer_id.expect("a customer"))
}

/// The id of the order's one queued message: the `message_id` its callback URL carries.
async fn queued_message_id(app: &TestApp, order_id: i64) -> String {
    let outbox = app.store.list_outbox(order_id).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    outbox[0].id.to_string()
}

async fn message_state(app: &TestApp, order_id: i64) -> store::MessageView {
    let mut messages = app.store.list_messages(order_id).await.unwrap();
    assert_eq!(messages.len(), 1);
    messages.remove(0)
}

async fn stored_deliveries(app: &TestApp) -> i64 {
    let counts = app.store.inbox_counts().await.unwrap();
    counts.pending + counts.done + counts.failed
}

async fn a_signed_status_callback_is_accepted_with_empty_twiml(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let query = callback_query("0190a6d2-0000-7000-8000-000000000001");

    // Act
    let answer = post(&app, &query, &status("sent")).await;

    // Assert
    assert_eq!(answer.status(), 200);
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(content_type, "text/xml");
    assert!(answer.text().await.unwrap().ends_with("<Response/>"));
    assert_eq!(stored_deliveries(&app).await, 1);
}

async fn a_bad_or_missing_signature_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = app(backend).await;
    let params = status("delivered");
    let query = callback_query("0190a6d2-0000-7000-8000-000000000001");
    let signed_for_other_url = sign(AUTH_TOKEN, &format!("{PUBLIC_URL}/webhooks/sms"), &params);
    let signed_with_other_token = sign(
        "not-the-token",
        &format!("{PUBLIC_URL}/webhooks/sms"),
        &params,
    );

    let missing = post_with(&app, &query, &params, None).await;
    let wrong_url = post_with(&app, &query, &params, Some(&signed_for_other_url)).await;
    let wrong_token = post_with(&app, "", &params, Some(&signed_with_other_token)).await;
    let garbage = post_with(&app, "", &params, Some("bm90IGEgc2lnbmF0dXJl")).await;

    for answer in [missing, wrong_url, wrong_token, garbage] {
        assert_eq!(answer.status(), 401);
        assert_eq!(json(answer).await["error"]["code"], "unauthorized");
    }
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn a_server_without_an_auth_token_refuses_everything(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let answer = post(&app, "", &status("delivered")).await;

    assert_eq!(answer.status(), 401);
    let message = json(answer).await["error"]["message"].to_string();
    assert!(message.contains("sms.auth_token"), "{message}");
    assert_eq!(stored_deliveries(&app).await, 0);
}

async fn delivered_moves_the_message_and_undelivered_never_undoes_it(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (order_id, _) = order_with_customer(&app).await;
    let query = callback_query(&queued_message_id(&app, order_id).await);

    // Act
    for message_status in ["queued", "sent", "delivered"] {
        assert_eq!(
            post(&app, &query, &status(message_status)).await.status(),
            200
        );
    }
    app.drain().await;
    let delivered = message_state(&app, order_id).await;
    let mut undelivered = status("undelivered");
    undelivered.push(("ErrorCode", "30003"));
    post(&app, &query, &undelivered).await;
    app.drain().await;

    // Assert
    assert_eq!(delivered.state, "delivered");
    assert!(delivered.delivered_at.is_some());
    let history: Vec<_> = delivered
        .history
        .iter()
        .filter_map(|event| event.detail.clone())
        .collect();
    assert!(
        history.contains(&"delivered receipt".to_string()),
        "{history:?}"
    );
    assert_eq!(message_state(&app, order_id).await.state, "delivered");
}

async fn an_inbound_text_is_stored_for_its_customer_on_the_sms_channel(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (_, customer_id) = order_with_customer(&app).await;

    // Act
    let answer = post(&app, "", &inbound("SMin1", "Where is my parcel?")).await;
    app.drain().await;

    // Assert
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("<Response/>"));
    let inbound = app.store.list_inbound(customer_id).await.unwrap();
    assert_eq!(inbound.len(), 1);
    let message = &inbound[0];
    assert_eq!(message.channel, "sms");
    assert_eq!(message.kind, "text");
    assert_eq!(message.body, "Where is my parcel?");
    assert_eq!(message.provider_message_id, "SMin1");
}

/// The customer's SMS consent records: granted or not, and where from.
fn sms_consent(customer: &store::CustomerView) -> Vec<(bool, String)> {
    let sms = customer.consents.iter().filter(|c| c.channel == "sms");
    sms.map(|c| (c.granted, c.source.clone())).collect()
}

/// The customer's messages that concern no order: template and only channel's use.
async fn replies(app: &TestApp, customer_id: i64) -> Vec<store::MessageView> {
    let messages = app.store.list_customer_messages(customer_id).await.unwrap();
    messages
        .into_iter()
        .filter(|m| m.order_id.is_none())
        .collect()
}

async fn stop_revokes_sms_consent_and_start_grants_it_again(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (_, customer_id) = order_with_customer(&app).await;

    // Act
    post(&app, "", &inbound("SMstop", "STOP")).await;
    app.drain().await;
    let stopped = app.store.get_customer(customer_id).await.unwrap();
    post(&app, "", &inbound("SMstart", "start")).await;
    app.drain().await;
    let started = app.store.get_customer(customer_id).await.unwrap();

    // Assert
    assert_eq!(sms_consent(&stopped), [(false, "keyword".to_string())]);
    assert_eq!(
        sms_consent(&started),
        [
            (false, "keyword".to_string()),
            (true, "keyword".to_string())
        ]
    );
    let promotional = started
        .consents
        .iter()
        .filter(|c| c.purpose == "promotional");
    assert_eq!(promotional.count(), 2);
    let texts = app.store.list_inbound(customer_id).await.unwrap();
    let bodies: Vec<&str> = texts.iter().map(|t| t.body.as_str()).collect();
    assert_eq!(bodies, ["STOP", "start"]);
    let answers: Vec<(String, Option<domain::Status>, String)> = replies(&app, customer_id)
        .await
        .into_iter()
        .map(|m| (m.template_key, m.status, m.state))
        .collect();
    assert_eq!(
        answers,
        [
            ("opt_out_ack".to_string(), None, "pending".to_string()),
            ("opt_in_ack".to_string(), None, "pending".to_string()),
        ]
    );
}

async fn a_stop_from_a_number_not_on_file_is_kept_for_its_first_order(backend: Backend) {
    // Arrange
    let app = app(backend).await;

    // Act
    let answer = post(&app, "", &inbound("SMfirst", "STOP")).await;
    app.drain().await;
    let (_, customer_id) = order_with_customer(&app).await;

    // Assert
    assert_eq!(answer.status(), 200);
    let customer = app.store.get_customer(customer_id).await.unwrap();
    // The contact the STOP made is now the order's customer, under the order's source.
    assert_ne!(customer.source, "inbound");
    assert_eq!(sms_consent(&customer), [(false, "keyword".to_string())]);
    let promotional: Vec<bool> = customer
        .consents
        .iter()
        .filter(|c| c.purpose == "promotional")
        .map(|c| c.granted)
        .collect();
    assert_eq!(promotional, [false]);
    let texts = app.store.list_inbound(customer_id).await.unwrap();
    let bodies: Vec<&str> = texts.iter().map(|t| t.body.as_str()).collect();
    assert_eq!(bodies, ["STOP"]);
    let answers = replies(&app, customer_id).await;
    let keys: Vec<&str> = answers.iter().map(|m| m.template_key.as_str()).collect();
    assert_eq!(keys, ["opt_out_ack"]);
}

async fn a_stop_twilio_already_answered_changes_consent_but_queues_no_reply(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (_, customer_id) = order_with_customer(&app).await;
    let mut stop = inbound("SMtw", "STOP");
    stop.push(("OptOutType", "STOP"));

    // Act
    let answer = post(&app, "", &stop).await;
    app.drain().await;

    // Assert
    assert_eq!(answer.status(), 200);
    let customer = app.store.get_customer(customer_id).await.unwrap();
    assert_eq!(sms_consent(&customer), [(false, "keyword".to_string())]);
    assert!(replies(&app, customer_id).await.is_empty());
}

async fn help_gets_one_answer_and_leaves_consent_alone(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (_, customer_id) = order_with_customer(&app).await;

    // Act
    post(&app, "", &inbound("SMhelp", "Help?")).await;
    post(&app, "", &inbound("SMhelp", "Help?")).await;
    app.drain().await;

    // Assert
    let customer = app.store.get_customer(customer_id).await.unwrap();
    assert!(sms_consent(&customer).is_empty(), "{customer:?}");
    let answers = replies(&app, customer_id).await;
    let keys: Vec<&str> = answers.iter().map(|m| m.template_key.as_str()).collect();
    assert_eq!(keys, ["help"]);
}

async fn a_replayed_callback_changes_nothing(backend: Backend) {
    // Arrange
    let app = app(backend).await;
    let (order_id, customer_id) = order_with_customer(&app).await;
    let query = callback_query(&queued_message_id(&app, order_id).await);
    post(&app, &query, &status("delivered")).await;
    post(&app, "", &inbound("SMdup", "hello")).await;
    app.drain().await;
    let before = message_state(&app, order_id).await;
    let stored = stored_deliveries(&app).await;

    // Act
    let replayed = post(&app, &query, &status("delivered")).await;
    let replayed_text = post(&app, "", &inbound("SMdup", "hello")).await;
    app.drain().await;

    // Assert
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed_text.status(), 200);
    assert_eq!(stored_deliveries(&app).await, stored);
    let after = message_state(&app, order_id).await;
    assert_eq!(after.state, before.state);
    assert_eq!(after.history.len(), before.history.len());
    assert_eq!(app.store.list_inbound(customer_id).await.unwrap().len(), 1);
}

async fn malformed_requests_name_the_field(backend: Backend) {
    let app = app(backend).await;
    let no_sid: Vec<_> = status("delivered")
        .into_iter()
        .filter(|(name, _)| *name != "MessageSid")
        .collect();
    let bad_from = {
        let mut text = inbound("SMx", "hi");
        text.retain(|(name, _)| *name != "From");
        text.push(("From", "12"));
        text
    };

    let missing = post(&app, "", &no_sid).await;
    let from = post(&app, "", &bad_from).await;
    let bad_id = post(&app, "?message_id=42", &status("delivered")).await;
    let json_body = app
        .client
        .post(app.url("/webhooks/sms"))
        .json(&json!({"MessageSid": "SM1"}))
        .send()
        .await
        .expect("request sent");

    for (answer, field) in [
        (missing, "MessageSid"),
        (from, "From"),
        (bad_id, "message_id"),
    ] {
        assert_eq!(answer.status(), 422);
        let message = json(answer).await["error"]["message"].to_string();
        assert!(message.contains(field), "{field}: {message}");
    }
    assert_eq!(json_body.status(), 400);
    assert_eq!(stored_deliveries(&app).await, 0);
}
