//! The Twilio client against a fake Messages API on 127.0.0.1: the request Twilio's
//! documentation gives (path, Basic auth, form fields) and how its answers are sorted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use channels::sms::{Sender, TwilioClient, TwilioConfig, TwilioCredentials, TwilioError};
use domain::PhoneNumber;
use secrecy::SecretString;
use serde_json::json;
use tokio::net::TcpListener;
use uuid::Uuid;

const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
const AUTH_TOKEN: &str = "test-auth-token";

/// One request the fake received.
#[derive(Clone, Debug)]
struct Call {
    account: String,
    authorization: Option<String>,
    content_type: Option<String>,
    form: HashMap<String, String>,
}

/// The answer the fake gives: a status, headers and a JSON body.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, &'static str)>,
    body: serde_json::Value,
}

#[derive(Clone)]
struct Fake {
    calls: Arc<Mutex<Vec<Call>>>,
    answer: Answer,
}

async fn messages(
    State(fake): State<Fake>,
    Path(account): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let call = Call {
        account,
        authorization: header(header::AUTHORIZATION),
        content_type: header(header::CONTENT_TYPE),
        form,
    };
    fake.calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(call);
    let status = StatusCode::from_u16(fake.answer.status).expect("a status");
    let mut response = (status, fake.answer.body.to_string()).into_response();
    for (name, value) in fake.answer.headers {
        response
            .headers_mut()
            .insert(name, value.parse().expect("a header value"));
    }
    response
}

/// Starts a fake answering every send with `answer`; its base URL and recorded calls.
async fn fake(answer: Answer) -> (String, Arc<Mutex<Vec<Call>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let state = Fake {
        calls: calls.clone(),
        answer,
    };
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Messages.json",
            post(messages),
        )
        .with_state(state);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    (base, calls)
}

fn created() -> Answer {
    Answer {
        status: 201,
        headers: Vec::new(),
        body: json!({"sid": "SM0123", "status": "queued", "num_segments": "1",
            "account_sid": ACCOUNT_SID, "to": "+16135550123"}),
    }
}

fn error(status: u16, code: u32, message: &str) -> Answer {
    Answer {
        status,
        headers: Vec::new(),
        body: json!({"code": code, "message": message, "status": status,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}")}),
    }
}

fn client(base: &str, credentials: TwilioCredentials) -> TwilioClient {
    let mut config = TwilioConfig::new(
        ACCOUNT_SID,
        credentials,
        Sender::From("+15005550006".into()),
    );
    config.base_url = base.to_string();
    config.status_callback = Some("https://track.example/webhooks/sms".into());
    config.request_timeout = Duration::from_secs(5);
    TwilioClient::new(config).expect("a client")
}

fn auth_token() -> TwilioCredentials {
    TwilioCredentials::AuthToken(SecretString::from(AUTH_TOKEN))
}

fn to() -> PhoneNumber {
    PhoneNumber::parse("+16135550123", "US").expect("a number")
}

fn recorded(calls: &Arc<Mutex<Vec<Call>>>) -> Vec<Call> {
    calls.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

#[tokio::test]
async fn a_send_posts_the_form_with_basic_auth_and_the_callback_naming_the_message() {
    // Arrange
    let (base, calls) = fake(created()).await;
    let message_id = Uuid::new_v4();

    // Act
    let sent = client(&base, auth_token())
        .send(&to(), message_id, "Your order shipped")
        .await
        .expect("sent");

    // Assert
    assert_eq!(
        (sent.sid.as_str(), sent.status.as_str()),
        ("SM0123", "queued")
    );
    assert_eq!(sent.segments, Some(1));
    let calls = recorded(&calls);
    let call = &calls[0];
    assert_eq!(call.account, ACCOUNT_SID);
    let basic = STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"));
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(
        call.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let field = |name: &str| call.form.get(name).map(String::as_str);
    assert_eq!(field("To"), Some("+16135550123"));
    assert_eq!(field("From"), Some("+15005550006"));
    assert_eq!(field("Body"), Some("Your order shipped"));
    let callback = format!("https://track.example/webhooks/sms?message_id={message_id}");
    assert_eq!(field("StatusCallback"), Some(callback.as_str()));
}

#[tokio::test]
async fn an_api_key_authenticates_as_itself_on_the_accounts_path() {
    let (base, calls) = fake(created()).await;
    let key = TwilioCredentials::ApiKey {
        sid: "SK0001".into(),
        secret: SecretString::from("key-secret"),
    };

    client(&base, key)
        .send(&to(), Uuid::new_v4(), "Hi")
        .await
        .expect("sent");

    let call = &recorded(&calls)[0];
    assert_eq!(call.account, ACCOUNT_SID);
    let basic = STANDARD.encode("SK0001:key-secret");
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Basic {basic}").as_str())
    );
}

/// What an error must be.
type Expected = fn(&TwilioError) -> bool;

#[tokio::test]
async fn twilios_errors_are_sorted_by_what_to_do_next() {
    let cases: Vec<(Answer, Expected)> = vec![
        (
            error(
                400,
                21211,
                "The 'To' number +16135550123 is not a valid phone number.",
            ),
            |e| {
                matches!(e, TwilioError::NotReachable { code: 21211, message }
                if !message.contains("6135550123"))
            },
        ),
        (
            error(400, 21610, "Attempt to send to unsubscribed recipient"),
            |e| matches!(e, TwilioError::OptedOut),
        ),
        (error(400, 21602, "Message body is required."), |e| {
            matches!(
                e,
                TwilioError::Rejected {
                    code: Some(21602),
                    ..
                }
            )
        }),
        (error(401, 20003, "Authenticate"), |e| {
            matches!(e, TwilioError::Unauthorized { status: 401, .. })
        }),
        (
            Answer {
                headers: vec![("retry-after", "2")],
                ..error(429, 20429, "Too Many Requests")
            },
            |e| e.is_retryable() && e.retry_after() == Some(Duration::from_secs(2)),
        ),
        (
            error(503, 20500, "Service unavailable"),
            TwilioError::is_retryable,
        ),
    ];
    for (answer, expected) in cases {
        let (base, _) = fake(answer.clone()).await;
        let error = client(&base, auth_token())
            .send(&to(), Uuid::new_v4(), "Hi")
            .await
            .expect_err("an error");
        assert!(expected(&error), "{} gave {error:?}", answer.body);
    }
}

#[tokio::test]
async fn a_platform_that_does_not_answer_is_retryable() {
    // A port nothing listens on: the connection is refused.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    drop(listener);

    let error = client(&base, auth_token())
        .send(&to(), Uuid::new_v4(), "Hi")
        .await
        .expect_err("no platform");

    assert!(error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("could not connect"), "{error}");
}
