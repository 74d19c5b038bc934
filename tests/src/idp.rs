//! A test identity provider: an RSA key generated at run time, its JWKS document, and RS256
//! identity tokens for the session issuer's self-verifying mode (`EKSGATE_JWKS`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// `iss` of every token, and the value for `EKSGATE_JWT_ISSUER`.
pub const ISSUER: &str = "https://idp.eksgate.test/oauth2/default";

/// `aud` of every token, and the value for `EKSGATE_JWT_AUDIENCE`.
pub const AUDIENCE: &str = "eksgate-cli";

/// `kid` of the key.
const KEY_ID: &str = "eksgate-test-1";

/// Lifetime of minted tokens, in seconds.
const TOKEN_LIFETIME_SECS: u64 = 3600;

/// An RSA signing key and the tokens it signs.
pub struct TestIdp {
    key: RsaKeyPair,
}

impl TestIdp {
    /// Generates a new 2048-bit RSA key.
    pub fn generate() -> Self {
        Self {
            key: RsaKeyPair::generate(KeySize::Rsa2048).expect("generating an RSA key"),
        }
    }

    /// Loads a key that [`TestIdp::private_key_der`] returned.
    pub fn from_private_key_der(der: &[u8]) -> Result<Self, String> {
        RsaKeyPair::from_pkcs8(der)
            .map(|key| Self { key })
            .map_err(|error| format!("invalid PKCS #8 RSA key: {error}"))
    }

    /// Returns the private key as PKCS #8 DER, to keep it between runs of a tool.
    pub fn private_key_der(&self) -> Vec<u8> {
        self.key
            .as_der()
            .expect("an RSA key serialises to PKCS #8")
            .as_ref()
            .to_vec()
    }

    /// Returns the JWKS document with the public key.
    pub fn jwks(&self) -> Value {
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(self.key.public_key());
        json!({"keys": [{
            "kty": "RSA",
            "kid": KEY_ID,
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        }]})
    }

    /// Writes the JWKS document to `path`, for `EKSGATE_JWKS=file:<path>`.
    pub fn write_jwks(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.jwks().to_string())
    }

    /// Mints an RS256 token for `email` with `groups`, valid for an hour from now.
    pub fn token(&self, email: &str, groups: &[&str]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let claims = json!({
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": format!("sub-{email}"),
            "email": email,
            "groups": groups,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_SECS,
        });
        self.sign(&claims)
    }

    /// Signs any claims as an RS256 JWT.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_through_der() {
        let idp = TestIdp::generate();
        let again = TestIdp::from_private_key_der(&idp.private_key_der()).expect("valid");
        assert_eq!(idp.jwks(), again.jwks());
    }

    #[test]
    fn tokens_carry_the_claims() {
        let idp = TestIdp::generate();
        let token = idp.token("dev.one@example.com", &["eks-users"]);
        let payload = token.split('.').nth(1).expect("three parts");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
                .expect("JSON");
        assert_eq!(claims["email"], "dev.one@example.com");
        assert_eq!(claims["groups"], json!(["eks-users"]));
        assert_eq!(claims["iss"], ISSUER);
    }
}
