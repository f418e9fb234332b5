//! The `[email]` section: the SMTP server email goes out through.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use channels::email::{EmailConfig, EmailSender};

use super::serialize_secret;

/// Where email goes out, as whom, and how fast. Sending email is off until `smtp_url`
/// and `from` are set.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailSettings {
    /// The SMTP server: `smtp://host:25` (plain, for a relay on this host),
    /// `smtp://host:587?tls=starttls` or `smtps://host:465`.
    pub smtp_url: Option<String>,
    /// The user to log in as; none sends without AUTH.
    pub username: Option<String>,
    /// The user's password.
    #[serde(serialize_with = "serialize_secret")]
    pub password: Option<SecretString>,
    /// The sender, with an optional name: `Shop <orders@shop.example>`.
    pub from: Option<String>,
    /// Where replies go, when not to `from`.
    pub reply_to: Option<String>,
    /// The mailbox `List-Unsubscribe` offers beside the one-click link, for mail
    /// programs that unsubscribe by email; `from`'s address when unset.
    pub unsubscribe_mailto: Option<String>,
    /// Extra certificate authorities (PEM) to trust, for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
    /// Seconds one send may take, connecting included, before it is retried later.
    pub timeout_secs: u64,
    /// Connections kept open between messages.
    pub max_idle_connections: u32,
    /// Most emails sent per second from this node (a token bucket).
    pub rate_per_second: u32,
}

impl Default for EmailSettings {
    fn default() -> Self {
        EmailSettings {
            smtp_url: None,
            username: None,
            password: None,
            from: None,
            reply_to: None,
            unsubscribe_mailto: None,
            ca_file: None,
            timeout_secs: 30,
            max_idle_connections: 4,
            rate_per_second: 10,
        }
    }
}

impl EmailSettings {
    /// The mailbox for `List-Unsubscribe`'s mailto: `unsubscribe_mailto`, else the
    /// address in `from` (`orders@shop.example` in `Shop <orders@shop.example>`).
    pub fn unsubscribe_address(&self) -> Option<String> {
        if let Some(address) = &self.unsubscribe_mailto {
            return Some(address.trim().to_string());
        }
        let from = self.from.as_deref()?.trim();
        let address = match (from.rfind('<'), from.rfind('>')) {
            (Some(open), Some(close)) if open < close => &from[open + 1..close],
            _ => from,
        };
        Some(address.trim().to_string())
    }

    /// The sender configuration these settings describe, or `None` when email is not
    /// set up (no `smtp_url`).
    ///
    /// # Errors
    /// When `smtp_url` is set but `from` is not; the message names the key.
    pub fn sender_config(&self) -> Result<Option<EmailConfig>, String> {
        let Some(smtp_url) = self
            .smtp_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
        else {
            return Ok(None);
        };
        let from = self
            .from
            .clone()
            .filter(|from| !from.trim().is_empty())
            .ok_or(
                "email.from: is required with email.smtp_url, as in \"Shop <orders@shop.example>\"",
            )?;
        let mut config = EmailConfig::new(smtp_url, from);
        config.username = self.username.clone();
        config.password = self.password.clone();
        config.reply_to = self.reply_to.clone();
        config.ca_file = self.ca_file.clone();
        config.timeout = Duration::from_secs(self.timeout_secs);
        config.max_idle_connections = self.max_idle_connections;
        Ok(Some(config))
    }

    /// The email sender, or `None` when email is not set up. It connects at its first
    /// send, so this checks the settings but not that the server answers.
    ///
    /// # Errors
    /// When the settings are incomplete or unusable; the message names the key.
    pub fn build_sender(&self) -> Result<Option<EmailSender>, String> {
        let Some(config) = self.sender_config()? else {
            return Ok(None);
        };
        let sender = EmailSender::new(config).map_err(|error| format!("[email]: {error}"))?;
        Ok(Some(sender))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay() -> EmailSettings {
        EmailSettings {
            smtp_url: Some("smtp://mail.shop.example:587?tls=starttls".into()),
            from: Some("Shop <orders@shop.example>".into()),
            ..EmailSettings::default()
        }
    }

    #[test]
    fn email_is_off_without_a_server() {
        assert!(EmailSettings::default().build_sender().unwrap().is_none());
        let blank = EmailSettings {
            smtp_url: Some(" ".into()),
            ..EmailSettings::default()
        };
        assert!(blank.build_sender().unwrap().is_none());
    }

    #[test]
    fn a_server_needs_a_sender_address() {
        let settings = EmailSettings {
            from: None,
            ..relay()
        };
        let error = settings.build_sender().unwrap_err();
        assert!(error.starts_with("email.from"), "{error}");
    }

    #[test]
    fn the_settings_carry_over_to_the_sender() {
        let settings = EmailSettings {
            username: Some("tidings".into()),
            password: Some(SecretString::from("s3cret")),
            timeout_secs: 7,
            ..relay()
        };
        let config = settings.sender_config().unwrap().expect("configured");
        assert_eq!(config.timeout, Duration::from_secs(7));
        assert_eq!(config.username.as_deref(), Some("tidings"));
        let sender = settings.build_sender().unwrap().expect("a sender");
        assert_eq!(sender.server().host, "mail.shop.example");
        assert_eq!(sender.server().port, 587);
    }

    #[test]
    // figment's Jail fixes the closure's error type.
    #[allow(clippy::result_large_err)]
    fn environment_variables_set_up_email() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TIDINGS_EMAIL__SMTP_URL", "smtps://mail.shop.example");
            jail.set_env("TIDINGS_EMAIL__FROM", "Shop <orders@shop.example>");
            jail.set_env("TIDINGS_EMAIL__USERNAME", "tidings");
            jail.set_env("TIDINGS_EMAIL__PASSWORD", "s3cret");
            let config = crate::config::Config::load(None).expect("a config");
            let sender = config
                .email
                .build_sender()
                .expect("valid")
                .expect("a sender");
            assert_eq!(sender.server().port, 465);
            Ok(())
        });
    }

    #[test]
    fn unusable_settings_say_which_section() {
        let settings = EmailSettings {
            smtp_url: Some("http://mail.shop.example".into()),
            ..relay()
        };
        let error = settings.build_sender().unwrap_err();
        assert!(error.starts_with("[email]: the SMTP URL"), "{error}");
        let printed = serde_json::to_string(&EmailSettings {
            password: Some(SecretString::from("s3cret")),
            ..relay()
        })
        .unwrap();
        assert!(!printed.contains("s3cret"), "{printed}");
    }
}
