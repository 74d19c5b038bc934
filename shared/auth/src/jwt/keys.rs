//! Parsing a JWKS document into verification keys, and choosing the key for a token.

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::AuthError;

/// Smallest RSA modulus accepted, in bits. jsonwebtoken 10.4 verifies RSA signatures with
/// the aws-lc-rs `*_2048_8192_*` parameters, which reject a smaller modulus.
const MIN_RSA_BITS: usize = 2048;

/// Key type and curve of a JWK, which decide the algorithms the key can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFamily {
    Rsa,
    P256,
    P384,
}

impl KeyFamily {
    fn verifies(self, algorithm: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(algorithm, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::P256 => algorithm == ES256,
            Self::P384 => algorithm == ES384,
        }
    }
}

/// One public key from the JWKS.
struct VerificationKey {
    kid: Option<String>,
    /// The JWK's `alg`. When present, the token's `alg` must equal it.
    algorithm: Option<Algorithm>,
    family: KeyFamily,
    key: DecodingKey,
}

impl VerificationKey {
    fn verifies(&self, algorithm: Algorithm) -> bool {
        self.family.verifies(algorithm) && self.algorithm.is_none_or(|own| own == algorithm)
    }
}

/// The signature keys of one JWKS document.
pub(crate) struct KeySet {
    keys: Vec<VerificationKey>,
}

/// The JWK members this crate reads. Others (`x5c`, `x5t`, ...) are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: Option<String>,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<Value>,
}

impl KeySet {
    /// Parses a JWKS document, skipping (and logging) each key that is not a usable
    /// signature key, such as an encryption key or a key of an unsupported type.
    ///
    /// # Errors
    ///
    /// [`AuthError::KeysUnavailable`] when the document is not a JWKS or contains no usable key.
    pub(crate) fn parse(document: &[u8], source: &str) -> Result<Self, AuthError> {
        let document: JwksDocument = serde_json::from_slice(document).map_err(|error| {
            AuthError::KeysUnavailable(format!(
                "{source} is not a JWKS document (a JSON object with a `keys` array): {error}"
            ))
        })?;

        let mut keys = Vec::with_capacity(document.keys.len());
        for (index, jwk) in document.keys.into_iter().enumerate() {
            match parse_key(jwk) {
                Ok(key) => keys.push(key),
                Err(reason) => {
                    tracing::warn!(jwks = source, key_index = index, reason, "skipped JWKS key");
                }
            }
        }

        if keys.is_empty() {
            return Err(AuthError::KeysUnavailable(format!(
                "{source} contains no usable signature key (RSA, or EC on P-256 or P-384)"
            )));
        }
        Ok(Self { keys })
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Chooses the key that verifies a token with this `kid` and `alg`.
    ///
    /// A token without `kid` is accepted only when the set contains exactly one key.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<&DecodingKey, AuthError> {
        let Some(kid) = kid else {
            return match self.keys.as_slice() {
                [only] if only.verifies(algorithm) => Ok(&only.key),
                [_] => Err(key_mismatch(algorithm)),
                _ => Err(AuthError::MissingKeyId),
            };
        };

        let mut with_kid = self
            .keys
            .iter()
            .filter(|key| key.kid.as_deref() == Some(kid))
            .peekable();
        if with_kid.peek().is_none() {
            return Err(AuthError::UnknownKeyId);
        }
        with_kid
            .find(|key| key.verifies(algorithm))
            .map(|key| &key.key)
            .ok_or_else(|| key_mismatch(algorithm))
    }

    pub(crate) fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }
}

fn key_mismatch(algorithm: Algorithm) -> AuthError {
    AuthError::KeyAlgorithmMismatch {
        alg: format!("{algorithm:?}"),
    }
}

fn parse_key(jwk: Value) -> Result<VerificationKey, &'static str> {
    let jwk: RawJwk = serde_json::from_value(jwk).map_err(|_| "not a JSON object of strings")?;

    if jwk
        .public_key_use
        .as_deref()
        .is_some_and(|usage| usage != "sig")
    {
        return Err("`use` is not `sig`");
    }
    if let Some(operations) = &jwk.key_ops
        && !operations.iter().any(|operation| operation == "verify")
    {
        return Err("`key_ops` does not include `verify`");
    }

    let algorithm = match jwk.alg.as_deref() {
        None => None,
        Some(name) => Some(
            name.parse::<Algorithm>()
                .map_err(|_| "`alg` is not a JWS algorithm")?,
        ),
    };

    let (family, key) = match jwk.kty.as_deref() {
        Some("RSA") => rsa_key(&jwk)?,
        Some("EC") => ec_key(&jwk)?,
        Some(_) => return Err("`kty` is neither `RSA` nor `EC`"),
        None => return Err("`kty` is missing"),
    };

    Ok(VerificationKey {
        kid: jwk.kid,
        algorithm,
        family,
        key,
    })
}

fn rsa_key(jwk: &RawJwk) -> Result<(KeyFamily, DecodingKey), &'static str> {
    let (Some(modulus), Some(exponent)) = (&jwk.n, &jwk.e) else {
        return Err("RSA key lacks `n` or `e`");
    };
    let modulus_bytes = decode_base64url(modulus).ok_or("RSA `n` is not base64url")?;
    decode_base64url(exponent).ok_or("RSA `e` is not base64url")?;
    if significant_bits(&modulus_bytes) < MIN_RSA_BITS {
        return Err("RSA modulus is shorter than 2048 bits");
    }
    let key = DecodingKey::from_rsa_components(modulus, exponent)
        .map_err(|_| "RSA `n` or `e` is invalid")?;
    Ok((KeyFamily::Rsa, key))
}

fn ec_key(jwk: &RawJwk) -> Result<(KeyFamily, DecodingKey), &'static str> {
    let (family, coordinate_bytes) = match jwk.crv.as_deref() {
        Some("P-256") => (KeyFamily::P256, 32),
        Some("P-384") => (KeyFamily::P384, 48),
        _ => return Err("EC `crv` is neither `P-256` nor `P-384`"),
    };
    let (Some(x), Some(y)) = (&jwk.x, &jwk.y) else {
        return Err("EC key lacks `x` or `y`");
    };
    let x_bytes = decode_base64url(x).ok_or("EC `x` is not base64url")?;
    let y_bytes = decode_base64url(y).ok_or("EC `y` is not base64url")?;
    if x_bytes.len() != coordinate_bytes || y_bytes.len() != coordinate_bytes {
        return Err("EC `x` or `y` has the wrong length for the curve");
    }
    let key = DecodingKey::from_ec_components(x, y).map_err(|_| "EC `x` or `y` is invalid")?;
    Ok((family, key))
}

pub(crate) fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// Counts the bits of a big-endian unsigned integer, ignoring leading zero bits.
fn significant_bits(big_endian: &[u8]) -> usize {
    match big_endian.iter().position(|byte| *byte != 0) {
        Some(first) => (big_endian.len() - first) * 8 - big_endian[first].leading_zeros() as usize,
        None => 0,
    }
}
