//! The emulator's shared state: settings fixed at start, the world of phones and
//! messages behind one lock, and the background jobs that play out deliveries.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::auth::Authority;
use crate::config::{EmulatorConfig, PhoneConfig, RateLimit, RetryConfig};
use crate::error::ApiError;
use crate::files::StoredFile;
use crate::phones::{is_e164, Phone};
use crate::rate::{bucket, Bucket};
use crate::webhook::Delivery;

/// What does not change after start.
#[derive(Debug)]
pub struct Settings {
    pub agent_id: String,
    pub client_token: String,
    pub project_number: String,
    pub user_rate: Option<RateLimit>,
    pub retry: RetryConfig,
}

/// Everything that changes, behind one lock that is never held across an await.
#[derive(Debug, Default)]
pub struct World {
    /// The phones by E.164 number.
    pub phones: BTreeMap<String, Phone>,
    /// Message and event ids the agent has used, with the answer the first use got:
    /// Google ignores a reused id and answers as before.
    pub used_ids: HashMap<String, Value>,
    /// Files uploaded through `files.create`, by name (`files/…`).
    pub files: HashMap<String, StoredFile>,
    /// Every webhook post, by id (its index).
    pub deliveries: Vec<Delivery>,
    /// Where webhook posts go now.
    pub webhook_url: Option<String>,
    pub agent_bucket: Option<Bucket>,
    pub batch_bucket: Option<Bucket>,
    /// Counts over the agent's sends, for load tests.
    pub stats: SendStats,
    /// Texts, the SMS account and the SMS webhook's posts.
    pub sms: crate::sms::SmsWorld,
    /// The last sequence number handed out; orders a phone's conversation.
    seq: u64,
}

/// What the agent sent, counted: how many messages were accepted, and how many calls
/// reused a message id already accepted (a retry, or the same message sent twice).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendStats {
    /// Messages accepted, each under its own id.
    pub messages_accepted: u64,
    /// Calls that named a message id already accepted; Google ignores them.
    pub repeated_message_ids: u64,
    /// Texts accepted by the Twilio-compatible API.
    pub texts_accepted: u64,
}

impl World {
    /// The next place in any conversation.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The phone with `number`, if it exists.
    pub fn phone_mut(&mut self, number: &str) -> Option<&mut Phone> {
        self.phones.get_mut(number)
    }
}

/// The state every handler and background job shares.
pub struct Shared {
    pub settings: Settings,
    pub auth: Authority,
    world: Mutex<World>,
    /// Delivery ids for the webhook worker, which posts them in order.
    pub outbox: mpsc::UnboundedSender<usize>,
    /// Turns true once on shutdown; every background job watches it.
    pub shutdown: watch::Sender<bool>,
    /// The client webhook posts go out on.
    pub http: reqwest::Client,
}

/// Why an emulator cannot start from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A field that must be set is empty.
    #[error("the emulator's {0} is empty; set it in the configuration")]
    Missing(&'static str),
    /// A crowd of phones cannot be made.
    #[error("{0}")]
    BadCrowd(String),
    /// A phone's number is not E.164.
    #[error("phone {0:?} is not an E.164 number such as +16135550123")]
    BadNumber(String),
    /// Two phones share a number.
    #[error("phone {0} is configured twice; give each phone its own number")]
    DuplicatePhone(String),
    /// A rate limit that cannot work.
    #[error("the {0} rate limit needs a burst of at least 1 and more than 0 calls a second")]
    BadRate(&'static str),
    /// A service account's public key does not parse.
    #[error("the public key of service account {email} is not an RSA key in PEM: {problem}")]
    BadKey {
        /// The account.
        email: String,
        /// What the parser said.
        problem: String,
    },
    /// The webhook client cannot be set up.
    #[error("cannot set up the HTTP client for webhooks: {0}")]
    Http(reqwest::Error),
    /// Not called from inside a Tokio runtime.
    #[error("the emulator needs a Tokio runtime; create it from inside one")]
    NoRuntime,
}

impl Shared {
    /// Checks `config` and builds the state; the receiver is the webhook worker's.
    pub fn new(
        mut config: EmulatorConfig,
    ) -> Result<(Arc<Shared>, mpsc::UnboundedReceiver<usize>), ConfigError> {
        for crowd in std::mem::take(&mut config.crowds) {
            config
                .phones
                .extend(crowd.phones().map_err(ConfigError::BadCrowd)?);
        }
        check_config(&config)?;
        crate::sms::check_config(&config)?;
        let auth = Authority::new(&config)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(
                config.webhook_retry.timeout_ms.max(1),
            ))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tidings-emulator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::Http)?;
        let world = initial_world(&config);
        let (outbox, inbox) = mpsc::unbounded_channel();
        let shared = Shared {
            settings: Settings {
                agent_id: config.agent_id,
                client_token: config.client_token,
                project_number: config.project_number,
                user_rate: config.user_rate,
                retry: config.webhook_retry,
            },
            auth,
            world: Mutex::new(world),
            outbox,
            shutdown: watch::channel(false).0,
            http,
        };
        Ok((Arc::new(shared), inbox))
    }

    /// The world, locked.
    pub fn world(&self) -> MutexGuard<'_, World> {
        // Every change to the world completes under the lock; a panic halfway through
        // one leaves at worst a half-recorded event, which is better than a dead
        // emulator.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a phone while running.
    pub fn add_phone(&self, config: PhoneConfig) -> Result<(), ApiError> {
        if !is_e164(&config.number) {
            return Err(ApiError::invalid(
                "number: not an E.164 number such as +16135550123",
            ));
        }
        let bucket = bucket(self.settings.user_rate, Instant::now());
        let mut world = self.world();
        if world.phones.contains_key(&config.number) {
            return Err(ApiError::precondition(
                "a phone with this number exists already; change it with the control API",
            ));
        }
        world
            .phones
            .insert(config.number.clone(), Phone::new(config, bucket));
        Ok(())
    }

    /// Runs `job` after `delay`, unless the emulator shuts down or is dropped first.
    pub fn after(
        self: &Arc<Self>,
        delay: Duration,
        job: impl FnOnce(&Arc<Shared>) + Send + 'static,
    ) {
        // A weak handle: a pending job must not keep a dropped emulator alive.
        let weak = Arc::downgrade(self);
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            if let Some(shared) = weak.upgrade() {
                job(&shared);
            }
        });
    }
}

fn check_config(config: &EmulatorConfig) -> Result<(), ConfigError> {
    if config.agent_id.trim().is_empty() {
        return Err(ConfigError::Missing("agentId"));
    }
    if config.client_token.is_empty() {
        return Err(ConfigError::Missing("clientToken"));
    }
    let rates = [
        ("agent", config.agent_rate),
        ("user", config.user_rate),
        ("batchGet", config.batch_get_rate),
    ];
    for (name, rate) in rates {
        // NaN is refused with the rest: only a positive, finite rate makes a bucket.
        if rate.is_some_and(|r| r.burst == 0 || !r.per_second.is_finite() || r.per_second <= 0.0) {
            return Err(ConfigError::BadRate(name));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for phone in &config.phones {
        if !is_e164(&phone.number) {
            return Err(ConfigError::BadNumber(phone.number.clone()));
        }
        if !seen.insert(phone.number.as_str()) {
            return Err(ConfigError::DuplicatePhone(phone.number.clone()));
        }
    }
    Ok(())
}

fn initial_world(config: &EmulatorConfig) -> World {
    let now = Instant::now();
    let phones = config
        .phones
        .iter()
        .map(|phone| {
            let bucket = bucket(config.user_rate, now);
            (phone.number.clone(), Phone::new(phone.clone(), bucket))
        })
        .collect();
    World {
        phones,
        webhook_url: config.webhook_url.clone(),
        agent_bucket: bucket(config.agent_rate, now),
        batch_bucket: bucket(config.batch_get_rate, now),
        sms: crate::sms::SmsWorld::new(config),
        ..World::default()
    }
}
