//! How to reach Google's RBM API, and the checks that run once when the client is built.

use std::time::Duration;

use reqwest::Url;
use thiserror::Error;

use super::auth::{ServiceAccountKey, DEFAULT_TOKEN_URL};
use super::capabilities::CapabilityCacheConfig;

/// Google's global RBM endpoint. Regional ones (`https://europe-…`, `https://us-…`,
/// `https://asia-…`) keep traffic in a region, and `users:batchGet` needs one.
pub const DEFAULT_BASE_URL: &str = "https://rcsbusinessmessaging.googleapis.com";

/// Everything an [`RbmClient`](super::RbmClient) needs.
///
/// [`RbmConfig::new`] fills in Google's endpoints and the defaults; change the fields
/// after it for a regional endpoint, an emulator, or other limits.
#[derive(Debug, Clone)]
pub struct RbmConfig {
    /// The RBM API's base URL, such as [`DEFAULT_BASE_URL`], a regional endpoint, or a
    /// local emulator's `http://` URL. A path in it is kept as a prefix.
    pub base_url: String,
    /// Where service-account assertions are traded for access tokens; also the
    /// assertion's audience.
    pub token_url: String,
    /// The agent every call acts for, as the Business Communications console shows it.
    pub agent_id: String,
    /// The partner's service account, which may act for all of the partner's agents.
    pub service_account: ServiceAccountKey,
    /// The longest one HTTP request may take, connecting included; past it the call
    /// fails as retryable.
    pub request_timeout: Duration,
    /// How long before its expiry an access token is replaced, so that no call goes out
    /// with a token that expires on the way.
    pub token_refresh_margin: Duration,
    /// How long capability answers are remembered.
    pub capability_cache: CapabilityCacheConfig,
}

impl RbmConfig {
    /// Google's endpoints and the default limits, for `agent_id` acting through
    /// `service_account`.
    pub fn new(agent_id: impl Into<String>, service_account: ServiceAccountKey) -> RbmConfig {
        RbmConfig {
            base_url: DEFAULT_BASE_URL.to_string(),
            token_url: DEFAULT_TOKEN_URL.to_string(),
            agent_id: agent_id.into(),
            service_account,
            request_timeout: Duration::from_secs(15),
            token_refresh_margin: Duration::from_secs(300),
            capability_cache: CapabilityCacheConfig::default(),
        }
    }
}

/// Why an RBM client cannot be built from its configuration.
#[derive(Debug, Error)]
pub enum BuildError {
    /// No agent id.
    #[error(
        "the RBM agent id is empty; set it to the agent's id from the Business \
         Communications console"
    )]
    MissingAgentId,
    /// A URL that does not parse, or is not http(s).
    #[error("the RBM {field} {url:?} is not usable: {problem}")]
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
        "the RBM {field} {url} is https, but this build has no TLS; build tidings-channels \
         with its rustls-tls feature"
    )]
    NoTls {
        /// The configuration field.
        field: &'static str,
        /// What it held.
        url: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for RBM: {0}")]
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
    fn urls_that_cannot_carry_api_paths_are_refused() {
        for text in [
            "",
            "not a url",
            "mailto:rbm@example.com",
            "ftp://example.com/",
        ] {
            let error = parse_url("base_url", text).expect_err(text);
            assert!(error.to_string().contains("base_url"), "{error}");
        }
    }

    #[test]
    fn a_base_url_keeps_its_path_and_loses_its_query() {
        let url = parse_url("base_url", " http://127.0.0.1:8080/rbm/?x=1#top ").expect("a URL");
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/rbm/");
    }
}
