//! The Twilio-compatible SMS API: the Twilio client sending through it, Twilio's errors
//! for bad requests, simulated handsets with signed status callbacks, and texts back to
//! the SMS webhook.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Form, Router};
use channels::sms::twilio::verify;
use channels::sms::{Sender, TwilioClient, TwilioConfig, TwilioCredentials, TwilioError};
use emulator::config::{SmsHandset, SmsOutcome, TwilioAccount};
use emulator::{EmulatorConfig, PhoneConfig};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::helpers::{answer, config, eventually, number, Answer, TestEmulator, PATIENCE};

const HANDSET: &str = "+16135550170";
const BUSINESS: &str = "+15005550006";

fn account() -> TwilioAccount {
    TwilioAccount::default()
}

/// A phone without RCS, as most SMS handsets are, delivering after 20 ms.
fn handset(number: &str) -> PhoneConfig {
    PhoneConfig {
        delivery_delay_ms: 20,
        read_after_ms: None,
        ..PhoneConfig::without_rcs(number)
    }
}

fn handset_with(number: &str, sms: SmsHandset) -> PhoneConfig {
    PhoneConfig {
        sms,
        ..handset(number)
    }
}

/// One form the receiver got.
#[derive(Clone, Debug)]
struct Received {
    /// The path and query it was posted to.
    path: String,
    signature: Option<String>,
    params: BTreeMap<String, String>,
}

/// A stand-in for Tidings' SMS webhook: records every form posted to it.
struct Receiver {
    base: String,
    received: Arc<Mutex<Vec<Received>>>,
    server: JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/webhooks/sms", post(receive))
            .with_state(received.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the receiver serves");
        });
        Receiver {
            base,
            received,
            server,
        }
    }

    fn url(&self) -> String {
        format!("{}/webhooks/sms", self.base)
    }

    fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits for `count` posts, then returns them all.
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        eventually(&format!("{count} posts to the SMS webhook"), || async {
            let received = self.received();
            (received.len() >= count).then_some(received)
        })
        .await
    }

    /// Checks a post's signature as Tidings does: over the URL it was posted to.
    #[track_caller]
    fn assert_signed(&self, post: &Received) {
        let url = format!("{}{}", self.base, post.path);
        let params: Vec<(&String, &String)> = post.params.iter().collect();
        let signature = post.signature.as_deref().expect("an X-Twilio-Signature");
        assert!(
            verify(&account().auth_token, &url, &params, signature),
            "a forged signature on {url}"
        );
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Form(params): Form<BTreeMap<String, String>>,
) -> &'static str {
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let post = Received {
        path,
        signature,
        params,
    };
    received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(post);
    "<Response/>"
}

/// An emulator with `phones` and an SMS webhook pointing at a fresh receiver.
async fn start(phones: Vec<PhoneConfig>) -> (TestEmulator, Receiver) {
    let receiver = Receiver::start().await;
    let config = EmulatorConfig {
        sms_webhook_url: Some(receiver.url()),
        ..config(phones)
    };
    (TestEmulator::start(config).await, receiver)
}

/// Tidings' Twilio client pointed at the emulator, reporting to `receiver`.
fn client(emulator: &TestEmulator, receiver: &Receiver) -> TwilioClient {
    let account = account();
    let token = TwilioCredentials::AuthToken(SecretString::from(account.auth_token));
    let mut config = TwilioConfig::new(account.account_sid, token, Sender::From(BUSINESS.into()));
    config.base_url = emulator.running.base_url();
    config.status_callback = Some(receiver.url());
    config.request_timeout = PATIENCE;
    TwilioClient::new(config).expect("a Twilio client")
}

/// `POST …/Messages.json` with `form`, as the account unless `auth` says otherwise.
async fn post_message(
    emulator: &TestEmulator,
    account_sid: &str,
    auth: (&str, &str),
    form: &[(&str, &str)],
) -> Answer {
    let path = format!("/2010-04-01/Accounts/{account_sid}/Messages.json");
    let request = emulator
        .http
        .post(emulator.url(&path))
        .basic_auth(auth.0, Some(auth.1))
        .form(form);
    answer(request).await
}

/// The statuses posted about the message `message_id`, in order.
fn statuses(posts: &[Received], message_id: Uuid) -> Vec<String> {
    let query = format!("?message_id={message_id}");
    posts
        .iter()
        .filter(|post| post.path.ends_with(&query))
        .map(|post| post.params["MessageStatus"].clone())
        .collect()
}

#[tokio::test]
async fn a_text_is_delivered_with_signed_status_callbacks_in_order() {
    // Arrange
    let (emulator, receiver) = start(vec![handset(HANDSET)]).await;
    let client = client(&emulator, &receiver);
    let message_id = Uuid::new_v4();

    // Act
    let sent = client
        .send(
            &number(HANDSET),
            message_id,
            "Your order #1042 has shipped.",
        )
        .await
        .expect("accepted");
    let posts = receiver.wait_for(3).await;

    // Assert
    assert!(sent.sid.starts_with("SM"), "{}", sent.sid);
    assert_eq!((sent.status.as_str(), sent.segments), ("queued", Some(1)));
    assert_eq!(
        statuses(&posts, message_id),
        ["queued", "sent", "delivered"]
    );
    for post in &posts {
        receiver.assert_signed(post);
        assert_eq!(post.params["MessageSid"], sent.sid);
        assert_eq!(post.params["To"], HANDSET);
        assert_eq!(post.params["From"], BUSINESS);
        assert_eq!(post.params["AccountSid"], account().account_sid);
    }
    let texts = emulator
        .inspect(&format!("/emulator/phones/{HANDSET}/sms"))
        .await;
    assert_eq!(texts[0]["body"], "Your order #1042 has shipped.");
    assert_eq!(texts[0]["status"], "delivered");
    assert_eq!(texts[0]["encoding"], "GSM-7");
}

#[tokio::test]
async fn the_inspection_api_counts_segments_as_sms_does() {
    let (emulator, receiver) = start(vec![handset(HANDSET)]).await;
    let client = client(&emulator, &receiver);
    let long = "a".repeat(161);

    client
        .send(&number(HANDSET), Uuid::new_v4(), &long)
        .await
        .expect("accepted");
    client
        .send(&number(HANDSET), Uuid::new_v4(), "Shipped 📦")
        .await
        .expect("accepted");

    let texts = emulator.inspect("/emulator/sms/messages").await;
    let sizes: Vec<(Value, Value)> = texts
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| (t["numSegments"].clone(), t["encoding"].clone()))
        .collect();
    assert_eq!(
        sizes,
        [(json!(2), json!("GSM-7")), (json!(1), json!("UCS-2"))]
    );
}

#[tokio::test]
async fn bad_requests_get_twilios_error_json_and_codes() {
    let (emulator, _receiver) = start(vec![handset(HANDSET)]).await;
    let account = account();
    let sid = account.account_sid.as_str();
    let auth = (sid, account.auth_token.as_str());
    let code = |answer: &Answer, status: u16| {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.body["status"], status, "{}", answer.body);
        assert!(answer.body["more_info"]
            .as_str()
            .is_some_and(|m| m.starts_with("https://www.twilio.com/docs/errors/")));
        answer.body["code"].as_u64().expect("a code")
    };

    let no_to = post_message(&emulator, sid, auth, &[("From", BUSINESS), ("Body", "x")]).await;
    let no_body = post_message(&emulator, sid, auth, &[("From", BUSINESS), ("To", HANDSET)]).await;
    let invalid = [("From", BUSINESS), ("To", "613-555"), ("Body", "x")];
    let invalid = post_message(&emulator, sid, auth, &invalid).await;
    let no_from = post_message(&emulator, sid, auth, &[("To", HANDSET), ("Body", "x")]).await;
    let form = [("From", BUSINESS), ("To", HANDSET), ("Body", "x")];
    let wrong_token = post_message(&emulator, sid, (sid, "wrong"), &form).await;
    let other_account = post_message(&emulator, "AC999", auth, &form).await;

    assert_eq!(code(&no_to, 400), 21604);
    assert_eq!(code(&no_body, 400), 21602);
    assert_eq!(code(&invalid, 400), 21211);
    assert_eq!(code(&no_from, 400), 21603);
    assert_eq!(code(&wrong_token, 401), 20003);
    assert_eq!(code(&other_account, 404), 20404);
    let texts = emulator.inspect("/emulator/sms/messages").await;
    assert_eq!(texts, json!([]), "nothing refused was kept");
}

#[tokio::test]
async fn the_client_sorts_the_emulators_refusals() {
    let opted_out = SmsHandset {
        opted_out: true,
        ..SmsHandset::default()
    };
    let (emulator, receiver) = start(vec![handset_with(HANDSET, opted_out)]).await;
    let client = client(&emulator, &receiver);

    let refused = client.send(&number(HANDSET), Uuid::new_v4(), "Hi").await;
    let invalid = domain::PhoneNumber::from_e164_unchecked("+1613".to_string());
    let unreachable = client.send(&invalid, Uuid::new_v4(), "Hi").await;

    assert!(matches!(refused, Err(TwilioError::OptedOut)), "{refused:?}");
    assert!(
        matches!(
            unreachable,
            Err(TwilioError::NotReachable { code: 21211, .. })
        ),
        "{unreachable:?}"
    );
}

#[tokio::test]
async fn undelivered_and_failed_handsets_report_so_with_an_error_code() {
    let undelivered = SmsHandset {
        outcome: SmsOutcome::Undelivered,
        ..SmsHandset::default()
    };
    let failed = SmsHandset {
        outcome: SmsOutcome::Failed,
        error_code: Some(30007),
        ..SmsHandset::default()
    };
    let phones = vec![
        handset_with(HANDSET, undelivered),
        handset_with("+16135550171", failed),
    ];
    let (emulator, receiver) = start(phones).await;
    let client = client(&emulator, &receiver);
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());

    client
        .send(&number(HANDSET), first, "Hi")
        .await
        .expect("accepted");
    client
        .send(&number("+16135550171"), second, "Hi")
        .await
        .expect("accepted");
    let posts = receiver.wait_for(5).await;

    assert_eq!(statuses(&posts, first), ["queued", "sent", "undelivered"]);
    assert_eq!(statuses(&posts, second), ["queued", "failed"]);
    let code_of = |status: &str| {
        let post = posts.iter().find(|p| p.params["MessageStatus"] == status);
        post.and_then(|p| p.params.get("ErrorCode").cloned())
    };
    assert_eq!(code_of("undelivered").as_deref(), Some("30003"));
    assert_eq!(code_of("failed").as_deref(), Some("30007"));
    assert_eq!(code_of("queued"), None);
}

#[tokio::test]
async fn an_offline_handset_gets_the_text_when_it_comes_online() {
    let offline = PhoneConfig {
        online: false,
        ..handset(HANDSET)
    };
    let (emulator, receiver) = start(vec![offline]).await;
    let client = client(&emulator, &receiver);
    let message_id = Uuid::new_v4();

    client
        .send(&number(HANDSET), message_id, "Hi")
        .await
        .expect("accepted");
    let before = statuses(&receiver.wait_for(2).await, message_id);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let still = statuses(&receiver.received(), message_id);
    emulator.set_online(HANDSET, true).await;
    let after = statuses(&receiver.wait_for(3).await, message_id);

    assert_eq!(before, ["queued", "sent"]);
    assert_eq!(still, ["queued", "sent"]);
    assert_eq!(after, ["queued", "sent", "delivered"]);
}

#[tokio::test]
async fn a_text_back_is_posted_signed_to_the_sms_webhook() {
    // Arrange
    let (emulator, receiver) = start(vec![handset(HANDSET)]).await;
    let path = format!("/emulator/phones/{HANDSET}/sms");

    // Act
    let reply = emulator
        .control(
            reqwest::Method::POST,
            &path,
            &json!({"body": "Where is it?"}),
        )
        .await;
    let posts = receiver.wait_for(1).await;

    // Assert
    let sid = reply.ok()["sid"].as_str().expect("a SID").to_string();
    let post = &posts[0];
    receiver.assert_signed(post);
    assert_eq!(post.path, "/webhooks/sms");
    let field = |name: &str| post.params.get(name).map(String::as_str);
    assert_eq!(field("MessageSid"), Some(sid.as_str()));
    assert_eq!(field("From"), Some(HANDSET));
    assert_eq!(field("To"), Some(BUSINESS));
    assert_eq!(field("Body"), Some("Where is it?"));
    assert_eq!(field("SmsStatus"), Some("received"));
    assert_eq!(field("NumMedia"), Some("0"));
    assert_eq!(field("OptOutType"), None);
}

/// The handset's user texts `body` to the business.
async fn text_back(emulator: &TestEmulator, body: &str) {
    let path = format!("/emulator/phones/{HANDSET}/sms");
    let answer = emulator
        .control(reqwest::Method::POST, &path, &json!({ "body": body }))
        .await;
    answer.ok();
}

#[tokio::test]
async fn texting_stop_opts_out_until_start() {
    let (emulator, receiver) = start(vec![handset(HANDSET)]).await;
    let client = client(&emulator, &receiver);
    text_back(&emulator, "Stop").await;
    let refused = client.send(&number(HANDSET), Uuid::new_v4(), "Hi").await;
    text_back(&emulator, "START").await;
    let accepted = client.send(&number(HANDSET), Uuid::new_v4(), "Hi").await;

    assert!(matches!(refused, Err(TwilioError::OptedOut)), "{refused:?}");
    assert!(accepted.is_ok(), "{accepted:?}");
    let inbound: Vec<Received> = receiver
        .wait_for(2)
        .await
        .into_iter()
        .filter(|p| p.params.get("SmsStatus").map(String::as_str) == Some("received"))
        .collect();
    let kinds: Vec<_> = inbound
        .iter()
        .map(|p| p.params["OptOutType"].as_str())
        .collect();
    assert_eq!(kinds, ["STOP", "START"]);
}

#[tokio::test]
async fn the_phone_page_shows_texts_apart_from_rcs_and_texts_back() {
    let rcs_phone = PhoneConfig {
        delivery_delay_ms: 20,
        ..PhoneConfig::rcs(HANDSET)
    };
    let (emulator, receiver) = start(vec![rcs_phone]).await;
    let client = client(&emulator, &receiver);
    client
        .send(&number(HANDSET), Uuid::new_v4(), "Shipped by SMS")
        .await
        .expect("accepted");
    receiver.wait_for(3).await;

    let page = emulator
        .http
        .get(emulator.url(&format!("/phones/{HANDSET}")))
        .send()
        .await
        .expect("the page")
        .text()
        .await
        .expect("HTML");
    let form = [("action", "sms"), ("text", "Thanks!")];
    let submitted = emulator
        .http
        .post(emulator.url(&format!("/phones/{HANDSET}")))
        .form(&form)
        .send()
        .await
        .expect("the form posts");

    assert!(page.contains("class=\"agent sms\""), "{page}");
    assert!(page.contains("Shipped by SMS"), "{page}");
    assert!(page.contains("SMS · 1 segment · delivered"), "{page}");
    assert!(
        page.contains("placeholder=\"RCS message\""),
        "an RCS phone keeps its RCS box"
    );
    assert!(
        page.contains("placeholder=\"Text message (SMS)\""),
        "{page}"
    );
    assert_eq!(submitted.status(), 303);
    let posts = receiver.wait_for(4).await;
    assert!(posts
        .iter()
        .any(|p| p.params.get("Body").map(String::as_str) == Some("Thanks!")));
}
