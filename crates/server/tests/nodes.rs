//! Several `tidings serve` processes against one PostgreSQL database send each message
//! exactly once, and a node killed in the middle of dispatch loses nothing.
//!
//! Each scenario queues 10,000 messages to a crowd of simulated RCS phones, starts three
//! real `tidings` processes pointed at the RBM emulator, and compares the emulator's own
//! record with the store's when the queue is empty: every message accepted once, none
//! missing. PostgreSQL only (SQLite is one node by design); skipped with a notice when
//! `TIDINGS_TEST_POSTGRES_URL` is not set.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::{
    Command as StoreCommand, Currency, CustomerInput, EventInput, LineItemInput, OrderInput,
    OrderRef, PhoneNumber, Source, Status,
};
use emulator::{Crowd, Emulator, EmulatorConfig, RunningEmulator, ServiceAccount};
use serde_json::Value;
use store::{ApplyOptions, Store};
use tokio::net::TcpListener;

const MESSAGES: usize = 10_000;
const PHONES: u32 = 1_000;
const FIRST_PHONE: u64 = 16_135_510_000;
const NODES: usize = 3;
const AGENT: &str = "nodes-agent@rbm.goog";
const KEY: &str = include_str!("../demo/rbm-demo-service-account.json");
const PUBLIC_KEY: &str = include_str!("../demo/rbm-demo-service-account.pub.pem");
const KEY_EMAIL: &str = "tidings-demo@tidings-demo.iam.gserviceaccount.com";
/// However slow the machine, a scenario gives up after this.
const DEADLINE: Duration = Duration::from_secs(240);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_send_every_message_exactly_once() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let mut nodes: Vec<Node> = (0..NODES).map(|_| rig.node()).collect();

    rig.wait_until_all_sent().await;
    let stats = rig.emulator.emulator().stats();
    rig.check_every_message_arrived().await;
    // Nodes claim disjoint rows, so not even a repeated call was made.
    assert_eq!(stats.repeated_message_ids, 0, "{stats:?}");
    eprintln!("3 nodes, {MESSAGES} messages: {stats:?}");
    nodes.iter_mut().for_each(Node::stop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_dispatch_loses_nothing() {
    let Some(rig) = Rig::start().await else {
        return;
    };
    let mut nodes: Vec<Node> = (0..NODES).map(|_| rig.node()).collect();

    // Kill one node with SIGKILL once sending is well under way, and start it again.
    let started = Instant::now();
    while rig.emulator.emulator().stats().messages_accepted < (MESSAGES / 5) as u64 {
        assert!(started.elapsed() < DEADLINE, "sending never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nodes[0].kill();
    nodes[0] = rig.node();

    rig.wait_until_all_sent().await;
    let stats = rig.emulator.emulator().stats();
    rig.check_every_message_arrived().await;
    // What the killed node had in flight is sent again once its lease runs out; the
    // emulator, like Google, ignores the repeated ids.
    eprintln!("3 nodes, one killed and restarted, {MESSAGES} messages: {stats:?}");
    nodes.iter_mut().for_each(Node::stop);
}

/// A fresh database with the messages queued, and the emulator.
struct Rig {
    database_url: String,
    store: Store,
    emulator: RunningEmulator,
    key_dir: tempfile::TempDir,
}

impl Rig {
    async fn start() -> Option<Rig> {
        let Some(admin_url) = std::env::var("TIDINGS_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            eprintln!("TIDINGS_TEST_POSTGRES_URL is not set: multi-node test skipped");
            return None;
        };
        let database_url = fresh_database(&admin_url).await;
        let store = Store::open(&database_url).await.expect("the store opens");
        queue_messages(&store).await;
        let emulator = start_emulator().await;
        let key_dir = tempfile::tempdir().unwrap();
        std::fs::write(key_dir.path().join("key.json"), KEY).unwrap();
        Some(Rig {
            database_url,
            store,
            emulator,
            key_dir,
        })
    }

    /// A `tidings serve` process that only dispatches.
    fn node(&self) -> Node {
        let base = self.emulator.base_url();
        let child = Command::new(env!("CARGO_BIN_EXE_tidings"))
            .arg("serve")
            .env("TIDINGS_DATABASE_URL", &self.database_url)
            .env("TIDINGS_LISTEN", "127.0.0.1:0")
            .env("TIDINGS_INGEST__PROCESSOR", "false")
            .env("TIDINGS_RBM__BASE_URL", &base)
            .env("TIDINGS_RBM__TOKEN_URL", format!("{base}/token"))
            .env("TIDINGS_RBM__AGENT_ID", AGENT)
            .env(
                "TIDINGS_RBM__SERVICE_ACCOUNT_FILE",
                self.key_dir.path().join("key.json"),
            )
            .env("TIDINGS_RBM__RATE_PER_SECOND", "100000")
            // A killed node's claims return to the queue after this.
            .env("TIDINGS_DISPATCH__LEASE_SECS", "3")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("tidings starts");
        Node { child }
    }

    async fn wait_until_all_sent(&self) {
        let started = Instant::now();
        loop {
            let counts = self.store.message_counts().await.unwrap();
            let done = counts.sent + counts.delivered + counts.read;
            if done == MESSAGES as i64 {
                assert_eq!(counts.failed, 0, "{counts:?}");
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "not all sent in time: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The emulator's record holds every queued message exactly once.
    async fn check_every_message_arrived(&self) {
        let stats = self.emulator.emulator().stats();
        assert_eq!(stats.messages_accepted, MESSAGES as u64, "{stats:?}");
        let url = format!("{}/emulator/phones", self.emulator.base_url());
        let phones: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        let mut received = HashSet::new();
        for phone in phones.as_array().expect("a list of phones") {
            for message in phone["messages"].as_array().into_iter().flatten() {
                let id = message["messageId"].as_str().unwrap().to_string();
                assert!(received.insert(id.clone()), "message {id} arrived twice");
            }
        }
        let queued = queued_ids(&self.database_url).await;
        assert_eq!(received.len(), MESSAGES);
        assert_eq!(
            received, queued,
            "the emulator's record and the store disagree"
        );
    }
}

struct Node {
    child: Child,
}

impl Node {
    /// SIGKILL: no graceful shutdown, whatever was in flight stays claimed.
    fn kill(&mut self) {
        self.child.kill().expect("the node is killed");
        self.child.wait().expect("the node exits");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn start_emulator() -> RunningEmulator {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = EmulatorConfig {
        agent_id: AGENT.into(),
        service_accounts: vec![ServiceAccount {
            client_email: KEY_EMAIL.into(),
            public_key_pem: PUBLIC_KEY.into(),
        }],
        agent_rate: None,
        user_rate: None,
        crowds: vec![Crowd {
            first: format!("+{FIRST_PHONE}"),
            count: PHONES,
            read_share: 0.0,
            delivery_delay_ms: 0,
            ..Crowd::default()
        }],
        ..EmulatorConfig::default()
    };
    Emulator::start(listener, config).await.unwrap()
}

/// One confirmed order per message, spread over the crowd's phones.
async fn queue_messages(store: &Store) {
    let placed_at = Utc::now();
    let orders: Vec<StoreCommand> = (0..MESSAGES).map(|n| order(n, placed_at)).collect();
    for chunk in orders.chunks(500) {
        for result in store
            .apply_batch(chunk, &ApplyOptions::live(), None)
            .await
            .unwrap()
        {
            result.unwrap();
        }
    }
    let counts = store.message_counts().await.unwrap();
    assert_eq!(counts.pending, MESSAGES as i64, "{counts:?}");
}

fn order(n: usize, placed_at: chrono::DateTime<Utc>) -> StoreCommand {
    let phone = format!("+{}", FIRST_PHONE + (n as u64 % u64::from(PHONES)));
    let event = |status: Status| EventInput {
        status: Some(status),
        raw_status: status.as_str().into(),
        detail: None,
        location: None,
        happened_at: placed_at,
    };
    StoreCommand::UpsertOrder(Box::new(OrderInput {
        order: OrderRef {
            source: Source::named("nodes"),
            external_id: format!("N-{n}"),
        },
        number: format!("#N{n}"),
        customer: CustomerInput {
            external_id: Some(phone.clone()),
            phone: Some(PhoneNumber::parse(&phone, "US").unwrap()),
            first_name: Some("Sam".into()),
            ..CustomerInput::default()
        },
        currency: Currency::parse("USD").unwrap(),
        total_minor: 1_000,
        line_items: vec![LineItemInput {
            external_id: None,
            product_external_id: None,
            sku: None,
            title: "Mug".into(),
            variant: None,
            quantity: 1,
            unit_price_minor: 1_000,
        }],
        shipping_address: None,
        placed_at,
        fully_shipped: None,
        events: vec![event(Status::Placed), event(Status::Confirmed)],
        shipments: Vec::new(),
    }))
}

async fn queued_ids(database_url: &str) -> HashSet<String> {
    let pool = sqlx::PgPool::connect(database_url).await.unwrap();
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    ids.into_iter().map(|id| id.to_string()).collect()
}

async fn fresh_database(admin_url: &str) -> String {
    let name = format!("tidings_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}
