//! Self-verification of bearer JWTs, configured from the function's settings.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use eksgate_auth::{AuthError, JwksSource, JwtVerifier, VerifierConfig};
use serde_json::Value;

use crate::config::JwtSettings;

/// Allowed clock difference between the identity provider and this function.
const LEEWAY: Duration = Duration::from_secs(60);

/// A bearer JWT verifier built from [`JwtSettings`].
#[derive(Debug)]
pub struct Verifier {
    inner: JwtVerifier,
}

impl Verifier {
    /// Loads the key set and prepares verification.
    pub async fn new(settings: &JwtSettings) -> Result<Self, AuthError> {
        let jwks = match settings.jwks.strip_prefix("file:") {
            Some(path) => JwksSource::File(PathBuf::from(path)),
            None => JwksSource::Url(settings.jwks.clone()),
        };
        let mut algorithms = Vec::new();
        for name in &settings.algorithms {
            let algorithm = eksgate_auth::Algorithm::from_str(name)
                .map_err(|_| AuthError::AlgorithmNotAllowed { alg: name.clone() })?;
            algorithms.push(algorithm);
        }
        let config = VerifierConfig {
            issuer: settings.issuer.clone(),
            audiences: settings.audiences.clone(),
            algorithms,
            jwks,
            leeway: LEEWAY,
        };
        Ok(Self {
            inner: JwtVerifier::new(config).await?,
        })
    }

    /// Verifies a token and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Value, AuthError> {
        self.inner.verify(token).await
    }
}
