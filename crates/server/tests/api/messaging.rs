//! Messages end to end: an order event queues a message, the dispatcher renders and sends
//! it to the RBM emulator, the simulated phone delivers and reads it, and Google-style
//! webhooks bring those receipts (and replies) back through `/webhooks/rbm`.

use std::time::Duration;

use emulator::{Emulator, EmulatorConfig, PhoneConfig, RunningEmulator, ServiceAccount};
use serde_json::{json, Value};
use store::MessageView;
use tokio::net::TcpListener;

use tidings::http::api::Scope;

use crate::helpers::{Backend, Options, TestApp};
use crate::on_both_backends;

const AGENT: &str = "tests-agent@rbm.goog";
const CLIENT_TOKEN: &str = "tests-client-token";
const KEY: &str = include_str!("../../demo/rbm-demo-service-account.json");
const PUBLIC_KEY: &str = include_str!("../../demo/rbm-demo-service-account.pub.pem");
const KEY_EMAIL: &str = "tidings-demo@tidings-demo.iam.gserviceaccount.com";

pub const RCS_PHONE: &str = "+16135550123";
pub const SMS_ONLY_PHONE: &str = "+16135550199";

/// Tidings configured to send over RBM to an emulator whose phones answer through
/// Tidings' webhook.
pub struct Rig {
    pub app: TestApp,
    pub emulator: RunningEmulator,
    http: reqwest::Client,
}

impl Rig {
    pub async fn start(backend: Backend) -> Rig {
        Rig::start_with(backend, |_| {}).await
    }

    /// A rig whose emulator setup `configure` changed first.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut EmulatorConfig)) -> Rig {
        Rig::start_full(backend, |_| {}, configure).await
    }

    /// A rig whose Tidings configuration and emulator setup were changed first.
    pub async fn start_full(
        backend: Backend,
        tidings: impl FnOnce(&mut tidings::Config),
        configure: impl FnOnce(&mut EmulatorConfig),
    ) -> Rig {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let emulator_url = format!("http://{}", listener.local_addr().unwrap());
        let keys = tempfile::tempdir().unwrap();
        let key_file = keys.path().join("key.json");
        std::fs::write(&key_file, KEY).unwrap();
        let options = Options { processor: true };
        let app = TestApp::spawn_configured(backend, options, |config| {
            config.rbm.base_url = emulator_url.clone();
            config.rbm.token_url = format!("{emulator_url}/token");
            config.rbm.agent_id = Some(AGENT.into());
            config.rbm.service_account_file = Some(key_file.clone());
            config.rbm.client_token = Some(CLIENT_TOKEN.to_string().into());
            tidings(config);
        })
        .await;

        let phones = vec![
            PhoneConfig {
                delivery_delay_ms: 10,
                read_after_ms: Some(50),
                ..PhoneConfig::rcs(RCS_PHONE)
            },
            PhoneConfig::without_rcs(SMS_ONLY_PHONE),
        ];
        let mut config = EmulatorConfig {
            agent_id: AGENT.into(),
            client_token: CLIENT_TOKEN.into(),
            webhook_url: Some(app.url("/webhooks/rbm")),
            service_accounts: vec![ServiceAccount {
                client_email: KEY_EMAIL.into(),
                public_key_pem: PUBLIC_KEY.into(),
            }],
            user_rate: None,
            agent_rate: None,
            phones,
            ..EmulatorConfig::default()
        };
        configure(&mut config);
        let emulator = Emulator::start(listener, config).await.unwrap();
        Rig {
            app,
            emulator,
            http: reqwest::Client::new(),
        }
    }

    /// Creates a confirmed order for a customer with `phone`; its id.
    pub async fn order_for(&self, phone: &str, external_id: &str) -> i64 {
        let body = json!({
            "external_id": external_id,
            "number": format!("#{external_id}"),
            "currency": "USD",
            "total": "42.00",
            "placed_at": "2026-11-20T10:00:00Z",
            "status": "confirmed",
            "customer": {"phone": phone, "email": "ana@example.com", "first_name": "Ana",
                "locale": "en"},
            "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "42.00"}]
        });
        let created = self.app.api_post("/api/v1/orders", &body).await;
        assert_eq!(created.status(), 201);
        created.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    async fn phone(&self, number: &str) -> Value {
        let url = format!("{}/emulator/phones/{number}", self.emulator.base_url());
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Every text the emulator's SMS API took, oldest first.
    pub async fn sms_texts(&self) -> Vec<Value> {
        let url = format!("{}/emulator/sms/messages", self.emulator.base_url());
        let texts: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        texts.as_array().unwrap().clone()
    }

    /// How many RBM messages the phone with `number` holds.
    pub async fn rcs_messages(&self, number: &str) -> usize {
        self.phone(number).await["messages"]
            .as_array()
            .unwrap()
            .len()
    }

    /// Waits until the order's messages satisfy `done`, and returns them.
    pub async fn messages_until(
        &self,
        order_id: i64,
        done: impl Fn(&[MessageView]) -> bool,
    ) -> Vec<MessageView> {
        let mut messages = Vec::new();
        for _ in 0..300 {
            messages = self.app.store.list_messages(order_id).await.unwrap();
            if done(&messages) {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("messages never settled: {messages:#?}");
    }
}

/// A rig sending RCS and SMS through the emulator, with Tidings' settings then changed
/// by `configure`.
pub async fn sms_rig(
    backend: Backend,
    configure: impl FnOnce(&mut tidings::Config),
    emulator: impl FnOnce(&mut emulator::EmulatorConfig),
) -> Rig {
    // Twilio-style status callbacks are signed over the URL Tidings gave, so Tidings
    // serves at its public URL: a port picked up front.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    Rig::start_full(
        backend,
        |config| {
            config.listen = format!("127.0.0.1:{port}");
            config.public_url = format!("http://127.0.0.1:{port}");
            config.sms.base_url = config.rbm.base_url.clone();
            config.sms.account_sid = Some("AC00000000000000000000000000000000".into());
            config.sms.auth_token = Some(TWILIO_AUTH_TOKEN.to_string().into());
            config.sms.from = Some("+15005550006".into());
            configure(config);
        },
        emulator,
    )
    .await
}

fn states(messages: &[MessageView]) -> Vec<(&str, &str)> {
    messages
        .iter()
        .map(|m| (m.template_key.as_str(), m.state.as_str()))
        .collect()
}

async fn an_order_event_reaches_the_phone_and_comes_back_read(backend: Backend) {
    let rig = Rig::start(backend).await;
    let order_id = rig.order_for(RCS_PHONE, "R-1").await;
    let event = json!({"status": "in_transit", "raw_status": "in_transit",
        "happened_at": "2026-11-21T08:00:00Z"});
    let added = rig
        .app
        .api_post(&format!("/api/v1/orders/{order_id}/events"), &event)
        .await;
    assert!(added.status().is_success(), "{}", added.status());

    let all_read = |m: &[MessageView]| m.len() == 2 && m.iter().all(|m| m.state == "read");
    let messages = rig.messages_until(order_id, all_read).await;
    assert_eq!(
        states(&messages),
        [("confirmed", "read"), ("shipped", "read")]
    );
    let confirmed = &messages[0];
    assert_eq!(confirmed.channel.as_deref(), Some("rcs"));
    let history: Vec<&str> = confirmed.history.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(history, ["sent", "delivered", "read"]);
    assert_eq!(confirmed.history[0].detail.as_deref(), Some("sent on rcs"));
    assert_eq!(confirmed.attempts, 1);
    assert!(confirmed.sent_at.is_some() && confirmed.read_at.is_some());
    assert_eq!(confirmed.attempt_log.len(), 1);
    let attempt = &confirmed.attempt_log[0];
    assert_eq!((attempt.attempt, attempt.outcome.as_str()), (1, "sent"));
    assert_eq!(
        (attempt.channel.as_str(), attempt.http_status),
        ("rcs", Some(200))
    );

    // The phone holds both messages under Tidings' ids, rendered from the templates.
    let phone = rig.phone(RCS_PHONE).await;
    let received = phone["messages"].as_array().unwrap();
    let ids: Vec<&str> = received
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [confirmed.id.to_string(), messages[1].id.to_string()]);
    let text = received[0]["body"]["contentMessage"].to_string();
    assert!(text.contains("#R-1"), "{text}");
    assert!(text.contains("Ana"), "{text}");
}

async fn a_phone_without_rcs_fails_with_the_reason(backend: Backend) {
    let rig = Rig::start(backend).await;
    let order_id = rig.order_for(SMS_ONLY_PHONE, "R-2").await;

    let failed = |m: &[MessageView]| m.len() == 1 && m[0].state == "failed";
    let messages = rig.messages_until(order_id, failed).await;
    // RCS gave up on it, and no other channel is set up here.
    let error = messages[0].last_error.as_deref().unwrap_or_default();
    assert_eq!(
        error,
        "no channel may carry it: rcs: already tried for this message; sms: no provider is \
         set up; email: no provider is set up"
    );
    let attempt = &messages[0].attempt_log[0];
    assert_eq!(
        (attempt.outcome.as_str(), attempt.http_status),
        ("unreachable", Some(404))
    );
    assert!(attempt.detail.as_deref().unwrap().contains("RCS"));
    let history: Vec<&str> = messages[0]
        .history
        .iter()
        .map(|e| e.state.as_str())
        .collect();
    assert_eq!(history, ["pending", "failed"]);
}

async fn a_reply_from_the_phone_is_kept_for_the_conversation(backend: Backend) {
    let rig = Rig::start(backend).await;
    let order_id = rig.order_for(RCS_PHONE, "R-3").await;
    rig.messages_until(order_id, |m| m.len() == 1 && m[0].state == "read")
        .await;

    let url = format!(
        "{}/emulator/phones/{RCS_PHONE}/text",
        rig.emulator.base_url()
    );
    let sent = rig
        .http
        .post(url)
        .json(&json!({"text": "where is my order?"}))
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{}", sent.status());

    let order = rig.app.store.get_order(order_id).await.unwrap();
    let customer_id = order.customer_id.unwrap();
    for _ in 0..200 {
        let inbound = rig.app.store.list_inbound(customer_id).await.unwrap();
        if let Some(message) = inbound.first() {
            assert_eq!(message.body, "where is my order?");
            assert_eq!(message.channel, "rcs");
            assert_eq!(message.kind, "text");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the reply never reached the store");
}

async fn a_stop_on_rcs_is_acknowledged_on_rcs_as_rbm_asks(backend: Backend) {
    // Arrange
    let rig = Rig::start(backend).await;
    let order_id = rig.order_for(RCS_PHONE, "K-3").await;
    let customer_id = rig.customer_of(order_id).await;
    rig.messages_until(order_id, |m| m.len() == 1 && m[0].state == "read")
        .await;

    // Act: the phone texts STOP to the agent.
    let url = format!(
        "{}/emulator/phones/{RCS_PHONE}/text",
        rig.emulator.base_url()
    );
    let sent = rig
        .http
        .post(url)
        .json(&json!({"text": "STOP"}))
        .send()
        .await;
    assert!(sent.unwrap().status().is_success());

    // Assert
    let acknowledged = |m: &[MessageView]| {
        m.iter()
            .any(|m| m.template_key == "opt_out_ack" && m.state == "read")
    };
    let messages = rig.customer_messages_until(customer_id, acknowledged).await;
    let reply = messages
        .iter()
        .find(|m| m.template_key == "opt_out_ack")
        .unwrap();
    assert_eq!(reply.channel.as_deref(), Some("rcs"));
    let phone = rig.phone(RCS_PHONE).await;
    let received = phone["messages"].as_array().unwrap();
    let body = &received
        .iter()
        .find(|m| m["messageId"] == reply.id.to_string())
        .expect("the phone holds the reply")["body"];
    assert_eq!(body["messageTrafficType"], "ACKNOWLEDGEMENT");
    let text = body["contentMessage"]["text"].as_str().unwrap();
    assert!(text.contains("unsubscribed"), "{text}");
}

async fn a_throttled_send_is_retried_until_it_goes_through(backend: Backend) {
    // One send at once and one more every two seconds: of two messages queued together
    // the second is refused with 429 and must be retried, not lost.
    let rig = Rig::start_with(backend, |config| {
        config.agent_rate = Some(emulator::RateLimit {
            burst: 1,
            per_second: 0.5,
        });
    })
    .await;
    let order_id = rig.order_for(RCS_PHONE, "R-4").await;
    let event = json!({"status": "in_transit", "raw_status": "in_transit",
        "happened_at": "2026-11-21T08:00:00Z"});
    rig.app
        .api_post(&format!("/api/v1/orders/{order_id}/events"), &event)
        .await;

    let delivered = |m: &[MessageView]| {
        m.len() == 2
            && m.iter()
                .all(|m| matches!(m.state.as_str(), "delivered" | "read"))
    };
    let messages = rig.messages_until(order_id, delivered).await;
    let attempts: Vec<Vec<&str>> = messages
        .iter()
        .map(|m| m.attempt_log.iter().map(|a| a.outcome.as_str()).collect())
        .collect();
    let throttled = attempts.iter().flatten().filter(|o| **o == "retry").count();
    assert!(throttled >= 1, "no send was throttled: {attempts:?}");
    for log in &attempts {
        assert_eq!(log.last(), Some(&"sent"), "{attempts:?}");
    }
}

async fn dead_letters_are_listed_and_can_be_sent_again(backend: Backend) {
    let rig = Rig::start(backend).await;
    let order_id = rig.order_for(SMS_ONLY_PHONE, "R-5").await;
    let failed = |m: &[MessageView]| m.len() == 1 && m[0].state == "failed";
    let id = rig.messages_until(order_id, failed).await[0].id;

    // Why it was not sent, through the API.
    let listed: Value = rig
        .app
        .api_get(&format!("/api/v1/orders/{order_id}/messages"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["state"], "failed");
    assert!(listed[0]["last_error"]
        .as_str()
        .unwrap()
        .contains("no channel may carry it"));
    let dead: Value = rig
        .app
        .api_get("/api/v1/messages/dead-letters")
        .await
        .json()
        .await
        .unwrap();
    let dead_ids: Vec<&str> = dead
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(dead_ids, [id.to_string()]);

    let redrive = |id: String| {
        let url = rig.app.url(&format!("/api/v1/messages/{id}/redrive"));
        rig.app
            .client
            .post(url)
            .bearer_auth(&rig.app.api_key)
            .send()
    };
    assert_eq!(redrive(id.to_string()).await.unwrap().status(), 202);
    let tried_twice = |m: &[MessageView]| m[0].state == "failed" && m[0].attempt_log.len() == 2;
    let message = &rig.messages_until(order_id, tried_twice).await[0];
    let history: Vec<&str> = message.history.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(
        history,
        ["pending", "failed", "pending", "pending", "failed"]
    );

    let one: Value = rig
        .app
        .api_get(&format!("/api/v1/messages/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["attempt_log"].as_array().unwrap().len(), 2);
    let unknown = rig
        .app
        .api_get(&format!("/api/v1/messages/{}", uuid::Uuid::nil()))
        .await;
    assert_eq!(unknown.status(), 404);
    let rig_order = rig.order_for(RCS_PHONE, "R-6").await;
    let read = |m: &[MessageView]| m.len() == 1 && m[0].state == "read";
    let sent_id = rig.messages_until(rig_order, read).await[0].id;
    assert_eq!(redrive(sent_id.to_string()).await.unwrap().status(), 422);
}

async fn an_undelivered_rcs_message_is_revoked_and_falls_back(backend: Backend) {
    // The phone is off: the message is accepted but not delivered within a second, so
    // it is revoked at Google and handed to the next channel (none is set up here).
    let rig = Rig::start_full(
        backend,
        |config| config.delivery.not_delivered_within_secs = 1,
        |emulator| emulator.phones[0].online = false,
    )
    .await;
    let order_id = rig.order_for(RCS_PHONE, "R-7").await;

    let failed = |m: &[MessageView]| m.len() == 1 && m[0].state == "failed";
    let message = &rig.messages_until(order_id, failed).await[0];
    let history: Vec<(&str, &str)> = message
        .history
        .iter()
        .map(|e| (e.state.as_str(), e.detail.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(history[0], ("sent", "sent on rcs"));
    assert_eq!(history[1].0, "pending");
    assert!(
        history[1].1.contains("not delivered within 1 s; revoked"),
        "{history:?}"
    );
    assert!(
        history[2].1.starts_with("no channel may carry it"),
        "{history:?}"
    );

    // Google's record: revoked, never delivered.
    let phone = rig.phone(RCS_PHONE).await;
    let state = phone["messages"][0]["state"].as_str().unwrap().to_string();
    assert_eq!(state, "REVOKED", "{phone}");
}

async fn an_expired_rcs_message_falls_back(backend: Backend) {
    // A one-second time to live and a phone that is off: Google revokes the message and
    // says so (TTL_EXPIRATION_REVOKED); Tidings hands it to the next channel.
    let rig = Rig::start_with(backend, |emulator| emulator.phones[0].online = false).await;
    let admin =
        tidings::cli::create_api_key(&rig.app.store, "admin", Scope::Admin, &store::Actor::cli())
            .await
            .unwrap();
    let template = json!({"ttl": "1s", "contentMessage": {"text": "Order {{ order.number }}"}});
    let saved = rig
        .app
        .client
        .put(rig.app.url("/api/v1/templates/confirmed/en"))
        .bearer_auth(admin)
        .json(&template)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let order_id = rig.order_for(RCS_PHONE, "R-8").await;

    let failed = |m: &[MessageView]| m.len() == 1 && m[0].state == "failed";
    let message = &rig.messages_until(order_id, failed).await[0];
    let details: Vec<&str> = message
        .history
        .iter()
        .filter_map(|e| e.detail.as_deref())
        .collect();
    assert!(
        details.contains(&"ttl_expired receipt") || details.iter().any(|d| d.contains("expired")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("time to live ran out")),
        "{details:?}"
    );
}

async fn a_phone_without_rcs_gets_the_message_by_email(backend: Backend) {
    let Some(smtp) = crate::smtp::Smtp::start() else {
        return;
    };
    let port = smtp.port;
    let rig = Rig::start_full(
        backend,
        |config| {
            config.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
            config.email.from = Some("Tidings Shop <orders@shop.example>".into());
        },
        |_| {},
    )
    .await;
    let order_id = rig.order_for(SMS_ONLY_PHONE, "R-9").await;

    let sent = |m: &[MessageView]| m.len() == 1 && m[0].state == "sent";
    let message = &rig.messages_until(order_id, sent).await[0];
    assert_eq!(message.channel.as_deref(), Some("email"));
    let attempts: Vec<(&str, &str)> = message
        .attempt_log
        .iter()
        .map(|a| (a.channel.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(attempts, [("rcs", "unreachable"), ("email", "sent")]);

    let received = smtp.received();
    assert_eq!(received.len(), 1, "one email, sent once");
    let email = &received[0];
    assert_eq!(email["rcpt_tos"], json!(["ana@example.com"]));
    let subject = email["message"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0].as_str() == Some("Subject"))
        .map(|h| h[1].as_str().unwrap().to_string())
        .unwrap();
    assert_eq!(subject, "Tidings Shop: #R-9 order confirmed");
    let header = |name: &str| {
        let headers = email["message"]["headers"].as_array().unwrap();
        let found = headers.iter().find(|h| h[0].as_str() == Some(name));
        found.map(|h| {
            h[1].as_str()
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let order = rig.app.store.get_order(order_id).await.unwrap();
    let customer_id = order.customer_id.unwrap();
    let token = rig
        .app
        .store
        .unsubscribe_token(customer_id)
        .await
        .unwrap()
        .unwrap();
    // Under the test configuration's public_url.
    let link = format!("https://track.example/unsubscribe/{token}");
    assert_eq!(
        header("List-Unsubscribe"),
        Some(format!("<mailto:orders@shop.example>, <{link}>"))
    );
    assert_eq!(
        header("List-Unsubscribe-Post").as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let text = email["message"]["text"].as_str().unwrap();
    assert!(text.contains("received your order #R-9"), "{text}");
    assert!(email["message"]["html"].as_str().unwrap().contains("#R-9"));
}

/// The auth token the emulator's Twilio-compatible API signs its webhooks with.
const TWILIO_AUTH_TOKEN: &str = "emulator-auth-token";

impl Rig {
    /// Posts an inbound text from `phone` to `/webhooks/sms`, signed as Twilio signs it.
    async fn text_from(&self, phone: &str, sid: &str, body: &str) -> reqwest::Response {
        let params = [
            ("MessageSid", sid),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("From", phone),
            ("To", "+15005550006"),
            ("Body", body),
            ("NumMedia", "0"),
            ("SmsStatus", "received"),
        ];
        let url = self.app.url("/webhooks/sms");
        let signature = channels::sms::twilio::sign(TWILIO_AUTH_TOKEN, &url, &params);
        let request = self.http.post(url).form(&params);
        let request = request.header("X-Twilio-Signature", signature);
        request.send().await.unwrap()
    }

    /// Waits until the customer's messages satisfy `done`, and returns them.
    async fn customer_messages_until(
        &self,
        customer_id: i64,
        done: impl Fn(&[MessageView]) -> bool,
    ) -> Vec<MessageView> {
        let mut messages = Vec::new();
        for _ in 0..300 {
            messages = self
                .app
                .store
                .list_customer_messages(customer_id)
                .await
                .unwrap();
            if done(&messages) {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("messages never settled: {messages:#?}");
    }

    async fn customer_of(&self, order_id: i64) -> i64 {
        let order = self.app.store.get_order(order_id).await.unwrap();
        order.customer_id.expect("a customer")
    }
}

async fn a_stop_texted_twice_revokes_consent_once_and_is_answered_once(backend: Backend) {
    // Arrange
    let rig = sms_rig(backend, |_| {}, |_| {}).await;
    let order_id = rig.order_for(SMS_ONLY_PHONE, "K-1").await;
    let customer_id = rig.customer_of(order_id).await;
    rig.messages_until(order_id, |m| m.len() == 1 && m[0].state == "delivered")
        .await;

    // Act: Twilio delivers the same webhook twice.
    for _ in 0..2 {
        let answer = rig.text_from(SMS_ONLY_PHONE, "SMkstop", "Stop").await;
        assert_eq!(answer.status(), 200);
    }

    // Assert
    let reply_delivered = |m: &[MessageView]| {
        m.iter()
            .any(|m| m.template_key == "opt_out_ack" && m.state == "delivered")
    };
    let messages = rig
        .customer_messages_until(customer_id, reply_delivered)
        .await;
    let replies: Vec<&MessageView> = messages.iter().filter(|m| m.order_id.is_none()).collect();
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert_eq!(replies[0].channel.as_deref(), Some("sms"));
    let customer = rig.app.store.get_customer(customer_id).await.unwrap();
    let revoked: Vec<_> = customer
        .consents
        .iter()
        .filter(|c| c.purpose == "promotional" && !c.granted)
        .map(|c| (c.channel.as_str(), c.source.as_str()))
        .collect();
    assert_eq!(revoked, [("sms", "keyword")]);

    let texts = rig.sms_texts().await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    let reply = texts[1]["body"].as_str().unwrap();
    assert_eq!(texts[1]["to"], SMS_ONLY_PHONE);
    assert!(reply.contains("unsubscribed"), "{reply}");
    assert!(reply.contains("START"), "{reply}");
}

async fn order_updates_still_reach_a_customer_who_texted_stop(backend: Backend) {
    // Arrange
    let rig = sms_rig(backend, |_| {}, |_| {}).await;
    let order_id = rig.order_for(SMS_ONLY_PHONE, "K-2").await;
    let customer_id = rig.customer_of(order_id).await;
    rig.text_from(SMS_ONLY_PHONE, "SMk2stop", "STOP").await;
    let acknowledged = |m: &[MessageView]| {
        m.iter()
            .any(|m| m.template_key == "opt_out_ack" && m.state == "delivered")
    };
    rig.customer_messages_until(customer_id, acknowledged).await;

    // Act
    let event = json!({"status": "in_transit", "raw_status": "in_transit",
        "happened_at": "2026-11-21T08:00:00Z"});
    let added = rig
        .app
        .api_post(&format!("/api/v1/orders/{order_id}/events"), &event)
        .await;
    assert!(added.status().is_success(), "{}", added.status());

    // Assert
    let shipped = |m: &[MessageView]| {
        m.iter()
            .any(|m| m.template_key == "shipped" && m.state == "delivered")
    };
    let messages = rig.messages_until(order_id, shipped).await;
    let shipped = messages
        .iter()
        .find(|m| m.template_key == "shipped")
        .unwrap();
    assert_eq!(shipped.channel.as_deref(), Some("sms"));
    let texts = rig.sms_texts().await;
    let last = texts.last().unwrap()["body"].as_str().unwrap();
    assert!(last.contains("#K-2"), "{last}");
}

async fn a_phone_without_rcs_gets_the_message_by_sms(backend: Backend) {
    let rig = sms_rig(backend, |_| {}, |_| {}).await;
    let port = rig.app.address.rsplit(':').next().unwrap().to_string();
    let order_id = rig.order_for(SMS_ONLY_PHONE, "R-10").await;

    // Twilio's callback brings the handset's delivery back.
    let delivered = |m: &[MessageView]| m.len() == 1 && m[0].state == "delivered";
    let message = &rig.messages_until(order_id, delivered).await[0];
    assert_eq!(message.channel.as_deref(), Some("sms"), "{message:#?}");
    let attempts: Vec<(&str, &str)> = message
        .attempt_log
        .iter()
        .map(|a| (a.channel.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(attempts, [("rcs", "unreachable"), ("sms", "sent")]);

    let url = format!("{}/emulator/sms/messages", rig.emulator.base_url());
    let texts: Value = rig
        .http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts = texts.as_array().unwrap();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["to"], SMS_ONLY_PHONE);
    let body = texts[0]["body"].as_str().unwrap();
    assert!(body.contains("#R-10"), "{body}");
    assert!(
        body.contains(&format!("http://127.0.0.1:{port}/t/")),
        "{body}"
    );
}

async fn an_undelivered_sms_falls_back_to_email_with_the_carriers_reason(backend: Backend) {
    // Arrange: SMS through the emulator's Twilio API, to a landline (Twilio's 30006),
    // and email through a real SMTP server.
    let Some(smtp) = crate::smtp::Smtp::start() else {
        return;
    };
    let smtp_port = smtp.port;
    let rig = sms_rig(
        backend,
        |config| {
            config.email.smtp_url = Some(format!("smtp://127.0.0.1:{smtp_port}"));
            config.email.from = Some("Tidings Shop <orders@shop.example>".into());
        },
        |emulator| {
            let landline = emulator
                .phones
                .iter_mut()
                .find(|p| p.number == SMS_ONLY_PHONE)
                .expect("the phone without RCS");
            landline.sms.outcome = emulator::SmsOutcome::Undelivered;
            landline.sms.error_code = Some(30006);
        },
    )
    .await;

    // Act
    let order_id = rig.order_for(SMS_ONLY_PHONE, "R-12").await;

    // Assert: one logical message, three attempts, the carrier's reason on its history.
    let by_email = |m: &[MessageView]| m.len() == 1 && m[0].channel.as_deref() == Some("email");
    let message = &rig.messages_until(order_id, by_email).await[0];
    let attempts: Vec<(&str, &str)> = message
        .attempt_log
        .iter()
        .map(|a| (a.channel.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(
        attempts,
        [("rcs", "unreachable"), ("sms", "sent"), ("email", "sent")]
    );
    let details: Vec<&str> = message
        .history
        .iter()
        .filter_map(|e| e.detail.as_deref())
        .collect();
    let reason = "Twilio error 30006: landline or unreachable carrier";
    assert!(
        details
            .iter()
            .any(|d| d.contains("sms gave up") && d.contains(reason)),
        "{details:?}"
    );
    let received = smtp.received();
    assert_eq!(received.len(), 1, "one email, sent once");
    assert_eq!(received[0]["rcpt_tos"], json!(["ana@example.com"]));
}

async fn a_phone_that_answered_404_gets_the_next_update_straight_by_sms(backend: Backend) {
    // Arrange
    let rig = sms_rig(backend, |_| {}, |_| {}).await;
    let delivered = |m: &[MessageView]| m.len() == 1 && m[0].state == "delivered";
    let attempts = |message: &MessageView| -> Vec<(String, String)> {
        let log = message.attempt_log.iter();
        log.map(|a| (a.channel.clone(), a.outcome.clone()))
            .collect()
    };

    // Act
    let first = rig.order_for(SMS_ONLY_PHONE, "R-13").await;
    let first = rig.messages_until(first, delivered).await.remove(0);
    let second = rig.order_for(SMS_ONLY_PHONE, "R-14").await;
    let second = rig.messages_until(second, delivered).await.remove(0);

    // Assert: the first learns the phone has no RCS; the second does not ask again.
    let pair = |c: &str, o: &str| (c.to_string(), o.to_string());
    let first_attempts = attempts(&first);
    assert_eq!(
        first_attempts,
        [pair("rcs", "unreachable"), pair("sms", "sent")]
    );
    assert_eq!(attempts(&second), [pair("sms", "sent")]);
    let detail = second.attempt_log[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("RCS skipped"), "{detail}");
    assert_eq!(rig.sms_texts().await.len(), 2);
}

on_both_backends!(
    a_phone_that_answered_404_gets_the_next_update_straight_by_sms,
    an_undelivered_sms_falls_back_to_email_with_the_carriers_reason,
    a_stop_on_rcs_is_acknowledged_on_rcs_as_rbm_asks,
    a_stop_texted_twice_revokes_consent_once_and_is_answered_once,
    order_updates_still_reach_a_customer_who_texted_stop,
    a_phone_without_rcs_gets_the_message_by_sms,
    a_phone_without_rcs_gets_the_message_by_email,
    an_expired_rcs_message_falls_back,
    an_undelivered_rcs_message_is_revoked_and_falls_back,
    dead_letters_are_listed_and_can_be_sent_again,
    a_throttled_send_is_retried_until_it_goes_through,
    an_order_event_reaches_the_phone_and_comes_back_read,
    a_phone_without_rcs_fails_with_the_reason,
    a_reply_from_the_phone_is_kept_for_the_conversation,
);
