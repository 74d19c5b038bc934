//! Session API defects found in review, kept as tests: a session must assume the role ARN its
//! grant approved, audit fields taken from request input are bounded, and no user may take the
//! auto-approval actor's name.

use eksgate_session_issuer::{App, now_ms};
use eksgate_tests::api::{User, http_event, local_session_issuer, response_parts};
use eksgate_tests::aws::local_config;
use eksgate_tests::estate::{ClusterSpec, create_cluster, tag_cluster};
use eksgate_tests::local_importer;
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use serde_json::{Value, json};

const TABLE: &str = "eksgate-review";
const EU: &str = "eu-west-1";
const CLUSTER: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod";

struct Setup {
    moto: Moto,
    app: App,
    alice: User,
    bob: User,
}

impl Setup {
    async fn start(settings: &[(&str, &str)]) -> Self {
        let moto = Moto::start();
        let endpoint = moto.endpoint();
        let config = local_config(&endpoint, EU);
        create_catalog_table(&aws_sdk_dynamodb::Client::new(&config), TABLE).await;
        let spec = ClusterSpec::new(
            EU,
            "payments-prod",
            &[
                ("opal", ""),
                ("opal:eks:role:1", "ClusterAdmin"),
                ("opal:eks:role:2", "teams/dev/ClusterView"),
            ],
        );
        create_cluster(&config, &spec).await;
        local_importer(&endpoint, TABLE, &[EU], &[]).run().await;
        let app = local_session_issuer(&endpoint, TABLE, settings).await;
        Self {
            moto,
            app,
            alice: User::new("alice@example.com", &["platform"]),
            bob: User::new("bob@example.com", &["platform"]),
        }
    }

    async fn call(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let event = http_event(method, path, Some(user.claims()), body.as_ref());
        response_parts(&self.app.handle_at(&event, now_ms()).await)
    }

    async fn audit(&self) -> Vec<Value> {
        let (status, body) = self.call(&self.bob, "GET", "/audit?limit=100", None).await;
        assert_eq!(status, 200, "{body}");
        body["audit"].as_array().cloned().unwrap_or_default()
    }
}

/// A grant approved for `/teams/dev/ClusterView` must not yield credentials for another role
/// that later takes the same name in the catalog.
#[tokio::test]
async fn session_uses_granted_role_arn() {
    let setup = Setup::start(&[]).await;
    let dev = User::new("dev.one@example.com", &["eks-users"]);
    let body = json!({"cluster": CLUSTER, "role": "ClusterView", "duration": "2h", "reason": "incident 42"});
    let (status, body) = setup.call(&dev, "POST", "/requests", Some(body)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["request"]["id"].as_str().expect("id").to_string();
    let granted_arn = body["request"]["role_arn"]
        .as_str()
        .expect("role_arn")
        .to_string();
    assert!(
        granted_arn.ends_with(":role/teams/dev/ClusterView"),
        "{granted_arn}"
    );
    let (status, body) = setup
        .call(
            &setup.alice,
            "POST",
            &format!("/requests/{id}/approve"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The cluster's operators point the tag at another role with the same name.
    let endpoint = setup.moto.endpoint();
    let config = local_config(&endpoint, EU);
    tag_cluster(&config, EU, CLUSTER, &[("opal:eks:role:2", "ClusterView")]).await;
    local_importer(&endpoint, TABLE, &[EU], &[]).run().await;

    let body = json!({"cluster": CLUSTER, "role": "ClusterView"});
    let (status, body) = setup.call(&dev, "POST", "/sessions", Some(body)).await;
    if status == 201 {
        let session_arn = body["session"]["role_arn"].as_str().unwrap_or_default();
        assert_eq!(
            session_arn, granted_arn,
            "the session assumed a role that nobody approved"
        );
    } else {
        assert_eq!(status, 409, "{body}");
    }
}

/// A rejected session's audit record keeps the role name from the request body, unchecked,
/// both as its role and inside its reason.
#[tokio::test]
async fn rejected_session_audit_field_bounded() {
    let setup = Setup::start(&[]).await;
    let dev = User::new("dev.one@example.com", &["eks-users"]);
    let long_role = "R".repeat(15_000);
    let body = json!({"cluster": CLUSTER, "role": long_role});
    let (status, body) = setup.call(&dev, "POST", "/sessions", Some(body)).await;
    assert_eq!(status, 404, "{body}");

    let records = setup.audit().await;
    let rejected = records
        .iter()
        .find(|r| r["action"] == "session.create" && r["outcome"] == "rejected")
        .expect("the rejected session is audited");
    let role_chars = rejected["role"].as_str().map_or(0, |r| r.chars().count());
    let reason_chars = rejected["reason"].as_str().map_or(0, |r| r.chars().count());
    assert!(role_chars <= 256, "audit role has {role_chars} characters");
    assert!(
        reason_chars <= 1000,
        "audit reason has {reason_chars} characters"
    );
}

/// A user whose claim is `auto-approval` shares the actor name of auto-approval rules, so
/// their audit trail and the rules' decisions cannot be distinguished.
#[tokio::test]
async fn auto_approval_actor_name_reserved() {
    let rules = r#"[{"name":"read-only","roles":["ClusterView"],"groups":["eks-users"],"max_duration":"4h"}]"#;
    let setup = Setup::start(&[("EKSGATE_AUTO_APPROVE", rules)]).await;
    let dev = User::new("dev.one@example.com", &["eks-users"]);
    let impostor = User::new("auto-approval", &["eks-users"]);

    let body =
        json!({"cluster": CLUSTER, "role": "ClusterView", "duration": "1h", "reason": "debugging"});
    let (status, body) = setup.call(&dev, "POST", "/requests", Some(body)).await;
    assert_eq!(status, 201, "{body}");

    let body = json!({"cluster": CLUSTER, "role": "ClusterAdmin", "reason": "debugging"});
    let (status, body) = setup.call(&impostor, "POST", "/requests", Some(body)).await;
    assert_eq!(
        status, 401,
        "a user named like the auto-approval actor was accepted: {body}"
    );
}
