//! What an emulator is started with: the agent, its webhook, the service accounts it
//! trusts, its rate limits, and the phones it simulates.
//!
//! Every type reads from JSON or TOML (camelCase keys in JSON, the same names in TOML),
//! so a config file, the control API and Rust code describe phones the same way.

use serde::{Deserialize, Serialize};

/// Google's token endpoint, accepted as an assertion's audience besides the emulator's
/// own `/token` URL, so a client configured for Google only needs its base URLs changed.
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// Every RBM feature a phone can report from `capabilities`.
pub const ALL_FEATURES: &[&str] = &[
    "RICHCARD_STANDALONE",
    "RICHCARD_CAROUSEL",
    "ACTION_CREATE_CALENDAR_EVENT",
    "ACTION_DIAL",
    "ACTION_OPEN_URL",
    "ACTION_OPEN_URL_IN_WEBVIEW",
    "ACTION_SHARE_LOCATION",
    "ACTION_VIEW_LOCATION",
    "REVOCATION",
];

/// Everything an [`Emulator`](crate::Emulator) needs. [`EmulatorConfig::default`] is a
/// working demo setup with no phones and no webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct EmulatorConfig {
    /// The one agent this emulator hosts; every call must name it in `agentId`.
    pub agent_id: String,
    /// The agent's client token: the key of each webhook's `X-Goog-Signature` and the
    /// token sent in the registration handshake.
    pub client_token: String,
    /// Where user messages and events are posted; none keeps them in the inspection
    /// API only. Can be changed while running through the control API.
    pub webhook_url: Option<String>,
    /// The service accounts whose signed assertions the token endpoint accepts.
    pub service_accounts: Vec<ServiceAccount>,
    /// Audiences an assertion may name besides the emulator's own `/token` URL.
    pub token_audiences: Vec<String>,
    /// Accept any non-empty bearer token without a token exchange, for quick demos
    /// with clients that have no service-account key. Off by default.
    pub accept_any_bearer: bool,
    /// How long an access token from `/token` is valid, in seconds.
    pub token_lifetime_secs: u64,
    /// The agent's sending rate, over `agentMessages` and `agentEvents`; none for no
    /// limit.
    pub agent_rate: Option<RateLimit>,
    /// The rate at which the agent may message any one phone; none for no limit.
    pub user_rate: Option<RateLimit>,
    /// The rate of `users:batchGet` calls; Google allows 600 a minute.
    pub batch_get_rate: Option<RateLimit>,
    /// How webhook posts that fail are retried.
    pub webhook_retry: RetryConfig,
    /// The Google Cloud project number shown in webhook attributes.
    pub project_number: String,
    /// The phones that exist when the emulator starts.
    pub phones: Vec<PhoneConfig>,
    /// Crowds of phones with shares of behaviour, added to `phones` at start.
    pub crowds: Vec<Crowd>,
    /// The account of the Twilio-compatible SMS API.
    pub twilio: TwilioAccount,
    /// Where texts from the phones are posted, signed as Twilio signs them; none keeps
    /// them in the inspection API only. Can be changed while running.
    pub sms_webhook_url: Option<String>,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            agent_id: "emulator-agent".to_string(),
            client_token: "emulator-client-token".to_string(),
            webhook_url: None,
            service_accounts: Vec::new(),
            token_audiences: vec![GOOGLE_TOKEN_URL.to_string()],
            accept_any_bearer: false,
            token_lifetime_secs: 3600,
            agent_rate: Some(RateLimit {
                burst: 300,
                per_second: 100.0,
            }),
            user_rate: Some(RateLimit {
                burst: 60,
                per_second: 1.0,
            }),
            batch_get_rate: Some(RateLimit {
                burst: 600,
                per_second: 10.0,
            }),
            webhook_retry: RetryConfig::default(),
            project_number: "000000000000".to_string(),
            phones: Vec::new(),
            crowds: Vec::new(),
            twilio: TwilioAccount::default(),
            sms_webhook_url: None,
        }
    }
}

/// A service account the token endpoint trusts: its address (the assertion's `iss`)
/// and the public half of its key. List an account once per key to trust several, as
/// while a key is rotated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccount {
    /// The account's `client_email`.
    pub client_email: String,
    /// The RSA public key in PEM, as `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`.
    pub public_key_pem: String,
}

/// A token bucket: up to `burst` calls at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimit {
    /// How many calls may come at once after a quiet spell; at least 1.
    pub burst: u32,
    /// How many calls a second are allowed in the long run; more than 0.
    pub per_second: f64,
}

/// The backoff of webhook posts that do not get a 200: the first retry after
/// `initial_backoff_ms`, each later one after twice as long up to `max_backoff_ms`,
/// dropped once the first attempt is `give_up_after_secs` old.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryConfig {
    /// The wait before the first retry, in milliseconds.
    pub initial_backoff_ms: u64,
    /// The longest wait between retries, in milliseconds; Google's grows to 600 s.
    pub max_backoff_ms: u64,
    /// How long a post is retried before it is dropped; Google gives up after 7 days.
    pub give_up_after_secs: u64,
    /// The longest one post may take before it counts as failed, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> RetryConfig {
        RetryConfig {
            initial_backoff_ms: 1_000,
            max_backoff_ms: 600_000,
            give_up_after_secs: 7 * 24 * 3600,
            timeout_ms: 10_000,
        }
    }
}

/// One simulated phone and how its user behaves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneConfig {
    /// The number in E.164 form, such as `+16135550123`.
    pub number: String,
    /// A name for the phone's page; the number when absent.
    pub name: Option<String>,
    /// Whether the phone has RCS; without it every call for it answers 404.
    pub rcs: bool,
    /// Whether the phone is on the network; messages to an offline phone wait.
    pub online: bool,
    /// What `capabilities` reports, and what messages may use; see [`ALL_FEATURES`].
    pub features: Vec<String>,
    /// How long after it is sent (or the phone comes online) a message is delivered.
    pub delivery_delay_ms: u64,
    /// How long after delivery the user reads a message; none for a user who never
    /// opens the conversation.
    pub read_after_ms: Option<u64>,
    /// What the user does, one step per delivered agent message, in order.
    pub script: Vec<ScriptStep>,
    /// How the phone takes SMS; any phone can, with RCS or without.
    pub sms: SmsHandset,
}

impl Default for PhoneConfig {
    fn default() -> PhoneConfig {
        PhoneConfig {
            number: String::new(),
            name: None,
            rcs: true,
            online: true,
            features: ALL_FEATURES.iter().map(|f| f.to_string()).collect(),
            delivery_delay_ms: 50,
            read_after_ms: Some(500),
            script: Vec::new(),
            sms: SmsHandset::default(),
        }
    }
}

impl PhoneConfig {
    /// An online RCS phone with every feature and the default behaviour.
    pub fn rcs(number: impl Into<String>) -> PhoneConfig {
        PhoneConfig {
            number: number.into(),
            ..PhoneConfig::default()
        }
    }

    /// A phone without RCS: the API answers 404 for it.
    pub fn without_rcs(number: impl Into<String>) -> PhoneConfig {
        PhoneConfig {
            rcs: false,
            ..PhoneConfig::rcs(number)
        }
    }
}

/// One scripted step: `after_ms` after an agent message is delivered, the user does
/// `action` in reply to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScriptStep {
    /// The wait after delivery, in milliseconds.
    #[serde(default)]
    pub after_ms: u64,
    /// What the user does.
    #[serde(flatten)]
    pub action: UserAction,
}

/// Something a simulated user does in the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UserAction {
    /// Types and sends a text.
    Text(String),
    /// Taps the suggestion with this label on the message being answered.
    TapSuggestion(String),
    /// Shares a location.
    ShareLocation {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
    },
    /// Sends a file (the agent is told where it lies, as RBM does).
    SendFile(UserFile),
}

/// A file a user sends, as RBM describes it to the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserFile {
    /// The file's name on the phone.
    pub file_name: String,
    /// Its MIME type, such as `image/jpeg`.
    pub mime_type: String,
    /// Where the agent downloads it.
    pub file_uri: String,
    /// Its size.
    pub file_size_bytes: u64,
}

/// Many phones at once, for load tests and for measuring what share of customers a
/// campaign reaches and how many read: `count` consecutive numbers from `first`, of
/// which `rcs_share` have RCS and, of those, `read_share` read what they receive.
///
/// Shares are spread evenly and deterministically over the numbers (with a share of
/// 0.25, every fourth phone), so a run can be repeated exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Crowd {
    /// The first number, in E.164.
    pub first: String,
    /// How many phones.
    pub count: u32,
    /// The share (0 to 1) with RCS; the rest answer 404.
    pub rcs_share: f64,
    /// The share (0 to 1) of RCS phones whose users read what arrives.
    pub read_share: f64,
    /// How long after it is sent a message is delivered.
    pub delivery_delay_ms: u64,
    /// How long after delivery a reading user reads.
    pub read_after_ms: u64,
}

impl Default for Crowd {
    fn default() -> Crowd {
        Crowd {
            first: String::new(),
            count: 0,
            rcs_share: 1.0,
            read_share: 1.0,
            delivery_delay_ms: 50,
            read_after_ms: 500,
        }
    }
}

impl Crowd {
    /// The crowd's phones.
    ///
    /// # Errors
    /// When `first` is not E.164, the numbers would run past 15 digits, or a share is
    /// not between 0 and 1; the message names the field.
    pub fn phones(&self) -> Result<Vec<PhoneConfig>, String> {
        for (name, share) in [("rcsShare", self.rcs_share), ("readShare", self.read_share)] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!(
                    "crowd {}: {name} must be between 0 and 1",
                    self.first
                ));
            }
        }
        let digits = self.first.strip_prefix('+').unwrap_or_default();
        let start: u64 = digits
            .parse()
            .ok()
            .filter(|_| (8..=15).contains(&digits.len()) && !digits.starts_with('0'))
            .ok_or_else(|| format!("crowd first {:?}: not an E.164 number", self.first))?;
        let last = start + u64::from(self.count.saturating_sub(1));
        if last.to_string().len() != digits.len() {
            return Err(format!(
                "crowd {}: {} numbers do not fit",
                self.first, self.count
            ));
        }
        let mut readers = 0;
        let phones = (0..u64::from(self.count))
            .map(|i| {
                let rcs = picked(i, self.rcs_share);
                let reads = rcs && picked(readers, self.read_share);
                readers += u64::from(rcs);
                PhoneConfig {
                    number: format!("+{}", start + i),
                    rcs,
                    delivery_delay_ms: self.delivery_delay_ms,
                    read_after_ms: reads.then_some(self.read_after_ms),
                    ..PhoneConfig::default()
                }
            })
            .collect();
        Ok(phones)
    }
}

/// The account of the Twilio-compatible SMS API: what `Messages.json` takes as HTTP
/// Basic credentials, and the key of the `X-Twilio-Signature` on what it posts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TwilioAccount {
    /// The account SID: the Basic auth user and part of every path.
    pub account_sid: String,
    /// The auth token: the Basic auth password and the signing key.
    pub auth_token: String,
    /// The business number: what phones text when no SMS reached them yet, and the
    /// sender of messages sent through a Messaging Service.
    pub number: String,
}

impl Default for TwilioAccount {
    fn default() -> TwilioAccount {
        TwilioAccount {
            account_sid: "AC00000000000000000000000000000000".to_string(),
            auth_token: "emulator-auth-token".to_string(),
            // Twilio's own test "From" number.
            number: "+15005550006".to_string(),
        }
    }
}

/// How a phone takes SMS.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct SmsHandset {
    /// What becomes of a text sent to the phone.
    pub outcome: SmsOutcome,
    /// The Twilio error code an undelivered or failed text reports; 30003
    /// (unreachable handset) or 30008 (unknown error) when absent.
    pub error_code: Option<u32>,
    /// The user has texted STOP: sends are refused with Twilio's 21610 until they text
    /// START.
    pub opted_out: bool,
}

/// What becomes of a text sent to a phone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SmsOutcome {
    /// Queued, sent, then delivered (once the phone is online).
    #[default]
    Delivered,
    /// Queued, sent, then undelivered: the carrier could not reach the handset.
    Undelivered,
    /// Queued, then failed: it never left Twilio.
    Failed,
}

/// Whether item `i` of a sequence falls in an evenly spread `share` of it.
fn picked(i: u64, share: f64) -> bool {
    let before = (i as f64 * share).floor();
    let after = ((i + 1) as f64 * share).floor();
    after > before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crowd_spreads_its_shares_evenly() {
        let crowd = Crowd {
            first: "+16135550000".into(),
            count: 100,
            rcs_share: 0.8,
            read_share: 0.5,
            ..Crowd::default()
        };
        let phones = crowd.phones().unwrap();
        assert_eq!(phones.len(), 100);
        assert_eq!(phones[99].number, "+16135550099");
        let rcs = phones.iter().filter(|p| p.rcs).count();
        let readers = phones.iter().filter(|p| p.read_after_ms.is_some()).count();
        assert_eq!((rcs, readers), (80, 40));
        assert!(phones.iter().all(|p| p.rcs || p.read_after_ms.is_none()));
    }

    #[test]
    fn a_crowd_that_cannot_be_made_is_refused_by_name() {
        let bad = |crowd: Crowd| crowd.phones().unwrap_err();
        let base = Crowd {
            first: "+16135550000".into(),
            count: 10,
            ..Crowd::default()
        };
        assert!(bad(Crowd {
            rcs_share: 1.5,
            ..base.clone()
        })
        .contains("rcsShare"));
        assert!(bad(Crowd {
            first: "613".into(),
            ..base.clone()
        })
        .contains("E.164"));
        let overflow = Crowd {
            first: "+999999999999999".into(),
            ..base
        };
        assert!(bad(overflow).contains("do not fit"));
    }
}
