//! Tests of `JwtVerifier`. Keys are generated at test time with aws-lc-rs, and tokens are
//! signed with aws-lc-rs directly, so a signature bug in the verifier's backend cannot hide
//! behind the same bug in the signer.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as aws_signature, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
    EcdsaKeyPair, KeyPair as _, RsaEncoding, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::{AuthErrorKind, ClaimsConfig, identity_from_claims};

const ISSUER: &str = "https://idp.example.test/oauth2/default";
const AUDIENCE: &str = "0oa1example2client3id";
/// 2025-11-30T13:30:00Z, the time every test verifies at.
const NOW: u64 = 1_764_509_400;

// ---------------------------------------------------------------------------------------
// Keys, JWKS documents and tokens

fn rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
}

fn second_rsa_key() -> &'static RsaKeyPair {
    static KEY: OnceLock<RsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
}

fn p256_key() -> &'static EcdsaKeyPair {
    static KEY: OnceLock<EcdsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
}

fn p384_key() -> &'static EcdsaKeyPair {
    static KEY: OnceLock<EcdsaKeyPair> = OnceLock::new();
    KEY.get_or_init(|| EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap())
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn rsa_jwk(key: &RsaKeyPair, kid: &str, alg: Option<&str>) -> Value {
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(key.public_key());
    let mut jwk = json!({
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "n": b64(&components.n),
        "e": b64(&components.e),
    });
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

fn ec_jwk(key: &EcdsaKeyPair, curve: &str, kid: &str) -> Value {
    // The public key is the uncompressed point: 0x04, then x, then y.
    let point = key.public_key().as_ref();
    let (x, y) = point[1..].split_at((point.len() - 1) / 2);
    json!({ "kty": "EC", "kid": kid, "crv": curve, "x": b64(x), "y": b64(y) })
}

fn jwks(keys: Vec<Value>) -> Value {
    json!({ "keys": keys })
}

/// Builds the default JWKS: one RSA key (`rsa-1`, alg RS256), one P-256 key and one P-384 key.
fn default_jwks() -> Value {
    jwks(vec![
        rsa_jwk(rsa_key(), "rsa-1", Some("RS256")),
        ec_jwk(p256_key(), "P-256", "ec-256"),
        ec_jwk(p384_key(), "P-384", "ec-384"),
    ])
}

enum Signer {
    Rsa(&'static RsaKeyPair, &'static dyn RsaEncoding),
    Ecdsa(&'static EcdsaKeyPair),
    Hmac(Vec<u8>),
    Unsigned,
}

fn sign(signing_input: &str, signer: &Signer) -> Vec<u8> {
    let rng = SystemRandom::new();
    match signer {
        Signer::Rsa(key, padding) => {
            let mut signature = vec![0; key.public_modulus_len()];
            key.sign(*padding, &rng, signing_input.as_bytes(), &mut signature)
                .unwrap();
            signature
        }
        Signer::Ecdsa(key) => key
            .sign(&rng, signing_input.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec(),
        Signer::Hmac(secret) => {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
            aws_lc_rs::hmac::sign(&key, signing_input.as_bytes())
                .as_ref()
                .to_vec()
        }
        Signer::Unsigned => Vec::new(),
    }
}

fn encode_token(header: &Value, claims: &Value, signer: &Signer) -> String {
    let signing_input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let signature = sign(&signing_input, signer);
    format!("{signing_input}.{}", b64(&signature))
}

fn valid_claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "00u1a2b3c4d5e6f7g8h9",
        "email": "dev.one@example.com",
        "groups": ["eks-users", "platform"],
        "iat": NOW - 60,
        "exp": NOW + 3600,
    })
}

fn rs256() -> Signer {
    Signer::Rsa(rsa_key(), &aws_signature::RSA_PKCS1_SHA256)
}

fn rs256_token(claims: &Value) -> String {
    encode_token(
        &json!({ "alg": "RS256", "typ": "JWT", "kid": "rsa-1" }),
        claims,
        &rs256(),
    )
}

fn es256_token(claims: &Value) -> String {
    encode_token(
        &json!({ "alg": "ES256", "kid": "ec-256" }),
        claims,
        &Signer::Ecdsa(p256_key()),
    )
}

/// Replaces the claims of a signed token and keeps its header and signature.
fn with_replaced_claims(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = b64(&serde_json::to_vec(claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

// ---------------------------------------------------------------------------------------
// Verifiers

/// A JWKS file in the temporary directory, deleted on drop.
struct TempJwksFile(PathBuf);

impl TempJwksFile {
    fn new(document: &[u8]) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "eksgate-auth-test-{}-{}.json",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, document).unwrap();
        Self(path)
    }

    fn path(&self) -> PathBuf {
        self.0.clone()
    }
}

impl Drop for TempJwksFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `document` to a JWKS file and returns a configuration that reads it. The file
/// lasts as long as the returned guard.
fn file_config(document: &Value, algorithms: Vec<Algorithm>) -> (VerifierConfig, TempJwksFile) {
    let file = TempJwksFile::new(&serde_json::to_vec(document).unwrap());
    let config = VerifierConfig {
        algorithms,
        ..VerifierConfig::new(
            ISSUER,
            vec![AUDIENCE.to_owned()],
            JwksSource::File(file.path()),
        )
    };
    (config, file)
}

async fn verifier_with(document: &Value, algorithms: Vec<Algorithm>) -> JwtVerifier {
    let (config, _file) = file_config(document, algorithms);
    JwtVerifier::new(config).await.unwrap()
}

/// Builds a verifier over [`default_jwks`] that allows every supported algorithm.
async fn verifier() -> JwtVerifier {
    verifier_with(&default_jwks(), SUPPORTED_ALGORITHMS.to_vec()).await
}

async fn rejection(verifier: &JwtVerifier, token: &str) -> AuthError {
    verifier
        .verify_at(token, now())
        .await
        .expect_err("token must be rejected")
}

// ---------------------------------------------------------------------------------------
// Accepted tokens

#[tokio::test]
async fn rs256_token_accepted() {
    let verifier = verifier().await;

    let claims = verifier
        .verify_at(&rs256_token(&valid_claims()), now())
        .await
        .unwrap();

    assert_eq!(claims, valid_claims());
    let identity = identity_from_claims(&claims, &ClaimsConfig::default()).unwrap();
    assert_eq!(identity.user, "dev.one@example.com");
    assert_eq!(identity.groups.len(), 2);
}

#[tokio::test]
async fn es256_token_accepted() {
    let verifier = verifier().await;

    let claims = verifier
        .verify_at(&es256_token(&valid_claims()), now())
        .await
        .unwrap();

    assert_eq!(claims, valid_claims());
}

#[tokio::test]
async fn other_algorithms_accepted() {
    let document = jwks(vec![
        rsa_jwk(rsa_key(), "rsa-any", None),
        ec_jwk(p384_key(), "P-384", "ec-384"),
    ]);
    let verifier = verifier_with(&document, SUPPORTED_ALGORITHMS.to_vec()).await;
    let cases: [(&str, &str, Signer); 6] = [
        (
            "RS384",
            "rsa-any",
            Signer::Rsa(rsa_key(), &aws_signature::RSA_PKCS1_SHA384),
        ),
        (
            "RS512",
            "rsa-any",
            Signer::Rsa(rsa_key(), &aws_signature::RSA_PKCS1_SHA512),
        ),
        (
            "PS256",
            "rsa-any",
            Signer::Rsa(rsa_key(), &aws_signature::RSA_PSS_SHA256),
        ),
        (
            "PS384",
            "rsa-any",
            Signer::Rsa(rsa_key(), &aws_signature::RSA_PSS_SHA384),
        ),
        (
            "PS512",
            "rsa-any",
            Signer::Rsa(rsa_key(), &aws_signature::RSA_PSS_SHA512),
        ),
        ("ES384", "ec-384", Signer::Ecdsa(p384_key())),
    ];

    for (alg, kid, signer) in cases {
        let token = encode_token(&json!({ "alg": alg, "kid": kid }), &valid_claims(), &signer);
        let result = verifier.verify_at(&token, now()).await;
        assert!(result.is_ok(), "{alg}: {result:?}");
    }
}

#[tokio::test]
async fn token_without_kid_single_key() {
    let document = jwks(vec![rsa_jwk(rsa_key(), "only", Some("RS256"))]);
    let verifier = verifier_with(&document, vec![Algorithm::RS256]).await;
    let token = encode_token(&json!({ "alg": "RS256" }), &valid_claims(), &rs256());

    let result = verifier.verify_at(&token, now()).await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn audience_array_accepted() {
    let verifier = verifier().await;
    let mut claims = valid_claims();
    claims["aud"] = json!(["other-client", AUDIENCE]);

    let result = verifier.verify_at(&rs256_token(&claims), now()).await;

    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn time_checks_allow_leeway() {
    let verifier = verifier().await;
    let mut expired_within_leeway = valid_claims();
    expired_within_leeway["exp"] = json!(NOW - 59);
    let mut starts_within_leeway = valid_claims();
    starts_within_leeway["nbf"] = json!(NOW + 59);
    let mut fractional_exp = valid_claims();
    fractional_exp["exp"] = json!(NOW as f64 + 0.5);

    for claims in [expired_within_leeway, starts_within_leeway, fractional_exp] {
        let result = verifier.verify_at(&rs256_token(&claims), now()).await;
        assert!(result.is_ok(), "{claims}: {result:?}");
    }
}

#[tokio::test]
async fn verify_uses_system_clock() {
    let verifier = verifier().await;
    let now_seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut current = valid_claims();
    current["exp"] = json!(now_seconds + 600);
    let mut expired = valid_claims();
    expired["exp"] = json!(now_seconds - 600);

    let accepted = verifier.verify(&rs256_token(&current)).await;
    let rejected = verifier.verify(&rs256_token(&expired)).await;

    assert!(accepted.is_ok(), "{accepted:?}");
    assert_eq!(rejected, Err(AuthError::Expired));
}

// ---------------------------------------------------------------------------------------
// Signature attacks

#[tokio::test]
async fn tampered_signature_rejected() {
    let verifier = verifier().await;
    for token in [rs256_token(&valid_claims()), es256_token(&valid_claims())] {
        let parts: Vec<&str> = token.split('.').collect();
        let mut signature = unb64(parts[2]);
        signature[10] ^= 0x01;
        let tampered = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));

        assert_eq!(
            rejection(&verifier, &tampered).await,
            AuthError::InvalidSignature
        );
    }
}

#[tokio::test]
async fn tampered_payload_rejected() {
    let verifier = verifier().await;
    let mut elevated = valid_claims();
    elevated["email"] = json!("admin@example.com");
    elevated["groups"] = json!(["eks-admins"]);

    for token in [rs256_token(&valid_claims()), es256_token(&valid_claims())] {
        let tampered = with_replaced_claims(&token, &elevated);

        assert_eq!(
            rejection(&verifier, &tampered).await,
            AuthError::InvalidSignature
        );
    }
}

#[tokio::test]
async fn signature_by_other_key_rejected() {
    let verifier = verifier().await;
    let token = encode_token(
        &json!({ "alg": "RS256", "kid": "rsa-1" }),
        &valid_claims(),
        &Signer::Rsa(second_rsa_key(), &aws_signature::RSA_PKCS1_SHA256),
    );

    assert_eq!(
        rejection(&verifier, &token).await,
        AuthError::InvalidSignature
    );
}

#[tokio::test]
async fn alg_none_rejected() {
    let verifier = verifier().await;
    let signed = rs256_token(&valid_claims());
    let real_signature = signed.rsplit('.').next().unwrap();

    for alg in ["none", "None", "NONE"] {
        let header = json!({ "alg": alg, "typ": "JWT", "kid": "rsa-1" });
        let unsigned = encode_token(&header, &valid_claims(), &Signer::Unsigned);
        let with_signature = format!("{}{real_signature}", unsigned);
        let expected = AuthError::AlgorithmNotAllowed {
            alg: alg.to_owned(),
        };

        assert!(unsigned.ends_with('.'), "{unsigned}");
        assert_eq!(
            rejection(&verifier, &unsigned).await,
            expected,
            "{alg} unsigned"
        );
        assert_eq!(
            rejection(&verifier, &with_signature).await,
            expected,
            "{alg} signed"
        );
    }
}

#[tokio::test]
async fn hs256_with_public_key_rejected() {
    let verifier = verifier().await;
    let public_der = rsa_key().public_key().as_der().unwrap();
    let public_pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(public_der.as_ref())
    );
    let public_jwk = serde_json::to_vec(&rsa_jwk(rsa_key(), "rsa-1", Some("RS256"))).unwrap();
    let secrets = [
        public_der.as_ref().to_vec(),
        public_pem.into_bytes(),
        public_jwk,
    ];

    for secret in secrets {
        let token = encode_token(
            &json!({ "alg": "HS256", "kid": "rsa-1" }),
            &valid_claims(),
            &Signer::Hmac(secret),
        );

        assert_eq!(
            rejection(&verifier, &token).await,
            AuthError::AlgorithmNotAllowed {
                alg: "HS256".to_owned()
            }
        );
    }
}

#[tokio::test]
async fn algorithm_outside_allowed_list_rejected() {
    let verifier = verifier_with(&default_jwks(), vec![Algorithm::RS256]).await;

    let error = rejection(&verifier, &es256_token(&valid_claims())).await;

    assert_eq!(
        error,
        AuthError::AlgorithmNotAllowed {
            alg: "ES256".to_owned()
        }
    );
}

#[tokio::test]
async fn unrecognised_alg_not_echoed() {
    let verifier = verifier().await;
    let header = json!({ "alg": "<script>alert(1)</script>", "kid": "rsa-1" });
    let token = encode_token(&header, &valid_claims(), &rs256());

    let error = rejection(&verifier, &token).await;

    assert_eq!(
        error.to_string(),
        "token algorithm `<unrecognised>` is not allowed"
    );
}

#[tokio::test]
async fn key_alg_must_match_token_alg() {
    let verifier = verifier().await;
    // The JWK `rsa-1` declares alg RS256, so a PS256 signature by the same key is rejected.
    let ps256 = encode_token(
        &json!({ "alg": "PS256", "kid": "rsa-1" }),
        &valid_claims(),
        &Signer::Rsa(rsa_key(), &aws_signature::RSA_PSS_SHA256),
    );
    // An ES256 token that names the RSA key.
    let es256_naming_rsa = encode_token(
        &json!({ "alg": "ES256", "kid": "rsa-1" }),
        &valid_claims(),
        &Signer::Ecdsa(p256_key()),
    );
    // An ES384 token that names the P-256 key.
    let es384_naming_p256 = encode_token(
        &json!({ "alg": "ES384", "kid": "ec-256" }),
        &valid_claims(),
        &Signer::Ecdsa(p384_key()),
    );

    for (token, alg) in [
        (ps256, "PS256"),
        (es256_naming_rsa, "ES256"),
        (es384_naming_p256, "ES384"),
    ] {
        assert_eq!(
            rejection(&verifier, &token).await,
            AuthError::KeyAlgorithmMismatch {
                alg: alg.to_owned()
            },
            "{alg}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Claims

#[tokio::test]
async fn issuer_checks() {
    let verifier = verifier().await;
    let cases = [
        (
            json!("https://evil.example.test/oauth2/default"),
            AuthError::IssuerMismatch,
        ),
        (json!(format!("{ISSUER}/")), AuthError::IssuerMismatch),
        (json!(""), AuthError::IssuerMismatch),
        (
            json!(7),
            AuthError::invalid_claim("iss", "must be a string"),
        ),
        (Value::Null, AuthError::missing_claim("iss")),
    ];

    for (issuer, expected) in cases {
        let mut claims = valid_claims();
        claims["iss"] = issuer.clone();
        assert_eq!(
            rejection(&verifier, &rs256_token(&claims)).await,
            expected,
            "{issuer}"
        );
    }

    let mut claims = valid_claims();
    claims.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        rejection(&verifier, &rs256_token(&claims)).await,
        AuthError::missing_claim("iss")
    );
}

#[tokio::test]
async fn audience_checks() {
    let verifier = verifier().await;
    let not_strings = AuthError::invalid_claim("aud", "must be a string or an array of strings");
    let cases = [
        (json!("other-client"), AuthError::AudienceMismatch),
        (
            json!(["other-client", "third-client"]),
            AuthError::AudienceMismatch,
        ),
        (json!([]), AuthError::AudienceMismatch),
        (json!(format!("{AUDIENCE} ")), AuthError::AudienceMismatch),
        (json!([AUDIENCE, 5]), not_strings.clone()),
        (json!(5), not_strings.clone()),
        (json!({ "aud": AUDIENCE }), not_strings),
    ];

    for (audience, expected) in cases {
        let mut claims = valid_claims();
        claims["aud"] = audience.clone();
        assert_eq!(
            rejection(&verifier, &rs256_token(&claims)).await,
            expected,
            "{audience}"
        );
    }

    let mut claims = valid_claims();
    claims.as_object_mut().unwrap().remove("aud");
    assert_eq!(
        rejection(&verifier, &rs256_token(&claims)).await,
        AuthError::missing_claim("aud")
    );
}

#[tokio::test]
async fn expiry_checks() {
    let verifier = verifier().await;
    let cases = [
        (json!(NOW - 61), AuthError::Expired),
        // `exp` plus the 60 s leeway equals now, and a token is valid only before that.
        (json!(NOW - 60), AuthError::Expired),
        (json!(0), AuthError::Expired),
        (json!(-5), AuthError::Expired),
        (
            json!((NOW + 3600).to_string()),
            AuthError::invalid_claim("exp", "must be a number"),
        ),
        (Value::Null, AuthError::missing_claim("exp")),
    ];

    for (expiry, expected) in cases {
        let mut claims = valid_claims();
        claims["exp"] = expiry.clone();
        assert_eq!(
            rejection(&verifier, &rs256_token(&claims)).await,
            expected,
            "{expiry}"
        );
    }

    let mut claims = valid_claims();
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        rejection(&verifier, &rs256_token(&claims)).await,
        AuthError::missing_claim("exp")
    );
}

#[tokio::test]
async fn future_nbf_rejected() {
    let verifier = verifier().await;
    let cases = [
        (json!(NOW + 61), AuthError::NotYetValid),
        (json!(NOW + 86_400), AuthError::NotYetValid),
        (
            json!("0"),
            AuthError::invalid_claim("nbf", "must be a number"),
        ),
    ];

    for (not_before, expected) in cases {
        let mut claims = valid_claims();
        claims["nbf"] = not_before.clone();
        assert_eq!(
            rejection(&verifier, &rs256_token(&claims)).await,
            expected,
            "{not_before}"
        );
    }
}

#[tokio::test]
async fn zero_leeway_is_exact() {
    let (base, _file) = file_config(&default_jwks(), vec![Algorithm::RS256]);
    let config = VerifierConfig {
        leeway: Duration::ZERO,
        ..base
    };
    let verifier = JwtVerifier::new(config).await.unwrap();
    let mut just_expired = valid_claims();
    just_expired["exp"] = json!(NOW);
    let mut still_valid = valid_claims();
    still_valid["exp"] = json!(NOW + 1);

    let rejected = verifier.verify_at(&rs256_token(&just_expired), now()).await;
    let accepted = verifier.verify_at(&rs256_token(&still_valid), now()).await;

    assert_eq!(rejected, Err(AuthError::Expired));
    assert!(accepted.is_ok(), "{accepted:?}");
}

// ---------------------------------------------------------------------------------------
// Key selection

#[tokio::test]
async fn unknown_kid_rejected() {
    let verifier = verifier().await;
    let token = encode_token(
        &json!({ "alg": "RS256", "kid": "rsa-2" }),
        &valid_claims(),
        &rs256(),
    );

    assert_eq!(rejection(&verifier, &token).await, AuthError::UnknownKeyId);
}

#[tokio::test]
async fn missing_kid_with_several_keys_rejected() {
    let verifier = verifier().await;
    let token = encode_token(&json!({ "alg": "RS256" }), &valid_claims(), &rs256());

    assert_eq!(rejection(&verifier, &token).await, AuthError::MissingKeyId);
}

#[tokio::test]
async fn unusable_jwks_keys_skipped() {
    let mut encryption_key = rsa_jwk(second_rsa_key(), "enc", None);
    encryption_key["use"] = json!("enc");
    let mut wrap_only_key = rsa_jwk(second_rsa_key(), "wrap", None);
    wrap_only_key["key_ops"] = json!(["wrapKey"]);
    let mut oaep_key = rsa_jwk(second_rsa_key(), "oaep", None);
    oaep_key["alg"] = json!("RSA-OAEP");
    let mut wrong_length = ec_jwk(p256_key(), "P-256", "short");
    wrong_length["x"] = json!(b64(&[1; 31]));
    let small_rsa = json!({ "kty": "RSA", "kid": "small", "n": b64(&[0xc5; 128]), "e": "AQAB" });
    let document = jwks(vec![
        json!({ "kty": "oct", "kid": "hmac", "k": b64(b"secret") }),
        json!({ "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64(&[1; 32]) }),
        json!({ "kty": "EC", "kid": "p521", "crv": "P-521", "x": b64(&[1; 66]), "y": b64(&[1; 66]) }),
        json!({ "kid": "no-kty" }),
        json!("not an object"),
        encryption_key,
        wrap_only_key,
        oaep_key,
        wrong_length,
        small_rsa,
        rsa_jwk(rsa_key(), "rsa-1", Some("RS256")),
    ]);

    let verifier = verifier_with(&document, vec![Algorithm::RS256]).await;

    assert_eq!(verifier.current_keys().len(), 1);
    let result = verifier
        .verify_at(&rs256_token(&valid_claims()), now())
        .await;
    assert!(result.is_ok(), "{result:?}");
}

// ---------------------------------------------------------------------------------------
// Malformed tokens

#[tokio::test]
async fn malformed_tokens_rejected() {
    let verifier = verifier().await;
    let valid = rs256_token(&valid_claims());
    let parts: Vec<&str> = valid.split('.').collect();
    let (header, payload, signature) = (parts[0], parts[1], parts[2]);
    let encode = |value: &Value| b64(&serde_json::to_vec(value).unwrap());
    let header_with = |value: Value| {
        let mut fields = json!({ "alg": "RS256", "kid": "rsa-1" });
        fields
            .as_object_mut()
            .unwrap()
            .extend(value.as_object().unwrap().clone());
        encode(&fields)
    };
    let three_parts = "expected three base64url parts separated by dots";

    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), three_parts),
        ("one part", "abc".to_owned(), three_parts),
        ("two parts", format!("{header}.{payload}"), three_parts),
        ("four parts", format!("{valid}.{signature}"), three_parts),
        ("five parts (JWE)", format!("{header}.a.b.c.d"), three_parts),
        (
            "header not base64",
            format!("@@@.{payload}.{signature}"),
            "header is not base64url",
        ),
        (
            "header padded",
            format!("{header}=.{payload}.{signature}"),
            "header is not base64url",
        ),
        (
            "header not JSON",
            format!("{}.{payload}.{signature}", b64(b"not json")),
            "header is not a JSON object",
        ),
        (
            "header JSON array",
            format!("{}.{payload}.{signature}", encode(&json!(["RS256"]))),
            "header is not a JSON object",
        ),
        (
            "header without alg",
            format!(
                "{}.{payload}.{signature}",
                encode(&json!({ "kid": "rsa-1" }))
            ),
            "header has no `alg`",
        ),
        (
            "alg not a string",
            format!("{}.{payload}.{signature}", encode(&json!({ "alg": 256 }))),
            "header `alg` is not a string",
        ),
        (
            "kid not a string",
            format!("{}.{payload}.{signature}", header_with(json!({ "kid": 1 }))),
            "header `kid` is not a string",
        ),
        (
            "crit header",
            format!(
                "{}.{payload}.{signature}",
                header_with(json!({ "crit": ["b64"], "b64": false }))
            ),
            "header `crit` names extensions that are not supported",
        ),
        (
            "payload not base64",
            format!("{header}.!!!.{signature}"),
            "payload is not base64url",
        ),
        (
            "payload not JSON",
            format!("{header}.{}.{signature}", b64(b"{\"iss\":")),
            "payload is not a JSON object",
        ),
        (
            "payload JSON string",
            format!("{header}.{}.{signature}", encode(&json!("claims"))),
            "payload is not a JSON object",
        ),
        (
            "signature empty",
            format!("{header}.{payload}."),
            "signature is empty",
        ),
        (
            "signature not base64",
            format!("{header}.{payload}.***"),
            "signature is not base64url",
        ),
    ];

    for (case, token, reason) in cases {
        let error = rejection(&verifier, &token).await;
        assert_eq!(error, AuthError::MalformedToken { reason }, "{case}");
    }
}

#[tokio::test]
async fn oversized_token_rejected() {
    let verifier = verifier().await;
    let mut claims = valid_claims();
    claims["padding"] = json!("x".repeat(MAX_TOKEN_BYTES));
    let token = rs256_token(&claims);
    let at_limit = "a".repeat(MAX_TOKEN_BYTES);

    let error = rejection(&verifier, &token).await;
    let at_limit_error = rejection(&verifier, &at_limit).await;

    assert_eq!(
        error,
        AuthError::TokenTooLarge {
            max_bytes: MAX_TOKEN_BYTES
        }
    );
    assert!(
        matches!(at_limit_error, AuthError::MalformedToken { .. }),
        "{at_limit_error:?}"
    );
}

#[tokio::test]
async fn error_messages_omit_token() {
    let verifier = verifier().await;
    let token = rs256_token(&valid_claims());
    let parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut expired = valid_claims();
    expired["exp"] = json!(NOW - 3600);
    let rejected = [
        format!("{}.{}.{}x", parts[0], parts[1], parts[2]),
        with_replaced_claims(&token, &expired),
        rs256_token(&expired),
        format!("{}.{}", parts[0], parts[1]),
    ];

    for token in rejected {
        let message = rejection(&verifier, &token).await.to_string();
        for part in token.split('.').filter(|part| part.len() > 8) {
            assert!(
                !message.contains(part),
                "message {message:?} contains a token part"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Configuration and JWKS files

#[tokio::test]
async fn config_rejects_unsafe_algorithms() {
    for algorithm in [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::EdDSA,
    ] {
        let (config, _file) = file_config(&default_jwks(), vec![Algorithm::RS256, algorithm]);

        let error = JwtVerifier::new(config).await.unwrap_err();

        assert_eq!(error.kind(), AuthErrorKind::Configuration, "{algorithm:?}");
        assert!(
            error.to_string().contains(&format!("{algorithm:?}")),
            "{error}"
        );
    }
}

#[tokio::test]
async fn config_requires_issuer_audience_algorithm() {
    let (base, _file) = file_config(&default_jwks(), vec![Algorithm::RS256]);
    let configs = [
        (
            "empty issuer",
            VerifierConfig {
                issuer: " ".to_owned(),
                ..base.clone()
            },
        ),
        (
            "no audience",
            VerifierConfig {
                audiences: Vec::new(),
                ..base.clone()
            },
        ),
        (
            "empty audience",
            VerifierConfig {
                audiences: vec![String::new()],
                ..base.clone()
            },
        ),
        (
            "no algorithm",
            VerifierConfig {
                algorithms: Vec::new(),
                ..base.clone()
            },
        ),
    ];

    for (case, config) in configs {
        let error = JwtVerifier::new(config).await.unwrap_err();
        assert_eq!(
            error.kind(),
            AuthErrorKind::Configuration,
            "{case}: {error}"
        );
    }
}

#[tokio::test]
async fn config_rejects_insecure_jwks_urls() {
    // Every URL here is rejected before any connection is attempted. Each host is a numeric
    // loopback address, so even a regression could not send traffic off this machine.
    let urls = [
        "http://127.0.0.2:9/jwks",
        "http://127.1:9/jwks",
        "http://user@127.0.0.1:9/jwks",
        "ftp://127.0.0.1:9/jwks",
        "/jwks",
        "not a url",
        "",
    ];

    for url in urls {
        let config = VerifierConfig::new(
            ISSUER,
            vec![AUDIENCE.to_owned()],
            JwksSource::Url(url.to_owned()),
        );

        let error = JwtVerifier::new(config).await.unwrap_err();

        assert_eq!(error.kind(), AuthErrorKind::Configuration, "{url}: {error}");
        assert_eq!(error.http_status(), 500, "{url}");
    }
}

#[tokio::test]
async fn unreadable_jwks_files_rejected() {
    let missing = std::env::temp_dir().join("eksgate-auth-test-missing-jwks.json");
    let not_jwks = TempJwksFile::new(br#"{"issuer":"x"}"#);
    let no_usable_key = TempJwksFile::new(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#);
    let too_large = TempJwksFile::new(&vec![b' '; MAX_JWKS_BYTES + 1]);

    for path in [
        missing,
        not_jwks.path(),
        no_usable_key.path(),
        too_large.path(),
    ] {
        let config = VerifierConfig::new(
            ISSUER,
            vec![AUDIENCE.to_owned()],
            JwksSource::File(path.clone()),
        );

        let error = JwtVerifier::new(config).await.unwrap_err();

        assert_eq!(
            error.kind(),
            AuthErrorKind::KeysUnavailable,
            "{}: {error}",
            path.display()
        );
        assert_eq!(error.http_status(), 503);
    }
}

#[test]
fn verifier_shareable_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    // Takes the future by value so the bound is on the future itself. It is never polled.
    fn assert_send<T: Send>(_: T) {}
    fn check_verify_future(verifier: &JwtVerifier) {
        assert_send(verifier.verify("token"));
    }

    assert_send_sync::<JwtVerifier>();
    let _ = check_verify_future;
}

#[test]
fn error_kinds_and_statuses() {
    let cases = [
        (AuthError::Expired, "expired", 401),
        (AuthError::InvalidSignature, "invalid_signature", 401),
        (AuthError::UnknownKeyId, "key_not_found", 401),
        (AuthError::missing_claim("email"), "invalid_claims", 401),
        (
            AuthError::InvalidConfig("x".to_owned()),
            "configuration",
            500,
        ),
        (
            AuthError::KeysUnavailable("x".to_owned()),
            "keys_unavailable",
            503,
        ),
    ];

    for (error, kind, status) in cases {
        assert_eq!(error.kind().as_str(), kind, "{error}");
        assert_eq!(error.http_status(), status, "{error}");
    }
}

// ---------------------------------------------------------------------------------------
// JWKS from a URL, served by a local HTTP server

/// Response the test server sends.
#[derive(Clone)]
enum Reply {
    Json(u16, String),
    Bytes(Vec<u8>),
    Silence,
}

/// A one-route HTTP/1.1 server on 127.0.0.1 that counts the requests it receives.
struct JwksServer {
    url: String,
    requests: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/keys", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));

        let task = tokio::spawn({
            let requests = Arc::clone(&requests);
            let reply = Arc::clone(&reply);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let reply = reply.lock().unwrap().clone();
                    tokio::spawn(answer(stream, reply, Arc::clone(&requests)));
                }
            }
        });
        Self {
            url,
            requests,
            reply,
            task,
        }
    }

    fn set_reply(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn config(&self, algorithms: Vec<Algorithm>) -> VerifierConfig {
        VerifierConfig {
            algorithms,
            ..VerifierConfig::new(
                ISSUER,
                vec![AUDIENCE.to_owned()],
                JwksSource::Url(self.url.clone()),
            )
        }
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(mut stream: tokio::net::TcpStream, reply: Reply, requests: Arc<AtomicUsize>) {
    let mut request = Vec::new();
    let mut buffer = [0; 4096];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 65_536 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    assert!(
        request.starts_with(b"GET /keys HTTP/1.1\r\n"),
        "{}",
        String::from_utf8_lossy(&request)
    );
    requests.fetch_add(1, Ordering::SeqCst);

    let response = match reply {
        Reply::Json(status, body) => format!(
            "HTTP/1.1 {status} Test\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
        Reply::Bytes(bytes) => bytes,
        Reply::Silence => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
    };
    // The client may hang up early, for example on an oversized body.
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

fn jwks_reply(document: &Value) -> Reply {
    Reply::Json(200, document.to_string())
}

#[tokio::test]
async fn url_jwks_refreshed_for_new_kid() {
    let first_key = rsa_jwk(rsa_key(), "rsa-1", Some("RS256"));
    let second_key = rsa_jwk(second_rsa_key(), "rsa-2", Some("RS256"));
    let server = JwksServer::start(jwks_reply(&jwks(vec![first_key.clone()]))).await;
    let verifier = JwtVerifier::new(server.config(vec![Algorithm::RS256]))
        .await
        .unwrap();
    let first_token = rs256_token(&valid_claims());
    let second_token = encode_token(
        &json!({ "alg": "RS256", "kid": "rsa-2" }),
        &valid_claims(),
        &Signer::Rsa(second_rsa_key(), &aws_signature::RSA_PKCS1_SHA256),
    );
    let third_token = encode_token(
        &json!({ "alg": "RS256", "kid": "rsa-3" }),
        &valid_claims(),
        &rs256(),
    );
    assert_eq!(server.requests(), 1, "initial fetch");

    // Known kid: served from the cache.
    let first = verifier.verify_at(&first_token, now()).await;
    assert!(first.is_ok(), "{first:?}");
    assert_eq!(server.requests(), 1, "cached key");

    // The issuer rotates in a second key. The last fetch was under a minute ago, so the
    // unknown kid is rejected without a re-fetch.
    server.set_reply(jwks_reply(&jwks(vec![first_key, second_key])));
    let rate_limited = verifier.verify_at(&second_token, now()).await;
    assert_eq!(rate_limited, Err(AuthError::UnknownKeyId));
    assert_eq!(server.requests(), 1, "re-fetch within a minute");

    // Once a minute has passed, the unknown kid triggers one re-fetch, which finds the key.
    verifier.forget_last_fetch().await;
    let refreshed = verifier.verify_at(&second_token, now()).await;
    assert!(refreshed.is_ok(), "{refreshed:?}");
    assert_eq!(server.requests(), 2, "re-fetch for new kid");

    // A kid that the issuer does not publish at all is rejected, and the second miss within
    // a minute does not fetch again.
    verifier.forget_last_fetch().await;
    let unknown = verifier.verify_at(&third_token, now()).await;
    let unknown_again = verifier.verify_at(&third_token, now()).await;
    assert_eq!(unknown, Err(AuthError::UnknownKeyId));
    assert_eq!(unknown_again, Err(AuthError::UnknownKeyId));
    assert_eq!(server.requests(), 3, "one re-fetch per minute");

    // Both keys stay usable.
    assert!(verifier.verify_at(&first_token, now()).await.is_ok());
    assert!(verifier.verify_at(&second_token, now()).await.is_ok());
    assert_eq!(server.requests(), 3, "cached keys");
}

#[tokio::test]
async fn url_jwks_refresh_failure_keeps_cache() {
    let server =
        JwksServer::start(jwks_reply(&jwks(vec![rsa_jwk(rsa_key(), "rsa-1", None)]))).await;
    let verifier = JwtVerifier::new(server.config(vec![Algorithm::RS256]))
        .await
        .unwrap();
    let unknown_kid = encode_token(
        &json!({ "alg": "RS256", "kid": "rsa-9" }),
        &valid_claims(),
        &rs256(),
    );

    server.set_reply(Reply::Json(500, "{}".to_owned()));
    verifier.forget_last_fetch().await;
    let error = rejection(&verifier, &unknown_kid).await;
    let cached = verifier
        .verify_at(&rs256_token(&valid_claims()), now())
        .await;

    assert_eq!(error.kind(), AuthErrorKind::KeysUnavailable, "{error}");
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    assert!(cached.is_ok(), "{cached:?}");
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn url_jwks_fetch_failures() {
    let large_body = format!(
        "{{\"keys\":[],\"padding\":\"{}\"}}",
        "x".repeat(MAX_JWKS_BYTES)
    );
    let undeclared_length = {
        let mut bytes = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_vec();
        bytes.extend(std::iter::repeat_n(b' ', MAX_JWKS_BYTES + 1));
        bytes
    };
    let cases = [
        (
            "server error",
            Reply::Json(500, "{}".to_owned()),
            "HTTP 500",
        ),
        ("redirect", Reply::Json(302, String::new()), "HTTP 302"),
        (
            "not a JWKS",
            Reply::Json(200, "<html></html>".to_owned()),
            "not a JWKS document",
        ),
        (
            "no keys",
            Reply::Json(200, r#"{"keys":[]}"#.to_owned()),
            "no usable signature key",
        ),
        (
            "declared body too large",
            Reply::Json(200, large_body),
            "larger than",
        ),
        (
            "undeclared body too large",
            Reply::Bytes(undeclared_length),
            "larger than",
        ),
    ];

    for (case, reply, message) in cases {
        let server = JwksServer::start(reply).await;

        let error = JwtVerifier::new(server.config(vec![Algorithm::RS256]))
            .await
            .unwrap_err();

        assert_eq!(
            error.kind(),
            AuthErrorKind::KeysUnavailable,
            "{case}: {error}"
        );
        assert!(error.to_string().contains(message), "{case}: {error}");
    }
}

#[tokio::test]
async fn url_jwks_fetch_times_out() {
    let server = JwksServer::start(Reply::Silence).await;
    let started = std::time::Instant::now();

    let error = JwtVerifier::new(server.config(vec![Algorithm::RS256]))
        .await
        .unwrap_err();

    let elapsed = started.elapsed();
    assert_eq!(error.kind(), AuthErrorKind::KeysUnavailable, "{error}");
    assert!(error.to_string().contains("timed out after 5 s"), "{error}");
    assert!(elapsed >= JWKS_FETCH_TIMEOUT, "{elapsed:?}");
    assert!(elapsed < JWKS_FETCH_TIMEOUT * 3, "{elapsed:?}");
}
