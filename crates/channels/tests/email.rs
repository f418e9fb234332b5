//! The email sender against a real SMTP server (aiosmtpd, see `smtp_server`): what
//! arrives, over plain text, STARTTLS and implicit TLS, with and without AUTH, and how
//! each kind of failure is sorted.

mod smtp_server;

use std::time::Duration;

use channels::email::{Brand, EmailConfig, EmailContent, EmailError, EmailSender, Unsubscribe};
use domain::rcs::AgentMessage;
use domain::Email;
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use smtp_server::{closed_port, Options, Security, SmtpServer};

const FROM: &str = "Linen & Co <orders@linen.example>";

fn config(url: &str) -> EmailConfig {
    let mut config = EmailConfig::new(url, FROM);
    config.reply_to = Some("help@linen.example".into());
    config.timeout = Duration::from_secs(5);
    config.hello_name = Some("tidings.test".into());
    config
}

fn sender(config: EmailConfig) -> EmailSender {
    EmailSender::new(config).expect("a sender")
}

fn brand() -> Brand {
    Brand {
        shop_name: "Linen & Co".into(),
        color: "#0b6e4f".into(),
        logo_url: None,
    }
}

fn to(address: &str) -> Email {
    Email::parse(address).expect("an address")
}

fn shipped() -> AgentMessage {
    serde_json::from_value(json!({
        "messageTrafficType": "TRANSACTION",
        "contentMessage": {"richCard": {"standaloneCard": {
            "cardOrientation": "VERTICAL",
            "cardContent": {
                "title": "Order #1001 is on its way",
                "description": "Carrier: UPS\nTracking number: 1Z999",
                "media": {"height": "MEDIUM",
                    "contentInfo": {"fileUrl": "https://cdn.linen.example/parcel.png"}},
                "suggestions": [{"action": {"text": "Track", "postbackData": "track:7",
                    "openUrlAction": {"url": "https://t.example/1Z999"}}}]}}}}
    }))
    .expect("an AgentMessage")
}

fn sale() -> AgentMessage {
    serde_json::from_value(json!({
        "messageTrafficType": "PROMOTION",
        "contentMessage": {"text": "Linen aprons are 20% off until Sunday.",
            "suggestions": [{"action": {"text": "Shop the sale", "postbackData": "sale",
                "openUrlAction": {"url": "https://linen.example/sale"}}}]}
    }))
    .expect("an AgentMessage")
}

fn unsubscribe() -> Unsubscribe {
    Unsubscribe::new(
        "https://linen.example/u/tok3n",
        "unsubscribe+tok3n@linen.example",
    )
    .expect("valid")
}

#[tokio::test]
async fn a_promotional_email_arrives_with_both_parts_and_its_headers() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let sender = sender(config(&server.url()));
    let id = Uuid::now_v7();
    let (message, brand, unsubscribe) = (sale(), brand(), unsubscribe());
    let content = EmailContent {
        subject: "Sale: 20% off aprons 🧵",
        message: &message,
        brand: &brand,
        unsubscribe: Some(&unsubscribe),
    };

    let accepted = sender.send(&to("Bob@Example.com"), id, &content).await;

    let accepted = accepted.expect("sent");
    assert!(
        accepted.reply.contains("queued as TEST0001"),
        "{accepted:?}"
    );
    let [mail] = server.received().try_into().expect("one message");
    assert_eq!(mail.meta["mail_from"], "orders@linen.example");
    assert_eq!(mail.meta["rcpt_tos"], json!(["Bob@example.com"]));
    assert_eq!(
        mail.meta["message"]["content_type"],
        "multipart/alternative"
    );
    let header = |name| {
        mail.header(name)
            .unwrap_or_else(|| panic!("no {name}: {}", mail.raw))
    };
    assert_eq!(header("Subject"), "Sale: 20% off aprons 🧵");
    assert_eq!(header("From"), "Linen & Co <orders@linen.example>");
    assert_eq!(header("To"), "Bob@example.com");
    assert_eq!(header("Reply-To"), "help@linen.example");
    assert_eq!(header("Message-ID"), format!("<{id}@linen.example>"));
    assert_eq!(
        header("List-Unsubscribe"),
        "<mailto:unsubscribe+tok3n@linen.example>, <https://linen.example/u/tok3n>"
    );
    assert_eq!(
        header("List-Unsubscribe-Post"),
        "List-Unsubscribe=One-Click"
    );
    assert!(mail.header("Date").is_some());

    assert_eq!(
        mail.text(),
        "Linen aprons are 20% off until Sunday.\n\n\
         Shop the sale: https://linen.example/sale\n\n\
         -- \nLinen & Co\nUnsubscribe: https://linen.example/u/tok3n\n"
    );
    let html = mail.html();
    assert!(
        html.contains("Linen aprons are 20% off until Sunday."),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://linen.example/sale\""),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://linen.example/u/tok3n\""),
        "{html}"
    );
}

#[tokio::test]
async fn a_transactional_card_arrives_without_list_headers() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let sender = sender(config(&server.url()));
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    sender
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await
        .expect("sent");

    let [mail] = server.received().try_into().expect("one message");
    assert_eq!(mail.header("List-Unsubscribe"), None);
    assert_eq!(mail.header("List-Unsubscribe-Post"), None);
    assert_eq!(
        mail.text(),
        "Order #1001 is on its way\nCarrier: UPS\nTracking number: 1Z999\n\
         Track: https://t.example/1Z999\n\n-- \nLinen & Co\n"
    );
    let html = mail.html();
    assert!(
        html.contains("src=\"https://cdn.linen.example/parcel.png\""),
        "{html}"
    );
    assert!(html.contains("Carrier: UPS<br>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
}

#[tokio::test]
async fn messages_share_a_pooled_connection_and_a_retry_keeps_its_message_id() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let sender = sender(config(&server.url()));
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };
    let id = Uuid::now_v7();

    for _ in 0..2 {
        let sent = sender.send(&to("bob@example.com"), id, &content).await;
        sent.expect("sent");
        // lettre puts a connection back into its pool in a task of its own.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let [first, second] = server.received().try_into().expect("two messages");
    assert_eq!(
        first.meta["peer_port"], second.meta["peer_port"],
        "one connection"
    );
    assert_eq!(first.header("Message-ID"), second.header("Message-ID"));
}

#[tokio::test]
async fn starttls_delivery_trusts_the_configured_ca_and_logs_in() {
    let options = Options {
        tls: Security::StartTls,
        auth: Some(("tidings", "s3cret")),
    };
    let Some(server) = SmtpServer::start(options) else {
        return;
    };
    let mut config = config(&server.url());
    config.ca_file = Some(server.ca_file());
    config.username = Some("tidings".into());
    config.password = Some(SecretString::from("s3cret"));
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let sent = sender(config)
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await;

    sent.expect("sent");
    let [mail] = server.received().try_into().expect("one message");
    assert_eq!(mail.meta["tls"], true);
    assert_eq!(mail.meta["auth_user"], "tidings");
}

#[tokio::test]
async fn implicit_tls_delivery_trusts_the_configured_ca() {
    let options = Options {
        tls: Security::Implicit,
        auth: None,
    };
    let Some(server) = SmtpServer::start(options) else {
        return;
    };
    let mut config = config(&server.url());
    config.ca_file = Some(server.ca_file());
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let sent = sender(config)
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await;

    sent.expect("sent");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_fails_the_handshake() {
    let options = Options {
        tls: Security::StartTls,
        auth: None,
    };
    let Some(server) = SmtpServer::start(options) else {
        return;
    };
    // No ca_file: the test CA is not among the public ones.
    let sender = sender(config(&server.url()));
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let error = sender
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await
        .expect_err("an untrusted certificate");

    assert!(error.is_retryable(), "{error:?}");
    let text = error.to_string();
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_refused_as_a_configuration_problem() {
    let options = Options {
        tls: Security::Plain,
        auth: Some(("tidings", "s3cret")),
    };
    let Some(server) = SmtpServer::start(options) else {
        return;
    };
    let mut wrong = config(&server.url());
    wrong.username = Some("tidings".into());
    wrong.password = Some(SecretString::from("guess"));
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let error = sender(wrong)
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await
        .expect_err("a wrong password");

    match &error {
        EmailError::AuthRefused { reply } => assert!(reply.starts_with("535"), "{reply}"),
        other => panic!("expected AuthRefused, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert!(!error.to_string().contains("guess"), "{error}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_server_that_wants_auth_refuses_a_sender_without_credentials() {
    let options = Options {
        tls: Security::Plain,
        auth: Some(("tidings", "s3cret")),
    };
    let Some(server) = SmtpServer::start(options) else {
        return;
    };
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let error = sender(config(&server.url()))
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await
        .expect_err("no credentials");

    assert!(
        matches!(&error, EmailError::AuthRefused { reply } if reply.starts_with("530")),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_unknown_mailbox_is_rejected_for_good_without_naming_it() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let error = sender(config(&server.url()))
        .send(&to("unknown@example.com"), Uuid::now_v7(), &content)
        .await
        .expect_err("an unknown mailbox");

    match &error {
        EmailError::Rejected { code, reply } => {
            assert_eq!(*code, 550);
            assert!(reply.starts_with("5.1.1"), "{reply}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert!(!error.is_retryable());
    assert!(error.address_unusable());
    assert!(!error.to_string().contains("unknown@"), "{error}");
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_busy_mailbox_is_tried_again_later() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let error = sender(config(&server.url()))
        .send(&to("busy@example.com"), Uuid::now_v7(), &content)
        .await
        .expect_err("a busy mailbox");

    assert!(error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("451"), "{error}");
    assert!(!error.address_unusable());
}

#[tokio::test]
async fn a_server_that_is_down_is_tried_again_later() {
    let url = format!("smtp://127.0.0.1:{}", closed_port());
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let error = sender(config(&url))
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await
        .expect_err("nothing listens");

    assert!(error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("refused"), "{error}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_and_is_tried_again_later() {
    // Accepts connections but never sends its greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut config = config(&url);
    config.timeout = Duration::from_millis(300);
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let (sender, bob) = (sender(config), to("bob@example.com"));
    let send = sender.send(&bob, Uuid::now_v7(), &content);
    let error = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("the sender's own timeout fires first")
        .expect_err("no greeting");

    assert!(error.is_retryable(), "{error:?}");
    drop(listener);
}

#[tokio::test]
async fn after_a_send_is_cut_off_the_next_one_gets_a_fresh_connection() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let mut config = config(&server.url());
    // The server answers stall@ only after 3 s.
    config.timeout = Duration::from_secs(1);
    let sender = sender(config);
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let cut_off = sender
        .send(&to("stall@example.com"), Uuid::now_v7(), &content)
        .await;
    // Let lettre's task put the cut-off connection back into the pool it came from.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let next = sender
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await;

    let error = cut_off.expect_err("the server stalls");
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("longer than 1000 ms"), "{error}");
    // Had the stalled connection gone back into the pool, this send would read the
    // answers meant for the one before.
    next.expect("sent on a fresh connection");
    let [mail] = server.received().try_into().expect("one message");
    assert_eq!(mail.meta["rcpt_tos"], json!(["bob@example.com"]));
}

#[tokio::test]
async fn a_promotional_message_without_an_unsubscribe_link_is_not_sent() {
    // Nothing listens here; the sender must not even try.
    let url = format!("smtp://127.0.0.1:{}", closed_port());
    let (message, brand) = (sale(), brand());
    let content = EmailContent {
        subject: "Sale",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };

    let error = sender(config(&url))
        .send(&to("bob@example.com"), Uuid::now_v7(), &content)
        .await
        .expect_err("no unsubscribe link");

    assert!(matches!(error, EmailError::MissingUnsubscribe), "{error:?}");
    assert!(!error.is_retryable());
}
