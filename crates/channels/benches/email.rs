//! Email benchmark: how many emails per second go out to an SMTP server on loopback, and
//! how long each takes, through Tidings' [`EmailSender`] and, for comparison, through
//! lettre's own pooled transport (what the sender used before it kept connections of
//! its own with Nagle's algorithm off).
//!
//! This prints figures; it asserts nothing about them. Two servers take the mail:
//!
//! - `sink`: a minimal SMTP server in this process that answers every command at once
//!   and keeps nothing, so the figures show what the client side costs;
//! - `aiosmtpd`: the tests' real SMTP server (`tests/fixtures/smtp_server.py`), once
//!   plain and once with implicit TLS. It parses every message and writes it to disk
//!   before answering, in one Python process, so it is the bottleneck once the client
//!   no longer waits on delayed ACKs; its figures are a floor, not the sender's speed.
//!
//! For each server, client and concurrency level (`TIDINGS_BENCH_CONCURRENCY`, a list,
//! 1, 4 and 16 by default), a warm-up opens the connections, then that many tasks send
//! one email after another for `TIDINGS_BENCH_SECONDS` (1.5 by default). Both clients
//! keep as many idle connections as there are tasks. Every email is a transactional
//! card, as an order update is.
//!
//! ```text
//! cargo bench -p tidings-channels --bench email
//! TIDINGS_BENCH_SECONDS=5 TIDINGS_BENCH_CONCURRENCY=1,8,32 \
//!     cargo bench -p tidings-channels --bench email
//! ```

#[path = "../tests/smtp_server/mod.rs"]
#[allow(dead_code)]
mod smtp_server;

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::email::{render, Brand, EmailConfig, EmailContent, EmailSender, RenderedEmail};
use domain::rcs::AgentMessage;
use domain::Email;
use lettre::message::MultiPart;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use smtp_server::{Options, Security, SmtpServer};

/// Emails each task sends before the clock starts: they open the pool's connections.
const WARM_UP: usize = 5;
const FROM: &str = "Linen & Co <orders@linen.example>";
const TO: &str = "bob@example.com";

fn main() -> ExitCode {
    let bench = Bench {
        duration: Duration::from_secs_f64(env_seconds("TIDINGS_BENCH_SECONDS", 1.5)),
        levels: env_levels("TIDINGS_BENCH_CONCURRENCY", &[1, 4, 16]),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the Tokio runtime");
    println!("Tidings email benchmark: SMTP clients -> SMTP servers on 127.0.0.1");
    println!(
        "each run: N tasks sending one email after another for {:.1} s",
        bench.duration.as_secs_f64()
    );
    println!("clients: tidings = EmailSender (TCP_NODELAY), lettre = AsyncSmtpTransport (pool)");
    println!();
    println!(
        "{:<15} {:<8} {:>5} {:>9} {:>9} {:>9}",
        "server", "client", "tasks", "emails/s", "p50 ms", "p99 ms"
    );
    let sink = runtime.block_on(Sink::start());
    let target = Target::sink(sink.port);
    let sent = runtime.block_on(bench.run(&target));
    if !all_received(sent, sink.received()) {
        return ExitCode::FAILURE;
    }
    for security in [Security::Plain, Security::Implicit] {
        let options = Options {
            tls: security,
            auth: None,
            idle_timeout: None,
        };
        let Some(server) = SmtpServer::start(options) else {
            eprintln!("the email benchmark needs python3-aiosmtpd and openssl");
            return ExitCode::FAILURE;
        };
        let target = Target::aiosmtpd(&server, security);
        let sent = runtime.block_on(bench.run(&target));
        if !all_received(sent, server.received().len()) {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The loads to run against each server.
struct Bench {
    /// How long each timed run lasts.
    duration: Duration,
    /// How many tasks send at once, one run each.
    levels: Vec<usize>,
}

impl Bench {
    /// Runs every client at every level against `target`, printing a line for each;
    /// returns how many emails went out, warm-ups included.
    async fn run(&self, target: &Target) -> usize {
        let mut sent = 0;
        for &tasks in &self.levels {
            for client in [Client::Lettre, Client::Tidings] {
                let sender = Sender::new(target, client, tasks);
                sent += send_for(&sender, tasks, Duration::ZERO)
                    .await
                    .latencies
                    .len();
                let run = send_for(&sender, tasks, self.duration).await;
                run.print(target, client, tasks);
                sent += run.latencies.len();
            }
        }
        sent
    }
}

/// Whether the server took every email sent, saying so when it did not.
fn all_received(sent: usize, received: usize) -> bool {
    if received != sent {
        eprintln!("the server received {received} emails of {sent}");
    }
    received == sent
}

/// An SMTP server to send to.
struct Target {
    name: &'static str,
    url: String,
    port: u16,
    /// The CA to trust, for a TLS server.
    ca_file: Option<std::path::PathBuf>,
}

impl Target {
    fn sink(port: u16) -> Target {
        Target {
            name: "sink",
            url: format!("smtp://127.0.0.1:{port}"),
            port,
            ca_file: None,
        }
    }

    fn aiosmtpd(server: &SmtpServer, security: Security) -> Target {
        let (name, ca_file) = match security {
            Security::Plain => ("aiosmtpd", None),
            _ => ("aiosmtpd smtps", Some(server.ca_file())),
        };
        let url = server.url();
        let port = url.rsplit(':').next().and_then(|p| p.parse().ok());
        Target {
            name,
            port: port.expect("the server's port"),
            url,
            ca_file,
        }
    }
}

#[derive(Clone, Copy)]
enum Client {
    Tidings,
    Lettre,
}

impl Client {
    fn name(self) -> &'static str {
        match self {
            Client::Tidings => "tidings",
            Client::Lettre => "lettre",
        }
    }
}

/// One of the two clients, set up alike: as many pooled connections as tasks.
#[derive(Clone)]
enum Sender {
    Tidings(EmailSender),
    Lettre(AsyncSmtpTransport<Tokio1Executor>),
}

impl Sender {
    fn new(target: &Target, client: Client, concurrency: usize) -> Sender {
        let idle = u32::try_from(concurrency).unwrap_or(u32::MAX);
        match client {
            Client::Tidings => {
                let mut config = EmailConfig::new(&target.url, FROM);
                config.hello_name = Some("tidings.bench".into());
                config.max_idle_connections = idle;
                config.ca_file = target.ca_file.clone();
                Sender::Tidings(EmailSender::new(config).expect("a sender"))
            }
            Client::Lettre => Sender::Lettre(lettre_transport(target, idle)),
        }
    }

    /// Sends the card; Tidings renders it on every send, so the lettre client builds
    /// its message on every send too, from the same rendering.
    async fn send(&self, content: &EmailContent<'_>, rendered: &RenderedEmail) {
        match self {
            Sender::Tidings(sender) => {
                let to = Email::parse(TO).expect("an address");
                let sent = sender.send(&to, Uuid::now_v7(), content).await;
                sent.expect("the server takes every email");
            }
            Sender::Lettre(transport) => {
                let message = lettre_message(rendered);
                let sent = transport.send(message).await;
                sent.expect("the server takes every email");
            }
        }
    }
}

fn lettre_transport(target: &Target, idle: u32) -> AsyncSmtpTransport<Tokio1Executor> {
    let tls = match &target.ca_file {
        None => Tls::None,
        Some(path) => {
            let pem = std::fs::read(path).expect("the CA file");
            let ca = Certificate::from_pem(&pem).expect("a certificate");
            let parameters = TlsParameters::builder("127.0.0.1".into())
                .add_root_certificate(ca)
                .build_rustls()
                .expect("TLS parameters");
            Tls::Wrapper(parameters)
        }
    };
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(target.port)
        .tls(tls)
        .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
            "lettre.bench".into(),
        ))
        .pool_config(PoolConfig::new().max_size(idle))
        .build()
}

fn lettre_message(rendered: &RenderedEmail) -> Message {
    let id = format!("<{}@linen.example>", Uuid::now_v7());
    Message::builder()
        .from(FROM.parse().expect("a mailbox"))
        .to(TO.parse().expect("a mailbox"))
        .subject(rendered.subject.clone())
        .message_id(Some(id))
        .multipart(MultiPart::alternative_plain_html(
            rendered.text.clone(),
            rendered.html.clone(),
        ))
        .expect("a message")
}

/// What one timed run measured.
struct Run {
    elapsed: Duration,
    /// Each email's time from the call to the server's answer, sorted.
    latencies: Vec<Duration>,
}

impl Run {
    fn print(&self, target: &Target, client: Client, tasks: usize) {
        let rate = self.latencies.len() as f64 / self.elapsed.as_secs_f64();
        println!(
            "{:<15} {:<8} {tasks:>5} {rate:>9.0} {:>9.2} {:>9.2}",
            target.name,
            client.name(),
            millis(percentile(&self.latencies, 0.50)),
            millis(percentile(&self.latencies, 0.99)),
        );
    }
}

/// Sends from `tasks` tasks, each sending one email after another until `duration`
/// has passed (and at least [`WARM_UP`] emails).
async fn send_for(sender: &Sender, tasks: usize, duration: Duration) -> Run {
    let message = Arc::new(order_update());
    let started = Instant::now();
    let deadline = started + duration;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let (sender, message) = (sender.clone(), Arc::clone(&message));
        set.spawn(async move { send_until(&sender, &message, deadline).await });
    }
    let mut latencies = Vec::new();
    while let Some(share) = set.join_next().await {
        latencies.extend(share.expect("a sending task"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run { elapsed, latencies }
}

/// One task's emails: at least [`WARM_UP`], and more until `deadline`.
async fn send_until(sender: &Sender, message: &AgentMessage, deadline: Instant) -> Vec<Duration> {
    let brand = Brand {
        shop_name: "Linen & Co".into(),
        color: "#0b6e4f".into(),
        logo_url: None,
    };
    let content = EmailContent {
        subject: "Order #1001 shipped",
        message,
        brand: &brand,
        unsubscribe: None,
    };
    let rendered = render(&content);
    let mut latencies = Vec::new();
    while latencies.len() < WARM_UP || Instant::now() < deadline {
        let started = Instant::now();
        sender.send(&content, &rendered).await;
        latencies.push(started.elapsed());
    }
    latencies
}

fn order_update() -> AgentMessage {
    serde_json::from_value(json!({
        "messageTrafficType": "TRANSACTION",
        "contentMessage": {"richCard": {"standaloneCard": {
            "cardOrientation": "VERTICAL",
            "cardContent": {
                "title": "Order #1001 is on its way",
                "description": "Carrier: UPS\nTracking number: 1Z999",
                "suggestions": [{"action": {"text": "Track", "postbackData": "track:7",
                    "openUrlAction": {"url": "https://t.example/1Z999"}}}]}}}}
    }))
    .expect("an AgentMessage")
}

/// An SMTP server that takes every message and keeps none: each command gets its
/// answer as soon as its line is read, and the message as soon as its final `.` is.
/// Like most servers (and aiosmtpd, through asyncio) it turns Nagle's algorithm off.
struct Sink {
    port: u16,
    received: Arc<AtomicUsize>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let port = listener.local_addr().expect("its address").port();
        let received = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&received);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_sink(stream, Arc::clone(&counter)));
            }
        });
        Sink { port, received }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}

/// One SMTP session with the sink; ends on QUIT or when the client goes.
async fn serve_sink(stream: TcpStream, received: Arc<AtomicUsize>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader);
    writer.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "DATA" => {
                writer.write_all(b"354 end with .\r\n").await?;
                read_message(&mut lines).await?;
                received.fetch_add(1, Ordering::Relaxed);
                b"250 2.0.0 OK: queued\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        writer.write_all(answer).await?;
    }
}

/// Reads a message up to its final `.` line.
async fn read_message<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut R) -> std::io::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 || line == b".\r\n" {
            return Ok(());
        }
    }
}

/// The value below which `share` of the sorted `values` fall.
fn percentile(values: &[Duration], share: f64) -> Duration {
    let last = values.len().saturating_sub(1);
    let index = ((last as f64) * share).round() as usize;
    values.get(index).copied().unwrap_or_default()
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A positive number of seconds from the environment, or `default`.
fn env_seconds(name: &str, default: f64) -> f64 {
    let Ok(text) = std::env::var(name) else {
        return default;
    };
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 && seconds.is_finite() => seconds,
        _ => {
            eprintln!("ignoring {name}={text}: not a positive number of seconds");
            default
        }
    }
}

/// A comma-separated list of positive counts from the environment, or `default`.
fn env_levels(name: &str, default: &[usize]) -> Vec<usize> {
    let Ok(text) = std::env::var(name) else {
        return default.to_vec();
    };
    let levels: Option<Vec<usize>> = text
        .split(',')
        .map(|level| level.trim().parse().ok().filter(|&n: &usize| n > 0))
        .collect();
    match levels {
        Some(levels) if !levels.is_empty() => levels,
        _ => {
            eprintln!("ignoring {name}={text}: not a list of positive counts");
            default.to_vec()
        }
    }
}
