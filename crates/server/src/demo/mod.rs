//! `tidings demo`: a sample store to look around in, without any account anywhere.
//!
//! The demo serves on the configured address with its own SQLite file (unless a database
//! URL is given), seeds orders at every stage of delivery, and starts the RBM emulator
//! beside Tidings with a simulated phone for each sample customer. Tidings sends to the
//! emulator as it would to Google; the phones receive, deliver, read and reply through
//! the real webhook. A background task moves new orders through their lifecycle, so
//! cards keep arriving on the phone pages.

mod lifecycle;
mod seed;

use std::path::{Path, PathBuf};

use anyhow::Context;
use emulator::{Emulator, EmulatorConfig, PhoneConfig, RunningEmulator, ServiceAccount};
use store::Store;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::api::Scope;
use seed::{phone_of, DEMO_SOURCE, SAMPLES};

const DEMO_SHOPIFY_SECRET: &str = "demo-shopify-secret";
const DEMO_AGENT: &str = "tidings-demo@rbm.goog";
const DEMO_CLIENT_TOKEN: &str = "demo-rbm-client-token";
/// A key made for the demo alone; the emulator trusts its public half.
const DEMO_KEY: &str = include_str!("../../demo/rbm-demo-service-account.json");
const DEMO_PUBLIC_KEY: &str = include_str!("../../demo/rbm-demo-service-account.pub.pem");
const DEMO_KEY_EMAIL: &str = "tidings-demo@tidings-demo.iam.gserviceaccount.com";

/// Seeds the sample store, starts the emulator and serves until stopped.
///
/// # Errors
/// When the application or the emulator cannot start, or the seed cannot be written.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut config = demo_settings(config);
    let emulator_listener = bind_next_to(&config.listen).await?;
    let emulator_url = format!("http://{}", emulator_listener.local_addr()?);
    point_rbm_at(&mut config, &emulator_url)?;

    let app = crate::Application::build(config.clone()).await?;
    let public = format!("http://127.0.0.1:{}", app.port());
    let emulator = start_emulator(emulator_listener, &public).await?;
    let texts = format!("{public}/webhooks/sms");
    emulator.emulator().set_sms_webhook_url(Some(texts));
    let store = app.store().clone();
    seed::seed(&store).await?;
    let lifecycle = tokio::spawn(lifecycle::run(store.clone()));

    print_welcome(&store, &public, &emulator_url).await?;
    let served = app
        .run_until_stopped(crate::startup::shutdown_signal())
        .await;
    lifecycle.abort();
    emulator.shutdown().await?;
    served
}

/// The demo's own database, shop name and secrets, where the configuration left the
/// defaults.
fn demo_settings(mut config: Config) -> Config {
    let defaults = Config::default();
    if config.database_url == defaults.database_url {
        config.database_url = "sqlite://./tidings-data/demo.db".into();
    }
    if config.shop.name == defaults.shop.name {
        config.shop.name = "Tidings Demo Shop".into();
    }
    if config.shop.support_phone.is_none() {
        config.shop.support_phone = Some("+16135550100".into());
    }
    if config.shopify.webhook_secret.is_none() {
        config.shopify.webhook_secret = Some(DEMO_SHOPIFY_SECRET.to_string().into());
    }
    if config.public_url == defaults.public_url {
        config.public_url = format!("http://{}", config.listen.replace("0.0.0.0", "127.0.0.1"));
    }
    config
}

/// The port after Tidings' own when it is free, else any free one.
async fn bind_next_to(listen: &str) -> anyhow::Result<TcpListener> {
    let next = listen
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?.checked_add(1)?)))
        .filter(|(_, port)| *port > 1)
        .map(|(host, port)| format!("{host}:{port}"));
    if let Some(address) = next {
        if let Ok(listener) = TcpListener::bind(&address).await {
            return Ok(listener);
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding a port for the RBM emulator")
}

/// Sends over RBM to the emulator, with the demo's key written where the RBM settings
/// expect a key file.
fn point_rbm_at(config: &mut Config, emulator_url: &str) -> anyhow::Result<()> {
    let key_file = demo_key_file(&config.database_url)?;
    config.rbm.base_url = emulator_url.to_string();
    config.rbm.token_url = format!("{emulator_url}/token");
    config.rbm.agent_id = Some(DEMO_AGENT.into());
    config.rbm.service_account_file = Some(key_file);
    config.rbm.client_token = Some(DEMO_CLIENT_TOKEN.to_string().into());
    // Phones without RCS get texts through the emulator's Twilio-compatible API.
    let twilio = emulator::config::TwilioAccount::default();
    config.sms.base_url = emulator_url.to_string();
    config.sms.account_sid = Some(twilio.account_sid);
    config.sms.auth_token = Some(twilio.auth_token.into());
    config.sms.from = Some(twilio.number);
    Ok(())
}

/// Writes the demo's service-account key beside its database.
fn demo_key_file(database_url: &str) -> anyhow::Result<PathBuf> {
    let dir = database_url
        .strip_prefix("sqlite://")
        .and_then(|path| Path::new(path).parent())
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("./tidings-data"))
        .to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("demo-rbm-service-account.json");
    std::fs::write(&path, DEMO_KEY).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The emulator with a phone per sample customer; Ben's has no RCS, to show messages
/// falling back to SMS.
async fn start_emulator(listener: TcpListener, public: &str) -> anyhow::Result<RunningEmulator> {
    let mut phones: Vec<PhoneConfig> = SAMPLES
        .iter()
        .enumerate()
        .map(|(i, (name, _, _))| PhoneConfig {
            name: Some(format!("{name}'s phone")),
            read_after_ms: Some(2_000),
            ..PhoneConfig::rcs(phone_of(i + 1))
        })
        .collect();
    // Ben's phone has no RCS; his second order is among the first to move.
    phones[1].rcs = false;
    let config = EmulatorConfig {
        agent_id: DEMO_AGENT.into(),
        client_token: DEMO_CLIENT_TOKEN.into(),
        webhook_url: Some(format!("{public}/webhooks/rbm")),
        service_accounts: vec![demo_service_account()],
        phones,
        ..EmulatorConfig::default()
    };
    Emulator::start(listener, config)
        .await
        .context("starting the RBM emulator")
}

/// `tidings emulator`: the emulator alone, until ctrl-c or SIGTERM.
///
/// # Errors
/// When the setup file cannot be read or the emulator cannot start.
pub async fn run_emulator(
    listen: &str,
    setup: Option<&Path>,
    webhook: Option<String>,
    phones: Vec<String>,
) -> anyhow::Result<()> {
    let mut config = match setup {
        Some(path) => read_setup(path)?,
        None => EmulatorConfig {
            service_accounts: vec![demo_service_account()],
            ..EmulatorConfig::default()
        },
    };
    if webhook.is_some() {
        config.webhook_url = webhook;
    }
    config
        .phones
        .extend(phones.into_iter().map(PhoneConfig::rcs));
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}; is another server using it?"))?;
    let running = Emulator::start(listener, config)
        .await
        .context("starting the RBM emulator")?;

    let base = running.base_url();
    println!("RBM emulator on {base}");
    println!(
        "  RBM API base URL: {base}   token URL: {}",
        running.token_url()
    );
    println!("  phones:           {base}/");
    crate::startup::shutdown_signal().await;
    running.shutdown().await?;
    Ok(())
}

/// An emulator setup from TOML or JSON (by the file's extension), over the defaults.
fn read_setup(path: &Path) -> anyhow::Result<EmulatorConfig> {
    use figment::providers::{Format, Json, Serialized, Toml};
    let base = figment::Figment::from(Serialized::defaults(EmulatorConfig::default()));
    let figment = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => base.merge(Json::file_exact(path)),
        _ => base.merge(Toml::file_exact(path)),
    };
    figment
        .extract()
        .with_context(|| format!("reading the emulator setup {}", path.display()))
}

/// The demo's owner and a fresh one-time password: added on the first run, given a new
/// password on the next ones.
async fn demo_owner(store: &Store) -> anyhow::Result<(String, String)> {
    const OWNER: &str = "owner@demo.tidings.test";
    let password = crate::http::auth::generate_password();
    let actor = store::Actor::cli();
    match store.user_credentials(OWNER).await? {
        None => {
            let role = crate::http::access::Role::Owner;
            crate::cli::add_user(store, OWNER, role, &password, &actor).await?;
        }
        Some((user, _)) => {
            let hash = crate::http::auth::hash_password(&password).await?;
            let change = store::UserChange::Password {
                hash: &hash,
                keep_session: None,
            };
            store.change_user(user.id, &change, &actor).await?;
        }
    }
    Ok((OWNER.to_string(), password))
}

fn demo_service_account() -> ServiceAccount {
    ServiceAccount {
        client_email: DEMO_KEY_EMAIL.into(),
        public_key_pem: DEMO_PUBLIC_KEY.into(),
    }
}

async fn print_welcome(store: &Store, base: &str, emulator: &str) -> anyhow::Result<()> {
    let actor = store::Actor::cli();
    let key = crate::cli::create_api_key(store, "demo", Scope::Ingest, &actor).await?;
    let (owner, password) = demo_owner(store).await?;
    println!("\nTidings demo is running on {base}\n\nTracking pages:");
    for n in 1..=SAMPLES.len() {
        let order = domain::OrderRef {
            source: domain::Source::named(DEMO_SOURCE),
            external_id: format!("D-{n}"),
        };
        if let Some(id) = store.order_id_by_ref(&order).await? {
            let view = store.get_order(id).await?;
            let status = view.status.label();
            println!(
                "  {:<8} {:<20} {base}/t/{}",
                view.number, status, view.tracking_token
            );
        }
    }
    println!("\nPhones (RBM emulator at {emulator}; new orders move every few seconds):");
    for (i, (name, _, _)) in SAMPLES.iter().enumerate() {
        println!("  {name:<8} {emulator}/phones/{}", phone_of(i + 1));
    }
    println!("\nWorkspace: {base}/app/login");
    println!("  owner {owner}, one-time password {password}");
    println!("\nAPI key (scope ingest): {key}");
    println!("  curl -H 'Authorization: Bearer {key}' {base}/api/v1/orders/1");
    println!("Shopify webhook secret: {DEMO_SHOPIFY_SECRET} (POST {base}/webhooks/shopify)");
    println!("\nPress ctrl-c to stop.\n");
    Ok(())
}
