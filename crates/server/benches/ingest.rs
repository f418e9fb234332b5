//! Ingest benchmark: how many signed Shopify webhooks Tidings acknowledges per second,
//! and how quickly, on SQLite and (when a server is given) PostgreSQL.
//!
//! This prints figures; it asserts nothing about them. Each backend gets two runs, each
//! on a fresh database and a fresh in-process server on 127.0.0.1:
//!
//! - saturation: `concurrency` clients send back to back until `requests` are sent;
//! - paced: requests are offered at `rate` per second for `paced_secs`, whether or not
//!   the answers keep up (an open loop, so a slow answer cannot slow the offer).
//!
//! After each run it waits for the processor to empty the inbox, a secondary figure.
//!
//! ```text
//! cargo bench -p tidings --bench ingest               # full run
//! cargo bench -p tidings --bench ingest -- --quick    # smoke run for CI
//! ```
//!
//! Environment: `TIDINGS_BENCH_REQUESTS`, `TIDINGS_BENCH_CONCURRENCY`,
//! `TIDINGS_BENCH_RATE`, `TIDINGS_BENCH_PACED_SECS`, and `TIDINGS_BENCH_POSTGRES_URL`
//! (else `TIDINGS_TEST_POSTGRES_URL`) naming a server where databases may be created.

#[path = "common/scratch.rs"]
mod scratch;

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use scratch::Scratch;
use secrecy::SecretString;
use tidings::http::webhooks::sign_base64;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

const SECRET: &str = "bench-secret";
const FIXTURE: &str = include_str!("../tests/fixtures/shopify-order.json");
/// The fixture's order id; every occurrence is replaced so each order is distinct.
const FIXTURE_ORDER_ID: &str = "450789469";
/// First order id used; far from the fixture's so no replacement collides with it.
const FIRST_ORDER_ID: u64 = 7_000_000_000;
/// The fixture's customer, id and address; replaced so that orders come from a crowd of
/// shoppers, as a shop's do, rather than all from one (whose row every order would
/// then wait for).
const FIXTURE_CUSTOMER_ID: &str = "207119551";
const FIXTURE_EMAILS: [&str; 2] = ["bob.norman@hostmail.com", "bench@example.com"];
const FIRST_CUSTOMER_ID: u64 = 8_000_000_000;
/// Shoppers in the crowd: order `n` comes from shopper `n % SHOPPERS`, so a long run
/// has repeat customers too.
const SHOPPERS: usize = 50_000;
/// No run may take longer than this, however slow the server.
const RUN_DEADLINE: Duration = Duration::from_secs(300);
/// How long the processor may take to empty the inbox before the wait gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
/// Unanswered paced requests allowed at once; each holds a socket at both ends, so a
/// server that falls behind must not exhaust the file descriptors.
const MAX_IN_FLIGHT: usize = 500;

fn main() -> ExitCode {
    let settings = Settings::from_env();
    print_preamble(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("building the Tokio runtime");
    match runtime.block_on(run_all(&settings)) {
        Ok(rows) => report(&rows),
        Err(error) => {
            eprintln!("benchmark failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the table; fails the process when any request was not accepted, so a smoke
/// run in CI catches a broken ingest path.
fn report(rows: &[Row]) -> ExitCode {
    print_table(rows);
    let errors: usize = rows.iter().map(|r| r.errors).sum();
    if errors > 0 {
        eprintln!("{errors} requests were not accepted");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------------------
// Settings

/// What to run, from the command line and the environment.
struct Settings {
    /// Requests in the saturation run.
    requests: usize,
    /// Clients sending at once in the saturation run.
    concurrency: usize,
    /// Requests offered per second in the paced run.
    rate: usize,
    /// Length of the paced run.
    paced_secs: usize,
    /// A PostgreSQL server URL, to run there as well.
    postgres_url: Option<String>,
}

impl Settings {
    fn from_env() -> Settings {
        // `cargo bench` passes `--bench`; anything but `--quick` is ignored.
        let quick = std::env::args().any(|a| a == "--quick");
        let (requests, concurrency, paced_secs) = if quick {
            (2_000, 16, 1)
        } else {
            (50_000, 64, 10)
        };
        let postgres_url = std::env::var("TIDINGS_BENCH_POSTGRES_URL")
            .or_else(|_| std::env::var("TIDINGS_TEST_POSTGRES_URL"))
            .ok()
            .filter(|url| !url.is_empty());
        Settings {
            requests: env_count("TIDINGS_BENCH_REQUESTS", requests),
            concurrency: env_count("TIDINGS_BENCH_CONCURRENCY", concurrency),
            rate: env_count("TIDINGS_BENCH_RATE", 2_000),
            paced_secs: env_count("TIDINGS_BENCH_PACED_SECS", paced_secs),
            postgres_url,
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

/// What was run and on what, above the table.
fn print_preamble(settings: &Settings) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let profile = if cfg!(debug_assertions) {
        "debug (unoptimized)"
    } else {
        "release"
    };
    println!("Tidings ingest benchmark: POST /webhooks/shopify, orders/create");
    println!(
        "cores: {cores}, build profile: {profile}, body: {} bytes",
        order_template().len()
    );
    println!(
        "saturation: {} requests from {} clients; paced: {}/s for {} s",
        settings.requests, settings.concurrency, settings.rate, settings.paced_secs
    );
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

/// How a run offers its load.
#[derive(Clone, Copy)]
enum Mode {
    Saturation,
    Paced,
}

/// Every run, one row each; a database is removed even when its run failed.
async fn run_all(settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let mut backends = vec![Backend::Sqlite];
    if let Some(admin_url) = &settings.postgres_url {
        backends.push(Backend::Postgres {
            admin_url: admin_url.clone(),
        });
    }
    let mut rows = Vec::new();
    for backend in &backends {
        for mode in [Mode::Saturation, Mode::Paced] {
            let scratch = scratch_for(backend)?;
            let row = run_one(backend, mode, settings, scratch.url()).await;
            // The checkpointer must keep the WAL bounded under sustained writes.
            if let Some(bytes) = scratch.wal_bytes() {
                let mib = bytes as f64 / 1_048_576.0;
                eprintln!("sqlite: WAL at the end of the run: {mib:.1} MiB");
            }
            scratch.remove()?;
            rows.push(row?);
        }
    }
    Ok(rows)
}

/// One run: start a server, warm it up, offer the load, wait for the inbox to empty.
async fn run_one(
    backend: &Backend,
    mode: Mode,
    settings: &Settings,
    database_url: &str,
) -> anyhow::Result<Row> {
    let server = Server::start(database_url).await?;
    let load = Load::new(server.port);
    let label = mode_label(mode, settings);
    eprintln!("{}: {label} ...", backend.name());

    // Warm-up opens the database pages; its deliveries are processed before the clock
    // starts so they do not count.
    let warm_up_count = settings.concurrency * 4;
    let warm_up = prepare(server.port, "warm", 0, warm_up_count);
    load.saturate(warm_up, settings.concurrency).await;
    let before = wait_for_drain(&server.store, Instant::now()).await?;

    let count = match mode {
        Mode::Saturation => settings.requests,
        Mode::Paced => settings.rate * settings.paced_secs,
    };
    let deliveries = prepare(server.port, "run", warm_up_count, count);
    let (started, cpu_before) = (Instant::now(), process_cpu_seconds());
    let tally = match mode {
        Mode::Saturation => load.saturate(deliveries, settings.concurrency).await,
        Mode::Paced => load.pace(deliveries, settings.rate).await,
    };
    let elapsed = started.elapsed();
    let cpu = Cpu {
        client: tally.client_cpu,
        all: process_cpu_seconds() - cpu_before,
        seconds: elapsed.as_secs_f64(),
    };
    let drain = wait_for_drain(&server.store, started).await?.since(&before);

    server.stop().await?;
    Ok(Row::new(backend, label, tally, elapsed, cpu, drain))
}

/// How a mode is shown in the table.
fn mode_label(mode: Mode, settings: &Settings) -> String {
    match mode {
        Mode::Saturation => format!("saturate x{}", settings.concurrency),
        Mode::Paced => format!("paced {}/s", settings.rate),
    }
}

// ---------------------------------------------------------------------------------------
// Databases and the server

/// A database made for one run on `backend`, removed afterwards.
fn scratch_for(backend: &Backend) -> anyhow::Result<Scratch> {
    match backend {
        Backend::Postgres { admin_url } => Scratch::postgres(admin_url),
        Backend::Sqlite => Scratch::sqlite(),
    }
}

/// A Tidings server running in this process.
struct Server {
    port: u16,
    store: store::Store,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    async fn start(database_url: &str) -> anyhow::Result<Server> {
        let secret = Some(SecretString::from(SECRET.to_string()));
        let mut config = tidings::Config {
            listen: "127.0.0.1:0".into(),
            database_url: database_url.to_string(),
            shopify: tidings::config::WebhookConfig {
                webhook_secret: secret,
            },
            ..tidings::Config::default()
        };
        config.ingest.processor = processing_enabled();
        let app = tidings::Application::build(config).await?;
        let (port, store) = (app.port(), app.store().clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Ok(Server {
            port,
            store,
            stop,
            task,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the server task panicked")?
    }
}

// ---------------------------------------------------------------------------------------
// Deliveries

/// One webhook as the bytes of a whole HTTP/1.1 request, signed and ready to write.
type Delivery = Arc<[u8]>;

/// The fixture's bare order object, as Shopify sends it (the fixture wraps it).
fn order_template() -> String {
    // `TIDINGS_BENCH_BODY=small`: a minimal order (one item, no addresses), to show how
    // the figures depend on the size of what platforms send.
    if std::env::var("TIDINGS_BENCH_BODY").as_deref() == Ok("small") {
        let small = serde_json::json!({
            "id": 450789469_u64, "name": "#1001", "currency": "USD",
            "created_at": "2026-11-20T10:00:00Z", "total_price": "19.90",
            "financial_status": "paid", "email": "bench@example.com",
            "line_items": [{"id": 1, "title": "Mug", "quantity": 1, "price": "19.90"}]
        });
        return small.to_string();
    }
    let fixture: serde_json::Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    serde_json::to_string(&fixture["order"]).expect("a JSON value serializes")
}

/// Order `n`: its own order id, from shopper `n % SHOPPERS`.
fn order_body(template: &str, n: usize) -> String {
    let shopper = n % SHOPPERS;
    let mut body = template
        .replace(FIXTURE_ORDER_ID, &(FIRST_ORDER_ID + n as u64).to_string())
        .replace(
            FIXTURE_CUSTOMER_ID,
            &(FIRST_CUSTOMER_ID + shopper as u64).to_string(),
        );
    for email in FIXTURE_EMAILS {
        body = body.replace(email, &format!("shopper{shopper}@example.com"));
    }
    body
}

/// `count` distinct deliveries to the server on `port`: order ids from
/// `FIRST_ORDER_ID + first`, webhook ids `{tag}-{n}`. Built before the clock starts so
/// the load does no signing, formatting or header building.
fn prepare(port: u16, tag: &str, first: usize, count: usize) -> Arc<Vec<Delivery>> {
    let template = order_template();
    let deliveries = (first..first + count)
        .map(|n| {
            let body = order_body(&template, n);
            let head = format!(
                "POST /webhooks/shopify HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\
                 content-type: application/json\r\nx-shopify-topic: orders/create\r\n\
                 x-shopify-webhook-id: {tag}-{n}\r\nx-shopify-hmac-sha256: {}\r\n\
                 content-length: {}\r\n\r\n",
                sign_base64(SECRET, body.as_bytes()),
                body.len()
            );
            Delivery::from([head.into_bytes(), body.into_bytes()].concat())
        })
        .collect();
    Arc::new(deliveries)
}

// ---------------------------------------------------------------------------------------
// Load

/// The load generator: keep-alive HTTP/1.1 connections writing prepared requests.
///
/// It runs on a thread and runtime of its own, apart from the server's, so that the CPU
/// it uses can be measured and reported beside the figures: on a small machine the
/// client competes with the server for the same cores. A general-purpose HTTP client
/// would spend several times more per request (header maps, body streams) and lower
/// the figures for reasons that are not the server's.
struct Load {
    address: std::net::SocketAddr,
}

/// What a run saw: one latency per accepted request, and what went wrong otherwise.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: usize,
    /// The first few distinct failures, to say what went wrong.
    samples: Vec<String>,
    /// Paced requests sent late because [`MAX_IN_FLIGHT`] were unanswered.
    held_back: usize,
    /// CPU seconds the load generator's thread used.
    client_cpu: f64,
}

impl Tally {
    fn record(&mut self, outcome: Result<Duration, String>) {
        match outcome {
            Ok(latency) => self.latencies.push(latency),
            Err(failure) => {
                self.errors += 1;
                self.keep_sample(failure);
            }
        }
    }

    fn keep_sample(&mut self, failure: String) {
        if self.samples.len() < 5 && !self.samples.contains(&failure) {
            self.samples.push(failure);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        other.samples.into_iter().for_each(|s| self.keep_sample(s));
    }
}

impl Load {
    fn new(port: u16) -> Load {
        Load {
            address: ([127, 0, 0, 1], port).into(),
        }
    }

    /// Sends every delivery from `concurrency` connections, each sending its next as
    /// soon as the previous is answered. Returns the tally and the wall time.
    async fn saturate(&self, deliveries: Arc<Vec<Delivery>>, concurrency: usize) -> Tally {
        let address = self.address;
        on_client_thread(move || async move {
            let next = Arc::new(AtomicUsize::new(0));
            let started = Instant::now();
            let mut clients = JoinSet::new();
            for _ in 0..concurrency {
                let (deliveries, next) = (deliveries.clone(), next.clone());
                clients.spawn(async move {
                    let mut tally = Tally::default();
                    let mut connection = None;
                    while let Some(d) = deliveries.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if started.elapsed() > RUN_DEADLINE {
                            break;
                        }
                        tally.record(exchange(&mut connection, address, d).await);
                    }
                    tally
                });
            }
            let mut tally = Tally::default();
            while let Some(joined) = clients.join_next().await {
                tally.merge(joined.expect("a client task panicked"));
            }
            tally
        })
        .await
    }

    /// Offers delivery `i` at `i / rate` seconds after the start, each on its own task,
    /// so requests keep going out while earlier ones wait for their answers.
    async fn pace(&self, deliveries: Arc<Vec<Delivery>>, rate: usize) -> Tally {
        let address = self.address;
        on_client_thread(move || async move {
            let started = Instant::now();
            let tick = Duration::from_secs(1) / rate as u32;
            let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            // Idle keep-alive connections, reused as a browser's or a platform's pool is.
            let idle = Arc::new(std::sync::Mutex::new(Vec::<Connection>::new()));
            let mut requests = JoinSet::new();
            let mut held_back = 0;
            for i in 0..deliveries.len() {
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
                        held_back += 1;
                        in_flight
                            .clone()
                            .acquire_owned()
                            .await
                            .expect("never closed")
                    }
                };
                // A request held back counts its wait from when it was due, as a
                // platform's queue would; the timer's millisecond of slack is not the
                // server's doing.
                let waited = due.elapsed().saturating_sub(Duration::from_millis(1));
                let (idle, deliveries) = (idle.clone(), deliveries.clone());
                requests.spawn(async move {
                    let mut connection = idle.lock().expect("not poisoned").pop();
                    let outcome = exchange(&mut connection, address, &deliveries[i]).await;
                    if let Some(connection) = connection {
                        idle.lock().expect("not poisoned").push(connection);
                    }
                    drop(permit);
                    outcome.map(|latency| latency + waited)
                });
            }
            let mut tally = Tally {
                held_back,
                ..Tally::default()
            };
            while let Some(joined) = requests.join_next().await {
                tally.record(joined.expect("a request task panicked"));
            }
            tally
        })
        .await
    }
}

/// Runs a load on a thread with a single-threaded runtime of its own, and records the
/// CPU time that thread used.
async fn on_client_thread<F, Fut>(load: F) -> Tally
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Tally>,
{
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building the client's runtime");
        let cpu_before = thread_cpu_seconds();
        let mut tally = runtime.block_on(load());
        tally.client_cpu = thread_cpu_seconds() - cpu_before;
        tally
    });
    tokio::task::spawn_blocking(move || thread.join().expect("the client thread panicked"))
        .await
        .expect("joining the client thread")
}

/// A keep-alive connection to the server and the bytes read from it.
struct Connection {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

/// Sends one delivery on `connection` (opening one when there is none); the latency on
/// `200 {"status":"accepted"}`, else what was wrong. A connection that failed is dropped.
async fn exchange(
    connection: &mut Option<Connection>,
    address: std::net::SocketAddr,
    delivery: &[u8],
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut open = match connection.take() {
        Some(open) => open,
        None => Connection::open(address).await?,
    };
    let (status, body) = open.round_trip(delivery).await?;
    let latency = started.elapsed();
    *connection = Some(open);
    let accepted = status == 200 && body.windows(10).any(|w| w == b"\"accepted\"");
    match accepted {
        true => Ok(latency),
        false => Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body))),
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
            buffer: Vec::with_capacity(1024),
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

/// CPU seconds (user and system) the calling thread has used, from procfs.
fn thread_cpu_seconds() -> f64 {
    cpu_seconds("/proc/thread-self/stat")
}

/// CPU seconds (user and system) this process has used, from procfs.
fn process_cpu_seconds() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// Fields 14 and 15 of a procfs `stat` file, in clock ticks of 1/100 s (Linux's
/// USER_HZ on every architecture it exports to user space); NaN off Linux.
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

// ---------------------------------------------------------------------------------------
// The processor

/// How the processor kept up with a run.
#[derive(Clone, Copy)]
struct Drain {
    /// Inbox rows finished (done or failed) when the inbox was last seen.
    finished: i64,
    failed: i64,
    /// From the start of the load until the inbox was empty (or the wait gave up).
    seconds: f64,
    /// From the end of the load until the inbox was empty.
    after_load: f64,
    emptied: bool,
}

impl Drain {
    /// This drain less what `before` had already finished.
    fn since(self, before: &Drain) -> Drain {
        Drain {
            finished: self.finished - before.finished,
            failed: self.failed - before.failed,
            ..self
        }
    }
}

/// Whether the server processes what it accepts (`TIDINGS_BENCH_PROCESSOR=off` measures
/// acceptance alone, as on a node that only accepts while others process).
fn processing_enabled() -> bool {
    std::env::var("TIDINGS_BENCH_PROCESSOR").as_deref() != Ok("off")
}

/// Polls the inbox until nothing is pending, for at most [`DRAIN_LIMIT`].
async fn wait_for_drain(store: &store::Store, load_started: Instant) -> anyhow::Result<Drain> {
    let load_ended = Instant::now();
    loop {
        let counts = store.inbox_counts().await.context("counting the inbox")?;
        let emptied = counts.pending == 0;
        if emptied || !processing_enabled() || load_ended.elapsed() > DRAIN_LIMIT {
            return Ok(Drain {
                finished: counts.done + counts.failed,
                failed: counts.failed,
                seconds: load_started.elapsed().as_secs_f64(),
                after_load: load_ended.elapsed().as_secs_f64(),
                emptied,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// The table

/// One line of the table.
struct Row {
    backend: &'static str,
    mode: String,
    requests: usize,
    errors: usize,
    seconds: f64,
    /// Latencies of accepted requests, sorted.
    latencies: Vec<Duration>,
    drain: Drain,
    samples: Vec<String>,
    held_back: usize,
    cpu: Cpu,
}

/// CPU used during a run's load, in seconds: the load generator's thread, and the whole
/// process (server and generator together).
struct Cpu {
    client: f64,
    all: f64,
    /// Wall time of the load, to express both as a share of one core.
    seconds: f64,
}

impl Cpu {
    /// Percent of one core used by the server (everything but the load generator).
    fn server_percent(&self) -> f64 {
        (self.all - self.client) / self.seconds * 100.0
    }

    fn client_percent(&self) -> f64 {
        self.client / self.seconds * 100.0
    }
}

impl Row {
    fn new(
        backend: &Backend,
        mode: String,
        tally: Tally,
        elapsed: Duration,
        cpu: Cpu,
        drain: Drain,
    ) -> Row {
        let mut latencies = tally.latencies;
        latencies.sort_unstable();
        Row {
            backend: backend.name(),
            mode,
            requests: latencies.len() + tally.errors,
            errors: tally.errors,
            seconds: elapsed.as_secs_f64(),
            latencies,
            drain,
            samples: tally.samples,
            held_back: tally.held_back,
            cpu,
        }
    }

    /// The latency at quantile `q` (nearest rank), in milliseconds.
    fn quantile_ms(&self, q: f64) -> f64 {
        let Some(last) = self.latencies.len().checked_sub(1) else {
            return f64::NAN;
        };
        let rank = ((q * self.latencies.len() as f64).ceil() as usize).saturating_sub(1);
        self.latencies[rank.min(last)].as_secs_f64() * 1e3
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<9} {:<13} {:>8} {:>6} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9} {:>11} {:>7} {:>7}",
        "backend",
        "mode",
        "requests",
        "errors",
        "seconds",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "drain s",
        "processed/s",
        "srv cpu",
        "gen cpu"
    );
    for row in rows {
        let accepted = (row.requests - row.errors) as f64;
        let drain = &row.drain;
        let drain_after = if !processing_enabled() {
            "off".to_string()
        } else if drain.emptied {
            format!("{:.1}", drain.after_load)
        } else {
            format!(">{:.0}", DRAIN_LIMIT.as_secs_f64())
        };
        println!(
            "{:<9} {:<13} {:>8} {:>6} {:>7.2} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>9} {:>11.0} \
             {:>6.0}% {:>6.0}%",
            row.backend,
            row.mode,
            row.requests,
            row.errors,
            row.seconds,
            accepted / row.seconds,
            row.quantile_ms(0.50),
            row.quantile_ms(0.99),
            row.quantile_ms(1.0),
            drain_after,
            drain.finished as f64 / drain.seconds,
            row.cpu.server_percent(),
            row.cpu.client_percent(),
        );
    }
    print_notes(rows);
}

fn print_notes(rows: &[Row]) {
    println!();
    println!("req/s: accepted (200, stored and synced) per second of wall time.");
    println!("drain s: after the load ended, until no delivery was pending.");
    println!("processed/s: inbox rows finished, per second from the start of the load.");
    println!("srv cpu, gen cpu: CPU used by the server and by the load generator during the");
    println!("load, in percent of one core; both share this machine's cores.");
    for row in rows {
        if row.drain.failed > 0 {
            println!(
                "{} {}: {} deliveries failed processing",
                row.backend, row.mode, row.drain.failed
            );
        }
        if row.held_back > 0 {
            println!(
                "{} {}: {} requests waited for one of {MAX_IN_FLIGHT} in flight to be answered",
                row.backend, row.mode, row.held_back
            );
        }
        for sample in &row.samples {
            println!("{} {}: error: {sample}", row.backend, row.mode);
        }
    }
}
