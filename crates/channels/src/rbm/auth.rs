//! Service-account credentials: the key file, the signed assertion, and the access token
//! shared by every call until shortly before it expires.
//!
//! Google's two-legged OAuth flow for service accounts: sign a JWT with the account's RSA
//! key, trade it at the token endpoint for a bearer token valid about an hour.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Client, StatusCode, Url};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::RsaPrivateKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use thiserror::Error;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::{retry_after, transport, RbmError};

/// The OAuth scope every RBM call needs.
pub const RBM_SCOPE: &str = "https://www.googleapis.com/auth/rcsbusinessmessaging";

/// Google's token endpoint, where service-account assertions are traded for tokens.
pub const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// The grant type of a signed-JWT assertion (RFC 7523).
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// How long an assertion is valid; Google accepts at most an hour.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The longest any token is used, whatever the token endpoint says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A Google service-account key, checked when loaded: the RSA key parses, the fields the
/// token flow needs are there.
#[derive(Clone)]
pub struct ServiceAccountKey {
    client_email: String,
    private_key_id: String,
    token_uri: Option<String>,
    signing_key: SigningKey<Sha256>,
}

/// What is wrong with the contents of a service-account key.
#[derive(Debug, Error)]
pub enum KeyError {
    /// Not JSON, or JSON of another shape.
    #[error("it is not a Google key file (JSON with client_email and private_key): {0}")]
    NotJson(serde_json::Error),
    /// A key of another kind, such as an OAuth client or a user's credentials.
    #[error(
        "it holds a {0:?} credential, not a service account; create a JSON key for the \
         service account in the Google Cloud console"
    )]
    NotServiceAccount(String),
    /// A field the token flow needs is absent or empty.
    #[error("its {0} field is missing or empty")]
    MissingField(&'static str),
    /// The key is in PKCS#1 form (`BEGIN RSA PRIVATE KEY`), which Google never issues.
    #[error(
        "its private_key is a PKCS#1 RSA key; Google issues PKCS#8 keys (BEGIN PRIVATE KEY), \
         convert it with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    Pkcs1Key,
    /// The private key does not parse as an unencrypted PKCS#8 RSA key.
    #[error("its private_key is not an unencrypted PKCS#8 RSA key in PEM form ({0})")]
    PrivateKey(String),
}

/// A service-account key file that cannot be used, naming the file.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// The file cannot be read.
    #[error("cannot read the service-account key file {}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file was read but its contents are not a usable key.
    #[error("the service-account key file {} is not usable: {problem}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: KeyError,
    },
}

/// The fields of Google's key file this client reads; the rest are ignored.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccountKey {
    /// Reads and checks a key file as downloaded from the Google Cloud console.
    ///
    /// # Errors
    /// When the file cannot be read or is not a usable service-account key; the error
    /// names the file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<ServiceAccountKey, KeyFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        ServiceAccountKey::from_json(&text).map_err(|problem| KeyFileError::Invalid {
            path: path.to_path_buf(),
            problem,
        })
    }

    /// Checks a key file's contents.
    ///
    /// # Errors
    /// When the JSON is not a service-account key, lacks a field, or its RSA key does not
    /// parse.
    pub fn from_json(json: &str) -> Result<ServiceAccountKey, KeyError> {
        let file: KeyFile = serde_json::from_str(json).map_err(KeyError::NotJson)?;
        // Google's files always say their type; a file without one gets the benefit of
        // the doubt, since the fields below are checked anyway.
        if let Some(kind) = file.kind.filter(|kind| kind != "service_account") {
            return Err(KeyError::NotServiceAccount(kind));
        }
        let client_email = required(file.client_email, "client_email")?;
        let private_key_id = required(file.private_key_id, "private_key_id")?;
        let pem = required(file.private_key, "private_key")?;
        let signing_key = SigningKey::new(parse_private_key(&pem)?);
        Ok(ServiceAccountKey {
            client_email,
            private_key_id,
            token_uri: file.token_uri.filter(|uri| !uri.trim().is_empty()),
            signing_key,
        })
    }

    /// The service account's address, the issuer of its assertions.
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// The id of the key, sent as the assertion's `kid`.
    pub fn private_key_id(&self) -> &str {
        &self.private_key_id
    }

    /// The token endpoint the key file names, if any.
    pub fn token_uri(&self) -> Option<&str> {
        self.token_uri.as_deref()
    }

    /// A signed RS256 JWT asking `audience` (the token endpoint) for an RBM token, issued
    /// at `now` and valid for an hour.
    pub(crate) fn assertion(
        &self,
        audience: &str,
        now: SystemTime,
    ) -> Result<String, rsa::signature::Error> {
        let issued_at = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "kid": self.private_key_id,
        });
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": RBM_SCOPE,
            "aud": audience,
            "iat": issued_at,
            "exp": issued_at + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // The random generator blinds the RSA operation, so that its timing does not
        // depend on the private key.
        let mut rng = rsa::rand_core::OsRng;
        let signature = self
            .signing_key
            .try_sign_with_rng(&mut rng, signing_input.as_bytes())?;
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        Ok(format!("{signing_input}.{signature}"))
    }
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private key stays out of debug output and so out of logs.
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .finish_non_exhaustive()
    }
}

fn required(value: Option<String>, field: &'static str) -> Result<String, KeyError> {
    value
        .filter(|value| !value.trim().is_empty())
        .ok_or(KeyError::MissingField(field))
}

fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, KeyError> {
    if pem.contains("BEGIN RSA PRIVATE KEY") {
        return Err(KeyError::Pkcs1Key);
    }
    RsaPrivateKey::from_pkcs8_pem(pem).map_err(|error| KeyError::PrivateKey(error.to_string()))
}

/// The token endpoint's answer to a good assertion.
#[derive(Deserialize)]
struct TokenGrant {
    access_token: String,
    expires_in: u64,
    token_type: String,
}

/// The token endpoint's answer to a refused assertion (RFC 6749 §5.2).
#[derive(Deserialize)]
struct TokenRefusal {
    error: String,
    #[serde(default)]
    error_description: String,
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

/// Hands out the current access token, fetching a new one when it nears expiry.
pub(crate) struct TokenSource {
    http: Client,
    token_url: Url,
    key: ServiceAccountKey,
    refresh_margin: Duration,
    /// The token in use. A caller that finds it stale fetches the next one while holding
    /// the lock, so callers queued behind it get the new token instead of fetching their
    /// own: a burst of calls costs one fetch. Outside refreshes the lock is held only to
    /// clone the token.
    current: Mutex<Option<CachedToken>>,
}

impl TokenSource {
    pub(crate) fn new(
        http: Client,
        token_url: Url,
        key: ServiceAccountKey,
        refresh_margin: Duration,
    ) -> TokenSource {
        TokenSource {
            http,
            token_url,
            key,
            refresh_margin,
            current: Mutex::new(None),
        }
    }

    /// A token that is not about to expire, from the cache or freshly fetched.
    pub(crate) async fn bearer(&self) -> Result<SecretString, RbmError> {
        let mut current = self.current.lock().await;
        if let Some(bearer) = current.as_ref().and_then(CachedToken::fresh) {
            return Ok(bearer);
        }
        let token = self.fetch().await?;
        let bearer = token.bearer.clone();
        *current = Some(token);
        Ok(bearer)
    }

    /// A new token after Google answered 401 to `rejected`, unless another caller has
    /// already replaced that one: concurrent 401s cost one fetch.
    pub(crate) async fn replace(&self, rejected: &SecretString) -> Result<SecretString, RbmError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref() {
            let replaced = token.bearer.expose_secret() != rejected.expose_secret();
            if let Some(bearer) = token.fresh().filter(|_| replaced) {
                return Ok(bearer);
            }
        }
        // The rejected token must not be handed out again, even if this fetch fails.
        *current = None;
        let token = self.fetch().await?;
        let bearer = token.bearer.clone();
        *current = Some(token);
        Ok(bearer)
    }

    #[tracing::instrument(
        name = "fetch rbm access token",
        skip_all,
        fields(key_id = %self.key.private_key_id)
    )]
    async fn fetch(&self) -> Result<CachedToken, RbmError> {
        let assertion = self
            .key
            .assertion(self.token_url.as_str(), SystemTime::now())
            .map_err(|error| RbmError::Unauthorized {
                message: format!("signing the token request failed: {error}"),
            })?;
        // Measured before the request, so that the token's lifetime is never overstated.
        let requested_at = Instant::now();
        let form = [
            ("grant_type", JWT_BEARER_GRANT),
            ("assertion", assertion.as_str()),
        ];
        let request = self.http.post(self.token_url.clone()).form(&form);
        let response = request
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
        let grant = self.grant(&body)?;
        // Google's tokens live an hour; the cap keeps a wild answer from overflowing the
        // clock or pinning a token for good.
        let lifetime = Duration::from_secs(grant.expires_in).min(MAX_TOKEN_LIFETIME);
        tracing::info!(expires_in = grant.expires_in, "fetched an RBM access token");
        Ok(CachedToken {
            bearer: SecretString::from(grant.access_token),
            refresh_at: requested_at + self.usable_for(lifetime),
        })
    }

    /// How long to use a token that lives `lifetime`: until `refresh_margin` before it
    /// expires, but at least half its life, so that a short-lived token is not fetched
    /// again on every call.
    fn usable_for(&self, lifetime: Duration) -> Duration {
        lifetime - self.refresh_margin.min(lifetime / 2)
    }

    fn grant(&self, body: &[u8]) -> Result<TokenGrant, RbmError> {
        let unexpected = |detail: String| RbmError::UnexpectedResponse {
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

    /// Sorts a refused token request: the endpoint's own trouble passes, a refusal of the
    /// assertion (a revoked key, a wrong clock, a wrong audience) does not.
    fn refusal(
        &self,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
        body: &[u8],
    ) -> RbmError {
        let explanation = match serde_json::from_slice::<TokenRefusal>(body) {
            Ok(refusal) if refusal.error_description.is_empty() => refusal.error,
            Ok(refusal) => format!("{}: {}", refusal.error, refusal.error_description),
            Err(_) => String::from_utf8_lossy(body).chars().take(200).collect(),
        };
        let message = format!(
            "the token endpoint {} answered HTTP {}: {explanation}",
            self.token_url,
            status.as_u16()
        );
        if status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error()
        {
            return RbmError::Retryable {
                retry_after: retry_after(headers, SystemTime::now()),
                reason: message,
            };
        }
        tracing::warn!(
            status = status.as_u16(),
            "the token endpoint refused the service account"
        );
        RbmError::Unauthorized { message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    use rsa::RsaPublicKey;

    const KEY_FILE: &str = include_str!("../../tests/fixtures/service-account.json");
    const PUBLIC_KEY: &str = include_str!("../../tests/fixtures/service-account-pub.pem");

    fn key_file_with(field: &str, value: serde_json::Value) -> String {
        let mut file: serde_json::Value = serde_json::from_str(KEY_FILE).expect("fixture JSON");
        file[field] = value;
        file.to_string()
    }

    fn decode_part(part: &str) -> serde_json::Value {
        let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[test]
    fn a_google_key_file_parses() {
        let key = ServiceAccountKey::from_json(KEY_FILE).expect("the fixture key");
        assert_eq!(
            key.client_email(),
            "rbm-sender@tidings-test.iam.gserviceaccount.com"
        );
        assert_eq!(
            key.private_key_id(),
            "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c"
        );
        assert_eq!(key.token_uri(), Some(DEFAULT_TOKEN_URL));
    }

    #[test]
    fn debug_output_leaves_the_private_key_out() {
        let key = ServiceAccountKey::from_json(KEY_FILE).expect("the fixture key");
        let debug = format!("{key:?}");
        assert!(debug.contains("rbm-sender@"), "{debug}");
        assert!(!debug.contains("PRIVATE"), "{debug}");
        assert!(!debug.contains("signing_key"), "{debug}");
    }

    #[test]
    fn missing_fields_are_named() {
        for field in ["client_email", "private_key", "private_key_id"] {
            let json = key_file_with(field, serde_json::Value::Null);
            match ServiceAccountKey::from_json(&json) {
                Err(KeyError::MissingField(name)) => assert_eq!(name, field),
                other => panic!("expected MissingField({field}), got {other:?}"),
            }
            let json = key_file_with(field, serde_json::json!("  "));
            assert!(matches!(
                ServiceAccountKey::from_json(&json),
                Err(KeyError::MissingField(_))
            ));
        }
    }

    #[test]
    fn other_credentials_and_non_json_are_refused() {
        let json = key_file_with("type", serde_json::json!("authorized_user"));
        let error = ServiceAccountKey::from_json(&json).expect_err("a user credential");
        assert!(error.to_string().contains("\"authorized_user\""), "{error}");
        assert!(matches!(
            ServiceAccountKey::from_json("not json"),
            Err(KeyError::NotJson(_))
        ));
        assert!(matches!(
            ServiceAccountKey::from_json("[]"),
            Err(KeyError::NotJson(_))
        ));
    }

    #[test]
    fn a_bad_private_key_is_explained() {
        let pkcs1 = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
        let json = key_file_with("private_key", serde_json::json!(pkcs1));
        let error = ServiceAccountKey::from_json(&json).expect_err("a PKCS#1 key");
        assert!(matches!(error, KeyError::Pkcs1Key));
        assert!(
            error.to_string().contains("openssl pkcs8 -topk8"),
            "{error}"
        );

        let garbage = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
        let json = key_file_with("private_key", serde_json::json!(garbage));
        assert!(matches!(
            ServiceAccountKey::from_json(&json),
            Err(KeyError::PrivateKey(_))
        ));
    }

    #[test]
    fn a_key_file_error_names_the_file() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("rbm-key.json");
        std::fs::write(&path, "{}").expect("write the key file");
        let error = ServiceAccountKey::from_file(&path).expect_err("an empty key file");
        let message = error.to_string();
        assert!(message.contains("rbm-key.json"), "{message}");
        assert!(
            message.contains("client_email field is missing"),
            "{message}"
        );

        let missing = dir.path().join("absent.json");
        let error = ServiceAccountKey::from_file(&missing).expect_err("no such file");
        assert!(matches!(error, KeyFileError::Unreadable { .. }));
        assert!(error.to_string().contains("absent.json"), "{error}");
    }

    #[test]
    fn the_assertion_is_an_rs256_jwt_signed_by_the_key() {
        let key = ServiceAccountKey::from_json(KEY_FILE).expect("the fixture key");
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let jwt = key
            .assertion("https://token.example/token", now)
            .expect("signed");

        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode_part(parts[0]);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], key.private_key_id());
        let claims = decode_part(parts[1]);
        assert_eq!(claims["iss"], key.client_email());
        assert_eq!(claims["scope"], RBM_SCOPE);
        assert_eq!(claims["aud"], "https://token.example/token");
        assert_eq!(claims["iat"], 1_700_000_000u64);
        assert_eq!(claims["exp"], 1_700_003_600u64);

        let public = RsaPublicKey::from_public_key_pem(PUBLIC_KEY).expect("the public key");
        let verifier = VerifyingKey::<Sha256>::new(public);
        let signature = URL_SAFE_NO_PAD
            .decode(parts[2])
            .expect("base64url signature");
        let signature = Signature::try_from(signature.as_slice()).expect("a signature");
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier
            .verify(signed.as_bytes(), &signature)
            .expect("a valid signature");
        // The same signature over other claims does not verify.
        let forged = format!("{}.{}", parts[0], URL_SAFE_NO_PAD.encode("{\"iss\":\"x\"}"));
        assert!(verifier.verify(forged.as_bytes(), &signature).is_err());
    }

    fn source(margin: Duration) -> TokenSource {
        let key = ServiceAccountKey::from_json(KEY_FILE).expect("the fixture key");
        let url = Url::parse(DEFAULT_TOKEN_URL).expect("a URL");
        TokenSource::new(Client::new(), url, key, margin)
    }

    #[test]
    fn a_token_is_used_until_the_margin_or_half_its_life() {
        let source = source(Duration::from_secs(300));
        assert_eq!(
            source.usable_for(Duration::from_secs(3600)),
            Duration::from_secs(3300)
        );
        assert_eq!(
            source.usable_for(Duration::from_secs(400)),
            Duration::from_secs(200)
        );
        assert_eq!(source.usable_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_refused_assertion_is_unauthorized_and_an_unwell_endpoint_is_retryable() {
        let source = source(Duration::from_secs(300));
        let headers = reqwest::header::HeaderMap::new();
        let body = br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#;
        match source.refusal(StatusCode::BAD_REQUEST, &headers, body) {
            RbmError::Unauthorized { message } => {
                assert!(
                    message.contains("invalid_grant: Invalid JWT Signature."),
                    "{message}"
                );
                assert!(message.contains("oauth2.googleapis.com"), "{message}");
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
        let error = source.refusal(StatusCode::SERVICE_UNAVAILABLE, &headers, b"busy");
        assert!(error.is_retryable(), "{error:?}");
    }

    #[test]
    fn a_grant_that_is_not_bearer_is_refused() {
        let source = source(Duration::from_secs(300));
        let body = br#"{"access_token":"t","expires_in":3600,"token_type":"MAC"}"#;
        assert!(matches!(
            source.grant(body),
            Err(RbmError::UnexpectedResponse { .. })
        ));
        let body = br#"{"access_token":"t","expires_in":3600,"token_type":"Bearer"}"#;
        assert!(source.grant(body).is_ok());
    }
}
