//! The `[sms]` section: the SMS provider (Twilio, or anything speaking its Messaging
//! API; or a Kannel smsbox), the fallback when a phone has no RCS.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use channels::sms::{KannelConfig, Sender, TwilioConfig, TwilioCredentials};

use super::serialize_secret;

/// Where the SMS webhook is served; status callbacks point here.
pub const WEBHOOK_PATH: &str = "/webhooks/sms";

/// Where Kannel's delivery reports are served.
pub const KANNEL_WEBHOOK_PATH: &str = "/webhooks/kannel";

/// Where a Kannel `sms-service` passes the texts customers send.
pub const KANNEL_INBOUND_PATH: &str = "/webhooks/kannel/inbound";

/// Which API SMS goes through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    /// Twilio's Programmable Messaging REST API.
    #[default]
    Twilio,
    /// A Kannel smsbox's `/cgi-bin/sendsms`.
    Kannel,
}

/// The SMS provider's account, credentials and sender. Sending SMS is off until
/// `account_sid` is set; the webhook answers 401 while `auth_token` is unset, since
/// Twilio signs webhooks with the auth token even when the API is called with an API
/// key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SmsSettings {
    /// The API spoken: `twilio` or `kannel`.
    pub provider: SmsProvider,
    /// The API's base URL: Twilio's, or an emulator's `http://` URL.
    pub base_url: String,
    /// The account (`AC…`) messages are sent from.
    pub account_sid: Option<String>,
    /// The account's auth token: the API password unless an API key is set, and the
    /// key of every webhook signature.
    #[serde(serialize_with = "serialize_secret")]
    pub auth_token: Option<SecretString>,
    /// An API key (`SK…`) to call the API with instead of the auth token.
    pub api_key_sid: Option<String>,
    /// The API key's secret.
    #[serde(serialize_with = "serialize_secret")]
    pub api_key_secret: Option<SecretString>,
    /// The number (E.164) or alphanumeric sender id messages come from.
    #[serde(deserialize_with = "number_or_text")]
    pub from: Option<String>,
    /// A Messaging Service (`MG…`) that picks the sender; wins over `from`.
    pub messaging_service_sid: Option<String>,
    /// Most SMS segments sent per second from this node: its share of the account's
    /// quota (a Twilio account's default is about 2,000). A text of several segments
    /// costs that many.
    pub rate_per_second: u32,
    /// The kind of number texts come from, whose carrier quota paces them on top of
    /// `rate_per_second`; unset, only `rate_per_second` applies.
    pub sender_kind: Option<SenderKind>,
    /// Segments per second the sending number takes; wins over `sender_kind`'s quota.
    pub sender_rate_per_second: Option<u32>,
    /// Kannel: smsbox's sendsms listener, such as `http://127.0.0.1:13013`.
    pub kannel_url: Option<String>,
    /// Kannel: the `sendsms-user`'s username.
    pub username: Option<String>,
    /// Kannel: the `sendsms-user`'s password.
    #[serde(serialize_with = "serialize_secret")]
    pub password: Option<SecretString>,
    /// Kannel: the secret its delivery reports carry back to `/webhooks/kannel`, which
    /// answers 401 while it is unset.
    #[serde(serialize_with = "serialize_secret")]
    pub dlr_secret: Option<SecretString>,
}

impl Default for SmsSettings {
    fn default() -> Self {
        SmsSettings {
            provider: SmsProvider::Twilio,
            base_url: channels::sms::twilio::DEFAULT_BASE_URL.into(),
            account_sid: None,
            auth_token: None,
            api_key_sid: None,
            api_key_secret: None,
            from: None,
            messaging_service_sid: None,
            rate_per_second: 10,
            sender_kind: None,
            sender_rate_per_second: None,
            kannel_url: None,
            username: None,
            password: None,
            dlr_secret: None,
        }
    }
}

/// A kind of sending number, by the throughput carriers allow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    /// A 10-digit number: about one segment a second.
    LongCode,
    /// A 5- or 6-digit short code: about 100 segments a second.
    ShortCode,
}

impl SenderKind {
    /// Segments a second carriers take from such a number.
    pub fn segments_per_second(self) -> u32 {
        match self {
            SenderKind::LongCode => 1,
            SenderKind::ShortCode => 100,
        }
    }
}

impl SmsSettings {
    /// Segments a second the sending number takes, when its kind or rate is set.
    pub fn sender_rate(&self) -> Option<u32> {
        self.sender_rate_per_second
            .or_else(|| self.sender_kind.map(SenderKind::segments_per_second))
    }

    /// The client configuration these settings describe, with status callbacks to
    /// `{public_url}/webhooks/sms`, or `None` when sending SMS through Twilio is not set
    /// up (no account SID, or another provider).
    ///
    /// # Errors
    /// When the account is set but its credentials or sender are not; the message
    /// names the missing key.
    pub fn client_config(&self, public_url: &str) -> Result<Option<TwilioConfig>, String> {
        let Some(account_sid) = self.account_sid.as_ref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        if self.provider != SmsProvider::Twilio {
            return Ok(None);
        }
        let mut config =
            TwilioConfig::new(account_sid.clone(), self.credentials()?, self.sender()?);
        config.base_url = self.base_url.clone();
        config.status_callback = Some(format!(
            "{}{WEBHOOK_PATH}",
            public_url.trim_end_matches('/')
        ));
        Ok(Some(config))
    }

    /// The Kannel client configuration these settings describe, with delivery reports
    /// to `{public_url}/webhooks/kannel`, or `None` unless the provider is `kannel` and
    /// `kannel_url` is set.
    ///
    /// # Errors
    /// When the username, password, sender or DLR secret is missing; the message names
    /// the missing key.
    pub fn kannel_client_config(&self, public_url: &str) -> Result<Option<KannelConfig>, String> {
        let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        let secret = |value: &Option<SecretString>| {
            value
                .as_ref()
                .filter(|s| !s.expose_secret().is_empty())
                .cloned()
        };
        let Some(url) = set(&self.kannel_url).filter(|_| self.provider == SmsProvider::Kannel)
        else {
            return Ok(None);
        };
        let username = set(&self.username).ok_or("sms.username: is required for Kannel")?;
        let password = secret(&self.password).ok_or("sms.password: is required for Kannel")?;
        let from = set(&self.from).ok_or("sms.from: is required for Kannel")?;
        let dlr_secret = secret(&self.dlr_secret)
            .ok_or("sms.dlr_secret: is required for Kannel's delivery reports")?;
        let mut config = KannelConfig::new(url, username, password, from);
        config.dlr_url = Some(format!(
            "{}{KANNEL_WEBHOOK_PATH}",
            public_url.trim_end_matches('/')
        ));
        config.dlr_secret = Some(dlr_secret);
        Ok(Some(config))
    }

    fn credentials(&self) -> Result<TwilioCredentials, String> {
        let present = |secret: &Option<SecretString>| {
            secret
                .as_ref()
                .filter(|s| !s.expose_secret().is_empty())
                .cloned()
        };
        if let Some(sid) = &self.api_key_sid {
            let secret = present(&self.api_key_secret)
                .ok_or("sms.api_key_secret: is required with sms.api_key_sid")?;
            return Ok(TwilioCredentials::ApiKey {
                sid: sid.clone(),
                secret,
            });
        }
        present(&self.auth_token)
            .map(TwilioCredentials::AuthToken)
            .ok_or_else(|| "sms.auth_token: is required to send SMS (or an API key)".into())
    }

    fn sender(&self) -> Result<Sender, String> {
        let set = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
        if let Some(service) = set(&self.messaging_service_sid) {
            return Ok(Sender::MessagingService(service));
        }
        set(&self.from)
            .map(Sender::From)
            .ok_or_else(|| "sms.from or sms.messaging_service_sid: one is required".into())
    }
}

/// A sender as text. The environment layer reads `TIDINGS_SMS__FROM=+15005550006` as
/// the integer 15005550006, dropping the `+`; an integer can only be an E.164 number,
/// so it gets its `+` back.
fn number_or_text<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    Ok(match Option::<Raw>::deserialize(deserializer)? {
        Some(Raw::Text(text)) => Some(text),
        Some(Raw::Number(number)) => Some(format!("+{number}")),
        None => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_senders_quota_comes_from_its_kind_unless_a_rate_is_set() {
        let mut settings = SmsSettings::default();
        assert_eq!(settings.sender_rate(), None);
        settings.sender_kind = Some(SenderKind::LongCode);
        assert_eq!(settings.sender_rate(), Some(1));
        settings.sender_kind = Some(SenderKind::ShortCode);
        assert_eq!(settings.sender_rate(), Some(100));
        settings.sender_rate_per_second = Some(3);
        assert_eq!(settings.sender_rate(), Some(3));
    }

    #[test]
    fn sender_kinds_are_read_by_their_snake_case_names() {
        let settings: SmsSettings =
            serde_json::from_str(r#"{"sender_kind": "short_code"}"#).unwrap();
        assert_eq!(settings.sender_kind, Some(SenderKind::ShortCode));
        let unknown = serde_json::from_str::<SmsSettings>(r#"{"sender_kind": "toll"}"#);
        assert!(unknown.is_err());
    }

    fn account() -> SmsSettings {
        SmsSettings {
            account_sid: Some("AC123".into()),
            ..SmsSettings::default()
        }
    }

    #[test]
    fn sending_is_off_until_the_account_is_named() {
        let config = SmsSettings::default().client_config("https://t.example");
        assert!(config.unwrap().is_none());
    }

    #[test]
    fn an_account_needs_credentials_and_a_sender_by_name() {
        let mut settings = account();
        let missing = settings.client_config("https://t.example").unwrap_err();
        assert!(missing.starts_with("sms.auth_token"), "{missing}");

        settings.auth_token = Some("token".to_string().into());
        let missing = settings.client_config("https://t.example").unwrap_err();
        assert!(missing.starts_with("sms.from"), "{missing}");

        settings.api_key_sid = Some("SK1".into());
        let missing = settings.client_config("https://t.example").unwrap_err();
        assert!(missing.starts_with("sms.api_key_secret"), "{missing}");
    }

    #[test]
    fn a_messaging_service_wins_and_callbacks_go_to_the_webhook() {
        let mut settings = account();
        settings.auth_token = Some("token".to_string().into());
        settings.from = Some("+15005550006".into());
        settings.messaging_service_sid = Some("MG1".into());
        let config = settings
            .client_config("https://t.example/")
            .unwrap()
            .unwrap();
        assert_eq!(config.sender, Sender::MessagingService("MG1".into()));
        assert_eq!(
            config.status_callback.as_deref(),
            Some("https://t.example/webhooks/sms")
        );
    }

    #[test]
    fn kannel_needs_its_provider_credentials_and_secret_and_reports_to_the_webhook() {
        let mut settings = SmsSettings {
            kannel_url: Some("http://127.0.0.1:13013".into()),
            ..SmsSettings::default()
        };
        assert!(settings
            .kannel_client_config("https://t.example")
            .unwrap()
            .is_none());

        settings.provider = SmsProvider::Kannel;
        settings.account_sid = Some("AC123".into());
        let twilio = settings.client_config("https://t.example").unwrap();
        assert!(twilio.is_none(), "Twilio stays off under provider = kannel");
        let missing = settings
            .kannel_client_config("https://t.example")
            .unwrap_err();
        assert!(missing.starts_with("sms.username"), "{missing}");
        settings.username = Some("tidings".into());
        settings.password = Some("pw".to_string().into());
        settings.from = Some("Shop".into());
        let missing = settings
            .kannel_client_config("https://t.example")
            .unwrap_err();
        assert!(missing.starts_with("sms.dlr_secret"), "{missing}");

        settings.dlr_secret = Some("0123456789abcdef".to_string().into());
        let config = settings
            .kannel_client_config("https://t.example/")
            .unwrap()
            .expect("a config");
        assert_eq!(config.base_url, "http://127.0.0.1:13013");
        assert_eq!(
            config.dlr_url.as_deref(),
            Some("https://t.example/webhooks/kannel")
        );
        let printed = serde_json::to_string(&settings).unwrap();
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(printed.contains("\"provider\":\"kannel\""), "{printed}");
    }

    #[test]
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn the_environment_names_reach_the_sms_section_and_secrets_stay_hidden() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TIDINGS_SMS__ACCOUNT_SID", "AC-env");
            jail.set_env("TIDINGS_SMS__AUTH_TOKEN", "env-auth-token");
            jail.set_env("TIDINGS_SMS__FROM", "+15005550006");
            let config = super::super::Config::load(None).unwrap();
            assert_eq!(config.sms.account_sid.as_deref(), Some("AC-env"));
            assert_eq!(config.sms.from.as_deref(), Some("+15005550006"));
            let token = config.sms.auth_token.as_ref().expect("an auth token");
            assert_eq!(token.expose_secret(), "env-auth-token");
            let printed = serde_json::to_string(&config.sms).unwrap();
            assert!(!printed.contains("env-auth-token"), "{printed}");
            assert!(printed.contains("\"provider\":\"twilio\""), "{printed}");
            Ok(())
        });
    }
}
