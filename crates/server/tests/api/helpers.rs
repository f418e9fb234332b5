//! Starting the application for a test and talking to it.

use std::time::Duration;

use reqwest::{Client, Response};
use serde_json::Value;
use store::{ApplyOptions, InboxRow, Store};
use tempfile::TempDir;
use tidings::http::webhooks::{sign_base64, sign_easypost};
use tidings::ingest::{parse_delivery, ParseContext};
use tidings::{Application, Config};
use tokio::sync::oneshot;

pub const SHOPIFY_SECRET: &str = "shopify-test-secret";
pub const WOO_SECRET: &str = "woo-test-secret";
/// The secret of EasyPost's published test vector (not ASCII, to exercise NFKD).
pub const EASYPOST_SECRET: &str = "sécret";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if $crate::helpers::postgres_url().is_none() {
                    eprintln!("TIDINGS_TEST_POSTGRES_URL is not set: PostgreSQL test skipped");
                    return;
                }
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    )*};
}

pub fn postgres_url() -> Option<String> {
    std::env::var("TIDINGS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A running application with a fresh database and an ingest API key.
pub struct TestApp {
    pub address: String,
    pub client: Client,
    pub store: Store,
    pub api_key: String,
    pub database_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
}

pub struct Options {
    /// Run the background processor; tests that check timelines drain explicitly.
    pub processor: bool,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(backend, Options { processor: false }).await
    }

    pub async fn spawn_with(backend: Backend, options: Options) -> TestApp {
        TestApp::spawn_configured(backend, options, |_| {}).await
    }

    /// A running application whose test configuration `configure` changed first.
    pub async fn spawn_configured(
        backend: Backend,
        options: Options,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}/tidings.db", dir.path().display()),
            Backend::Postgres => fresh_postgres_database().await,
        };
        let mut config = test_config(&database_url, options.processor);
        configure(&mut config);
        TestApp::start(config, dir).await
    }

    async fn start(config: Config, dir: TempDir) -> TestApp {
        let database_url = config.database_url.clone();
        let app = Application::build(config)
            .await
            .expect("the application builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let store = app.store().clone();
        let scope = tidings::http::api::Scope::Ingest;
        let api_key = tidings::cli::create_api_key(&store, "tests", scope, &store::Actor::cli())
            .await
            .expect("an API key");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestApp {
            address,
            client: Client::new(),
            store,
            api_key,
            database_url,
            shutdown: Some(shutdown),
            server: Some(server),
            _dir: dir,
        }
    }

    /// Stops the server gracefully and starts a new one on the same database.
    pub async fn restart(mut self, options: Options) -> TestApp {
        self.stop().await;
        let dir = std::mem::replace(&mut self._dir, tempfile::tempdir().unwrap());
        let config = test_config(&self.database_url, options.processor);
        TestApp::start(config, dir).await
    }

    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("the server task")
                .expect("a clean stop");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_shopify(&self, topic: &str, body: &[u8], webhook_id: &str) -> Response {
        self.client
            .post(self.url("/webhooks/shopify"))
            .header("X-Shopify-Topic", topic)
            .header("X-Shopify-Webhook-Id", webhook_id)
            .header("X-Shopify-Hmac-Sha256", sign_base64(SHOPIFY_SECRET, body))
            .header("Content-Type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_woocommerce(&self, topic: &str, body: &[u8], delivery_id: &str) -> Response {
        self.client
            .post(self.url("/webhooks/woocommerce"))
            .header("X-WC-Webhook-Topic", topic)
            .header("X-WC-Webhook-Delivery-ID", delivery_id)
            .header("X-WC-Webhook-Signature", sign_base64(WOO_SECRET, body))
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_easypost(&self, body: &[u8]) -> Response {
        self.client
            .post(self.url("/webhooks/easypost"))
            .header("X-Hmac-Signature", sign_easypost(EASYPOST_SECRET, body))
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    pub async fn api_post(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(&self.api_key)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn api_get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.api_key)
            .send()
            .await
            .expect("request sent")
    }

    /// Processes every stored delivery that is due `ahead` from now, as the background
    /// processor would, so that tests see a settled state.
    pub async fn drain_ahead(&self, ahead: chrono::Duration) -> usize {
        let ctx = ParseContext::full("US");
        let parse = |row: &InboxRow| parse_delivery(row, &ctx);
        let opts = ApplyOptions {
            notify: true,
            now: chrono::Utc::now() + ahead,
        };
        let mut total = 0;
        loop {
            let handled = self
                .store
                .process_inbox(100, &parse, &opts)
                .await
                .expect("processing");
            total += handled;
            if handled == 0 {
                return total;
            }
        }
    }

    pub async fn drain(&self) -> usize {
        self.drain_ahead(chrono::Duration::zero()).await
    }

    /// Waits until the background processor has emptied the inbox (at most 10 s).
    pub async fn wait_processed(&self) {
        for _ in 0..200 {
            if self.store.inbox_counts().await.expect("counts").pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the inbox was not processed within 10 s");
    }

    /// The order a source knows by `external_id`, as the API shows it.
    pub async fn order(&self, source: &str, external_id: &str) -> store::OrderView {
        let order = domain::OrderRef {
            source: domain::Source::parse(source).unwrap(),
            external_id: external_id.into(),
        };
        let id = self
            .store
            .order_id_by_ref(&order)
            .await
            .unwrap()
            .expect("the order exists");
        self.store.get_order(id).await.unwrap()
    }

    pub async fn templates_sent(&self, order_id: i64) -> Vec<String> {
        let rows = self.store.list_outbox(order_id).await.unwrap();
        rows.into_iter().map(|r| r.template_key).collect()
    }
}

fn test_config(database_url: &str, processor: bool) -> Config {
    let mut config = Config {
        database_url: database_url.to_string(),
        listen: "127.0.0.1:0".into(),
        public_url: "https://track.example".into(),
        ..Config::default()
    };
    config.ingest.processor = processor;
    config.shopify.webhook_secret = Some(SHOPIFY_SECRET.to_string().into());
    config.woocommerce.webhook_secret = Some(WOO_SECRET.to_string().into());
    config.easypost.webhook_secret = Some(EASYPOST_SECRET.to_string().into());
    config
}

/// A new, empty PostgreSQL database on the server `TIDINGS_TEST_POSTGRES_URL` names.
async fn fresh_postgres_database() -> String {
    let admin_url = postgres_url().expect("TIDINGS_TEST_POSTGRES_URL");
    let name = format!("tidings_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&admin_url)
        .await
        .expect("PostgreSQL is reachable");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("CREATE DATABASE");
    admin.close().await;
    let (base, _) = admin_url
        .rsplit_once('/')
        .expect("a database URL with a path");
    format!("{base}/{name}")
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// A fixture's JSON with its single wrapping key (`{"order": {...}}`) removed.
pub fn inner_fixture(name: &str) -> Value {
    let value: Value = serde_json::from_slice(&fixture(name)).unwrap();
    match value {
        Value::Object(map) if map.len() == 1 => map.into_iter().next().unwrap().1,
        other => other,
    }
}

pub async fn json(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}
