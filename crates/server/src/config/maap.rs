//! The `[maap]` section: an operator's GSMA MaaP chatbot platform, beside Google RBM.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use channels::maap::{ClientAuth, ClientCredentials, MaapAuth, MaapConfig};

use super::serialize_secret;

/// Where the MaaP platform is, the bot's credentials, and the webhook's secret. Sending
/// over MaaP is off until `base_url`, `bot_id` and credentials are set: either
/// `client_id` with `client_secret` and `token_url` (OAuth client credentials), or a
/// static `access_token`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MaapSettings {
    /// The platform's chatbot API root, before the bot id (`…/bot/v1`), from the
    /// operator or aggregator.
    pub base_url: Option<String>,
    /// The bot's id on the platform.
    pub bot_id: Option<String>,
    /// The platform's OAuth 2.0 token endpoint.
    pub token_url: Option<String>,
    /// The bot's OAuth client id.
    pub client_id: Option<String>,
    /// The bot's OAuth client secret.
    #[serde(serialize_with = "serialize_secret")]
    pub client_secret: Option<SecretString>,
    /// Send the client id and secret in the token request's form instead of HTTP Basic,
    /// for platforms that take only that.
    pub client_secret_in_form: bool,
    /// An OAuth scope the platform wants in token requests.
    pub scope: Option<String>,
    /// A static bearer token, for platforms that issue one instead of OAuth clients;
    /// ignored when `client_id` is set.
    #[serde(serialize_with = "serialize_secret")]
    pub access_token: Option<SecretString>,
    /// The secret the platform sends as `Authorization: Bearer …` on each notification
    /// to `/webhooks/maap`. The MaaP webhook answers 401 while it is unset.
    #[serde(serialize_with = "serialize_secret")]
    pub webhook_secret: Option<SecretString>,
    /// Most messages sent to the platform per second from this node.
    pub rate_per_second: u32,
}

impl Default for MaapSettings {
    fn default() -> Self {
        MaapSettings {
            base_url: None,
            bot_id: None,
            token_url: None,
            client_id: None,
            client_secret: None,
            client_secret_in_form: false,
            scope: None,
            access_token: None,
            webhook_secret: None,
            rate_per_second: 100,
        }
    }
}

impl MaapSettings {
    /// The client configuration these settings describe, or `None` when sending over
    /// MaaP is not set up (no base URL or no bot id).
    ///
    /// # Errors
    /// When the platform is set up but its credentials are incomplete; the message
    /// names the missing key.
    pub fn client_config(&self) -> Result<Option<MaapConfig>, String> {
        let (Some(base_url), Some(bot_id)) = (&self.base_url, &self.bot_id) else {
            return Ok(None);
        };
        let auth = self.auth()?;
        Ok(Some(MaapConfig::new(
            base_url.clone(),
            bot_id.clone(),
            auth,
        )))
    }

    fn auth(&self) -> Result<MaapAuth, String> {
        if let Some(client_id) = &self.client_id {
            return self.client_credentials(client_id);
        }
        match &self.access_token {
            Some(token) => Ok(MaapAuth::StaticBearer(token.clone())),
            None => Err(
                "maap.client_id (with maap.client_secret and maap.token_url) or \
                 maap.access_token: one is required to send over MaaP"
                    .into(),
            ),
        }
    }

    fn client_credentials(&self, client_id: &str) -> Result<MaapAuth, String> {
        let token_url = self
            .token_url
            .clone()
            .ok_or("maap.token_url: is required with maap.client_id")?;
        let secret = self
            .client_secret
            .as_ref()
            .filter(|secret| !secret.expose_secret().is_empty())
            .ok_or("maap.client_secret: is required with maap.client_id")?;
        let mut credentials = ClientCredentials::new(token_url, client_id, secret.clone());
        credentials.scope = self.scope.clone();
        if self.client_secret_in_form {
            credentials.client_auth = ClientAuth::Form;
        }
        Ok(MaapAuth::ClientCredentials(credentials))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> MaapSettings {
        MaapSettings {
            base_url: Some("https://maap.operator.example/bot/v1".into()),
            bot_id: Some("shop-bot".into()),
            ..MaapSettings::default()
        }
    }

    #[test]
    fn sending_is_off_until_the_platform_is_named() {
        assert!(MaapSettings::default().client_config().unwrap().is_none());
    }

    #[test]
    fn client_credentials_win_over_a_static_token_and_need_their_keys() {
        let mut settings = platform();
        settings.access_token = Some("static".to_string().into());
        settings.client_id = Some("client".into());
        let missing = settings.client_config().unwrap_err();
        assert!(missing.starts_with("maap.token_url"), "{missing}");

        settings.token_url = Some("https://auth.operator.example/token".into());
        let missing = settings.client_config().unwrap_err();
        assert!(missing.starts_with("maap.client_secret"), "{missing}");

        settings.client_secret = Some("secret".to_string().into());
        settings.client_secret_in_form = true;
        let config = settings.client_config().unwrap().expect("a config");
        let MaapAuth::ClientCredentials(credentials) = config.auth else {
            panic!("expected client credentials");
        };
        assert_eq!(credentials.client_auth, ClientAuth::Form);
    }

    #[test]
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn the_environment_names_reach_the_maap_section() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TIDINGS_MAAP__BOT_ID", "env-bot");
            jail.set_env("TIDINGS_MAAP__WEBHOOK_SECRET", "hook-secret");
            jail.set_env("TIDINGS_MAAP__CLIENT_SECRET", "client-secret");
            let config = super::super::Config::load(None).unwrap();
            assert_eq!(config.maap.bot_id.as_deref(), Some("env-bot"));
            let secret = config
                .maap
                .webhook_secret
                .as_ref()
                .expect("a webhook secret");
            assert_eq!(secret.expose_secret(), "hook-secret");
            let printed = serde_json::to_string(&config.maap).unwrap();
            assert!(!printed.contains("hook-secret"), "{printed}");
            assert!(!printed.contains("client-secret"), "{printed}");
            assert!(printed.contains("<redacted>"), "{printed}");
            Ok(())
        });
    }

    #[test]
    fn a_static_token_serves_when_there_is_no_client() {
        let mut settings = platform();
        assert!(settings
            .client_config()
            .unwrap_err()
            .contains("maap.access_token"));
        settings.access_token = Some("static".to_string().into());
        let config = settings.client_config().unwrap().expect("a config");
        assert!(matches!(config.auth, MaapAuth::StaticBearer(_)));
        assert_eq!(config.bot_id, "shop-bot");
    }
}
