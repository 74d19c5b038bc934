//! Verification of bearer JWTs by the function itself, for running behind a Lambda Function
//! URL or locally, where no API Gateway JWT authorizer has verified the token.
//!
//! Only asymmetric JWS algorithms are accepted, and only those listed in
//! [`VerifierConfig::algorithms`]: the token header's `alg` selects among them and is never
//! trusted beyond that. The public keys come from a JWKS file or URL. Signature checks use
//! the `jsonwebtoken` crate with its aws-lc-rs backend.

mod fetch;
mod keys;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

pub use fetch::{JWKS_FETCH_TIMEOUT, MAX_JWKS_BYTES};
pub use jsonwebtoken::Algorithm;

use crate::AuthError;
use fetch::JwksFetcher;
use keys::{KeySet, decode_base64url};

/// Maximum length of a token in bytes. Longer tokens are rejected before any parsing.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Minimum time between two fetches of a URL JWKS, so tokens with made-up `kid` values
/// cannot make the verifier flood the identity provider. The initial fetch counts.
pub const MIN_JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Default clock skew allowed when checking `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The asymmetric algorithms this verifier supports.
const SUPPORTED_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Source of the issuer's public keys (a JWKS document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A file read once, when the verifier is built.
    File(PathBuf),
    /// An `https://` URL (or `http://` on a loopback host), fetched when the verifier is
    /// built and again when a token names an unknown `kid`.
    Url(String),
}

/// Requirements a token must meet to be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Exact value required in the `iss` claim.
    pub issuer: String,
    /// Accepted `aud` values. The token's `aud` (a string or an array) must contain one.
    pub audiences: Vec<String>,
    /// Algorithms accepted in the token header. HMAC algorithms and EdDSA are rejected.
    pub algorithms: Vec<Algorithm>,
    pub jwks: JwksSource,
    /// Clock skew allowed when checking `exp` and `nbf`.
    pub leeway: Duration,
}

impl VerifierConfig {
    /// Creates a configuration that accepts RS256 only, with [`DEFAULT_LEEWAY`].
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, jwks: JwksSource) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            algorithms: vec![Algorithm::RS256],
            jwks,
            leeway: DEFAULT_LEEWAY,
        }
    }

    fn validate(&self) -> Result<(), AuthError> {
        let invalid = |message: String| Err(AuthError::InvalidConfig(message));

        if self.issuer.trim().is_empty() {
            return invalid("the issuer is empty".to_owned());
        }
        if self.audiences.is_empty() {
            return invalid("no audience is configured".to_owned());
        }
        if self
            .audiences
            .iter()
            .any(|audience| audience.trim().is_empty())
        {
            return invalid("an audience is empty".to_owned());
        }
        if self.algorithms.is_empty() {
            return invalid("no algorithm is allowed".to_owned());
        }
        for algorithm in &self.algorithms {
            if matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                return invalid(format!(
                    "{algorithm:?} is an HMAC algorithm, which needs a shared secret that a \
                     public JWKS cannot hold"
                ));
            }
            if !SUPPORTED_ALGORITHMS.contains(algorithm) {
                return invalid(format!(
                    "{algorithm:?} is not supported (supported: {SUPPORTED_ALGORITHMS:?})"
                ));
            }
        }
        Ok(())
    }
}

/// Verifies bearer JWTs against one issuer's JWKS.
///
/// [`JwtVerifier::new`] loads the keys and caches them.
/// With a URL source, a token whose `kid` is not in the cache triggers one re-fetch, at most
/// once per [`MIN_JWKS_REFRESH_INTERVAL`], so keys the issuer adds by rotation are picked up.
/// Keys the issuer removes stay trusted until the verifier is rebuilt.
pub struct JwtVerifier {
    config: VerifierConfig,
    keys: RwLock<Arc<KeySet>>,
    fetcher: Option<JwksFetcher>,
    /// When the JWKS was last fetched from the URL. The lock also serialises re-fetches.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("config", &self.config)
            .field("keys", &self.current_keys().len())
            .finish_non_exhaustive()
    }
}

/// A token split into its parts, before its signature is checked.
struct ParsedToken<'a> {
    algorithm: Algorithm,
    kid: Option<String>,
    /// The base64url header and payload joined by a dot: the bytes the signature covers.
    signing_input: &'a str,
    signature: &'a str,
    claims: Map<String, Value>,
}

impl JwtVerifier {
    /// Checks the configuration and loads the JWKS.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidConfig`] for an unusable configuration or JWKS URL, and
    /// [`AuthError::KeysUnavailable`] when the JWKS cannot be read, fetched or parsed, or
    /// contains no usable signature key.
    pub async fn new(config: VerifierConfig) -> Result<Self, AuthError> {
        config.validate()?;
        install_crypto_provider();

        let (keys, fetcher, last_fetch) = match &config.jwks {
            JwksSource::File(path) => (load_file(path)?, None, None),
            JwksSource::Url(url) => {
                let fetcher = JwksFetcher::new(url)?;
                let keys = fetch_keys(&fetcher).await?;
                (keys, Some(fetcher), Some(Instant::now()))
            }
        };

        Ok(Self {
            config,
            keys: RwLock::new(Arc::new(keys)),
            fetcher,
            last_fetch: tokio::sync::Mutex::new(last_fetch),
        })
    }

    /// Verifies `token` against the current time and returns its claims object.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] saying why the token was rejected. See [`JwtVerifier::verify_at`].
    pub async fn verify(&self, token: &str) -> Result<Value, AuthError> {
        self.verify_at(token, SystemTime::now()).await
    }

    /// Verifies `token` as of `now` and returns its claims object.
    ///
    /// The token is rejected when it is longer than [`MAX_TOKEN_BYTES`] or malformed (not
    /// three base64url parts, a header or payload that is not a JSON object, a `crit` header),
    /// when its `alg` is not allowed, when no key matches its `kid` and `alg`, when the
    /// signature is invalid, when `iss` is not the configured issuer, when `aud` contains none
    /// of the configured audiences, when `exp` is missing or has passed, or when `nbf` is in
    /// the future. `exp` and `nbf` are checked with [`VerifierConfig::leeway`].
    ///
    /// # Errors
    ///
    /// An [`AuthError`] naming the first check that failed. A failed JWKS re-fetch for an
    /// unknown `kid` returns [`AuthError::KeysUnavailable`].
    pub async fn verify_at(&self, token: &str, now: SystemTime) -> Result<Value, AuthError> {
        let parsed = parse_token(token, &self.config.algorithms)?;

        let keys = self.keys_for_kid(parsed.kid.as_deref()).await?;
        let key = keys.select(parsed.kid.as_deref(), parsed.algorithm)?;
        let signature_valid = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            key,
            parsed.algorithm,
        );
        if !matches!(signature_valid, Ok(true)) {
            return Err(AuthError::InvalidSignature);
        }

        check_claims(&parsed.claims, &self.config, now)?;
        Ok(Value::Object(parsed.claims))
    }

    fn current_keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Returns the cached key set, re-fetching it first when `kid` is not in it and the
    /// source is a URL that was not fetched within [`MIN_JWKS_REFRESH_INTERVAL`].
    async fn keys_for_kid(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        let keys = self.current_keys();
        let (Some(kid), Some(fetcher)) = (kid, &self.fetcher) else {
            return Ok(keys);
        };
        if keys.contains_kid(kid) {
            return Ok(keys);
        }

        let mut last_fetch = self.last_fetch.lock().await;
        // Another request may have re-fetched the keys while this one waited for the lock.
        let keys = self.current_keys();
        if keys.contains_kid(kid) {
            return Ok(keys);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < MIN_JWKS_REFRESH_INTERVAL) {
            return Ok(keys);
        }

        *last_fetch = Some(Instant::now());
        tracing::info!(jwks = %fetcher.url(), "re-fetching the JWKS for a token with an unknown kid");
        match fetch_keys(fetcher).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&fresh);
                Ok(fresh)
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS re-fetch failed, keeping the cached keys");
                Err(error)
            }
        }
    }

    /// Lets the next unknown `kid` re-fetch the JWKS at once.
    #[cfg(test)]
    async fn forget_last_fetch(&self) {
        *self.last_fetch.lock().await = None;
    }
}

/// Selects the aws-lc-rs backend of `jsonwebtoken` for the process. `jsonwebtoken` panics at
/// its first signature check when both of its backends are compiled in and none is installed.
fn install_crypto_provider() {
    // An Err means a provider is already installed, which is fine.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

/// Reads a JWKS file. The read blocks the thread, which is acceptable once at start-up.
fn load_file(path: &std::path::Path) -> Result<KeySet, AuthError> {
    let unavailable = |reason: String| {
        AuthError::KeysUnavailable(format!("JWKS file {}: {reason}", path.display()))
    };
    let size = std::fs::metadata(path)
        .map_err(|error| unavailable(error.to_string()))?
        .len();
    if size > MAX_JWKS_BYTES as u64 {
        return Err(unavailable(format!("larger than {MAX_JWKS_BYTES} bytes")));
    }
    let document = std::fs::read(path).map_err(|error| unavailable(error.to_string()))?;

    let source = path.display().to_string();
    let keys = KeySet::parse(&document, &source)?;
    tracing::info!(jwks = %source, keys = keys.len(), "loaded the JWKS");
    Ok(keys)
}

async fn fetch_keys(fetcher: &JwksFetcher) -> Result<KeySet, AuthError> {
    let document = fetcher.fetch().await?;
    let source = fetcher.url();
    let keys = KeySet::parse(&document, &source)?;
    tracing::info!(jwks = %source, keys = keys.len(), "fetched the JWKS");
    Ok(keys)
}

/// Splits and decodes a compact JWS and checks its header, without checking the signature.
fn parse_token<'a>(token: &'a str, allowed: &[Algorithm]) -> Result<ParsedToken<'a>, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::TokenTooLarge {
            max_bytes: MAX_TOKEN_BYTES,
        });
    }

    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::malformed(
            "expected three base64url parts separated by dots",
        ));
    };

    let header_fields = decode_json_object(
        header,
        "header is not base64url",
        "header is not a JSON object",
    )?;
    let algorithm = match header_fields.get("alg") {
        Some(Value::String(name)) => allowed_algorithm(name, allowed)?,
        Some(_) => return Err(AuthError::malformed("header `alg` is not a string")),
        None => return Err(AuthError::malformed("header has no `alg`")),
    };
    // RFC 7515 section 4.1.11: a recipient must reject a token whose `crit` header lists
    // extensions it does not understand, and this verifier understands none.
    if header_fields.contains_key("crit") {
        return Err(AuthError::malformed(
            "header `crit` names extensions that are not supported",
        ));
    }
    let kid = match header_fields.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::malformed("header `kid` is not a string")),
    };

    let claims = decode_json_object(
        payload,
        "payload is not base64url",
        "payload is not a JSON object",
    )?;
    if signature.is_empty() {
        return Err(AuthError::malformed("signature is empty"));
    }
    if decode_base64url(signature).is_none() {
        return Err(AuthError::malformed("signature is not base64url"));
    }

    Ok(ParsedToken {
        algorithm,
        kid,
        signing_input: &token[..header.len() + 1 + payload.len()],
        signature,
        claims,
    })
}

fn decode_json_object(
    part: &str,
    not_base64: &'static str,
    not_object: &'static str,
) -> Result<Map<String, Value>, AuthError> {
    let bytes = decode_base64url(part).ok_or(AuthError::malformed(not_base64))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => Err(AuthError::malformed(not_object)),
    }
}

fn allowed_algorithm(name: &str, allowed: &[Algorithm]) -> Result<Algorithm, AuthError> {
    match name.parse::<Algorithm>() {
        Ok(algorithm) if allowed.contains(&algorithm) => Ok(algorithm),
        _ => {
            let printable = (1..=16).contains(&name.len())
                && name.bytes().all(|byte| byte.is_ascii_alphanumeric());
            let alg = if printable { name } else { "<unrecognised>" };
            Err(AuthError::AlgorithmNotAllowed {
                alg: alg.to_owned(),
            })
        }
    }
}

/// Checks `iss`, `aud`, `exp` and `nbf` of a token whose signature is valid.
fn check_claims(
    claims: &Map<String, Value>,
    config: &VerifierConfig,
    now: SystemTime,
) -> Result<(), AuthError> {
    match claims.get("iss") {
        Some(Value::String(issuer)) if *issuer == config.issuer => {}
        Some(Value::String(_)) => return Err(AuthError::IssuerMismatch),
        None | Some(Value::Null) => return Err(AuthError::missing_claim("iss")),
        Some(_) => return Err(AuthError::invalid_claim("iss", "must be a string")),
    }

    let accepted = |audience: &str| config.audiences.iter().any(|expected| expected == audience);
    let audience_matches = match claims.get("aud") {
        Some(Value::String(audience)) => accepted(audience),
        Some(Value::Array(audiences)) => {
            let mut matches = false;
            for audience in audiences {
                let Value::String(audience) = audience else {
                    return Err(AuthError::invalid_claim(
                        "aud",
                        "must be a string or an array of strings",
                    ));
                };
                matches |= accepted(audience);
            }
            matches
        }
        None | Some(Value::Null) => return Err(AuthError::missing_claim("aud")),
        Some(_) => {
            return Err(AuthError::invalid_claim(
                "aud",
                "must be a string or an array of strings",
            ));
        }
    };
    if !audience_matches {
        return Err(AuthError::AudienceMismatch);
    }

    // NumericDate (RFC 7519 section 2) is seconds since the epoch and may have a fraction.
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since_epoch| since_epoch.as_secs_f64());
    let leeway = config.leeway.as_secs_f64();

    let expires_at =
        numeric_claim(claims, "exp")?.ok_or_else(|| AuthError::missing_claim("exp"))?;
    if now >= expires_at + leeway {
        return Err(AuthError::Expired);
    }
    if let Some(not_before) = numeric_claim(claims, "nbf")?
        && now + leeway < not_before
    {
        return Err(AuthError::NotYetValid);
    }
    Ok(())
}

fn numeric_claim(claims: &Map<String, Value>, claim: &str) -> Result<Option<f64>, AuthError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(number)) => Ok(number.as_f64()),
        Some(_) => Err(AuthError::invalid_claim(claim, "must be a number")),
    }
}
