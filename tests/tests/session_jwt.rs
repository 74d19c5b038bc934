//! The session issuer in self-verifying mode (`EKSGATE_JWKS`), as behind a Lambda Function URL:
//! it verifies the bearer JWT itself and rejects tampered, expired and unsigned tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eksgate_session_issuer::App;
use eksgate_tests::api::{User, http_event, local_session_issuer, response_parts};
use eksgate_tests::aws::local_config;
use eksgate_tests::estate::{ClusterSpec, create_cluster};
use eksgate_tests::idp::{AUDIENCE, ISSUER, TestIdp};
use eksgate_tests::local_importer;
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use serde_json::{Value, json};

const TABLE: &str = "eksgate-jwt";
const EU: &str = "eu-west-1";

struct Setup {
    _moto: Moto,
    _dir: TempDir,
    app: App,
    idp: TestIdp,
}

/// A directory removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn setup() -> Setup {
    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let config = local_config(&endpoint, EU);
    create_catalog_table(&aws_sdk_dynamodb::Client::new(&config), TABLE).await;
    let spec = ClusterSpec::new(
        EU,
        "payments-prod",
        &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
    );
    create_cluster(&config, &spec).await;
    local_importer(&endpoint, TABLE, &[EU], &[]).run().await;

    let dir = std::env::temp_dir().join(format!(
        "eksgate-jwt-{}-{}",
        std::process::id(),
        moto.port()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let idp = TestIdp::generate();
    let jwks = dir.join("jwks.json");
    idp.write_jwks(&jwks).expect("write JWKS");
    let jwks_setting = format!("file:{}", jwks.display());
    let app = local_session_issuer(
        &endpoint,
        TABLE,
        &[
            ("EKSGATE_JWKS", jwks_setting.as_str()),
            ("EKSGATE_JWT_ISSUER", ISSUER),
            ("EKSGATE_JWT_AUDIENCE", AUDIENCE),
        ],
    )
    .await;
    Setup {
        _moto: moto,
        _dir: TempDir(dir),
        app,
        idp,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn claims(email: &str) -> Value {
    json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": format!("sub-{email}"),
        "email": email,
        "groups": ["eks-users"],
        "iat": now(),
        "exp": now() + 600,
    })
}

/// Calls GET /requests with `token` as the bearer, as a Function URL delivers it: no
/// authorizer claims unless `forged_claims` adds some.
async fn call(setup: &Setup, token: Option<&str>, forged_claims: Option<Value>) -> (u16, Value) {
    let mut event = http_event("GET", "/requests", forged_claims, None);
    let headers = event["headers"].as_object_mut().expect("headers");
    match token {
        Some(token) => {
            headers.insert(
                "authorization".into(),
                Value::String(format!("Bearer {token}")),
            );
        }
        None => {
            headers.remove("authorization");
        }
    }
    response_parts(&setup.app.handle(&event).await)
}

fn with_payload(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test]
async fn verified_tokens_are_accepted() {
    let setup = setup().await;
    let token = setup.idp.token("dev.one@example.com", &["eks-users"]);
    let (status, body) = call(&setup, Some(&token), None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn tampered_and_invalid_tokens_get_401() {
    let setup = setup().await;
    let valid = setup.idp.token("dev.one@example.com", &["eks-users"]);
    let mut bad_signature = valid.clone();
    let last = bad_signature.pop().expect("non-empty");
    bad_signature.push(if last == 'A' { 'B' } else { 'A' });

    let mut escalated = claims("dev.one@example.com");
    escalated["groups"] = json!(["platform"]);
    let header_none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims("dev.one@example.com").to_string());

    let mut expired = claims("dev.one@example.com");
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let mut not_yet = claims("dev.one@example.com");
    not_yet["nbf"] = json!(now() + 3600);
    let mut wrong_issuer = claims("dev.one@example.com");
    wrong_issuer["iss"] = json!("https://evil.example.com/");
    let mut wrong_audience = claims("dev.one@example.com");
    wrong_audience["aud"] = json!("another-client");
    let mut no_email = claims("dev.one@example.com");
    no_email.as_object_mut().expect("object").remove("email");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("garbage", Some("not-a-jwt".into())),
        ("signature changed", Some(bad_signature)),
        (
            "payload changed, signature kept",
            Some(with_payload(&valid, &escalated)),
        ),
        (
            "alg none without signature",
            Some(format!("{header_none}.{payload}.")),
        ),
        (
            "alg none with the old signature",
            Some(format!(
                "{header_none}.{payload}.{}",
                valid.rsplit('.').next().unwrap_or_default()
            )),
        ),
        ("expired", Some(setup.idp.sign(&expired))),
        ("not valid yet", Some(setup.idp.sign(&not_yet))),
        ("wrong issuer", Some(setup.idp.sign(&wrong_issuer))),
        ("wrong audience", Some(setup.idp.sign(&wrong_audience))),
        ("no user claim", Some(setup.idp.sign(&no_email))),
        (
            "signed by another key",
            Some(TestIdp::generate().token("dev.one@example.com", &["platform"])),
        ),
    ];
    for (case, token) in cases {
        let (status, body) = call(&setup, token.as_deref(), None).await;
        assert_eq!(status, 401, "{case}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{case}: no message");
        if let Some(token) = &token {
            assert!(
                !message.contains(token.as_str()),
                "{case}: the message echoes the token"
            );
        }
    }
}

#[tokio::test]
async fn forged_authorizer_claims_are_ignored() {
    let setup = setup().await;
    let token = setup.idp.token("dev.one@example.com", &["eks-users"]);
    // The event claims an approver, but the verified token names a developer: only the token
    // counts, so the approver-only list stays closed.
    let approver = User::new("alice@example.com", &["platform"]).claims();
    let mut event = http_event("GET", "/audit", Some(approver.clone()), None);
    event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
    let (status, body) = response_parts(&setup.app.handle(&event).await);
    assert_eq!(status, 403, "{body}");

    let (status, body) = call(&setup, None, Some(approver)).await;
    assert_eq!(status, 401, "claims without a token: {body}");
}
