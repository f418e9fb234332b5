//! The SMS providers the dispatcher sends through, and what their answers mean for a
//! message: Twilio's API (or the emulator's), or a Kannel smsbox that an operator or a
//! self-hoster runs in front of their SMSC.

use anyhow::Context;
use channels::sms::kannel::{KannelClient, KannelError};
use channels::sms::TwilioClient;
use domain::PhoneNumber;
use uuid::Uuid;

use super::provider::{from_twilio, Failure};
use crate::config::sms::SmsProvider as ProviderKind;
use crate::config::Config;

/// Where SMS go.
pub enum SmsProvider {
    /// A Twilio-compatible `Messages.json` API.
    Twilio(TwilioClient),
    /// A Kannel smsbox's `sendsms` interface.
    Kannel(KannelClient),
}

impl SmsProvider {
    /// The provider `sms.provider` names, or `None` when it is not set up (no Twilio
    /// account, no Kannel URL): SMS then stays out of the channels a message may take.
    ///
    /// # Errors
    /// When the provider is half set up; the message names the missing key.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<SmsProvider>> {
        let settings = &config.sms;
        let provider = match settings.provider {
            ProviderKind::Twilio => settings
                .client_config(&config.public_url)
                .map_err(anyhow::Error::msg)?
                .map(TwilioClient::new)
                .transpose()
                .context("setting up the Twilio client (sms.*)")?
                .map(SmsProvider::Twilio),
            ProviderKind::Kannel => settings
                .kannel_client_config(&config.public_url)
                .map_err(anyhow::Error::msg)?
                .map(KannelClient::new)
                .transpose()
                .context("setting up the Kannel client (sms.*)")?
                .map(SmsProvider::Kannel),
        };
        Ok(provider)
    }

    /// Sends `text` to `to` as message `message_id`, which the provider's delivery
    /// reports carry back.
    pub async fn send(
        &self,
        to: &PhoneNumber,
        message_id: Uuid,
        text: &str,
    ) -> Result<(), Failure> {
        match self {
            SmsProvider::Twilio(client) => client
                .send(to, message_id, text)
                .await
                .map(drop)
                .map_err(from_twilio),
            SmsProvider::Kannel(client) => client
                .send(to, message_id, text)
                .await
                .map(drop)
                .map_err(from_kannel),
        }
    }
}

/// Sorts a Kannel failure the way [`from_twilio`] sorts Twilio's.
fn from_kannel(error: KannelError) -> Failure {
    let detail = error.to_string();
    match error {
        KannelError::NotReachable { .. } => Failure::permanent("unreachable", detail),
        KannelError::Rejected { status, .. } => Failure {
            http_status: Some(i64::from(status)),
            ..Failure::permanent("rejected", detail)
        },
        KannelError::Retryable { retry_after, .. } => Failure {
            retry: Some(retry_after),
            outcome: "retry",
            http_status: None,
            detail,
        },
        // Credentials fixed in kannel.conf or the settings let the message go later.
        KannelError::Unauthorized { status, .. } => Failure {
            retry: Some(None),
            outcome: "retry",
            http_status: Some(i64::from(status)),
            detail,
        },
        KannelError::UnexpectedResponse { .. } => Failure::permanent("error", detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kannel_failures_are_sorted_like_twilio_failures() {
        let denied = from_kannel(KannelError::NotReachable {
            message: "denied".into(),
        });
        assert_eq!((denied.outcome, denied.retry), ("unreachable", None));

        let refused = from_kannel(KannelError::Rejected {
            status: 400,
            message: "missing to".into(),
        });
        assert_eq!(refused.http_status, Some(400));
        assert_eq!(refused.retry, None);

        let busy = from_kannel(KannelError::Retryable {
            retry_after: Some(std::time::Duration::from_secs(3)),
            reason: "503".into(),
        });
        assert_eq!(busy.outcome, "retry");
        assert_eq!(busy.retry, Some(Some(std::time::Duration::from_secs(3))));

        let credentials = from_kannel(KannelError::Unauthorized {
            status: 403,
            message: "Authorization failed for sendsms".into(),
        });
        assert_eq!(credentials.retry, Some(None));
        assert!(
            credentials.detail.contains("sms.password"),
            "{}",
            credentials.detail
        );
    }
}
