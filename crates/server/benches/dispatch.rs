//! Dispatch benchmark: how fast Tidings sends what its outbox holds over RBM, and how
//! soon after an order arrives its message reaches the provider, on SQLite and (when a
//! server is given) PostgreSQL.
//!
//! This prints figures; it asserts nothing about them. Tidings sends to the RBM emulator
//! (`crates/emulator`) on 127.0.0.1 with the demo service-account key; the emulator's
//! agent and per-user rate limits are off, and Tidings' own token bucket
//! (`rbm.rate_per_second`) is set far above what is offered. Each backend gets two runs,
//! each on a fresh database, a fresh emulator and a fresh in-process server:
//!
//! - throughput: `messages` confirmed orders are applied through the store first, each
//!   queuing one message, for customers spread over `phones` simulated phones; then the
//!   application starts, and the clock runs until every message is recorded as sent;
//! - latency: orders are offered through `POST /api/v1/orders` at `rate` per second for
//!   `paced_secs` (an open loop, as in the ingest benchmark). A message's latency runs
//!   from the moment its order was sent to the moment the emulator took the send call
//!   (`receivedAt` in `GET /emulator/phones/{E164}`, matched by the order number in
//!   the rendered text).
//!
//! The phones deliver 50 ms after a send and never read or reply. Their DELIVERED
//! receipts stay in the emulator, unless `TIDINGS_BENCH_RECEIPTS=on` points its webhook
//! at Tidings, which adds one signed webhook per message to the load.
//!
//! The emulator runs on a runtime of its own and the load generator on a thread of its
//! own, so that the CPU each uses is reported beside the figures: on a small machine
//! they take cores the server would otherwise have.
//!
//! ```text
//! cargo bench -p tidings --bench dispatch               # full run
//! cargo bench -p tidings --bench dispatch -- --quick    # smoke run for CI
//! ```
//!
//! Environment: `TIDINGS_BENCH_MESSAGES`, `TIDINGS_BENCH_RATE`, `TIDINGS_BENCH_PACED_SECS`,
//! `TIDINGS_BENCH_PHONES`, `TIDINGS_BENCH_RECEIPTS` (`on`), `TIDINGS_BENCH_BATCH` and
//! `TIDINGS_BENCH_IN_FLIGHT` (`dispatch.batch` and `dispatch.max_in_flight`, as shipped
//! unless set), and `TIDINGS_BENCH_POSTGRES_URL` (else `TIDINGS_TEST_POSTGRES_URL`)
//! naming a server where databases may be created (an empty value runs SQLite alone), and
//! `TIDINGS_BENCH_ONLY` (`throughput` or `latency`) to run one part.

#[path = "common/scratch.rs"]
mod scratch;

use std::collections::HashMap;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, TimeDelta, Utc};
use emulator::{Crowd, Emulator, EmulatorConfig, RunningEmulator, ServiceAccount};
use scratch::Scratch;
use serde_json::json;
use store::{ApplyOptions, MessageCounts, Store};
use tidings::http::api::Scope;
use tidings::ingest::rest::OrderBody;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

const AGENT: &str = "bench-agent@rbm.goog";
const CLIENT_TOKEN: &str = "bench-client-token";
const KEY: &str = include_str!("../demo/rbm-demo-service-account.json");
const PUBLIC_KEY: &str = include_str!("../demo/rbm-demo-service-account.pub.pem");
const KEY_EMAIL: &str = "tidings-demo@tidings-demo.iam.gserviceaccount.com";
/// The first simulated phone; the rest follow it (at most 10,000 fit in its digits).
const FIRST_PHONE: u64 = 16_135_550_000;
/// The first simulated phone without RCS, far enough from the others.
const FIRST_SMS_PHONE: u64 = 16_135_560_000;
/// Far above any rate offered here, so the token bucket never holds a send back.
const RATE_PER_SECOND: u32 = 1_000_000;
/// Orders applied per store transaction while filling the outbox.
const FILL_CHUNK: usize = 500;
/// Orders sent through the API before the latency run, to open connections, fetch the
/// RBM token and warm the caches; they are not measured.
const WARM_UP_ORDERS: usize = 200;
/// No load may take longer than this, however slow the server.
const RUN_DEADLINE: Duration = Duration::from_secs(300);
/// How long the dispatcher may take to send what is queued before the wait gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
/// Unanswered paced requests allowed at once; each holds a socket at both ends.
const MAX_IN_FLIGHT: usize = 500;

fn main() -> ExitCode {
    let settings = Settings::from_env();
    print_preamble(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the Tokio runtime");
    match runtime.block_on(run_all(&settings)) {
        Ok(report) => report.print(&settings),
        Err(error) => {
            eprintln!("benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------
// Settings

/// What to run, from the command line and the environment.
struct Settings {
    /// Messages queued for the throughput run.
    messages: usize,
    /// Orders offered per second in the latency run.
    rate: usize,
    /// Length of the latency run.
    paced_secs: usize,
    /// Simulated phones the customers are spread over.
    phones: usize,
    /// Whether the emulator posts its receipts to Tidings.
    receipts: bool,
    /// `dispatch.batch` and `dispatch.max_in_flight` when set; the defaults otherwise.
    batch: Option<usize>,
    in_flight: Option<usize>,
    /// A PostgreSQL server URL, to run there as well.
    postgres_url: Option<String>,
    /// Most nodes sending from one PostgreSQL database in the scaling runs.
    nodes: usize,
    /// One part alone, when `TIDINGS_BENCH_ONLY` names it.
    only: Option<Part>,
}

/// The two parts of the benchmark.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Throughput,
    Latency,
}

impl Settings {
    fn from_env() -> Settings {
        // `cargo bench` passes `--bench`; anything but `--quick` is ignored.
        let quick = std::env::args().any(|a| a == "--quick");
        let (messages, paced_secs) = if quick { (2_000, 2) } else { (20_000, 10) };
        let postgres_url = std::env::var("TIDINGS_BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("TIDINGS_TEST_POSTGRES_URL"))
            .ok()
            .filter(|url| !url.is_empty());
        let optional = |name| std::env::var(name).is_ok().then(|| env_count(name, 1));
        Settings {
            messages: env_count("TIDINGS_BENCH_MESSAGES", messages),
            rate: env_count("TIDINGS_BENCH_RATE", 1_000),
            paced_secs: env_count("TIDINGS_BENCH_PACED_SECS", paced_secs),
            phones: env_count("TIDINGS_BENCH_PHONES", 1_000).min(10_000),
            receipts: std::env::var("TIDINGS_BENCH_RECEIPTS").as_deref() == Ok("on"),
            batch: optional("TIDINGS_BENCH_BATCH"),
            in_flight: optional("TIDINGS_BENCH_IN_FLIGHT"),
            postgres_url,
            nodes: env_count("TIDINGS_BENCH_NODES", 3).min(8),
            only: match std::env::var("TIDINGS_BENCH_ONLY").as_deref() {
                Ok("throughput") => Some(Part::Throughput),
                Ok("latency") => Some(Part::Latency),
                Ok("") | Err(_) => None,
                Ok(other) => {
                    eprintln!("TIDINGS_BENCH_ONLY={other}: expected throughput or latency");
                    std::process::exit(2);
                }
            },
        }
    }
}

/// A positive count from the environment, or `default` (with a warning when unreadable).
fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => match text.replace('_', "").parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("ignoring {name}={text}: not a positive number");
                default
            }
        },
    }
}

/// What was run and on what, above the tables.
fn print_preamble(settings: &Settings) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let profile = if cfg!(debug_assertions) {
        "debug (unoptimized)"
    } else {
        "release"
    };
    let defaults = tidings::config::DispatchConfig::default();
    println!("Tidings dispatch benchmark: outbox -> dispatcher -> RBM emulator on loopback");
    println!(
        "cores: {cores}, build profile: {profile}, phones: {}, dispatch.batch: {}, \
         dispatch.max_in_flight: {}",
        settings.phones,
        settings.batch.map_or(defaults.batch, |b| b as i64),
        settings.in_flight.unwrap_or(defaults.max_in_flight),
    );
    println!(
        "throughput: {} queued messages; latency: POST /api/v1/orders at {}/s for {} s",
        settings.messages, settings.rate, settings.paced_secs
    );
    let receipts = match settings.receipts {
        true => "posted to Tidings' /webhooks/rbm",
        false => "kept in the emulator (TIDINGS_BENCH_RECEIPTS=on posts them)",
    };
    println!("phones deliver after 50 ms and never read; receipts {receipts}");
    if settings.postgres_url.is_none() {
        println!("postgres: skipped (set TIDINGS_BENCH_POSTGRES_URL to include it)");
    }
    println!();
}

// ---------------------------------------------------------------------------------------
// Runs

/// Which store a run uses.
enum Backend {
    Sqlite,
    /// A server URL; its database is used only to create and drop the run's own.
    Postgres {
        admin_url: String,
    },
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }
}

/// Every run on every backend; a database is removed even when its run failed.
async fn run_all(settings: &Settings) -> anyhow::Result<Report> {
    let mut backends = vec![Backend::Sqlite];
    if let Some(admin_url) = &settings.postgres_url {
        backends.push(Backend::Postgres {
            admin_url: admin_url.clone(),
        });
    }
    let mut report = Report::default();
    for backend in &backends {
        let planned = match settings.only {
            Some(Part::Latency) => Vec::new(),
            _ => scenarios(backend, settings),
        };
        for scenario in planned {
            let scratch = scratch_for(backend)?;
            let run = run_throughput(backend, settings, scratch.url(), scenario).await;
            scratch.remove()?;
            report.throughput.push(run?);
        }

        if settings.only == Some(Part::Throughput) {
            continue;
        }
        let scratch = scratch_for(backend)?;
        let run = run_latency(backend, settings, scratch.url()).await;
        scratch.remove()?;
        report.latency.push(run?);
    }
    Ok(report)
}

/// The customers' channels in a throughput run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Every customer's phone has RCS.
    Rcs,
    /// Of every 20 customers, 14 have RCS phones, 5 phones without RCS (SMS through the
    /// emulator's Twilio API, after RBM answers 404) and 1 only an email address (a
    /// real SMTP server): 70%, 25% and 5%.
    Retail,
}

/// One throughput run: the channel mix, and how many nodes share the database.
#[derive(Clone, Copy)]
struct Scenario {
    mix: Mix,
    nodes: usize,
}

impl Scenario {
    fn label(&self) -> String {
        let mix = match self.mix {
            Mix::Rcs => "rcs",
            Mix::Retail => "70/25/5",
        };
        let plural = if self.nodes == 1 { "" } else { "s" };
        format!("{mix}, {} node{plural}", self.nodes)
    }
}

/// RCS only and the retail mix on one node; on PostgreSQL the mix again on 2 to
/// `settings.nodes` nodes. The mix needs the SMTP server; without it, it is skipped.
fn scenarios(backend: &Backend, settings: &Settings) -> Vec<Scenario> {
    let mut list = vec![Scenario {
        mix: Mix::Rcs,
        nodes: 1,
    }];
    if !SmtpSink::available() {
        eprintln!("the channel mix needs python3-aiosmtpd for its SMTP server: skipped");
        return list;
    }
    let nodes = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres { .. } => settings.nodes,
    };
    list.extend((1..=nodes).map(|nodes| Scenario {
        mix: Mix::Retail,
        nodes,
    }));
    list
}

/// Queues the messages, then starts the nodes and times them sending them all.
async fn run_throughput(
    backend: &Backend,
    settings: &Settings,
    database_url: &str,
    scenario: Scenario,
) -> anyhow::Result<Throughput> {
    let store = Store::open(database_url).await?;
    let label = scenario.label();
    eprintln!(
        "{} ({label}): queuing {} messages ...",
        backend.name(),
        settings.messages
    );
    let fill_started = Instant::now();
    fill_outbox(&store, settings, scenario.mix).await?;
    let fill_seconds = fill_started.elapsed().as_secs_f64();

    let emulator = EmulatorHost::start(settings.phones, scenario.mix).await?;
    let smtp = match scenario.mix {
        Mix::Retail => Some(SmtpSink::start()?),
        Mix::Rcs => None,
    };
    let smtp_port = smtp.as_ref().map(|s| s.port);
    eprintln!("{} ({label}): sending ...", backend.name());
    let (started, cpu_before) = (Instant::now(), CpuSample::take());
    let mut nodes = Vec::with_capacity(scenario.nodes);
    for node in 0..scenario.nodes {
        // Each node has a pool of its own, as separate processes would.
        let node_store = match node {
            0 => store.clone(),
            _ => Store::open(database_url).await?,
        };
        let server = Server::start(node_store, database_url, &emulator, smtp_port, settings);
        nodes.push(server.await?);
    }
    let drain = wait_until_sent(&store, settings.messages, started).await?;
    let cpu = CpuSample::take().since(&cpu_before, drain.seconds, 0.0);

    for server in nodes {
        server.stop().await?;
    }
    let (rcs, sms) = emulator.sent_counts();
    let email = smtp.as_ref().map_or(0, SmtpSink::received);
    emulator.stop().await?;
    Ok(Throughput {
        backend: backend.name(),
        label,
        messages: settings.messages,
        fill_seconds,
        drain,
        received: Received { rcs, sms, email },
        cpu,
    })
}

/// Applies one confirmed order per message through the store, as order events arriving
/// while the dispatcher was stopped would leave the outbox.
async fn fill_outbox(store: &Store, settings: &Settings, mix: Mix) -> anyhow::Result<()> {
    let commands = (0..settings.messages)
        .map(|n| {
            let json = order_json("Q", n, settings.phones, mix);
            let body: OrderBody = serde_json::from_str(&json)?;
            Ok(body.into_command("US")?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for chunk in commands.chunks(FILL_CHUNK) {
        let applied = store
            .apply_batch(chunk, &ApplyOptions::live(), None)
            .await?;
        if let Some(Err(error)) = applied.into_iter().find(Result::is_err) {
            bail!("an order was not applied: {error}");
        }
    }
    let queued = store.message_counts().await?.pending;
    if queued != settings.messages as i64 {
        bail!("{queued} messages queued for {} orders", settings.messages);
    }
    Ok(())
}

/// Offers orders through the API at a steady rate and matches each to the send call
/// the emulator received for it.
async fn run_latency(
    backend: &Backend,
    settings: &Settings,
    database_url: &str,
) -> anyhow::Result<Latency> {
    let store = Store::open(database_url).await?;
    let key =
        tidings::cli::create_api_key(&store, "bench", Scope::Ingest, &store::Actor::cli()).await?;
    let emulator = EmulatorHost::start(settings.phones, Mix::Rcs).await?;
    let server = Server::start(store.clone(), database_url, &emulator, None, settings).await?;
    let load = Load::new(server.port);
    eprintln!(
        "{}: paced {}/s for {} s ...",
        backend.name(),
        settings.rate,
        settings.paced_secs
    );

    let warm_up = prepare(server.port, &key, "W", WARM_UP_ORDERS, settings.phones);
    let warmed = load.pace(warm_up, settings.rate).await;
    if warmed.errors > 0 {
        bail!("warm-up orders were refused: {:?}", warmed.samples);
    }
    wait_until_sent(&store, WARM_UP_ORDERS, Instant::now()).await?;

    let count = settings.rate * settings.paced_secs;
    let orders = prepare(server.port, &key, "P", count, settings.phones);
    let (started, cpu_before) = (Instant::now(), CpuSample::take());
    let tally = load.pace(orders, settings.rate).await;
    let load_seconds = started.elapsed().as_secs_f64();
    let cpu = CpuSample::take().since(&cpu_before, load_seconds, tally.client_cpu);
    let drain = wait_until_sent(&store, WARM_UP_ORDERS + count, started).await?;

    server.stop().await?;
    let received = emulator.received(settings.phones).await?;
    emulator.stop().await?;
    Ok(Latency::new(
        backend,
        count,
        tally,
        &received,
        drain,
        cpu,
        load_seconds,
    ))
}

// ---------------------------------------------------------------------------------------
// Orders

/// Order `n` of a run tagged `tag`. Its number, `#{tag}-{n}`, appears in the message
/// text, which is how a received message is matched to the order. Under [`Mix::Rcs`]
/// the customer is the one on RCS phone `n % phones`; [`Mix::Retail`] spreads the
/// customers over the channels by `n % 20`.
fn order_json(tag: &str, n: usize, phones: usize, mix: Mix) -> String {
    let customer = match (mix, n % 20) {
        (Mix::Rcs, _) | (Mix::Retail, 6..) => json!({"phone": phone(n % phones)}),
        (Mix::Retail, 1..=5) => json!({"phone": sms_phone(n % sms_phones(phones))}),
        (Mix::Retail, _) => json!({"email": format!("customer-{}@bench.example", n % phones)}),
    };
    let mut customer = customer;
    customer["first_name"] = json!("Ana");
    customer["locale"] = json!("en");
    json!({
        "external_id": format!("{tag}-{n}"),
        "number": format!("#{tag}-{n}"),
        "currency": "USD",
        "total": "42.00",
        "placed_at": "2026-11-20T10:00:00Z",
        "status": "confirmed",
        "customer": customer,
        "line_items": [{"title": "Mug", "quantity": 1, "unit_price": "42.00"}]
    })
    .to_string()
}

/// Simulated RCS phone `i`, in E.164.
fn phone(i: usize) -> String {
    format!("+{}", FIRST_PHONE + i as u64)
}

/// Simulated phone `i` without RCS, in E.164.
fn sms_phone(i: usize) -> String {
    format!("+{}", FIRST_SMS_PHONE + i as u64)
}

/// Phones without RCS in the retail mix: a quarter as many as with.
fn sms_phones(phones: usize) -> usize {
    phones.div_ceil(4)
}

/// The order number `#{tag}-{n}` in a message's text: `n`.
fn order_in_text(text: &str, tag: &str) -> Option<usize> {
    let marker = format!("#{tag}-");
    let after = &text[text.find(&marker)? + marker.len()..];
    let digits = after
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len());
    after[..digits].parse().ok()
}

/// One API request as the bytes of a whole HTTP/1.1 request, ready to write.
type Request = Arc<[u8]>;

/// `count` order requests tagged `tag`, built before the clock starts.
fn prepare(port: u16, key: &str, tag: &str, count: usize, phones: usize) -> Arc<Vec<Request>> {
    let requests = (0..count)
        .map(|n| {
            let body = order_json(tag, n, phones, Mix::Rcs);
            let head = format!(
                "POST /api/v1/orders HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\
                 authorization: Bearer {key}\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n",
                body.len()
            );
            Request::from([head.into_bytes(), body.into_bytes()].concat())
        })
        .collect();
    Arc::new(requests)
}

// ---------------------------------------------------------------------------------------
// The outbox

/// How the dispatcher got through what was queued.
struct Drain {
    counts: MessageCounts,
    /// From the start of the run until every message was finished, or the wait gave up.
    seconds: f64,
    /// From the end of the load until then.
    after_load: f64,
    complete: bool,
    polling: Polling,
}

impl Drain {
    /// Messages the dispatcher is done with: sent (or further along), or failed.
    fn finished(&self) -> i64 {
        finished(&self.counts)
    }
}

fn finished(c: &MessageCounts) -> i64 {
    c.sent + c.delivered + c.read + c.failed + c.revoked
}

/// Polls the message counts until `expected` messages are finished, for at most
/// [`DRAIN_LIMIT`] after the call. Counting scans the outbox and competes with the
/// dispatcher for the database, so it polls rarely until the end is near.
async fn wait_until_sent(
    store: &Store,
    expected: usize,
    run_started: Instant,
) -> anyhow::Result<Drain> {
    let load_ended = Instant::now();
    let mut polling = Polling::default();
    loop {
        let asked = Instant::now();
        let counts = store.message_counts().await.context("counting messages")?;
        polling.record(asked.elapsed());
        let left = expected as i64 - finished(&counts);
        if left <= 0 || load_ended.elapsed() > DRAIN_LIMIT {
            return Ok(Drain {
                counts,
                seconds: run_started.elapsed().as_secs_f64(),
                after_load: load_ended.elapsed().as_secs_f64(),
                complete: left <= 0,
                polling,
            });
        }
        let pause = if left > expected as i64 / 10 { 100 } else { 10 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// What counting the outbox cost while waiting.
#[derive(Default)]
struct Polling {
    polls: u32,
    seconds: f64,
}

impl Polling {
    fn record(&mut self, took: Duration) {
        self.polls += 1;
        self.seconds += took.as_secs_f64();
    }
}

// ---------------------------------------------------------------------------------------
// Databases, the emulator and the server

/// A database made for one run on `backend`, removed afterwards.
fn scratch_for(backend: &Backend) -> anyhow::Result<Scratch> {
    match backend {
        Backend::Postgres { admin_url } => Scratch::postgres(admin_url),
        Backend::Sqlite => Scratch::sqlite(),
    }
}

/// The RBM emulator on a runtime of its own (threads named `emulator`), so that the CPU
/// it uses can be told apart from the server's.
struct EmulatorHost {
    /// Always `Some` until stopped; dropped without blocking, as the benchmark's own
    /// runtime may not block.
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<RunningEmulator>,
    base_url: String,
    http: reqwest::Client,
}

impl EmulatorHost {
    async fn start(phones: usize, mix: Mix) -> anyhow::Result<EmulatorHost> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("emulator")
            .enable_all()
            .build()?;
        let config = EmulatorConfig {
            agent_id: AGENT.into(),
            client_token: CLIENT_TOKEN.into(),
            webhook_url: None,
            service_accounts: vec![ServiceAccount {
                client_email: KEY_EMAIL.into(),
                public_key_pem: PUBLIC_KEY.into(),
            }],
            agent_rate: None,
            user_rate: None,
            crowds: crowds(phones, mix),
            ..EmulatorConfig::default()
        };
        let running = runtime
            .spawn(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                anyhow::Ok(Emulator::start(listener, config).await?)
            })
            .await??;
        Ok(EmulatorHost {
            base_url: running.base_url(),
            runtime: Some(runtime),
            running: Some(running),
            http: reqwest::Client::new(),
        })
    }

    /// Messages the agent sent over RBM and texts sent through the Twilio API, each
    /// counted once.
    fn sent_counts(&self) -> (u64, u64) {
        self.running.as_ref().map_or((0, 0), |r| {
            let stats = r.emulator().stats();
            (stats.messages_accepted, stats.texts_accepted)
        })
    }

    /// Posts the phones' receipts to `url` from now on.
    fn post_receipts_to(&self, url: String) {
        if let Some(running) = &self.running {
            running.emulator().set_webhook_url(Some(url));
        }
    }

    /// The text and `receivedAt` of every message the phones received.
    async fn received(&self, phones: usize) -> anyhow::Result<Vec<(String, DateTime<Utc>)>> {
        let mut received = Vec::new();
        for i in 0..phones {
            let url = format!("{}/emulator/phones/{}", self.base_url, phone(i));
            let device: serde_json::Value = self.http.get(url).send().await?.json().await?;
            for message in device["messages"].as_array().into_iter().flatten() {
                let text = message["body"]["contentMessage"]["text"]
                    .as_str()
                    .unwrap_or_default();
                let at = message["receivedAt"].as_str().unwrap_or_default();
                let at = DateTime::parse_from_rfc3339(at)
                    .with_context(|| format!("receivedAt {at:?}"))?;
                received.push((text.to_string(), at.with_timezone(&Utc)));
            }
        }
        Ok(received)
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let (Some(runtime), Some(running)) = (&self.runtime, self.running.take()) {
            runtime.spawn(running.shutdown()).await??;
        }
        Ok(())
    }
}

/// The simulated phones: RCS phones that deliver after 50 ms and never read, and for
/// the retail mix phones without RCS.
fn crowds(phones: usize, mix: Mix) -> Vec<Crowd> {
    let rcs = Crowd {
        first: phone(0),
        count: phones as u32,
        rcs_share: 1.0,
        read_share: 0.0,
        delivery_delay_ms: 50,
        read_after_ms: 0,
    };
    match mix {
        Mix::Rcs => vec![rcs],
        Mix::Retail => {
            let sms = Crowd {
                first: sms_phone(0),
                count: sms_phones(phones) as u32,
                rcs_share: 0.0,
                ..rcs.clone()
            };
            vec![rcs, sms]
        }
    }
}

impl Drop for EmulatorHost {
    fn drop(&mut self) {
        drop(self.running.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A real SMTP server for the email share of the mix: the aiosmtpd script the email
/// channel's tests use, as a process of its own, writing each message to a spool.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

/// Debian's python3, which sees the python3-aiosmtpd package.
const PYTHON: &str = "/usr/bin/python3";
const SMTP_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../channels/tests/fixtures/smtp_server.py"
);

impl SmtpSink {
    /// Whether the server can run here.
    fn available() -> bool {
        Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn start() -> anyhow::Result<SmtpSink> {
        use std::io::BufRead;

        let dir = tempfile::tempdir()?;
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool)?;
        let mut child = Command::new(PYTHON)
            .arg(SMTP_SCRIPT)
            .arg("--spool")
            .arg(&spool)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting the SMTP server")?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            std::io::BufReader::new(stdout).read_line(&mut line)?;
        }
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            bail!("the SMTP server did not start: {line:?}");
        };
        Ok(SmtpSink { child, port, dir })
    }

    /// Messages the server has written to its spool.
    fn received(&self) -> u64 {
        std::fs::read_dir(self.dir.path().join("spool")).map_or(0, |entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count() as u64
        })
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Tidings server running in this process, sending over RBM to the emulator.
struct Server {
    port: u16,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
    /// Holds the service-account key file.
    _keys: tempfile::TempDir,
}

impl Server {
    /// Builds the application on `store` (its dispatcher starts at once) and serves.
    async fn start(
        store: Store,
        database_url: &str,
        emulator: &EmulatorHost,
        smtp_port: Option<u16>,
        settings: &Settings,
    ) -> anyhow::Result<Server> {
        let keys = tempfile::tempdir()?;
        let key_file = keys.path().join("key.json");
        std::fs::write(&key_file, KEY)?;
        let mut config = tidings::Config {
            database_url: database_url.to_string(),
            listen: "127.0.0.1:0".into(),
            public_url: "https://track.example".into(),
            ..tidings::Config::default()
        };
        config.rbm.base_url = emulator.base_url.clone();
        config.rbm.token_url = format!("{}/token", emulator.base_url);
        config.rbm.agent_id = Some(AGENT.into());
        config.rbm.service_account_file = Some(key_file);
        config.rbm.client_token = Some(CLIENT_TOKEN.to_string().into());
        config.rbm.rate_per_second = RATE_PER_SECOND;
        // Texts through the emulator's Twilio API, mail to the SMTP server, unthrottled.
        let twilio = emulator::config::TwilioAccount::default();
        config.sms.base_url = emulator.base_url.clone();
        config.sms.account_sid = Some(twilio.account_sid);
        config.sms.auth_token = Some(twilio.auth_token.into());
        config.sms.from = Some(twilio.number);
        config.sms.rate_per_second = RATE_PER_SECOND;
        if let Some(port) = smtp_port {
            config.email.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
            config.email.from = Some("Bench Shop <orders@bench.example>".into());
            config.email.rate_per_second = RATE_PER_SECOND;
        }
        if let Some(batch) = settings.batch {
            config.dispatch.batch = batch as i64;
        }
        if let Some(in_flight) = settings.in_flight {
            config.dispatch.max_in_flight = in_flight;
        }

        let app = tidings::Application::build_with_store(config, store).await?;
        let port = app.port();
        if settings.receipts {
            emulator.post_receipts_to(format!("http://127.0.0.1:{port}/webhooks/rbm"));
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Ok(Server {
            port,
            stop,
            task,
            _keys: keys,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the server task panicked")?
    }
}

// ---------------------------------------------------------------------------------------
// Load

/// The load generator: keep-alive HTTP/1.1 connections writing prepared requests, on a
/// thread and runtime of its own (see the ingest benchmark for why not a general
/// HTTP client).
struct Load {
    address: std::net::SocketAddr,
}

/// What a paced load saw.
#[derive(Default)]
struct Tally {
    /// When each request went out (by index), for those answered 2xx.
    sent_at: Vec<Option<DateTime<Utc>>>,
    /// How long the API took to answer each accepted request.
    answers: Vec<Duration>,
    errors: usize,
    /// The first few distinct failures, to say what went wrong.
    samples: Vec<String>,
    /// Requests sent late because [`MAX_IN_FLIGHT`] were unanswered.
    held_back: usize,
    /// CPU seconds the load generator's thread used.
    client_cpu: f64,
}

impl Tally {
    fn record(&mut self, index: usize, sent_at: DateTime<Utc>, outcome: Result<Duration, String>) {
        match outcome {
            Ok(answer) => {
                self.sent_at[index] = Some(sent_at);
                self.answers.push(answer);
            }
            Err(failure) => {
                self.errors += 1;
                if self.samples.len() < 5 && !self.samples.contains(&failure) {
                    self.samples.push(failure);
                }
            }
        }
    }
}

impl Load {
    fn new(port: u16) -> Load {
        Load {
            address: ([127, 0, 0, 1], port).into(),
        }
    }

    /// Offers request `i` at `i / rate` seconds after the start, each on its own task,
    /// so requests keep going out while earlier ones wait for their answers.
    async fn pace(&self, requests: Arc<Vec<Request>>, rate: usize) -> Tally {
        let address = self.address;
        on_client_thread(move || async move {
            let (started, wall_start) = (Instant::now(), Utc::now());
            let tick = Duration::from_secs(1) / rate as u32;
            let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            let idle = Arc::new(std::sync::Mutex::new(Vec::<Connection>::new()));
            let mut tasks = JoinSet::new();
            let mut tally = Tally {
                sent_at: vec![None; requests.len()],
                ..Tally::default()
            };
            for i in 0..requests.len() {
                // Timers tick by the millisecond: whatever fell due while asleep goes now.
                let due = started + tick * i as u32;
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
                if started.elapsed() > RUN_DEADLINE {
                    break;
                }
                let permit = match in_flight.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        tally.held_back += 1;
                        let wait = in_flight.clone().acquire_owned();
                        wait.await.expect("never closed")
                    }
                };
                // A request held back counts from when it was due, as a platform's queue
                // would; the timer's millisecond of slack is not the server's doing.
                let due_wall = wall_start + TimeDelta::from_std(due - started).unwrap_or_default();
                let sent_at = Utc::now().min(due_wall + TimeDelta::milliseconds(1));
                let (idle, requests) = (idle.clone(), requests.clone());
                tasks.spawn(async move {
                    let mut connection = idle.lock().expect("not poisoned").pop();
                    let outcome = exchange(&mut connection, address, &requests[i]).await;
                    if let Some(connection) = connection {
                        idle.lock().expect("not poisoned").push(connection);
                    }
                    drop(permit);
                    (i, sent_at, outcome)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                let (i, sent_at, outcome) = joined.expect("a request task panicked");
                tally.record(i, sent_at, outcome);
            }
            tally
        })
        .await
    }
}

/// Runs a load on a thread (`bench-client`) with a single-threaded runtime of its own,
/// and records the CPU time that thread used.
async fn on_client_thread<F, Fut>(load: F) -> Tally
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Tally>,
{
    let thread = std::thread::Builder::new()
        .name("bench-client".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("building the client's runtime");
            let cpu_before = cpu_seconds("/proc/thread-self/stat");
            let mut tally = runtime.block_on(load());
            tally.client_cpu = cpu_seconds("/proc/thread-self/stat") - cpu_before;
            tally
        })
        .expect("starting the client thread");
    tokio::task::spawn_blocking(move || thread.join().expect("the client thread panicked"))
        .await
        .expect("joining the client thread")
}

/// A keep-alive connection to the server and the bytes read from it.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

/// Sends one request on `connection` (opening one when there is none); the time to a
/// 2xx answer, else what was wrong. A connection that failed is dropped.
async fn exchange(
    connection: &mut Option<Connection>,
    address: std::net::SocketAddr,
    request: &[u8],
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut open = match connection.take() {
        Some(open) => open,
        None => Connection::open(address).await?,
    };
    let (status, body) = open.round_trip(request).await?;
    let latency = started.elapsed();
    *connection = Some(open);
    match status {
        200..=299 => Ok(latency),
        _ => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))),
    }
}

impl Connection {
    async fn open(address: std::net::SocketAddr) -> Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connecting: {e}"))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY: {e}"))?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(2048),
        })
    }

    /// Writes a request and reads its whole answer: the status and the body.
    async fn round_trip(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        self.stream
            .write_all(request)
            .await
            .map_err(|e| format!("writing: {e}"))?;
        self.buffer.clear();
        loop {
            if let Some(answer) = parse_answer(&self.buffer)? {
                return Ok(answer);
            }
            let read = self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .map_err(|e| format!("reading: {e}"))?;
            if read == 0 {
                return Err("the server closed the connection".into());
            }
        }
    }
}

/// The status and body of a complete answer in `bytes`, or `None` while it is partial.
fn parse_answer(bytes: &[u8]) -> Result<Option<(u16, Vec<u8>)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(bytes) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("unreadable answer: {e}")),
    };
    let length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
        .ok_or("an answer without content-length")?;
    if bytes.len() < head + length {
        return Ok(None);
    }
    let status = response.code.unwrap_or(0);
    Ok(Some((status, bytes[head..head + length].to_vec())))
}

// ---------------------------------------------------------------------------------------
// CPU

/// CPU seconds used so far, by who used them.
struct CpuSample {
    /// This whole process, threads that have ended included.
    process: f64,
    /// The emulator's runtime threads.
    emulator: f64,
    /// sqlx's SQLite worker threads: the time SQLite itself runs.
    sqlite: f64,
    /// Every core of the machine, busy (PostgreSQL's server included).
    machine: f64,
}

impl CpuSample {
    fn take() -> CpuSample {
        let mut by_name: HashMap<String, f64> = HashMap::new();
        for task in std::fs::read_dir("/proc/self/task").into_iter().flatten() {
            let Ok(task) = task else { continue };
            let stat = task.path().join("stat");
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            *by_name.entry(name.trim().to_string()).or_default() +=
                cpu_seconds(&stat.to_string_lossy());
        }
        let named = |prefix: &str| {
            by_name
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(_, seconds)| seconds)
                .sum()
        };
        CpuSample {
            process: cpu_seconds("/proc/self/stat"),
            emulator: named("emulator"),
            // Thread names are cut to 15 bytes: `sqlx-sqlite-wor`.
            sqlite: named("sqlx-sqlite"),
            machine: machine_busy_seconds(),
        }
    }

    /// What was used since `before`, over `seconds` of wall time, given that the load
    /// generator used `client` of it.
    fn since(&self, before: &CpuSample, seconds: f64, client: f64) -> Cpu {
        let process = self.process - before.process;
        let emulator = self.emulator - before.emulator;
        let sqlite = self.sqlite - before.sqlite;
        let percent = |used: f64| used / seconds * 100.0;
        Cpu {
            tidings: percent(process - emulator - sqlite - client),
            sqlite: percent(sqlite),
            emulator: percent(emulator),
            client: percent(client),
            // The two clocks tick apart by a few percent; below zero means none.
            outside: percent((self.machine - before.machine) - process).max(0.0),
        }
    }
}

/// CPU used during a run, in percent of one core.
struct Cpu {
    /// The server's runtime: HTTP, dispatcher, sqlx, PostgreSQL client, and the
    /// benchmark's polling of the outbox.
    tidings: f64,
    sqlite: f64,
    emulator: f64,
    client: f64,
    /// Everything outside this process: the PostgreSQL server, and anything else the
    /// machine was doing.
    outside: f64,
}

/// Fields 14 and 15 of a procfs `stat` file, in clock ticks of 1/100 s (Linux's
/// USER_HZ); NaN off Linux.
fn cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // The command name may hold spaces; the fields after it are separated by one each.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// Busy CPU seconds of every core together since boot (all but idle and iowait), from
/// the first line of `/proc/stat`.
fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return f64::NAN;
    };
    let line = stat.lines().next().unwrap_or_default();
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: f64 = ticks.iter().take(8).sum::<f64>()
        - ticks.get(3).unwrap_or(&0.0)
        - ticks.get(4).unwrap_or(&0.0);
    busy / 100.0
}

// ---------------------------------------------------------------------------------------
// The report

#[derive(Default)]
struct Report {
    throughput: Vec<Throughput>,
    latency: Vec<Latency>,
}

/// The throughput run on one backend.
struct Throughput {
    backend: &'static str,
    /// The mix and the nodes.
    label: String,
    messages: usize,
    fill_seconds: f64,
    drain: Drain,
    received: Received,
    cpu: Cpu,
}

/// What the providers took by the end of a run, each message counted once.
struct Received {
    rcs: u64,
    sms: u64,
    email: u64,
}

impl Received {
    fn total(&self) -> u64 {
        self.rcs + self.sms + self.email
    }
}

/// The latency run on one backend.
struct Latency {
    backend: &'static str,
    /// Orders offered.
    orders: usize,
    errors: usize,
    samples: Vec<String>,
    held_back: usize,
    /// API answers, sorted.
    answers: Vec<Duration>,
    /// From sending the order to the emulator taking the send call, sorted.
    latencies: Vec<Duration>,
    /// Accepted orders whose message the phones do not hold.
    missing: usize,
    /// How long offering the orders took, answers included.
    load_seconds: f64,
    drain: Drain,
    cpu: Cpu,
}

impl Latency {
    fn new(
        backend: &Backend,
        orders: usize,
        tally: Tally,
        received: &[(String, DateTime<Utc>)],
        drain: Drain,
        cpu: Cpu,
        load_seconds: f64,
    ) -> Latency {
        let mut latencies = Vec::with_capacity(orders);
        let mut matched = vec![false; orders];
        for (text, at) in received {
            let Some(n) = order_in_text(text, "P").filter(|&n| n < orders) else {
                continue;
            };
            if let Some(sent_at) = tally.sent_at[n] {
                matched[n] = true;
                latencies.push((*at - sent_at).to_std().unwrap_or_default());
            }
        }
        latencies.sort_unstable();
        let missing = (0..orders)
            .filter(|&n| tally.sent_at[n].is_some() && !matched[n])
            .count();
        let mut answers = tally.answers;
        answers.sort_unstable();
        Latency {
            backend: backend.name(),
            orders,
            errors: tally.errors,
            samples: tally.samples,
            held_back: tally.held_back,
            answers,
            latencies,
            missing,
            load_seconds,
            drain,
            cpu,
        }
    }
}

/// The value at quantile `q` (nearest rank) of sorted `values`, in milliseconds.
fn quantile_ms(values: &[Duration], q: f64) -> f64 {
    let Some(last) = values.len().checked_sub(1) else {
        return f64::NAN;
    };
    let rank = ((q * values.len() as f64).ceil() as usize).saturating_sub(1);
    values[rank.min(last)].as_secs_f64() * 1e3
}

impl Report {
    /// Prints the tables; fails the process when a message was not sent or an order
    /// not accepted, so a smoke run in CI catches a broken dispatch path.
    fn print(&self, settings: &Settings) -> ExitCode {
        self.print_throughput();
        self.print_latency(settings);
        self.print_cpu();
        self.print_notes();
        let broken = self.throughput.iter().any(|t| {
            !t.drain.complete
                || t.drain.counts.failed > 0
                || t.received.total() != t.messages as u64
        }) || self
            .latency
            .iter()
            .any(|l| l.errors > 0 || l.missing > 0 || !l.drain.complete);
        if broken {
            eprintln!("some messages were not sent, or some orders not accepted");
            return ExitCode::FAILURE;
        }
        ExitCode::SUCCESS
    }

    fn print_throughput(&self) {
        println!("Throughput: queued messages sent (goal: 5,000/s on SQLite)");
        println!(
            "{:<9} {:<16} {:>8} {:>8} {:>7} {:>8} {:>6} {:>7} {:>6} {:>6} {:>7}",
            "backend",
            "run",
            "messages",
            "sent",
            "seconds",
            "msg/s",
            "failed",
            "rcs",
            "sms",
            "email",
            "fill s"
        );
        for t in &self.throughput {
            let sent = t.drain.finished() - t.drain.counts.failed;
            let seconds = match t.drain.complete {
                true => format!("{:.2}", t.drain.seconds),
                false => format!(">{:.0}", t.drain.seconds),
            };
            println!(
                "{:<9} {:<16} {:>8} {:>8} {:>7} {:>8.0} {:>6} {:>7} {:>6} {:>6} {:>7.1}",
                t.backend,
                t.label,
                t.messages,
                sent,
                seconds,
                sent as f64 / t.drain.seconds,
                t.drain.counts.failed,
                t.received.rcs,
                t.received.sms,
                t.received.email,
                t.fill_seconds,
            );
        }
        println!();
    }

    fn print_latency(&self, settings: &Settings) {
        println!(
            "Latency: order sent -> send call at the emulator, paced {}/s for {} s \
             (goal: p99 under 50 ms)",
            settings.rate, settings.paced_secs
        );
        println!(
            "{:<9} {:>7} {:>6} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9} {:>8}",
            "backend",
            "orders",
            "errors",
            "orders/s",
            "missing",
            "p50 ms",
            "p99 ms",
            "max ms",
            "api p50",
            "api p99",
            "drain s"
        );
        for l in &self.latency {
            let drain = match l.drain.complete {
                true => format!("{:.2}", l.drain.after_load),
                false => format!(">{:.0}", DRAIN_LIMIT.as_secs_f64()),
            };
            println!(
                "{:<9} {:>7} {:>6} {:>8.0} {:>7} {:>7.1} {:>7.1} {:>8.1} {:>9.1} {:>9.1} {:>8}",
                l.backend,
                l.orders,
                l.errors,
                l.answers.len() as f64 / l.load_seconds,
                l.missing,
                quantile_ms(&l.latencies, 0.50),
                quantile_ms(&l.latencies, 0.99),
                quantile_ms(&l.latencies, 1.0),
                quantile_ms(&l.answers, 0.50),
                quantile_ms(&l.answers, 0.99),
                drain,
            );
        }
        println!();
    }

    fn print_cpu(&self) {
        println!("CPU during each run, in percent of one core");
        println!(
            "{:<9} {:<16} {:>7} {:>7} {:>8} {:>7} {:>7}",
            "backend", "run", "tidings", "sqlite", "emulator", "client", "outside"
        );
        let rows = self
            .throughput
            .iter()
            .map(|t| (t.backend, t.label.as_str(), &t.cpu))
            .chain(self.latency.iter().map(|l| (l.backend, "latency", &l.cpu)));
        for (backend, run, cpu) in rows {
            println!(
                "{:<9} {:<16} {:>6.0}% {:>6.0}% {:>7.0}% {:>6.0}% {:>6.0}%",
                backend, run, cpu.tidings, cpu.sqlite, cpu.emulator, cpu.client, cpu.outside
            );
        }
        println!();
    }

    fn print_notes(&self) {
        println!("msg/s: messages recorded as sent per second, from starting the application.");
        println!("rcs, sms, email: messages the emulator's RBM and Twilio APIs and the SMTP");
        println!("server took, each counted once; a phone without RCS costs an RBM 404 first.");
        println!("fill s: applying the orders that queued the messages (not timed above).");
        println!("orders/s: orders accepted per second of the load; below the offered rate, the");
        println!("API could not keep up and the latencies above include the wait for it.");
        println!("api p50/p99: how long POST /api/v1/orders took to answer, in ms.");
        println!("drain s: after the load ended, until every message was sent.");
        println!("tidings: the server's runtime threads (HTTP, dispatcher, database client);");
        println!("sqlite: SQLite's worker threads; outside: other processes (PostgreSQL).");
        for l in &self.latency {
            if l.held_back > 0 {
                println!(
                    "{}: {} requests waited for one of {MAX_IN_FLIGHT} in flight to be answered",
                    l.backend, l.held_back
                );
            }
            for sample in &l.samples {
                println!("{}: error: {sample}", l.backend);
            }
        }
        for t in &self.throughput {
            let polling = &t.drain.polling;
            println!(
                "{} ({}): counting the outbox while waiting took {:.1} ms a time, {} times",
                t.backend,
                t.label,
                polling.seconds * 1e3 / f64::from(polling.polls.max(1)),
                polling.polls
            );
            if t.drain.counts.failed > 0 {
                println!(
                    "{}: {} messages failed; see their last_error in the outbox",
                    t.backend, t.drain.counts.failed
                );
            }
        }
    }
}
