//! Configuration: defaults, then a TOML file, then `TIDINGS_*` environment variables
//! (`__` separates nesting: `TIDINGS_SHOPIFY__WEBHOOK_SECRET`).

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

mod email;
mod maap;
pub mod sms;
pub use email::EmailSettings;
pub use maap::MaapSettings;
pub use sms::{SmsProvider, SmsSettings};

/// Everything Tidings reads at start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// `sqlite://path` (created if missing) or `postgres://user@host/db`.
    pub database_url: String,
    /// Address the HTTP server listens on; port 0 picks a free one.
    pub listen: String,
    /// Base of links in messages and of tracking page URLs.
    pub public_url: String,
    /// ISO 3166 region for phone numbers written without a country code.
    pub default_region: String,
    /// `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    pub shop: ShopConfig,
    pub shopify: WebhookConfig,
    pub woocommerce: WebhookConfig,
    pub easypost: WebhookConfig,
    pub ingest: IngestConfig,
    pub rbm: RbmSettings,
    pub maap: MaapSettings,
    pub sms: SmsSettings,
    pub email: EmailSettings,
    pub dispatch: DispatchConfig,
    pub delivery: DeliveryConfig,
    pub scoring: ScoringConfig,
}

/// When customers' RFM scores and predictions are recomputed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoringConfig {
    /// Seconds between scoring runs, the first a minute after start; 0 runs none.
    pub every_secs: u64,
    /// Most customers the models are fitted on; a larger base is sampled evenly. Every
    /// customer is scored.
    pub fit_sample: usize,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        ScoringConfig {
            every_secs: 6 * 3600,
            fit_sample: 20_000,
        }
    }
}

/// The shop's brand, shown on tracking pages.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ShopConfig {
    pub name: String,
    /// URL of a logo image; none shows the name alone.
    pub logo_url: Option<String>,
    /// CSS colour (`#1a73e8`) for headings and buttons.
    pub brand_color: String,
    /// Where customers write when something is wrong.
    pub support_email: Option<String>,
    /// A help page that "Contact us" opens in messages when no phone is set.
    pub support_url: Option<String>,
    /// A number "Contact us" dials: digits and `+ * #`.
    pub support_phone: Option<String>,
    /// Language of pages and messages when the customer's is unknown.
    pub default_locale: String,
}

/// A platform's webhook settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookConfig {
    /// The shared secret the platform signs deliveries with; the webhook answers 401
    /// to everything while it is unset.
    #[serde(serialize_with = "serialize_secret")]
    pub webhook_secret: Option<SecretString>,
}

/// How deliveries are written and processed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct IngestConfig {
    /// Most deliveries written in one commit.
    pub batch_max: usize,
    /// Deliveries that may wait for the writer before webhooks answer 503.
    pub queue_capacity: usize,
    /// Most deliveries processed in one transaction (which also ends after a few ms).
    pub process_batch: i64,
    /// Run the processor in this process; switch off on nodes that only accept.
    pub processor: bool,
    /// Processor tasks in this process; unset, one on SQLite (which has one writer) and
    /// four on PostgreSQL (where a delivery costs round trips, not the write lock).
    pub processor_tasks: Option<usize>,
}

impl IngestConfig {
    /// How many processor tasks to run against `backend` (`sqlite` or `postgres`).
    pub fn processor_tasks_for(&self, backend: &str) -> usize {
        match (self.processor_tasks, backend) {
            (Some(tasks), _) => tasks,
            (None, "postgres") => 4,
            (None, _) => 1,
        }
    }
}

/// Google's RCS Business Messaging: where to send, as which agent, and the webhook's
/// client token. Sending is off until `agent_id` and `service_account_file` are set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct RbmSettings {
    /// The RBM API's base URL: Google's global endpoint, a regional one
    /// (`https://europe-rcsbusinessmessaging.googleapis.com`), or an emulator.
    pub base_url: String,
    /// Where service-account assertions are traded for access tokens.
    pub token_url: String,
    /// The agent Tidings sends as, from the Business Communications console.
    pub agent_id: Option<String>,
    /// The partner service account's JSON key file.
    pub service_account_file: Option<std::path::PathBuf>,
    /// The client token set with the webhook URL in the console; Google signs each
    /// webhook delivery with it. The RBM webhook answers 401 while it is unset.
    #[serde(serialize_with = "serialize_secret")]
    pub client_token: Option<SecretString>,
    /// Most messages sent to RBM per second from this node (a token bucket).
    pub rate_per_second: u32,
}

/// How the dispatcher sends what the outbox holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DispatchConfig {
    /// Run the dispatcher in this process (it also needs a configured channel).
    pub enabled: bool,
    /// Most messages claimed at once.
    pub batch: i64,
    /// Most provider calls in flight at once.
    pub max_in_flight: usize,
    /// Seconds a claimed message stays with this node; past it another node may send
    /// it (the provider drops the second copy by its message id).
    pub lease_secs: u64,
    /// Attempts before a message that keeps failing for passing reasons is given up.
    pub max_attempts: i64,
}

/// Which channel a message goes on, when, and how often: the delivery policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Channels in order of preference; a message goes on the first that has a provider,
    /// a contact point and consent, and falls back along the list.
    pub channels: Vec<String>,
    /// Seconds an RCS message may stay undelivered before it is revoked and sent on the
    /// next channel.
    pub not_delivered_within_secs: u64,
    /// When promotional messages may go out, in the customer's time zone (`HH:MM-HH:MM`).
    pub quiet_hours: String,
    /// Other windows by country of the customer's phone (`FR = "10:00-20:00"`).
    pub quiet_hours_by_country: std::collections::BTreeMap<String, String>,
    /// Most promotional messages per customer in any 24 hours.
    pub promotional_per_day: u32,
    /// Most promotional messages per customer in any 7 days.
    pub promotional_per_week: u32,
    /// Seconds a time-critical order update delivered on RCS may stay unread before it
    /// is sent once more on the next channel; unset (the default), nothing is.
    pub escalate_unread_after_secs: Option<u64>,
    /// The templates unread escalation applies to: order updates whose news loses its
    /// worth within hours. Promotions are never escalated.
    pub escalate_templates: Vec<String>,
}

/// Order updates worth a second channel when unread: the customer must act (be home,
/// fetch a parcel, answer the carrier) before the moment passes.
pub const DEFAULT_ESCALATE_TEMPLATES: [&str; 3] =
    ["out_for_delivery", "delivery_exception", "ready_for_pickup"];

impl DeliveryConfig {
    /// Checks the unread escalation settings.
    ///
    /// # Errors
    /// A zero window, or a template key that does not exist; the message names the key.
    pub fn validate_escalation(&self) -> Result<(), String> {
        if self.escalate_unread_after_secs == Some(0) {
            return Err(
                "delivery.escalate_unread_after_secs: must be at least 1 second, \
                 or left out to switch escalation off"
                    .into(),
            );
        }
        match self
            .escalate_templates
            .iter()
            .find(|key| !domain::template::KEYS.contains(&key.as_str()))
        {
            Some(key) => Err(format!(
                "delivery.escalate_templates: unknown template {key:?}; templates are {}",
                domain::template::KEYS.join(", ")
            )),
            None => Ok(()),
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            channels: vec!["rcs".into(), "sms".into(), "email".into()],
            not_delivered_within_secs: 600,
            quiet_hours: "08:00-21:00".into(),
            quiet_hours_by_country: std::collections::BTreeMap::new(),
            promotional_per_day: 1,
            promotional_per_week: 3,
            escalate_unread_after_secs: None,
            escalate_templates: DEFAULT_ESCALATE_TEMPLATES.map(String::from).to_vec(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://./tidings-data/tidings.db".into(),
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            default_region: "US".into(),
            log_format: LogFormat::Text,
            shop: ShopConfig::default(),
            shopify: WebhookConfig::default(),
            woocommerce: WebhookConfig::default(),
            easypost: WebhookConfig::default(),
            ingest: IngestConfig::default(),
            rbm: RbmSettings::default(),
            maap: MaapSettings::default(),
            sms: SmsSettings::default(),
            email: EmailSettings::default(),
            dispatch: DispatchConfig::default(),
            delivery: DeliveryConfig::default(),
            scoring: ScoringConfig::default(),
        }
    }
}

impl Default for RbmSettings {
    fn default() -> Self {
        RbmSettings {
            base_url: channels::rbm::DEFAULT_BASE_URL.into(),
            token_url: channels::rbm::DEFAULT_TOKEN_URL.into(),
            agent_id: None,
            service_account_file: None,
            client_token: None,
            rate_per_second: 100,
        }
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            enabled: true,
            batch: 256,
            max_in_flight: 64,
            lease_secs: 60,
            max_attempts: 10,
        }
    }
}

impl Default for ShopConfig {
    fn default() -> Self {
        ShopConfig {
            name: "Tidings Shop".into(),
            logo_url: None,
            brand_color: "#1a73e8".into(),
            support_email: None,
            support_url: None,
            support_phone: None,
            default_locale: "en".into(),
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_max: 2_000,
            queue_capacity: 20_000,
            process_batch: 16,
            processor: true,
            processor_tasks: None,
        }
    }
}

fn serialize_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    // Secrets never leave the process, not even in a printed configuration.
    match secret {
        Some(_) => serializer.serialize_some("<redacted>"),
        None => serializer.serialize_none(),
    }
}

impl Config {
    /// Loads the layers in order; later layers override earlier ones.
    ///
    /// # Errors
    /// When the file cannot be read or a value has the wrong type; the message names the
    /// key and where it came from.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("TIDINGS_").split("__"))
            .extract()
            .map_err(Box::new)
    }

    /// Checks what the types cannot: values that would stop Tidings from working.
    ///
    /// # Errors
    /// The first setting that is out of range, by its key.
    pub fn validate(&self) -> Result<(), String> {
        if !domain::PhoneNumber::is_region(&self.default_region) {
            let region = &self.default_region;
            return Err(format!(
                "default_region: {region:?} is not an ISO 3166 code such as US"
            ));
        }
        let ingest = &self.ingest;
        for (key, value) in [
            ("ingest.batch_max", ingest.batch_max as i64),
            ("ingest.queue_capacity", ingest.queue_capacity as i64),
            ("ingest.process_batch", ingest.process_batch),
            (
                "ingest.processor_tasks",
                ingest.processor_tasks.map_or(1, |t| t as i64),
            ),
            ("rbm.rate_per_second", i64::from(self.rbm.rate_per_second)),
            ("maap.rate_per_second", i64::from(self.maap.rate_per_second)),
            ("sms.rate_per_second", i64::from(self.sms.rate_per_second)),
            (
                "sms.sender_rate_per_second",
                i64::from(self.sms.sender_rate_per_second.unwrap_or(1)),
            ),
            (
                "email.rate_per_second",
                i64::from(self.email.rate_per_second),
            ),
            ("email.timeout_secs", self.email.timeout_secs as i64),
            (
                "email.max_idle_connections",
                i64::from(self.email.max_idle_connections),
            ),
            ("dispatch.batch", self.dispatch.batch),
            ("dispatch.max_in_flight", self.dispatch.max_in_flight as i64),
            ("dispatch.lease_secs", self.dispatch.lease_secs as i64),
            ("dispatch.max_attempts", self.dispatch.max_attempts),
            (
                "delivery.not_delivered_within_secs",
                self.delivery.not_delivered_within_secs as i64,
            ),
        ] {
            if value < 1 {
                return Err(format!("{key}: must be at least 1, got {value}"));
            }
        }
        crate::dispatch::policy::Policy::from_config(&self.delivery)?;
        self.delivery.validate_escalation()
    }

    /// A tracking page URL for a token.
    pub fn tracking_url(&self, token: &str) -> String {
        format!("{}/t/{token}", self.public_url.trim_end_matches('/'))
    }

    /// The one-click unsubscribe page for a customer's token.
    pub fn unsubscribe_url(&self, token: &str) -> String {
        format!(
            "{}/unsubscribe/{token}",
            self.public_url.trim_end_matches('/')
        )
    }
}

/// The commented configuration `tidings default-config` prints.
pub const DEFAULT_CONFIG: &str = r##"# Tidings configuration.
# Every key can also be set by an environment variable: TIDINGS_<KEY>, with __
# between nested keys (TIDINGS_SHOPIFY__WEBHOOK_SECRET).
# Environment variables override this file; this file overrides the defaults shown.

# Where Tidings keeps its data: sqlite://path (created if missing), or
# postgres://user:password@host/database to share one database between several nodes.
database_url = "sqlite://./tidings-data/tidings.db"

# Address the HTTP server (API, webhooks, tracking pages) listens on.
listen = "127.0.0.1:8080"

# The public base URL of this server, used in links sent to customers.
public_url = "http://127.0.0.1:8080"

# ISO 3166 region assumed for phone numbers written without a +country code.
default_region = "US"

# Log format: "text" for a terminal, "json" for a log collector.
log_format = "text"

[shop]
# Shown on tracking pages, and named by every message (the answer to HELP says who is
# writing with it).
name = "Tidings Shop"
# logo_url = "https://shop.example/logo.png"
brand_color = "#1a73e8"
# How customers reach support; the answer to a HELP or INFO text gives the phone and
# email, else the page, else asks them to reply. None is set by default.
# support_email = "help@shop.example"
# "Contact us" in messages dials this number, else opens this page.
# support_phone = "+16135550100"
# support_url = "https://shop.example/help"
# Language used when a customer's own is unknown.
default_locale = "en"

[shopify]
# The app's client secret; Shopify signs each webhook with it.
# webhook_secret = "..."

[woocommerce]
# The secret set on the WooCommerce webhook.
# webhook_secret = "..."

[easypost]
# The webhook secret set in EasyPost.
# webhook_secret = "..."

[ingest]
# Most deliveries written to the database in one commit.
batch_max = 2000
# Deliveries that may queue for the writer before webhooks answer 503 (retry later).
queue_capacity = 20000
# Most deliveries processed in one transaction (which also ends after a few ms).
process_batch = 16
# Process stored deliveries in this process. With several nodes on PostgreSQL, any
# number of them may process; switch it off on nodes that should only accept.
processor = true
# Processor tasks in this process. Unset: 1 on SQLite (one writer at a time), 4 on
# PostgreSQL (deliveries are claimed with SKIP LOCKED, so tasks never share one).
# processor_tasks = 4

[rbm]
# Google's RCS Business Messaging. Sending over RCS starts once agent_id and
# service_account_file are set.
# The API endpoint; a regional one keeps traffic in a region, and an emulator's
# http:// URL works too.
base_url = "https://rcsbusinessmessaging.googleapis.com"
# Where the service account's signed assertion is traded for an access token.
token_url = "https://oauth2.googleapis.com/token"
# The agent's id, from the Business Communications console.
# agent_id = "shop-agent@rbm.goog"
# The partner service account's JSON key.
# service_account_file = "/etc/tidings/rbm-service-account.json"
# The client token entered beside the webhook URL (https://<public_url>/webhooks/rbm);
# Google signs deliveries with it.
# client_token = "..."
# Most messages sent per second from this node.
rate_per_second = 100

[maap]
# An operator's GSMA MaaP chatbot platform (FNW.11), as an alternative to RBM. Sending
# over MaaP starts once base_url, bot_id and credentials are set. Environment names:
# TIDINGS_MAAP__BASE_URL, TIDINGS_MAAP__CLIENT_SECRET, TIDINGS_MAAP__WEBHOOK_SECRET...
# The chatbot API root the operator gives, before the bot id.
# base_url = "https://maap.operator.example/rcs/bot/v1"
# The bot's id on the platform.
# bot_id = "shop-bot"
# OAuth 2.0 client credentials: the platform's token endpoint and the bot's client.
# token_url = "https://maap.operator.example/oauth2/token"
# client_id = "..."
# client_secret = "..."
# Some platforms take the client id and secret only in the token request's form.
client_secret_in_form = false
# scope = "..."
# Or, for a platform that issues a fixed token instead of an OAuth client:
# access_token = "..."
# The secret the platform sends as "Authorization: Bearer <secret>" with each
# notification to https://<public_url>/webhooks/maap (FNW.11 defines no signature).
# webhook_secret = "..."
# Most messages sent per second from this node.
rate_per_second = 100

[sms]
# SMS, the fallback for phones without RCS, through Twilio's Messaging API (or an
# emulator of it). Sending SMS starts once account_sid, credentials and a sender are
# set. Environment names: TIDINGS_SMS__ACCOUNT_SID, TIDINGS_SMS__AUTH_TOKEN,
# TIDINGS_SMS__FROM...
# The provider: "twilio" (the keys below up to rate_per_second), or "kannel" for a
# Kannel smsbox you run (the kannel_url block at the end, with from).
provider = "twilio"
# The API endpoint; an emulator's http:// URL works too.
base_url = "https://api.twilio.com"
# The account messages are sent from, from the Twilio console.
# account_sid = "AC..."
# The account's auth token. Twilio signs every webhook to
# https://<public_url>/webhooks/sms with it, so the webhook needs it even when sending
# uses an API key; set that URL as the sender's "A message comes in" webhook too.
# auth_token = "..."
# Or call the API with an API key and its secret instead of the auth token.
# api_key_sid = "SK..."
# api_key_secret = "..."
# Who messages come from: a number or alphanumeric sender id on the account, or a
# Messaging Service, which picks one from its pool (and wins when both are set).
# from = "+15005550006"
# messaging_service_sid = "MG..."
# Most SMS segments sent per second from this node (a text of 3 segments costs 3): its
# share of the account's quota, about 2,000 on a Twilio account.
rate_per_second = 10
# The sending number's own quota, paced on top of rate_per_second: "long_code" (about
# 1 segment a second) or "short_code" (100); sender_rate_per_second, when set, wins
# (a toll-free number's rate depends on its verification). Unset: no sender limit.
# sender_kind = "long_code"
# sender_rate_per_second = 3
# Kannel: smsbox's sendsms-port, and a sendsms-user group's username and password.
# kannel_url = "http://127.0.0.1:13013"
# username = "tidings"
# password = "..."
# Kannel: the secret its delivery reports carry to https://<public_url>/webhooks/kannel,
# which refuses reports without it. Letters, digits and -._~ only, 16 or more:
# `openssl rand -hex 32`. Reports and the secret sit in Kannel's DLR store and logs.
# The same secret lets customers' texts in: in kannel.conf, an sms-service with
#   keyword = default
#   get-url = "https://<public_url>/webhooks/kannel/inbound?id=%I&from=%p&to=%P&text=%a&ts=%T&secret=<dlr_secret>"
#   max-messages = 0
# passes each text to Tidings (max-messages = 0: Tidings answers by itself, if at all).
# dlr_secret = "..."

[email]
# Email over SMTP, for customers who chose it or cannot be reached by phone. Sending
# email starts once smtp_url and from are set. Environment names:
# TIDINGS_EMAIL__SMTP_URL, TIDINGS_EMAIL__USERNAME, TIDINGS_EMAIL__PASSWORD...
# The server, and how the connection is protected:
#   smtp://host:25                plain text: only for a relay on this host or network
#   smtp://host:587?tls=starttls  plain, then STARTTLS (required, never skipped)
#   smtps://host:465              TLS from the first byte
# smtp_url = "smtp://mail.shop.example:587?tls=starttls"
# The user and password to log in with (AUTH PLAIN or LOGIN); leave both out for a
# relay that takes mail without. A password is never sent over a plain connection to
# another machine.
# username = "tidings@shop.example"
# password = "..."
# Who emails come from, and where replies go when not there.
# from = "Tidings Shop <orders@shop.example>"
# reply_to = "help@shop.example"
# Every email carries List-Unsubscribe: the one-click link public_url/unsubscribe/...
# (RFC 8058; it withdraws promotional email consent) and this mailbox, for mail
# programs that unsubscribe by email. Unset, the address in from is used.
# unsubscribe_mailto = "unsubscribe@shop.example"
# Certificate authorities (PEM) to trust beside the public ones, for a relay whose
# certificate comes from a private CA.
# ca_file = "/etc/tidings/smtp-ca.pem"
# Seconds one send may take, connecting included, before it is retried later.
timeout_secs = 30
# Connections kept open between messages.
max_idle_connections = 4
# Most emails sent per second from this node.
rate_per_second = 10

[dispatch]
# Send queued messages from this process.
enabled = true
# Most messages claimed from the queue at once.
batch = 256
# Most provider calls in flight at once.
max_in_flight = 64
# Seconds a claimed message stays with this node before another may send it.
lease_secs = 60
# Attempts before a message that keeps failing for passing reasons is given up.
max_attempts = 10

[delivery]
# Channels in order of preference: a message goes on the first with a provider, a
# contact point and consent, and falls back along the list (RCS unreachable, expired,
# or not delivered in time).
channels = ["rcs", "sms", "email"]
# An RCS message not delivered within this many seconds is revoked and sent on the
# next channel.
not_delivered_within_secs = 600
# Promotional messages go out only in this window of the customer's local time, and
# wait for it otherwise. Order updates are exempt.
quiet_hours = "08:00-21:00"
# Other windows by the country of the customer's phone.
# quiet_hours_by_country = { FR = "10:00-20:00" }
# At most this many promotional messages per customer a day and a week; more wait.
promotional_per_day = 1
promotional_per_week = 3
# Unread escalation, off unless set: an order update on one of escalate_templates that
# was delivered on RCS but not read within this many seconds is sent once more on the
# next channel (SMS, else email) where the customer's consent allows. Never twice,
# never for promotions, never once read.
# escalate_unread_after_secs = 1800
escalate_templates = ["out_for_delivery", "delivery_exception", "ready_for_pickup"]
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_default_config_is_the_default() {
        let printed: Config = Figment::from(Toml::string(DEFAULT_CONFIG))
            .extract()
            .unwrap();
        let defaults = Config::default();
        assert_eq!(
            serde_json::to_value(&printed).unwrap(),
            serde_json::to_value(&defaults).unwrap()
        );
    }

    #[test]
    fn escalation_settings_that_make_no_sense_are_refused() {
        let mut delivery = DeliveryConfig {
            escalate_unread_after_secs: Some(0),
            ..DeliveryConfig::default()
        };
        let error = delivery.validate_escalation().unwrap_err();
        assert!(error.contains("escalate_unread_after_secs"), "{error}");

        delivery.escalate_unread_after_secs = Some(900);
        delivery.escalate_templates = vec!["out_for_delivry".into()];
        let error = delivery.validate_escalation().unwrap_err();
        assert!(error.contains("\"out_for_delivry\""), "{error}");

        delivery.escalate_templates = vec!["delayed".into()];
        assert_eq!(delivery.validate_escalation(), Ok(()));
    }

    #[test]
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn environment_overrides_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tidings.toml",
                "listen = \"0.0.0.0:9000\"\n[shop]\nname = \"A\"",
            )?;
            jail.set_env("TIDINGS_SHOP__NAME", "B");
            jail.set_env("TIDINGS_SHOPIFY__WEBHOOK_SECRET", "s3cret");
            let config = Config::load(Some(Path::new("tidings.toml"))).unwrap();
            assert_eq!(config.listen, "0.0.0.0:9000");
            assert_eq!(config.shop.name, "B");
            assert!(config.shopify.webhook_secret.is_some());
            Ok(())
        });
    }
}
