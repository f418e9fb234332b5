//! Kannel's smsbox HTTP interface: `GET /cgi-bin/sendsms` with the `sendsms-user`'s
//! username and password, the message in the query, and a plain-text answer
//! (`202 0: Accepted for delivery`).
//!
//! Kannel reports what became of a message by calling the `dlr-url` it was given, after
//! replacing its escape codes: `%d` by the delivery report's type (1 delivered, 2
//! failed, 4 buffered, 8 taken by the SMSC, 16 refused by the SMSC) and `%A` by the
//! SMSC's answer. The client asks for all five (`dlr-mask=31`) at
//! `{dlr_url}?message_id=<uuid>&status=%d&answer=%A&secret=<dlr_secret>`: the message
//! id names Tidings' message, and the secret is what the webhook checks, since Kannel
//! signs nothing.
//!
//! A send either succeeds with Kannel's answer or fails with a [`KannelError`], sorted
//! like [`crate::sms::TwilioError`]. The client never retries on its own.

mod error;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use domain::sms::Encoding;
use domain::PhoneNumber;
use reqwest::{redirect, Client, Url};
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use uuid::Uuid;

pub use error::KannelError;

use super::MESSAGE_ID_PARAM;

/// The path of smsbox's send interface.
pub const SENDSMS_PATH: &str = "/cgi-bin/sendsms";

/// The query parameter of the DLR URL that carries the delivery report's type.
pub const STATUS_PARAM: &str = "status";

/// The query parameter of the DLR URL that carries the SMSC's answer.
pub const ANSWER_PARAM: &str = "answer";

/// The query parameter of the DLR URL that carries the shared secret.
pub const SECRET_PARAM: &str = "secret";

/// Every delivery report Kannel has: delivered (1), failed (2), buffered (4), taken by
/// the SMSC (8) and refused by the SMSC (16).
pub const DLR_MASK: u8 = 1 | 2 | 4 | 8 | 16;

/// Everything a [`KannelClient`] needs.
#[derive(Debug, Clone)]
pub struct KannelConfig {
    /// smsbox's `sendsms-port` as a URL, such as `http://127.0.0.1:13013`. A path in it
    /// is kept as a prefix of [`SENDSMS_PATH`].
    pub base_url: String,
    /// The `sendsms-user` group's `username`.
    pub username: String,
    /// Its `password`.
    pub password: SecretString,
    /// The sender: a number or an alphanumeric id the SMSC accepts.
    pub from: String,
    /// Where Kannel reports each message, such as `https://track.example/webhooks/kannel`.
    /// None asks for no reports.
    pub dlr_url: Option<String>,
    /// The secret the DLR URL carries, which the webhook checks. Required with
    /// `dlr_url`; letters, digits and `-._~` only, since Kannel reads `%` in the URL as
    /// the start of an escape code.
    pub dlr_secret: Option<SecretString>,
    /// The longest one HTTP request may take, connecting included.
    pub request_timeout: Duration,
}

impl KannelConfig {
    /// A config with no delivery reports and the default timeout.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: SecretString,
        from: impl Into<String>,
    ) -> KannelConfig {
        KannelConfig {
            base_url: base_url.into(),
            username: username.into(),
            password,
            from: from.into(),
            dlr_url: None,
            dlr_secret: None,
            request_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a Kannel client cannot be built from its configuration.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A required value is empty.
    #[error("the Kannel {0} is empty; set it to the value of kannel.conf's sendsms-user")]
    Missing(&'static str),
    /// A URL that does not parse, or is not http(s).
    #[error("the Kannel {field} {url:?} is not usable: {problem}")]
    BadUrl {
        /// The configuration field.
        field: &'static str,
        /// What it held.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A DLR secret Kannel would mangle, or a DLR URL without one.
    #[error("the Kannel dlr_secret {0}")]
    BadSecret(&'static str),
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for Kannel: {0}")]
    Http(reqwest::Error),
}

/// What Kannel said when it took a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The HTTP status: 202 from current Kannel, 200 from old ones.
    pub status: u16,
    /// Kannel's answer, such as `0: Accepted for delivery` or `3: Queued for later
    /// delivery` (bearerbox is down and smsbox keeps the message).
    pub answer: String,
}

/// A client of one smsbox `sendsms-user`. Cheap to clone: clones share the HTTP
/// connections.
#[derive(Clone)]
pub struct KannelClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: Client,
    /// `{base}/cgi-bin/sendsms`.
    sendsms_url: Url,
    username: String,
    password: SecretString,
    from: String,
    dlr: Option<Dlr>,
}

struct Dlr {
    url: Url,
    secret: SecretString,
}

impl KannelClient {
    /// Builds a client; it makes no request until the first send.
    ///
    /// # Errors
    /// When the username, password or sender is empty, a URL is unusable, the DLR
    /// secret is missing or has characters Kannel would mangle, or the HTTP client
    /// cannot be set up.
    pub fn new(config: KannelConfig) -> Result<KannelClient, BuildError> {
        let base = parse_url("kannel_url", &config.base_url)?;
        let sendsms_url = sendsms_url(&base);
        let username = required("username", &config.username)?;
        if config.password.expose_secret().is_empty() {
            return Err(BuildError::Missing("password"));
        }
        let from = required("from", &config.from)?;
        let dlr = match config.dlr_url {
            Some(url) => Some(Dlr {
                url: parse_url("dlr_url", &url)?,
                secret: dlr_secret(config.dlr_secret)?,
            }),
            None => None,
        };
        let http = Client::builder()
            .timeout(config.request_timeout)
            // Following a redirect would carry the password to wherever it points.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("tidings/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Http)?;
        let inner = Inner {
            http,
            sendsms_url,
            username,
            password: config.password,
            from,
            dlr,
        };
        Ok(KannelClient {
            inner: Arc::new(inner),
        })
    }

    /// Sends `body` to `to` as Tidings' message `message_id`, in GSM-7 when it can and
    /// UCS-2 otherwise; Kannel then reports its delivery to the DLR URL with
    /// `message_id` in the query.
    ///
    /// Kannel takes no idempotency key, so a retry after a timeout may send twice; see
    /// [`KannelError::Retryable`].
    ///
    /// # Errors
    /// [`KannelError::NotReachable`] for a number Kannel's white- or black-lists deny;
    /// otherwise as described on [`KannelError`].
    #[tracing::instrument(name = "kannel send", skip_all, fields(message_id = %message_id))]
    pub async fn send(
        &self,
        to: &PhoneNumber,
        message_id: Uuid,
        body: &str,
    ) -> Result<Accepted, KannelError> {
        let mut url = self.inner.sendsms_url.clone();
        url.set_query(Some(&self.query(to, message_id, body)));
        let response = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(error::transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let answer = response.bytes().await.map_err(error::transport)?;
        tracing::debug!(status = status.as_u16(), "Kannel answered");
        error::read_answer(status, &headers, &answer)
    }

    /// The query of a send, every value escaped. The text goes as UTF-8 when it fits
    /// GSM-7, which Kannel converts itself, and as UTF-16BE with `coding=2` otherwise.
    fn query(&self, to: &PhoneNumber, message_id: Uuid, body: &str) -> String {
        let inner = &self.inner;
        let (text, charset, coding) = match domain::sms::encoding(body) {
            Encoding::Gsm7 => (body.as_bytes().to_vec(), "UTF-8", "0"),
            Encoding::Ucs2 => (utf16be(body), "UTF-16BE", "2"),
        };
        let mut pairs: Vec<(&str, Vec<u8>)> = vec![
            ("username", inner.username.clone().into_bytes()),
            (
                "password",
                inner.password.expose_secret().as_bytes().to_vec(),
            ),
            ("from", inner.from.clone().into_bytes()),
            ("to", to.as_str().as_bytes().to_vec()),
            ("text", text),
            ("charset", charset.into()),
            ("coding", coding.into()),
        ];
        if let Some(dlr) = &inner.dlr {
            pairs.push(("dlr-mask", DLR_MASK.to_string().into_bytes()));
            pairs.push(("dlr-url", dlr_url(dlr, message_id).into_bytes()));
        }
        pairs
            .iter()
            .map(|(name, value)| format!("{name}={}", escape(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

impl fmt::Debug for KannelClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KannelClient")
            .field("sendsms_url", &self.inner.sendsms_url.as_str())
            .field("username", &self.inner.username)
            .field("from", &self.inner.from)
            .finish_non_exhaustive()
    }
}

/// `{dlr}?message_id=<uuid>&status=%d&answer=%A&secret=<secret>`, with the escape codes
/// left for Kannel to replace.
fn dlr_url(dlr: &Dlr, message_id: Uuid) -> String {
    let mut url = dlr.url.clone();
    url.query_pairs_mut()
        .append_pair(MESSAGE_ID_PARAM, &message_id.to_string());
    // The secret was checked to need no escaping, so Kannel sees it as it is.
    format!(
        "{url}&{STATUS_PARAM}=%d&{ANSWER_PARAM}=%A&{SECRET_PARAM}={}",
        dlr.secret.expose_secret()
    )
}

/// `{base}/cgi-bin/sendsms`.
fn sendsms_url(base: &Url) -> Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    // The base was checked to be an http(s) URL, which always has a path to extend.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(["cgi-bin", "sendsms"]);
    }
    url
}

/// The text as UCS-2 bytes, big-endian as on the air. Characters outside the BMP
/// become surrogate pairs, which handsets show as one character.
fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Percent-encodes every byte but the unreserved ones (`A-Za-z0-9-._~`).
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn dlr_secret(secret: Option<SecretString>) -> Result<SecretString, BuildError> {
    let secret = secret.ok_or(BuildError::BadSecret("is required with a dlr_url"))?;
    let text = secret.expose_secret();
    if text.len() < 16 {
        return Err(BuildError::BadSecret(
            "is shorter than 16 characters; generate one with `openssl rand -hex 32`",
        ));
    }
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err(BuildError::BadSecret(
            "may hold only letters, digits and -._~ (Kannel reads % as an escape code)",
        ));
    }
    Ok(secret)
}

fn parse_url(field: &'static str, text: &str) -> Result<Url, BuildError> {
    let bad = |problem: &str| BuildError::BadUrl {
        field,
        url: text.to_string(),
        problem: problem.to_string(),
    };
    let url = Url::parse(text.trim()).map_err(|error| bad(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad("give an http:// or https:// URL"));
    }
    if url.scheme() == "https" && field == "kannel_url" && !cfg!(feature = "rustls-tls") {
        return Err(bad(
            "this build has no TLS; use http:// or the rustls-tls feature",
        ));
    }
    Ok(url)
}

fn required(field: &'static str, value: &str) -> Result<String, BuildError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(BuildError::Missing(field));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef-dlr";

    fn client() -> KannelClient {
        let mut config = KannelConfig::new(
            "http://127.0.0.1:13013/kannel/",
            "tidings",
            SecretString::from("p&ss word"),
            "Shop",
        );
        config.dlr_url = Some("https://track.example/webhooks/kannel".into());
        config.dlr_secret = Some(SecretString::from(SECRET));
        KannelClient::new(config).expect("a client")
    }

    fn params(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn the_sendsms_url_keeps_the_base_path() {
        let client = client();
        assert_eq!(
            client.inner.sendsms_url.as_str(),
            "http://127.0.0.1:13013/kannel/cgi-bin/sendsms"
        );
    }

    #[test]
    fn a_gsm7_text_goes_as_utf8_with_every_report_asked_for() {
        let to = PhoneNumber::parse("+16135550123", "US").expect("a number");
        let id = Uuid::nil();
        let query = client().query(&to, id, "Your order #12 shipped");
        let expected = [
            ("username", "tidings".to_string()),
            ("password", "p&ss word".to_string()),
            ("from", "Shop".to_string()),
            ("to", "+16135550123".to_string()),
            ("text", "Your order #12 shipped".to_string()),
            ("charset", "UTF-8".to_string()),
            ("coding", "0".to_string()),
            ("dlr-mask", "31".to_string()),
            (
                "dlr-url",
                format!(
                    "https://track.example/webhooks/kannel?message_id={id}\
                     &status=%d&answer=%A&secret={SECRET}"
                ),
            ),
        ];
        let expected: Vec<(String, String)> = expected
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect();
        assert_eq!(params(&query), expected);
    }

    #[test]
    fn a_text_beyond_gsm7_goes_as_ucs2() {
        let to = PhoneNumber::parse("+16135550123", "US").expect("a number");
        let query = client().query(&to, Uuid::nil(), "Olá 📦");
        assert!(query.contains("&coding=2&"), "{query}");
        assert!(query.contains("&charset=UTF-16BE&"), "{query}");
        // O, l, á, space, then the parcel as a surrogate pair.
        assert!(
            query.contains("text=%00O%00l%00%E1%00%20%D8%3D%DC%E6&"),
            "{query}"
        );
    }

    #[test]
    fn a_client_needs_its_credentials_sender_and_a_safe_secret() {
        let base = || {
            let password = SecretString::from("pw");
            KannelConfig::new("http://127.0.0.1:13013", "u", password, "Shop")
        };
        assert!(KannelClient::new(base()).is_ok());
        let mut no_user = base();
        no_user.username = " ".into();
        assert!(matches!(
            KannelClient::new(no_user),
            Err(BuildError::Missing("username"))
        ));
        let mut no_secret = base();
        no_secret.dlr_url = Some("https://track.example/webhooks/kannel".into());
        assert!(matches!(
            KannelClient::new(no_secret.clone()),
            Err(BuildError::BadSecret(_))
        ));
        no_secret.dlr_secret = Some(SecretString::from("a%2Fb-0123456789abcdef"));
        assert!(matches!(
            KannelClient::new(no_secret),
            Err(BuildError::BadSecret(_))
        ));
        let mut bad_url = base();
        bad_url.base_url = "smsbox:13013".into();
        let error = KannelClient::new(bad_url).expect_err("a bad URL");
        assert!(error.to_string().contains("kannel_url"), "{error}");
    }

    #[test]
    fn debug_output_leaves_the_password_out() {
        let debug = format!("{:?}", client());
        assert!(debug.contains("tidings"), "{debug}");
        assert!(!debug.contains("p&ss"), "{debug}");
    }
}
