//! The identity that an identity token names, as a key that separates cached credentials.
//!
//! The token is not verified here: the session API verifies it on every call. The key only
//! keeps the credentials of one identity from being served to another identity of the same
//! local user.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Returns `jwt:<iss> <sub>` for a JWT with both claims, the pair that OpenID Connect defines
/// as the user's stable identifier. Any other token gives `sha256:<hex of the token>`, so its
/// cache entries last only as long as the token itself.
pub fn identity_key(token: &str) -> String {
    match jwt_subject(token) {
        Some((issuer, subject)) => format!("jwt:{issuer} {subject}"),
        None => format!("sha256:{}", hex(&Sha256::digest(token.as_bytes()))),
    }
}

/// Reads `iss` and `sub` from a JWT payload without checking the signature.
fn jwt_subject(token: &str) -> Option<(String, String)> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let json = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&json).ok()?;
    let issuer = claims["iss"].as_str().filter(|text| !text.is_empty())?;
    let subject = claims["sub"].as_str().filter(|text| !text.is_empty())?;
    Some((issuer.to_string(), subject.to_string()))
}

/// Formats bytes as lowercase hex digits.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn jwt_identity_is_issuer_and_subject() {
        let token =
            jwt(r#"{"iss":"https://idp.example.com","sub":"00u1","email":"a@example.com"}"#);
        assert_eq!(identity_key(&token), "jwt:https://idp.example.com 00u1");
        let refreshed = jwt(r#"{"iss":"https://idp.example.com","sub":"00u1","exp":1}"#);
        assert_eq!(identity_key(&refreshed), identity_key(&token));
    }

    #[test]
    fn other_tokens_are_hashed() {
        for token in ["opaque-token", &jwt(r#"{"sub":"no-issuer"}"#), "a.b.c.d"] {
            let key = identity_key(token);
            assert!(key.starts_with("sha256:"), "{token}: {key}");
            assert!(!key.contains(token), "{key}");
        }
    }
}
