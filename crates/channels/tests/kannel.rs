//! The Kannel client against a real Kannel on 127.0.0.1 (bearerbox, smsbox and
//! `fakesmsc` as the SMSC): the message reaches the SMSC in the right coding, and
//! Kannel's delivery reports reach a stand-in for Tidings' webhook with the message id,
//! the report type and the secret.

mod kannel_gateway;

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::Router;
use channels::sms::kannel::{KannelClient, KannelConfig, KannelError};
use domain::PhoneNumber;
use kannel_gateway::{Kannel, PASSWORD, USERNAME};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use uuid::Uuid;

const DLR_SECRET: &str = "kannel-test-dlr-secret-0123456789";

type Report = HashMap<String, String>;

/// A stand-in for `GET /webhooks/kannel`: its base URL, and the queries it receives.
async fn dlr_receiver() -> (String, mpsc::UnboundedReceiver<Report>) {
    let (sender, reports) = mpsc::unbounded_channel();
    let app = Router::new()
        .route(
            "/webhooks/kannel",
            get(
                |State(sender): State<mpsc::UnboundedSender<Report>>,
                 Query(report): Query<Report>| async move {
                    let _ = sender.send(report);
                    "ok"
                },
            ),
        )
        .with_state(sender);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let address = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/webhooks/kannel"), reports)
}

fn client(kannel: &Kannel, dlr_url: &str, password: &str) -> KannelClient {
    let password = SecretString::from(password.to_string());
    let mut config = KannelConfig::new(&kannel.sendsms_url, USERNAME, password, "Shop");
    config.dlr_url = Some(dlr_url.to_string());
    config.dlr_secret = Some(SecretString::from(DLR_SECRET));
    config.request_timeout = Duration::from_secs(5);
    KannelClient::new(config).expect("a client")
}

/// The reports for `message_id` until one of each of `types` came, within a few seconds.
async fn reports_for(
    reports: &mut mpsc::UnboundedReceiver<Report>,
    message_id: Uuid,
    types: &[&str],
    kannel: &Kannel,
) -> Vec<Report> {
    let mut got: Vec<Report> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !types.iter().all(|t| {
        got.iter()
            .any(|r| r.get("status").map(String::as_str) == Some(*t))
    }) {
        let next = tokio::time::timeout_at(deadline, reports.recv()).await;
        let Ok(Some(report)) = next else {
            panic!(
                "no reports {types:?} for {message_id} within 5s; got {got:?}\n{}",
                kannel.logs()
            );
        };
        if report.get("message_id") == Some(&message_id.to_string()) {
            got.push(report);
        }
    }
    got
}

#[tokio::test]
async fn a_message_reaches_the_smsc_and_its_delivery_reports_reach_the_webhook() {
    let Some(kannel) = Kannel::start() else {
        return;
    };
    let (dlr_url, mut reports) = dlr_receiver().await;
    let client = client(&kannel, &dlr_url, PASSWORD);
    let to = PhoneNumber::parse("+16135550123", "US").expect("a number");
    let id = Uuid::new_v4();

    let accepted = client
        .send(&to, id, "Your order #1001 has shipped")
        .await
        .expect("Kannel accepts the message");

    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.answer, "0: Accepted for delivery");
    let line = kannel.wait_for_message("Your order #1001 has shipped");
    assert!(line.contains("<Shop +16135550123 text "), "{line}");
    // fakesmsc acknowledges the submit (8) and then reports delivery (1).
    let got = reports_for(&mut reports, id, &["8", "1"], &kannel).await;
    for report in &got {
        assert_eq!(report.get("secret").map(String::as_str), Some(DLR_SECRET));
        assert!(report.contains_key("answer"), "{report:?}");
    }
}

#[tokio::test]
async fn a_text_beyond_gsm7_reaches_the_smsc_as_ucs2() {
    let Some(kannel) = Kannel::start() else {
        return;
    };
    let (dlr_url, _reports) = dlr_receiver().await;
    let client = client(&kannel, &dlr_url, PASSWORD);
    let to = PhoneNumber::parse("+16135550123", "US").expect("a number");

    client
        .send(&to, Uuid::new_v4(), "Olá 📦")
        .await
        .expect("Kannel accepts the message");

    // fakesmsc prints UCS-2 as URL-encoded UTF-16BE.
    let line = kannel.wait_for_message("ucs-2");
    assert!(line.contains("%00O%00l%00%E1%00+%D8%3D%DC%E6"), "{line}");
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized() {
    let Some(kannel) = Kannel::start() else {
        return;
    };
    let (dlr_url, _reports) = dlr_receiver().await;
    let client = client(&kannel, &dlr_url, "not-the-password");
    let to = PhoneNumber::parse("+16135550123", "US").expect("a number");

    let error = client
        .send(&to, Uuid::new_v4(), "Hello")
        .await
        .expect_err("Kannel refuses the password");

    assert!(
        matches!(error, KannelError::Unauthorized { status: 403, .. }),
        "{error:?}"
    );
}
