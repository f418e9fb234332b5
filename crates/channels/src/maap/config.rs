//! How to reach an operator's MaaP platform, and the checks that run once when the client
//! is built.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use secrecy::SecretString;
use thiserror::Error;

/// Everything a [`MaapClient`](super::MaapClient) needs.
///
/// Unlike Google's single RBM endpoint, each operator or aggregator runs its own
/// platform: the base URL, the bot id and the credentials all come from it.
#[derive(Debug, Clone)]
pub struct MaapConfig {
    /// The platform's chatbot API root, before the bot id: calls go to
    /// `{base_url}/{bot_id}/messages` and so on. Operators give it in forms such as
    /// `https://maap.operator.example/rcs/bot/v1`. A local `http://` URL works for tests.
    pub base_url: String,
    /// The bot the calls act for, as the platform registered it.
    pub bot_id: String,
    /// How the bot proves who it is.
    pub auth: MaapAuth,
    /// The longest one HTTP request may take, connecting included; past it the call
    /// fails as retryable.
    pub request_timeout: Duration,
    /// How long before its expiry an OAuth token is replaced, so that no call goes out
    /// with a token that expires on the way.
    pub token_refresh_margin: Duration,
}

impl MaapConfig {
    /// A configuration with the default limits.
    pub fn new(base_url: impl Into<String>, bot_id: impl Into<String>, auth: MaapAuth) -> Self {
        MaapConfig {
            base_url: base_url.into(),
            bot_id: bot_id.into(),
            auth,
            request_timeout: Duration::from_secs(15),
            token_refresh_margin: Duration::from_secs(60),
        }
    }
}

/// The bot's credentials. FNW.11 has the bot send `Authorization: Bearer <token>`, the
/// token coming from the platform's OAuth 2.0 server; where that server is and how it
/// takes the client's credentials is up to each platform.
#[derive(Clone)]
pub enum MaapAuth {
    /// A token the platform issued once, sent as is. It cannot be renewed, so a 401 is
    /// final until an operator replaces it.
    StaticBearer(SecretString),
    /// OAuth 2.0 client credentials (RFC 6749 §4.4): the token is fetched, cached, and
    /// fetched again before it expires or when the platform refuses it.
    ClientCredentials(ClientCredentials),
}

impl fmt::Debug for MaapAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaapAuth::StaticBearer(_) => f.write_str("StaticBearer(<redacted>)"),
            MaapAuth::ClientCredentials(credentials) => credentials.fmt(f),
        }
    }
}

/// The OAuth 2.0 client of a bot, as its platform registered it.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The platform's token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
    /// A scope to ask for, when the platform wants one.
    pub scope: Option<String>,
    /// How the credentials travel to the token endpoint.
    pub client_auth: ClientAuth,
}

impl ClientCredentials {
    /// Credentials sent with HTTP Basic auth and no scope.
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> Self {
        ClientCredentials {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret,
            scope: None,
            client_auth: ClientAuth::Basic,
        }
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret stays out of debug output and so out of logs.
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

/// Where the client id and secret go in a token request (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic`, which every OAuth server must accept.
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body, for platforms that take only
    /// that.
    Form,
}

/// Why a MaaP client cannot be built from its configuration.
#[derive(Debug, Error)]
pub enum BuildError {
    /// No bot id.
    #[error("the MaaP bot id is empty; set maap.bot_id to the id the platform gave the bot")]
    MissingBotId,
    /// An empty client id or token.
    #[error("the MaaP {0} is empty; set it to the value the platform issued")]
    MissingCredential(&'static str),
    /// A URL that does not parse, or is not http(s).
    #[error("the MaaP {field} {url:?} is not usable: {problem}")]
    BadUrl {
        /// The configuration field.
        field: &'static str,
        /// What it held.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An https URL in a build without TLS.
    #[error(
        "the MaaP {field} {url} is https, but this build has no TLS; build tidings-channels \
         with its rustls-tls feature"
    )]
    NoTls {
        /// The configuration field.
        field: &'static str,
        /// What it held.
        url: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for MaaP: {0}")]
    Http(reqwest::Error),
}

/// Parses a configured URL, refusing what cannot carry API paths.
pub(crate) fn parse_url(field: &'static str, text: &str) -> Result<Url, BuildError> {
    let bad = |problem: &str| BuildError::BadUrl {
        field,
        url: text.to_string(),
        problem: problem.to_string(),
    };
    let mut url = Url::parse(text.trim()).map_err(|error| bad(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(bad("give an http:// or https:// URL"));
    }
    if url.scheme() == "https" && !cfg!(feature = "rustls-tls") {
        return Err(BuildError::NoTls {
            field,
            url: text.to_string(),
        });
    }
    // Each call writes its own query; one left in the base would be lost or doubled.
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_that_cannot_carry_api_paths_are_refused_by_field() {
        for text in [
            "",
            "not a url",
            "mailto:bot@example.com",
            "ftp://example.com/",
        ] {
            let error = parse_url("base_url", text).expect_err(text);
            assert!(error.to_string().contains("base_url"), "{error}");
        }
        let url = parse_url("base_url", " http://127.0.0.1:9/bot/v1/?x=1 ").expect("a URL");
        assert_eq!(url.as_str(), "http://127.0.0.1:9/bot/v1/");
    }

    #[test]
    fn debug_output_leaves_secrets_out() {
        let secret = SecretString::from("s3cret-value");
        let auth = MaapAuth::ClientCredentials(ClientCredentials::new(
            "https://auth.example/token",
            "bot-client",
            secret.clone(),
        ));
        let debug = format!("{auth:?} {:?}", MaapAuth::StaticBearer(secret));
        assert!(debug.contains("bot-client"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
    }
}
