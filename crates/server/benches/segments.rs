//! Segments and scoring at scale: a deterministic shop of 1,000,000 customers and about
//! 10,000,000 orders, then the time to count segments and to rescore every customer.
//!
//! The generator draws each customer's orders (about 10 on average, spread over three
//! years) and stores what the store keeps of them: the customer, their metrics row
//! (orders, spend, first order's total, first and last order), and consent records.
//! The order rows themselves are not written: no measured step reads them, as segment
//! counts and scoring read the metrics the store keeps current as orders arrive.
//!
//! `cargo bench -p tidings --bench segments`. Environment: `TIDINGS_BENCH_CUSTOMERS`
//! (default 1,000,000), `TIDINGS_BENCH_POSTGRES_URL` (a server to run the same on;
//! unset or empty, SQLite alone).

#[path = "common/scratch.rs"]
mod scratch;

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use insight::segment;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scratch::Scratch;
use store::Store;

/// The generator's seed: every run builds the same shop.
const SEED: u64 = 20_261_204;
/// Multi-row inserts: 1,000 rows of at most 10 columns stay under both backends' limits.
const ROWS_PER_INSERT: usize = 1_000;
/// Segment counts, each timed over this many runs.
const COUNT_RUNS: usize = 3;

const FILTERS: [&str; 4] = [
    "orders.count >= 3",
    "consent.promotional.rcs and orders.spent >= 500",
    "customer.locale = 'es-ES' and orders.days_since_last <= 90",
    "rfm.recency >= 4 and rfm.frequency >= 3 and not consent.promotional.sms",
];

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("segments benchmark failed: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let customers = env_count("TIDINGS_BENCH_CUSTOMERS", 1_000_000);
    let now = Utc::now();
    let started = Instant::now();
    let shop = generate(customers, now);
    println!(
        "Tidings segments benchmark: {} customers, {} orders drawn in {:.1} s (seed {SEED})",
        shop.len(),
        shop.iter().map(|c| c.orders).sum::<i64>(),
        started.elapsed().as_secs_f64()
    );

    let mut backends = vec![("sqlite", Scratch::sqlite()?)];
    match std::env::var("TIDINGS_BENCH_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => backends.push(("postgres", Scratch::postgres(&url)?)),
        _ => println!("postgres: skipped (set TIDINGS_BENCH_POSTGRES_URL to include it)"),
    }
    for (name, scratch) in backends {
        let result = measure(name, scratch.url(), &shop, now).await;
        scratch.remove()?;
        result?;
    }
    Ok(())
}

fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value.parse().unwrap_or_else(|_| {
            eprintln!("{name}={value:?} is not a count; using {default}");
            default
        }),
        Err(_) => default,
    }
}

async fn measure(
    name: &str,
    url: &str,
    shop: &[Customer],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let store = Store::open(url)
        .await
        .context("opening the scratch store")?;
    let started = Instant::now();
    seed(url, shop).await?;
    println!(
        "\n{name}: stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let report = tidings::scoring::rescore(&store, now, 20_000).await?;
    println!(
        "{name}: rescore of {} customers (RFM, BG/NBD fit on 20,000, predictions, stored): \
         {:.2} s (goal: under 10 s on SQLite): reading {:.2} s, scoring {:.2} s, storing {:.2} s",
        report.customers,
        report.took().as_secs_f64(),
        report.reading.as_secs_f64(),
        report.scoring.as_secs_f64(),
        report.storing.as_secs_f64()
    );

    println!("{name}: segment counts, best and worst of {COUNT_RUNS} (goal: under 1 s)");
    for text in FILTERS {
        let filter = segment::parse(text).expect("the benchmark's filters parse");
        let mut took = Vec::with_capacity(COUNT_RUNS);
        let mut count = 0;
        for _ in 0..COUNT_RUNS {
            let started = Instant::now();
            count = store.segment_preview(&filter, 100.0, 10).await?.count;
            took.push(started.elapsed());
        }
        took.sort();
        println!(
            "  {:>8} customers  {:>7.1} ms  {:>7.1} ms  {text}",
            count,
            ms(took[0]),
            ms(took[COUNT_RUNS - 1])
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What the store keeps of a generated customer.
struct Customer {
    orders: i64,
    spent_minor: i64,
    first_order_minor: i64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    locale: &'static str,
    time_zone: &'static str,
    promotional_rcs: bool,
    promotional_sms: bool,
}

const PLACES: [(&str, &str); 5] = [
    ("en-US", "America/New_York"),
    ("es-ES", "Europe/Madrid"),
    ("fr-FR", "Europe/Paris"),
    ("de-DE", "Europe/Berlin"),
    ("en-GB", "Europe/London"),
];

/// A shop whose customers each order about ten times at their own pace over the last
/// three years, for amounts around their own mean.
fn generate(customers: usize, now: DateTime<Utc>) -> Vec<Customer> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..customers).map(|_| customer(&mut rng, now)).collect()
}

fn customer(rng: &mut StdRng, now: DateTime<Utc>) -> Customer {
    let days = |d: f64| chrono::Duration::seconds((d * 86_400.0) as i64);
    let first_at = now - days(rng.random_range(0.0..1095.0));
    // Geometric: one customer in fourteen stops after each order. Orders that would
    // fall after today are not placed, which leaves about ten per customer.
    let wanted = 1 + (rng.random::<f64>().ln() / (13.0f64 / 14.0).ln()) as i64;
    let mean_gap = rng.random_range(5.0..60.0);
    let mean_amount = 2_000.0 + 8_000.0 * rng.random::<f64>().powi(2);

    let amount = |rng: &mut StdRng| (mean_amount * rng.random_range(0.5..1.5)) as i64;
    let first_order_minor = amount(rng);
    let (mut orders, mut spent_minor, mut last_at) = (1, first_order_minor, first_at);
    while orders < wanted.min(200) {
        let gap = -mean_gap * (1.0 - rng.random::<f64>()).ln();
        let at = last_at + days(gap);
        if at > now {
            break;
        }
        last_at = at;
        orders += 1;
        spent_minor += amount(rng);
    }
    let (locale, time_zone) = PLACES[rng.random_range(0..PLACES.len())];
    Customer {
        orders,
        spent_minor,
        first_order_minor,
        first_at,
        last_at,
        locale,
        time_zone,
        promotional_rcs: rng.random_bool(0.6),
        promotional_sms: rng.random_bool(0.4),
    }
}

/// The inserts, spelled once for both backends' pools.
macro_rules! seed_rows {
    ($pool:expr, $shop:expr) => {{
        let created = Utc::now();
        let mut tx = $pool.begin().await?;
        for (chunk_index, chunk) in $shop.chunks(ROWS_PER_INSERT).enumerate() {
            let base = chunk_index * ROWS_PER_INSERT;
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO customers (id, source, external_id, email, phone, locale,
                    time_zone, created_at, updated_at, unsubscribe_token) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut row, (i, c)| {
                let id = (base + i + 1) as i64;
                row.push_bind(id)
                    .push_bind("bench")
                    .push_bind(format!("c{id}"))
                    .push_bind(format!("c{id}@example.com"))
                    .push_bind(format!("+1613{:07}", id % 10_000_000))
                    .push_bind(c.locale)
                    .push_bind(c.time_zone)
                    .push_bind(created)
                    .push_bind(created)
                    .push_bind(format!("{id:032x}"));
            });
            q.build().execute(&mut *tx).await?;

            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO customer_metrics (customer_id, orders, spent_minor,
                    first_order_minor, first_order_at, last_order_at, updated_at) ",
            );
            q.push_values(chunk.iter().enumerate(), |mut row, (i, c)| {
                row.push_bind((base + i + 1) as i64)
                    .push_bind(c.orders)
                    .push_bind(c.spent_minor)
                    .push_bind(c.first_order_minor)
                    .push_bind(c.first_at)
                    .push_bind(c.last_at)
                    .push_bind(created);
            });
            q.build().execute(&mut *tx).await?;

            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO consents (customer_id, purpose, channel, granted, source,
                    recorded_at) ",
            );
            let consents = chunk.iter().enumerate().flat_map(|(i, c)| {
                let id = (base + i + 1) as i64;
                [
                    (id, "rcs", c.promotional_rcs),
                    (id, "sms", c.promotional_sms),
                ]
            });
            q.push_values(consents, |mut row, (id, channel, granted)| {
                row.push_bind(id)
                    .push_bind("promotional")
                    .push_bind(channel)
                    .push_bind(granted)
                    .push_bind("import")
                    .push_bind(created);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }};
}

/// Writes the shop with multi-row inserts, one transaction per table.
async fn seed(url: &str, shop: &[Customer]) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        seed_rows!(pool, shop);
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        seed_rows!(pool, shop);
        pool.close().await;
    }
    Ok(())
}
