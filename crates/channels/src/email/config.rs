//! Where the SMTP server is, how to reach it, and the checks that run once when the
//! sender is built.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use reqwest::Url;
use secrecy::SecretString;
use thiserror::Error;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No TLS at all: only for a relay on the same host or a trusted local network.
    Plain,
    /// A plain connection upgraded with STARTTLS before anything else is said; a
    /// server that does not offer it is refused.
    StartTls,
    /// TLS from the first byte (`smtps`, usually port 465).
    ImplicitTls,
}

/// An SMTP server, read from its URL, whose scheme and query say how the connection is
/// protected:
///
/// | URL                               | Connection                           | Port |
/// |-----------------------------------|--------------------------------------|------|
/// | `smtp://host[:port]`              | plain text, for a relay on this host | 25   |
/// | `smtp://host[:port]?tls=starttls` | plain, then STARTTLS (required)      | 587  |
/// | `smtps://host[:port]`             | TLS from the first byte ("implicit") | 465  |
///
/// There is no "STARTTLS if offered": a man in the middle can strip the offer, so a
/// connection that may silently fall back to plain text protects nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpServer {
    /// The host name or IP address, as written; certificates are checked against it.
    pub host: String,
    /// The port, or the default for the scheme and security.
    pub port: u16,
    /// How the connection is protected.
    pub security: Security,
}

impl SmtpServer {
    /// Reads `smtp://host:25`, `smtp://host:587?tls=starttls` or `smtps://host:465`.
    ///
    /// # Errors
    /// When the text is not such a URL: another scheme, user info (credentials belong in
    /// their own settings), a path, or a query other than `tls=starttls`.
    pub fn parse(text: &str) -> Result<SmtpServer, BuildError> {
        let text = text.trim();
        let url = Url::parse(text).map_err(|error| bad_url(text, &error.to_string()))?;
        check_url_parts(text, &url)?;
        let security = security_of(text, &url)?;
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| bad_url(text, "the host is missing"))?;
        // IPv6 hosts come back in brackets, which neither DNS nor TLS expects.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port().unwrap_or(default_port(security));
        Ok(SmtpServer {
            host,
            port,
            security,
        })
    }

    /// Whether the host is this machine, where a plain connection cannot be overheard.
    pub fn is_loopback(&self) -> bool {
        match self.host.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => self.host.eq_ignore_ascii_case("localhost"),
        }
    }
}

/// Everything an [`EmailSender`](super::EmailSender) needs.
///
/// [`EmailConfig::new`] fills in the defaults; change the fields after it.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// The SMTP server, as a URL: see [`SmtpServer`].
    pub smtp_url: String,
    /// The user to authenticate as (AUTH PLAIN or LOGIN); none sends without AUTH.
    pub username: Option<String>,
    /// The user's password; required with `username`.
    pub password: Option<SecretString>,
    /// The sender, with an optional display name: `Shop <orders@shop.example>`. Its
    /// domain also names Message-IDs.
    pub from: String,
    /// Where replies go, when not to `from`.
    pub reply_to: Option<String>,
    /// The longest one send may take, connecting, TLS and logging in included; past
    /// it the send fails as retryable.
    pub timeout: Duration,
    /// Most idle connections kept open for the next messages.
    pub max_idle_connections: u32,
    /// How long an idle connection is kept before it is closed.
    pub idle_timeout: Duration,
    /// A PEM file of extra certificate authorities to trust beside the public ones, for
    /// a relay whose certificate comes from a private CA (and for the tests' own CA).
    pub ca_file: Option<PathBuf>,
    /// The name Tidings gives in EHLO; none uses this machine's host name.
    pub hello_name: Option<String>,
}

impl EmailConfig {
    /// A configuration for the server at `smtp_url`, sending as `from`, with the
    /// default limits: 30 seconds a send, 4 idle connections kept for a minute.
    pub fn new(smtp_url: impl Into<String>, from: impl Into<String>) -> EmailConfig {
        EmailConfig {
            smtp_url: smtp_url.into(),
            username: None,
            password: None,
            from: from.into(),
            reply_to: None,
            timeout: Duration::from_secs(30),
            max_idle_connections: 4,
            idle_timeout: Duration::from_secs(60),
            ca_file: None,
            hello_name: None,
        }
    }
}

/// Why an email sender cannot be built from its configuration.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The SMTP URL is not one of the accepted forms.
    #[error(
        "the SMTP URL {url:?} is not usable: {problem}; write smtp://host:25, \
         smtp://host:587?tls=starttls or smtps://host:465"
    )]
    BadUrl {
        /// What it held, without any user info.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An address setting that is not an email address.
    #[error(
        "the email {field} {value:?} is not an address such as \"Shop <orders@shop.example>\""
    )]
    BadAddress {
        /// The configuration field.
        field: &'static str,
        /// What it held.
        value: String,
    },
    /// A user without a password, or a password without a user.
    #[error("the email username and password go together; set both or neither")]
    HalfCredentials,
    /// Credentials over a plain connection to another machine.
    #[error(
        "the SMTP server {host} would get the password in plain text; use \
         smtp://{host}:587?tls=starttls or smtps://{host}:465"
    )]
    CredentialsInPlainText {
        /// The server's host.
        host: String,
    },
    /// The extra CA file cannot be read or holds no certificate.
    #[error("the email CA file {path} is not usable: {problem}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The TLS settings could not be built.
    #[error("cannot set up TLS for the SMTP server: {0}")]
    Tls(String),
}

/// Checks what a URL must not carry: credentials, a path, a fragment.
fn check_url_parts(text: &str, url: &Url) -> Result<(), BuildError> {
    if !url.username().is_empty() || url.password().is_some() {
        // The message must not repeat a password, so it shows no URL at all.
        return Err(BuildError::BadUrl {
            url: "<hidden: it holds credentials>".into(),
            problem: "put the user in email.username and the password in email.password".into(),
        });
    }
    if !matches!(url.path(), "" | "/") {
        return Err(bad_url(text, "an SMTP server has no path"));
    }
    if url.fragment().is_some() {
        return Err(bad_url(text, "an SMTP server has no #fragment"));
    }
    Ok(())
}

/// The security the scheme and the `tls` query ask for.
fn security_of(text: &str, url: &Url) -> Result<Security, BuildError> {
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), tls) {
            ("tls", None) => tls = Some(value.to_ascii_lowercase()),
            _ => return Err(bad_url(text, "the only query it takes is ?tls=starttls")),
        }
    }
    match (url.scheme(), tls.as_deref()) {
        ("smtp", None) => Ok(Security::Plain),
        ("smtp", Some("starttls")) => Ok(Security::StartTls),
        ("smtps", None) => Ok(Security::ImplicitTls),
        ("smtps", Some(_)) => Err(bad_url(text, "smtps:// is TLS already; drop ?tls=")),
        ("smtp", Some(_)) => Err(bad_url(text, "?tls= takes only starttls")),
        _ => Err(bad_url(text, "the scheme must be smtp or smtps")),
    }
}

fn default_port(security: Security) -> u16 {
    match security {
        Security::Plain => 25,
        Security::StartTls => 587,
        Security::ImplicitTls => 465,
    }
}

fn bad_url(text: &str, problem: &str) -> BuildError {
    BuildError::BadUrl {
        url: text.to_string(),
        problem: problem.to_string(),
    }
}

/// Reads an address setting such as `Shop <orders@shop.example>`.
pub(super) fn parse_mailbox(field: &'static str, value: &str) -> Result<Mailbox, BuildError> {
    value.trim().parse().map_err(|_| BuildError::BadAddress {
        field,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> SmtpServer {
        SmtpServer::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn the_scheme_and_query_choose_the_security_and_default_port() {
        let cases = [
            ("smtp://relay.local", Security::Plain, 25),
            ("smtp://relay.local:2525", Security::Plain, 2525),
            (
                "smtp://mail.example.com?tls=starttls",
                Security::StartTls,
                587,
            ),
            (
                "smtp://mail.example.com:25?tls=STARTTLS",
                Security::StartTls,
                25,
            ),
            ("smtps://mail.example.com", Security::ImplicitTls, 465),
            (
                " smtps://mail.example.com:4650/ ",
                Security::ImplicitTls,
                4650,
            ),
        ];
        for (text, security, port) in cases {
            let parsed = server(text);
            assert_eq!((parsed.security, parsed.port), (security, port), "{text}");
        }
    }

    #[test]
    fn hosts_keep_their_spelling_and_lose_ipv6_brackets() {
        assert_eq!(server("smtp://127.0.0.1:1025").host, "127.0.0.1");
        assert_eq!(server("smtp://[::1]:1025").host, "::1");
        assert_eq!(server("smtps://Mail.Example.com").host, "Mail.Example.com");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for text in ["smtp://127.0.0.1", "smtp://localhost", "smtp://[::1]"] {
            assert!(server(text).is_loopback(), "{text}");
        }
        assert!(!server("smtp://relay.local").is_loopback());
        assert!(!server("smtp://10.0.0.1").is_loopback());
    }

    #[test]
    fn urls_that_are_not_smtp_servers_are_refused() {
        for text in [
            "",
            "relay.local:25",
            "http://relay.local",
            "smtp://",
            "smtp://relay.local/path",
            "smtp://relay.local#x",
            "smtp://relay.local?tls=opportunistic",
            "smtp://relay.local?tls=starttls&tls=starttls",
            "smtp://relay.local?starttls",
            "smtps://relay.local?tls=starttls",
        ] {
            let error = SmtpServer::parse(text).expect_err(text);
            assert!(error.to_string().contains("smtps://host:465"), "{error}");
        }
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_being_repeated() {
        let error = SmtpServer::parse("smtp://user:hunter2@relay.local").expect_err("creds");
        let text = error.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("email.password"), "{text}");
    }

    #[test]
    fn address_settings_take_a_display_name() {
        let mailbox = parse_mailbox("from", "Linen & Co <orders@linen.example>").expect("ok");
        assert_eq!(mailbox.email.to_string(), "orders@linen.example");
        assert_eq!(mailbox.name.as_deref(), Some("Linen & Co"));
        let error = parse_mailbox("from", "not an address").expect_err("bad");
        assert!(error.to_string().contains("email from"), "{error}");
    }
}
