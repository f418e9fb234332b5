//! The bearer token every MaaP call carries: a static one, or one fetched with OAuth 2.0
//! client credentials and shared by every call until shortly before it expires.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::{Client, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::config::{ClientAuth, ClientCredentials};
use super::error::{platform_reason, retry_after, transport, MaapError};

/// How long a token is used when the token endpoint does not say (RFC 6749 makes
/// `expires_in` only recommended). Short, so that a guess too long costs at most one
/// refused call and a refresh; a 401 refreshes the token anyway.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

/// The longest any token is used, whatever the token endpoint says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// The token endpoint's answer to good credentials.
#[derive(Deserialize)]
struct TokenGrant {
    access_token: String,
    token_type: String,
    expires_in: Option<u64>,
}

/// A bearer token and when to stop using it.
struct CachedToken {
    bearer: SecretString,
    refresh_at: Instant,
}

impl CachedToken {
    fn fresh(&self) -> Option<SecretString> {
        (Instant::now() < self.refresh_at).then(|| self.bearer.clone())
    }
}

/// Hands out the token calls carry.
pub(crate) enum TokenSource {
    /// The same token every time; it cannot be renewed.
    Static(SecretString),
    /// Fetched with client credentials.
    Fetched(Box<FetchedTokens>),
}

/// A client-credentials token and the means to fetch the next one.
pub(crate) struct FetchedTokens {
    http: Client,
    token_url: Url,
    credentials: ClientCredentials,
    refresh_margin: Duration,
    /// The token in use. A caller that finds it stale fetches the next one while holding
    /// the lock, so callers queued behind it get the new token instead of fetching their
    /// own: a burst of calls costs one fetch. Outside refreshes the lock is held only to
    /// clone the token.
    current: Mutex<Option<CachedToken>>,
}

impl TokenSource {
    pub(crate) fn fetched(
        http: Client,
        token_url: Url,
        credentials: ClientCredentials,
        refresh_margin: Duration,
    ) -> TokenSource {
        TokenSource::Fetched(Box::new(FetchedTokens {
            http,
            token_url,
            credentials,
            refresh_margin,
            current: Mutex::new(None),
        }))
    }

    /// Whether a refused token can be replaced by another.
    pub(crate) fn renewable(&self) -> bool {
        matches!(self, TokenSource::Fetched(_))
    }

    /// A token that is not about to expire, from the cache or freshly fetched.
    pub(crate) async fn bearer(&self) -> Result<SecretString, MaapError> {
        let tokens = match self {
            TokenSource::Static(token) => return Ok(token.clone()),
            TokenSource::Fetched(tokens) => tokens,
        };
        let mut current = tokens.current.lock().await;
        if let Some(bearer) = current.as_ref().and_then(CachedToken::fresh) {
            return Ok(bearer);
        }
        let token = tokens.fetch().await?;
        let bearer = token.bearer.clone();
        *current = Some(token);
        Ok(bearer)
    }

    /// A new token after the platform answered 401 to `rejected`, unless another caller
    /// has already replaced that one: concurrent 401s cost one fetch.
    pub(crate) async fn replace(&self, rejected: &SecretString) -> Result<SecretString, MaapError> {
        let tokens = match self {
            TokenSource::Static(token) => return Ok(token.clone()),
            TokenSource::Fetched(tokens) => tokens,
        };
        let mut current = tokens.current.lock().await;
        if let Some(token) = current.as_ref() {
            let replaced = token.bearer.expose_secret() != rejected.expose_secret();
            if let Some(bearer) = token.fresh().filter(|_| replaced) {
                return Ok(bearer);
            }
        }
        // The rejected token must not be handed out again, even if this fetch fails.
        *current = None;
        let token = tokens.fetch().await?;
        let bearer = token.bearer.clone();
        *current = Some(token);
        Ok(bearer)
    }
}

impl FetchedTokens {
    #[tracing::instrument(
        name = "fetch maap access token",
        skip_all,
        fields(client_id = %self.credentials.client_id)
    )]
    async fn fetch(&self) -> Result<CachedToken, MaapError> {
        // Measured before the request, so that the token's lifetime is never overstated.
        let requested_at = Instant::now();
        let response = self
            .request()
            .send()
            .await
            .map_err(|e| transport("token request", e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport("token request", e))?;

        if !status.is_success() {
            return Err(self.refusal(status, &headers, &body));
        }
        let grant = grant(&body)?;
        let lifetime = grant
            .expires_in
            .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
            .min(MAX_TOKEN_LIFETIME);
        tracing::info!(
            expires_in = lifetime.as_secs(),
            "fetched a MaaP access token"
        );
        Ok(CachedToken {
            bearer: SecretString::from(grant.access_token),
            refresh_at: requested_at + self.usable_for(lifetime),
        })
    }

    /// The token request: `grant_type=client_credentials`, the credentials as the
    /// platform takes them, and the scope when one is configured.
    fn request(&self) -> reqwest::RequestBuilder {
        let credentials = &self.credentials;
        let secret = credentials.client_secret.expose_secret();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &credentials.scope {
            form.push(("scope", scope));
        }
        let request = self.http.post(self.token_url.clone());
        match credentials.client_auth {
            ClientAuth::Basic => request
                .basic_auth(&credentials.client_id, Some(secret))
                .form(&form),
            ClientAuth::Form => {
                form.push(("client_id", &credentials.client_id));
                form.push(("client_secret", secret));
                request.form(&form)
            }
        }
    }

    /// How long to use a token that lives `lifetime`: until `refresh_margin` before it
    /// expires, but at least half its life, so that a short-lived token is not fetched
    /// again on every call.
    fn usable_for(&self, lifetime: Duration) -> Duration {
        lifetime - self.refresh_margin.min(lifetime / 2)
    }

    /// Sorts a refused token request: the endpoint's own trouble passes, a refusal of the
    /// credentials does not.
    fn refusal(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> MaapError {
        let message = format!(
            "the token endpoint {} answered HTTP {}: {}",
            self.token_url,
            status.as_u16(),
            platform_reason(status, body)
        );
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            return MaapError::Retryable {
                retry_after: retry_after(headers, SystemTime::now()),
                reason: message,
            };
        }
        tracing::warn!(
            status = status.as_u16(),
            "the MaaP token endpoint refused the client credentials"
        );
        MaapError::Unauthorized { message }
    }
}

fn grant(body: &[u8]) -> Result<TokenGrant, MaapError> {
    let unexpected = |detail: String| MaapError::UnexpectedResponse {
        operation: "token request",
        detail,
    };
    let grant: TokenGrant = serde_json::from_slice(body)
        .map_err(|error| unexpected(format!("not a token grant: {error}")))?;
    if !grant.token_type.eq_ignore_ascii_case("bearer") {
        return Err(unexpected(format!(
            "token type {:?}, not Bearer",
            grant.token_type
        )));
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grant_must_be_a_bearer_token_and_may_leave_out_its_lifetime() {
        let grant = grant(br#"{"access_token":"t","token_type":"bearer"}"#).expect("a grant");
        assert_eq!(grant.expires_in, None);
        let mac = grant_error(br#"{"access_token":"t","token_type":"mac","expires_in":60}"#);
        assert!(mac.contains("not Bearer"), "{mac}");
        let junk = grant_error(b"<html>");
        assert!(junk.contains("not a token grant"), "{junk}");
    }

    fn grant_error(body: &[u8]) -> String {
        match grant(body) {
            Ok(_) => panic!("expected an error"),
            Err(error) => error.to_string(),
        }
    }
}
