//! The RCS providers the dispatcher sends through, and what their answers mean for a
//! message.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use channels::maap::{MaapClient, MaapError};
use channels::rbm::{RbmClient, RbmConfig, RbmError, ServiceAccountKey};
use domain::rcs::AgentMessage;
use domain::PhoneNumber;
use uuid::Uuid;

use crate::config::{Config, RbmSettings};

/// Where RCS messages go.
#[derive(Clone)]
pub enum Provider {
    /// Google's RBM API (or an emulator of it).
    Rbm(RbmClient),
    /// An operator's GSMA MaaP chatbot platform.
    Maap(MaapClient),
}

/// Why a send did not go through, sorted by what happens to the message.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Whether a later attempt may succeed, and how long the provider asked to wait.
    pub retry: Option<Option<Duration>>,
    /// The attempt's outcome as recorded: `retry`, `rejected`, `unreachable` or `error`.
    pub outcome: &'static str,
    pub http_status: Option<i64>,
    /// What went wrong, for operators; never personal data.
    pub detail: String,
}

impl Failure {
    /// A failure that sending again cannot fix.
    pub fn permanent(outcome: &'static str, detail: impl Into<String>) -> Failure {
        Failure {
            retry: None,
            outcome,
            http_status: None,
            detail: detail.into(),
        }
    }
}

impl Provider {
    /// The provider the settings set up: RBM when its agent and key are set, else MaaP
    /// when its platform and credentials are, else `None` (messages wait in the outbox).
    ///
    /// # Errors
    /// When a provider is half set up (a key file that cannot be read, credentials
    /// missing) or its client cannot be built.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Provider>> {
        if let Some(rbm) = Provider::rbm_from_settings(&config.rbm)? {
            return Ok(Some(rbm));
        }
        let Some(maap) = config.maap.client_config().map_err(anyhow::Error::msg)? else {
            return Ok(None);
        };
        let client = MaapClient::new(maap).context("setting up the MaaP client (maap.*)")?;
        Ok(Some(Provider::Maap(client)))
    }

    /// The most sends a second this node makes through the provider.
    pub fn rate_per_second(&self, config: &Config) -> u32 {
        match self {
            Provider::Rbm(_) => config.rbm.rate_per_second,
            Provider::Maap(_) => config.maap.rate_per_second,
        }
    }

    /// The RBM provider the settings describe, or `None` when sending over RBM is not
    /// set up (no agent id or no service-account key).
    ///
    /// # Errors
    /// When the key file cannot be read or the settings do not make a client.
    pub fn rbm_from_settings(settings: &RbmSettings) -> anyhow::Result<Option<Provider>> {
        let (Some(agent_id), Some(key_file)) = (&settings.agent_id, &settings.service_account_file)
        else {
            return Ok(None);
        };
        let key = read_key(key_file)?;
        let mut config = RbmConfig::new(agent_id.clone(), key);
        config.base_url = settings.base_url.clone();
        config.token_url = settings.token_url.clone();
        let client = RbmClient::new(config).context("setting up the RBM client (rbm.*)")?;
        Ok(Some(Provider::Rbm(client)))
    }

    /// The channel messages sent through this provider are on.
    pub fn channel(&self) -> &'static str {
        match self {
            Provider::Rbm(_) | Provider::Maap(_) => "rcs",
        }
    }

    /// Sends `message` to `phone` under Tidings' message id; safe to repeat with the
    /// same id, as the provider drops a second copy.
    ///
    /// # Errors
    /// A [`Failure`] saying whether to try again.
    pub async fn send(
        &self,
        phone: &PhoneNumber,
        id: Uuid,
        message: &AgentMessage,
    ) -> Result<(), Failure> {
        match self {
            Provider::Rbm(client) => client.send(phone, id, message).await.map_err(from_rbm),
            Provider::Maap(client) => {
                client.send(phone, id, message).await.map_err(from_maap)?;
                Ok(())
            }
        }
    }
}

impl Provider {
    /// Whether the provider knows, without asking, that the phone with E.164 number
    /// `e164` has no RCS: RBM remembers a 404 for its negative capability TTL. MaaP
    /// platforms are always asked.
    pub fn known_unreachable(&self, e164: &str) -> bool {
        match self {
            Provider::Rbm(client) => client.known_unreachable(e164),
            Provider::Maap(_) => false,
        }
    }

    /// Withdraws an undelivered message: `true` when it was withdrawn, `false` when it
    /// had been delivered already.
    ///
    /// # Errors
    /// A [`Failure`] when the provider could not be asked.
    pub async fn revoke(&self, phone: &PhoneNumber, id: Uuid) -> Result<bool, Failure> {
        match self {
            Provider::Rbm(client) => match client.revoke(phone, id).await.map_err(from_rbm)? {
                channels::rbm::Revocation::Revoked => Ok(true),
                channels::rbm::Revocation::AlreadyDelivered => Ok(false),
            },
            Provider::Maap(client) => match client.revoke(id).await.map_err(from_maap)? {
                channels::maap::Revocation::Revoked => Ok(true),
                _ => Ok(false),
            },
        }
    }
}

fn read_key(path: &Path) -> anyhow::Result<ServiceAccountKey> {
    ServiceAccountKey::from_file(path).with_context(|| {
        format!(
            "reading the RBM service-account key {} (rbm.service_account_file)",
            path.display()
        )
    })
}

/// What an RBM error means for the message: 404 is "no RCS for this phone", 400 a dead
/// letter with Google's reason, 429/5xx/timeouts a retry; credentials refused are
/// retried too, so that messages wait while an operator fixes the key.
fn from_rbm(error: RbmError) -> Failure {
    let detail = error.to_string();
    match error {
        RbmError::NotReachable => Failure {
            http_status: Some(404),
            ..Failure::permanent("unreachable", detail)
        },
        RbmError::Rejected { code, .. } => Failure {
            http_status: Some(i64::from(code)),
            ..Failure::permanent("rejected", detail)
        },
        RbmError::Retryable { retry_after, .. } => Failure {
            retry: Some(retry_after),
            outcome: "retry",
            http_status: None,
            detail,
        },
        RbmError::Unauthorized { .. } | RbmError::Forbidden { .. } => Failure {
            retry: Some(None),
            outcome: "retry",
            http_status: None,
            detail,
        },
        _ => Failure::permanent("error", detail),
    }
}

/// The same sorting for an SMTP server's answers: an unusable address is the channel
/// giving up (the next one may still reach the customer), other refusals are dead
/// letters, passing failures and refused credentials are retried.
pub(super) fn from_email(error: channels::email::EmailError) -> Failure {
    use channels::email::EmailError;
    let detail = error.to_string();
    let retry = |detail| Failure {
        retry: Some(None),
        outcome: "retry",
        http_status: None,
        detail,
    };
    if error.address_unusable() {
        return Failure::permanent("unreachable", detail);
    }
    match error {
        EmailError::Retryable { .. }
        | EmailError::AuthRefused { .. }
        | EmailError::Incompatible { .. } => retry(detail),
        EmailError::Rejected { .. } => Failure::permanent("rejected", detail),
        _ => Failure::permanent("error", detail),
    }
}

/// The same sorting for Twilio's answers. A number SMS cannot reach, or one that texted
/// STOP (Twilio then refuses every message to it, order updates included), is SMS
/// giving up: the next channel may still reach the customer.
pub(super) fn from_twilio(error: channels::sms::TwilioError) -> Failure {
    use channels::sms::TwilioError;
    let detail = error.to_string();
    match error {
        TwilioError::NotReachable { .. } | TwilioError::OptedOut => {
            Failure::permanent("unreachable", detail)
        }
        TwilioError::Rejected { status, .. } => Failure {
            http_status: Some(i64::from(status)),
            ..Failure::permanent("rejected", detail)
        },
        TwilioError::Retryable { retry_after, .. } => Failure {
            retry: Some(retry_after),
            outcome: "retry",
            http_status: None,
            detail,
        },
        TwilioError::Unauthorized { .. } => Failure {
            retry: Some(None),
            outcome: "retry",
            http_status: None,
            detail,
        },
        _ => Failure::permanent("error", detail),
    }
}

/// The same sorting for a MaaP platform's answers.
fn from_maap(error: MaapError) -> Failure {
    let detail = error.to_string();
    match error {
        MaapError::NotReachable => Failure {
            http_status: Some(404),
            ..Failure::permanent("unreachable", detail)
        },
        MaapError::Rejected { code, .. } => Failure {
            http_status: Some(i64::from(code)),
            ..Failure::permanent("rejected", detail)
        },
        MaapError::Retryable { retry_after, .. } => Failure {
            retry: Some(retry_after),
            outcome: "retry",
            http_status: None,
            detail,
        },
        MaapError::Unauthorized { .. } | MaapError::Forbidden { .. } => Failure {
            retry: Some(None),
            outcome: "retry",
            http_status: None,
            detail,
        },
        _ => Failure::permanent("error", detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn googles_answers_decide_what_becomes_of_the_message() {
        let not_reachable = from_rbm(RbmError::NotReachable);
        assert_eq!(
            (
                not_reachable.retry,
                not_reachable.outcome,
                not_reachable.http_status
            ),
            (None, "unreachable", Some(404))
        );

        let rejected = from_rbm(RbmError::Rejected {
            code: 400,
            status: "INVALID_ARGUMENT".into(),
            message: "contentMessage.text: too long".into(),
        });
        assert_eq!((rejected.retry, rejected.outcome), (None, "rejected"));
        assert!(rejected.detail.contains("contentMessage.text: too long"));

        let throttled = from_rbm(RbmError::Retryable {
            retry_after: Some(Duration::from_secs(7)),
            reason: "HTTP 429".into(),
        });
        assert_eq!(throttled.retry, Some(Some(Duration::from_secs(7))));

        // Refused credentials wait for an operator rather than losing the message.
        let refused = from_rbm(RbmError::Unauthorized {
            message: "invalid_grant".into(),
        });
        assert_eq!((refused.retry, refused.outcome), (Some(None), "retry"));
    }
}
