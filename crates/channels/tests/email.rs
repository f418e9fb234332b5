//! The email sender against a real SMTP server (aiosmtpd, see `smtp_server`): what
//! arrives, over plain text, STARTTLS and implicit TLS, with and without AUTH, and how
//! each kind of failure is sorted.

mod smtp_server;

use std::time::Duration;

use channels::email::{
    Accepted, Brand, EmailConfig, EmailContent, EmailError, EmailSender, Unsubscribe,
};
use domain::rcs::AgentMessage;
use domain::Email;
use secrecy::SecretString;
use serde_json::json;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use uuid::Uuid;

use smtp_server::{closed_port, Closed, Options, Security, SmtpServer};

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

/// Sends the shipping card to `address`.
async fn send_card(sender: &EmailSender, address: &str) -> Result<Accepted, EmailError> {
    let (message, brand) = (shipped(), brand());
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message: &message,
        brand: &brand,
        unsubscribe: None,
    };
    sender.send(&to(address), Uuid::now_v7(), &content).await
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
        idle_timeout: None,
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
        idle_timeout: None,
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
        idle_timeout: None,
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
        idle_timeout: None,
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
        idle_timeout: None,
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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

    let cut_off = send_card(&sender, "stall@example.com").await;
    let next = send_card(&sender, "bob@example.com").await;

    let error = cut_off.expect_err("the server stalls");
    assert!(error.is_retryable(), "{error:?}");
    assert!(error.to_string().contains("longer than 1000 ms"), "{error}");
    // Had the stalled connection gone back into the pool, this send would have waited
    // on it, or read the answers meant for the one before.
    next.expect("sent on a fresh connection");
    let [mail] = server.received().try_into().expect("one message");
    assert_eq!(mail.meta["rcpt_tos"], json!(["bob@example.com"]));
    // The stalled connection was dropped, without a QUIT it could not have said.
    let closed = closed_when(&server, |closed| !closed.is_empty()).await;
    let [stalled] = closed.try_into().expect("one connection closed");
    assert!(!stalled.quit, "{stalled:?}");
    assert_ne!(json!(stalled.peer_port), mail.meta["peer_port"]);
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

#[tokio::test]
async fn one_connection_carries_every_message_of_a_run() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let sender = sender(config(&server.url()));

    for n in 0..5 {
        let address = format!("customer-{n}@example.com");
        send_card(&sender, &address).await.expect("sent");
    }

    let received = server.received();
    assert_eq!(received.len(), 5);
    let first = &received[0].meta["peer_port"];
    assert!(first.is_u64(), "{first}");
    for mail in &received {
        assert_eq!(&mail.meta["peer_port"], first, "one connection");
    }
}

#[tokio::test]
async fn implicit_tls_connections_are_reused_too() {
    let options = Options {
        tls: Security::Implicit,
        auth: None,
        idle_timeout: None,
    };
    let Some(server) = SmtpServer::start(options) else {
        return;
    };
    let mut config = config(&server.url());
    config.ca_file = Some(server.ca_file());
    let sender = sender(config);

    for _ in 0..3 {
        send_card(&sender, "bob@example.com").await.expect("sent");
    }

    let received = server.received();
    let ports: Vec<_> = received.iter().map(|m| &m.meta["peer_port"]).collect();
    assert_eq!(ports.len(), 3);
    assert!(ports.iter().all(|port| *port == ports[0]), "{ports:?}");
    assert!(received.iter().all(|m| m.meta["tls"] == true));
}

#[tokio::test]
async fn after_the_server_drops_an_idle_connection_the_next_send_reconnects() {
    let options = Options {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Options::plain()
    };
    let Some(server) = SmtpServer::start(options) else {
        return;
    };
    // Tidings' own idle timeout (a minute) keeps the connection in the pool.
    let sender = sender(config(&server.url()));
    send_card(&sender, "bob@example.com").await.expect("sent");

    // The server says 421 and closes the pooled connection while it sits idle.
    let closed = closed_when(&server, |closed| !closed.is_empty()).await;
    let next = send_card(&sender, "bob@example.com").await;

    next.expect("sent on a new connection");
    let [first, second] = server.received().try_into().expect("two messages");
    let [dropped] = closed.try_into().expect("the server closed one connection");
    assert_eq!(json!(dropped.peer_port), first.meta["peer_port"]);
    assert!(!dropped.quit, "the server, not Tidings, closed it");
    assert_ne!(
        first.meta["peer_port"], second.meta["peer_port"],
        "a new connection"
    );
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let mut config = config(&server.url());
    config.idle_timeout = Duration::from_millis(300);
    let sender = sender(config);

    send_card(&sender, "bob@example.com").await.expect("sent");
    let returned = std::time::Instant::now();
    let closed = closed_when(&server, |closed| !closed.is_empty()).await;
    let idle_for = returned.elapsed();

    let [mail] = server.received().try_into().expect("one message");
    let [idle] = closed.try_into().expect("one connection closed");
    assert_eq!(json!(idle.peer_port), mail.meta["peer_port"]);
    assert!(idle.quit, "Tidings said QUIT: {idle:?}");
    assert!(
        idle_for >= Duration::from_millis(300),
        "closed after {idle_for:?}"
    );
}

#[tokio::test]
async fn idle_connections_beyond_max_idle_are_closed() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let mut config = config(&server.url());
    config.max_idle_connections = 1;
    let sender = sender(config);

    // Three sends at once need three connections; one stays open afterwards.
    let (a, b, c) = tokio::join!(
        send_card(&sender, "ann@example.com"),
        send_card(&sender, "bob@example.com"),
        send_card(&sender, "cat@example.com"),
    );
    for sent in [a, b, c] {
        sent.expect("sent");
    }
    let closed = closed_when(&server, |closed| closed.len() >= 2).await;
    send_card(&sender, "dan@example.com").await.expect("sent");

    let received = server.received();
    let mut ports: Vec<u64> = received[..3].iter().map(|m| port_of(&m.meta)).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "three connections: {ports:?}");
    assert_eq!(closed.len(), 2, "{closed:?}");
    assert!(
        closed.iter().all(|c| c.quit),
        "Tidings said QUIT: {closed:?}"
    );
    let kept: Vec<u64> = ports
        .into_iter()
        .filter(|port| closed.iter().all(|c| c.peer_port != *port))
        .collect();
    assert_eq!(
        kept,
        [port_of(&received[3].meta)],
        "the kept one carries the next"
    );
    assert_eq!(server.closed().len(), 2, "and is still open");
}

/// The client port a received message came from.
fn port_of(meta: &serde_json::Value) -> u64 {
    meta["peer_port"].as_u64().expect("a port")
}

/// The server's closed connections once `done` holds of them, or after 5 s.
async fn closed_when(server: &SmtpServer, done: impl Fn(&[Closed]) -> bool) -> Vec<Closed> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let closed = server.closed();
        if done(&closed) || std::time::Instant::now() > deadline {
            return closed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn refused_messages_leave_their_connection_in_use() {
    let Some(server) = SmtpServer::start(Options::plain()) else {
        return;
    };
    let sender = sender(config(&server.url()));
    send_card(&sender, "bob@example.com").await.expect("sent");

    let unknown = send_card(&sender, "unknown@example.com").await;
    let busy = send_card(&sender, "busy@example.com").await;
    let spam = send_card(&sender, "spam@example.com").await;
    send_card(&sender, "bob@example.com").await.expect("sent");

    let unknown = unknown.expect_err("550 to RCPT");
    assert!(
        matches!(unknown, EmailError::Rejected { code: 550, .. }),
        "{unknown:?}"
    );
    let busy = busy.expect_err("451 to RCPT");
    assert!(busy.is_retryable(), "{busy:?}");
    // Refused after the whole message went through: permanent, yet says nothing
    // about the address.
    let spam = spam.expect_err("554 to the message");
    assert!(
        matches!(spam, EmailError::Rejected { code: 554, .. }),
        "{spam:?}"
    );
    assert!(!spam.is_retryable() && !spam.address_unusable(), "{spam:?}");
    // Each refusal ended its transaction; the connection carried the next message.
    let [first, last] = server.received().try_into().expect("two messages");
    assert_eq!(
        first.meta["peer_port"], last.meta["peer_port"],
        "one connection"
    );
    assert_eq!(last.meta["rcpt_tos"], json!(["bob@example.com"]));
}

#[tokio::test]
async fn connecting_to_a_port_that_accepts_nothing_times_out() {
    let (listener, _queued) = full_listener().await;
    let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut config = config(&url);
    config.timeout = Duration::from_millis(500);
    let sender = sender(config);

    let started = std::time::Instant::now();
    let send = send_card(&sender, "bob@example.com");
    let error = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("the sender's own timeout fires first")
        .expect_err("nothing accepts the connection");

    assert!(error.is_retryable(), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("connecting to the SMTP server"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A listener whose backlog is full: the kernel drops further connection attempts
/// without an answer, as a firewall that drops packets does.
async fn full_listener() -> (TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let address = listener.local_addr().unwrap();
    let mut queued = Vec::new();
    for _ in 0..16 {
        let connect = TcpStream::connect(address);
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(stream) => queued.push(stream.unwrap()),
            Err(_) => return (listener, queued),
        }
    }
    panic!("the listener at {address} kept accepting connections");
}
