//! Email over SMTP: the fallback for customers Tidings cannot reach over RCS or SMS,
//! and a channel of its own for those who chose it.
//!
//! One [`EmailSender`] sends through one SMTP server (a relay on the same host, the
//! shop's mail provider, or a transactional email service), keeping a few connections
//! open between messages, each checked with RSET before it carries another. Its
//! connections turn Nagle's algorithm off, which would otherwise hold the end of every
//! message until the server's delayed acknowledgement. [`EmailSender::send`] takes the
//! same [`AgentMessage`] the RCS clients take, [renders](render) it as a text and an
//! HTML part, and fails with an [`EmailError`] sorted like [`crate::rbm::RbmError`]:
//! retry later, dead-letter, or fix the configuration. The sender never retries on its
//! own (see [`crate::retry`]).
//!
//! Sending is idempotent only as far as SMTP allows: a server that took the message and
//! then lost the connection before saying so gets it twice. Both copies carry the same
//! `Message-ID`, built from Tidings' message UUID, so they are recognisable.
//!
//! [`AgentMessage`]: domain::rcs::AgentMessage

mod compose;
mod config;
mod connection;
mod error;
mod pool;
mod render;
mod transaction;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use domain::Email;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::Address;
use secrecy::ExposeSecret;
use tokio::time::Instant;
use uuid::Uuid;

use compose::{compose, Envelope, Origin};
use config::parse_mailbox;
use connection::Connector;
use error::scrub_addresses;
use pool::Pool;

pub use config::{BuildError, EmailConfig, Security, SmtpServer};
pub use error::EmailError;
pub use render::{render, Brand, EmailContent, RenderedEmail, Unsubscribe, UnsubscribeError};

/// Sends email through one SMTP server. Cheap to clone: clones share the connection
/// pool.
#[derive(Clone)]
pub struct EmailSender {
    inner: Arc<Inner>,
}

struct Inner {
    /// The open connections to the server.
    pool: Pool,
    /// The longest one send may take, connecting included.
    timeout: Duration,
    origin: Origin,
    server: SmtpServer,
}

/// The server's answer to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The server's text, such as `2.0.0 Ok: queued as 4Bc1Xy`, with addresses taken
    /// out: its queue id is what to search its logs for.
    pub reply: String,
}

impl fmt::Debug for EmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSender")
            .field("server", &self.inner.server)
            .field("from", &self.inner.origin.from.email.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailSender {
    /// Builds a sender; it opens no connection until the first send, and needs no Tokio
    /// runtime until then.
    ///
    /// # Errors
    /// When the URL, an address or the CA file is unusable, only one of username and
    /// password is set, or a password would cross the network in plain text.
    pub fn new(config: EmailConfig) -> Result<EmailSender, BuildError> {
        let server = SmtpServer::parse(&config.smtp_url)?;
        let origin = Origin {
            from: parse_mailbox("from", &config.from)?,
            reply_to: match &config.reply_to {
                Some(reply_to) => Some(parse_mailbox("reply_to", reply_to)?),
                None => None,
            },
        };
        let connector = Connector {
            server: server.clone(),
            tls: tls(&config, &server)?,
            // Without a name of its own, Tidings gives this machine's host name.
            hello: config
                .hello_name
                .clone()
                .map(ClientId::Domain)
                .unwrap_or_default(),
            credentials: credentials(&config, &server)?,
        };
        let max_idle = usize::try_from(config.max_idle_connections.max(1)).unwrap_or(1);
        let inner = Inner {
            pool: Pool::new(connector, max_idle, config.idle_timeout),
            timeout: config.timeout,
            origin,
            server,
        };
        Ok(EmailSender {
            inner: Arc::new(inner),
        })
    }

    /// The server this sender sends through.
    pub fn server(&self) -> &SmtpServer {
        &self.inner.server
    }

    /// Renders `content` and sends it to `to` under `message_id`, which becomes the
    /// email's `Message-ID`.
    ///
    /// # Errors
    /// [`EmailError::MissingUnsubscribe`] for promotional content without an
    /// unsubscribe link, [`EmailError::InvalidRecipient`] for an address SMTP cannot
    /// carry (nothing is sent for either); otherwise the server's refusal or a
    /// transport failure, as described on [`EmailError`].
    #[tracing::instrument(name = "email send", skip_all, fields(message_id = %message_id))]
    pub async fn send(
        &self,
        to: &Email,
        message_id: Uuid,
        content: &EmailContent<'_>,
    ) -> Result<Accepted, EmailError> {
        // Promotional mail must offer a way out; any other mail offers it when the
        // caller gives one (the one-click link withdraws promotional consent only).
        if content.is_promotional() && content.unsubscribe.is_none() {
            return Err(EmailError::MissingUnsubscribe);
        }
        let list_unsubscribe = content.unsubscribe;
        let envelope = Envelope {
            to: mailbox_of(to)?,
            message_id,
            list_unsubscribe,
        };
        let email = compose(&self.inner.origin, envelope, render(content))?;

        let response = self.deliver(email).await?;
        let reply: Vec<&str> = response.message().collect();
        Ok(Accepted {
            reply: scrub_addresses(&reply.join(" ")),
        })
    }

    /// Hands `email` to the server, within the configured time.
    async fn deliver(&self, email: lettre::Message) -> Result<Response, EmailError> {
        let message = email.formatted();
        let timeout = self.inner.timeout;
        let deadline = Instant::now() + timeout;
        // A send cut off here drops the connection it was using, mid-exchange, with
        // it: the server may still answer, and the next send must not read that.
        let exchange = self.exchange(email.envelope(), &message, deadline);
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(sent) => sent,
            Err(_) => Err(EmailError::Retryable {
                reason: format!(
                    "the SMTP exchange took longer than {} ms",
                    timeout.as_millis()
                ),
            }),
        }
    }

    /// One mail transaction on a pooled connection, which goes back to the pool
    /// unless the transaction broke it.
    async fn exchange(
        &self,
        envelope: &lettre::address::Envelope,
        message: &[u8],
        deadline: Instant,
    ) -> Result<Response, EmailError> {
        let pool = &self.inner.pool;
        let mut connection = pool.checkout(deadline).await?;
        match transaction::send(&mut connection, envelope, message).await {
            Ok(response) => {
                pool.checkin(connection);
                Ok(response)
            }
            Err(failure) => {
                if failure.keeps_connection() {
                    pool.checkin(connection);
                }
                Err(failure.into_error())
            }
        }
    }
}

/// The recipient as lettre takes it; lettre's check is stricter than [`Email`]'s.
fn mailbox_of(to: &Email) -> Result<Mailbox, EmailError> {
    let address: Address = to
        .as_str()
        .parse()
        .map_err(|_| EmailError::InvalidRecipient)?;
    Ok(Mailbox::new(None, address))
}

/// The credentials to log in with, if any, refusing to send a password in plain text
/// to another machine.
fn credentials(
    config: &EmailConfig,
    server: &SmtpServer,
) -> Result<Option<Credentials>, BuildError> {
    let user = config
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let password = config
        .password
        .as_ref()
        .map(|p| p.expose_secret())
        .filter(|p| !p.is_empty());
    let (user, password) = match (user, password) {
        (None, None) => return Ok(None),
        (Some(user), Some(password)) => (user, password),
        _ => return Err(BuildError::HalfCredentials),
    };
    if server.security == Security::Plain && !server.is_loopback() {
        return Err(BuildError::CredentialsInPlainText {
            host: server.host.clone(),
        });
    }
    Ok(Some(Credentials::new(
        user.to_string(),
        password.to_string(),
    )))
}

/// The TLS settings for the server's security (none for a plain server), trusting
/// the public CAs (webpki roots) and those in `ca_file`.
fn tls(config: &EmailConfig, server: &SmtpServer) -> Result<Option<TlsParameters>, BuildError> {
    if server.security == Security::Plain {
        return Ok(None);
    }
    let mut parameters = TlsParameters::builder(server.host.clone());
    if let Some(path) = &config.ca_file {
        parameters = parameters.add_root_certificate(read_ca_file(path)?);
    }
    let parameters = parameters
        .build_rustls()
        .map_err(|error| BuildError::Tls(error.to_string()))?;
    Ok(Some(parameters))
}

fn read_ca_file(path: &std::path::Path) -> Result<Certificate, BuildError> {
    let problem = |problem: String| BuildError::CaFile {
        path: path.to_path_buf(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|error| problem(error.to_string()))?;
    // lettre reads a file without certificates as an empty list, which would then
    // trust nothing extra without saying so.
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(problem("it holds no PEM certificate".into()));
    }
    Certificate::from_pem(&pem).map_err(|error| problem(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn config(url: &str) -> EmailConfig {
        EmailConfig::new(url, "Shop <orders@shop.example>")
    }

    fn with_credentials(url: &str, user: Option<&str>, password: Option<&str>) -> EmailConfig {
        let mut config = config(url);
        config.username = user.map(Into::into);
        config.password = password.map(|p| SecretString::from(p.to_string()));
        config
    }

    #[test]
    fn credentials_go_together() {
        for (user, password) in [(Some("u"), None), (None, Some("p")), (Some(" "), Some("p"))] {
            let config = with_credentials("smtps://mail.example", user, password);
            let error = EmailSender::new(config).expect_err("half credentials");
            assert!(matches!(error, BuildError::HalfCredentials), "{error}");
        }
        let config = with_credentials("smtps://mail.example", Some("u"), Some("p"));
        assert!(EmailSender::new(config).is_ok());
    }

    #[test]
    fn a_password_never_crosses_the_network_in_plain_text() {
        let config = with_credentials("smtp://mail.example", Some("u"), Some("p"));
        let error = EmailSender::new(config).expect_err("plain text password");
        assert!(error.to_string().contains("tls=starttls"), "{error}");
        // On this machine nobody can overhear it.
        let config = with_credentials("smtp://127.0.0.1:1025", Some("u"), Some("p"));
        assert!(EmailSender::new(config).is_ok());
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        for path in [empty, dir.path().join("missing.pem")] {
            let mut config = config("smtps://mail.example");
            config.ca_file = Some(path.clone());
            let error = EmailSender::new(config).expect_err("bad CA file");
            assert!(matches!(error, BuildError::CaFile { .. }), "{error}");
            assert!(error.to_string().contains(&path.display().to_string()));
        }
    }

    #[test]
    fn bad_addresses_name_their_setting() {
        let mut bad_from = config("smtp://localhost");
        bad_from.from = "nobody".into();
        let error = EmailSender::new(bad_from).unwrap_err();
        assert!(error.to_string().contains("email from"), "{error}");
        let mut bad_reply = config("smtp://localhost");
        bad_reply.reply_to = Some("help at shop".into());
        let error = EmailSender::new(bad_reply).unwrap_err();
        assert!(error.to_string().contains("email reply_to"), "{error}");
    }

    #[test]
    fn the_debug_form_shows_no_secret() {
        let config = with_credentials("smtps://mail.example", Some("u"), Some("hunter2"));
        assert!(!format!("{config:?}").contains("hunter2"));
        let sender = EmailSender::new(config).unwrap();
        assert!(!format!("{sender:?}").contains("hunter2"));
    }
}
