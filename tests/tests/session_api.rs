//! The session issuer against moto: every route, the request/approval/grant workflow, sessions,
//! and the authorization table of who may do what.
//!
//! The catalog is filled by the real importer from clusters created in moto. Each test drives
//! the issuer with HTTP API events that carry the claims an API Gateway JWT authorizer passes.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eksgate_session_issuer::{App, now_ms};
use eksgate_tests::api::{User, http_event, local_session_issuer, response_parts};
use eksgate_tests::aws::{local_config, with_credentials};
use eksgate_tests::estate::{ClusterSpec, create_cluster};
use eksgate_tests::local_importer;
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use serde_json::{Value, json};

const TABLE: &str = "eksgate-sessions";
const EU: &str = "eu-west-1";
const CLUSTER: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod";
const OTHER_CLUSTER: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/not-imported";
const MINUTE: i64 = 60_000;

struct Setup {
    moto: Moto,
    app: App,
    dev: User,
    dev2: User,
    alice: User,
    bob: User,
}

impl Setup {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(settings: &[(&str, &str)]) -> Self {
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
                ("opal:eks:role:3", "bad role!"),
            ],
        );
        create_cluster(&config, &spec).await;
        create_cluster(&config, &ClusterSpec::new(EU, "not-imported", &[])).await;
        local_importer(&endpoint, TABLE, &[EU], &[]).run().await;
        let app = local_session_issuer(&endpoint, TABLE, settings).await;
        Self {
            moto,
            app,
            dev: User::new("dev.one@example.com", &["eks-users"]),
            dev2: User::new("dev.two@example.com", &["eks-users"]),
            alice: User::new("alice@example.com", &["platform", "eks-users"]),
            bob: User::new("bob@example.com", &["platform"]),
        }
    }

    async fn call_at(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: Option<Value>,
        at: i64,
    ) -> (u16, Value) {
        let event = http_event(method, path, Some(user.claims()), body.as_ref());
        response_parts(&self.app.handle_at(&event, at).await)
    }

    async fn call(
        &self,
        user: &User,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_at(user, method, path, body, now_ms()).await
    }

    /// Creates a request and returns its ID.
    async fn request(&self, user: &User, role: &str, duration: &str) -> String {
        let body = json!({"cluster": CLUSTER, "role": role, "duration": duration, "reason": "incident 42"});
        let (status, body) = self.call(user, "POST", "/requests", Some(body)).await;
        assert_eq!(status, 201, "{body}");
        body["request"]["id"].as_str().expect("id").to_string()
    }

    /// Creates a request by `user` and has alice approve it; returns the grant ID.
    async fn grant(&self, user: &User, role: &str, duration: &str) -> String {
        let id = self.request(user, role, duration).await;
        let (status, body) = self
            .call(
                &self.alice,
                "POST",
                &format!("/requests/{id}/approve"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        id
    }

    async fn connect_at(&self, user: &User, role: &str, at: i64) -> (u16, Value) {
        let body = json!({"cluster": CLUSTER, "role": role});
        self.call_at(user, "POST", "/sessions", Some(body), at)
            .await
    }

    async fn connect(&self, user: &User, role: &str) -> (u16, Value) {
        self.connect_at(user, role, now_ms()).await
    }
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn clusters_list_and_get() {
    let setup = Setup::start().await;
    let (status, body) = setup.call(&setup.dev, "GET", "/clusters", None).await;
    assert_eq!(status, 200, "{body}");
    let clusters = body["clusters"].as_array().expect("clusters");
    assert_eq!(clusters.len(), 1, "only the tagged cluster: {body}");
    let roles: Vec<(&str, bool)> = clusters[0]["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or_default(),
                r["usable"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    assert!(roles.contains(&("ClusterAdmin", true)), "{roles:?}");
    assert!(roles.contains(&("ClusterView", true)), "{roles:?}");
    assert_eq!(
        roles.len(),
        2,
        "the malformed tag declares no role: {roles:?}"
    );
    let problems = clusters[0]["problems"]
        .as_array()
        .expect("the malformed tag is reported");
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains("opal:eks:role:3"))),
        "{problems:?}"
    );

    let (status, body) = setup
        .call(
            &setup.dev,
            "GET",
            "/clusters/123456789012/eu-west-1/payments-prod",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cluster"]["arn"], CLUSTER);

    let (status, body) = setup
        .call(
            &setup.dev,
            "GET",
            "/clusters/123456789012/eu-west-1/not-imported",
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        error_message(&body).contains("not in the catalog"),
        "{body}"
    );
}

#[tokio::test]
async fn request_approve_connect_flow() {
    let setup = Setup::start().await;
    let id = setup.request(&setup.dev, "ClusterAdmin", "2h").await;

    let (status, body) = setup.call(&setup.dev, "GET", "/requests", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["requests"][0]["id"], id.as_str());
    assert_eq!(body["requests"][0]["state"], "pending");
    assert_eq!(body["requests"][0]["duration_seconds"], 7200);

    let (status, body) = setup
        .call(&setup.alice, "GET", "/requests?scope=pending", None)
        .await;
    assert_eq!(status, 200);
    let pending: Vec<&str> = body["requests"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(pending, vec![id.as_str()]);

    let (status, body) = setup
        .call(
            &setup.alice,
            "POST",
            &format!("/requests/{id}/approve"),
            Some(json!({"reason": "on call"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["request"]["state"], "active");
    assert_eq!(body["request"]["decision"]["by"], "alice@example.com");

    let (status, body) = setup.call(&setup.dev, "GET", "/grants", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["grants"][0]["id"], id.as_str());

    let (status, session) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["grant"]["id"], id.as_str());
    assert_eq!(session["session"]["session_name"], "dev.one@example.com");
    assert!(
        session["credentials"]["access_key_id"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );

    // The credentials are those of the role, in the role's session named after the user.
    let credentials = aws_credential_types::Credentials::new(
        session["credentials"]["access_key_id"]
            .as_str()
            .expect("key"),
        session["credentials"]["secret_access_key"]
            .as_str()
            .expect("secret"),
        session["credentials"]["session_token"]
            .as_str()
            .map(str::to_string),
        None,
        "session",
    );
    let sts = aws_sdk_sts::Client::new(&with_credentials(&setup.moto.endpoint(), EU, credentials));
    let caller = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(
        caller.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/ClusterAdmin/dev.one@example.com")
    );

    // The token presigns GetCallerIdentity on the cluster region's STS endpoint.
    let token = session["token"]["token"].as_str().expect("token");
    let encoded = token.strip_prefix("k8s-aws-v1.").expect("token prefix");
    let url = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("utf8");
    assert!(
        url.starts_with(
            "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
        ),
        "{url}"
    );
    assert!(
        url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"),
        "{url}"
    );
    assert!(
        url.contains(
            session["credentials"]["access_key_id"]
                .as_str()
                .expect("key")
        ),
        "{url}"
    );

    // The kubeconfig carries the catalog's endpoint and CA data unchanged.
    let kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(session["kubeconfig"].as_str().expect("kubeconfig")).expect("yaml");
    let (_, cluster) = setup
        .call(
            &setup.dev,
            "GET",
            "/clusters/123456789012/eu-west-1/payments-prod",
            None,
        )
        .await;
    let server = kubeconfig["clusters"][0]["cluster"]["server"]
        .as_str()
        .expect("server");
    assert_eq!(Some(server), cluster["cluster"]["endpoint"].as_str());
    assert!(
        kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .is_some_and(|ca| !ca.is_empty())
    );
    assert_eq!(
        kubeconfig["users"][0]["user"]["token"].as_str(),
        Some(token)
    );

    let (status, body) = setup.call(&setup.dev, "GET", "/sessions", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["sessions"][0]["grant_id"], id.as_str());
    assert_eq!(body["sessions"][0]["source_ip"], "203.0.113.10");

    let (status, body) = setup
        .call(&setup.bob, "GET", "/sessions?scope=all", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["sessions"].as_array().map(Vec::len), Some(1));

    let (status, body) = setup.call(&setup.bob, "GET", "/audit", None).await;
    assert_eq!(status, 200, "{body}");
    let actions: Vec<&str> = body["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|r| r["action"].as_str())
        .collect();
    for action in ["request.create", "request.approve", "session.create"] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    let (status, body) = setup
        .call(&setup.bob, "GET", "/audit?user=dev.one%40example.com", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["audit"]
            .as_array()
            .is_some_and(|records| records.iter().all(|r| r["actor"] == "dev.one@example.com"))
    );
}

#[tokio::test]
async fn exec_kubeconfig_runs_the_cli() {
    let setup = Setup::start().await;
    setup.grant(&setup.dev, "ClusterView", "1h").await;
    let body = json!({"cluster": CLUSTER, "role": "ClusterView", "kubeconfig_auth": "exec"});
    let (status, session) = setup
        .call(&setup.dev, "POST", "/sessions", Some(body))
        .await;
    assert_eq!(status, 201, "{session}");
    let kubeconfig: serde_yaml::Value =
        serde_yaml::from_str(session["kubeconfig"].as_str().expect("kubeconfig")).expect("yaml");
    let exec = &kubeconfig["users"][0]["user"]["exec"];
    assert_eq!(
        exec["apiVersion"].as_str(),
        Some("client.authentication.k8s.io/v1beta1")
    );
    assert_eq!(exec["command"].as_str(), Some("eksgate"));
    assert!(kubeconfig["users"][0]["user"]["token"].is_null());
}

#[tokio::test]
async fn session_authorization_table() {
    let setup = Setup::start().await;
    let now = now_ms();

    // No grant at all.
    let (status, body) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 403, "no grant: {body}");
    assert!(error_message(&body).contains("no active grant"), "{body}");

    // A pending request is not a grant.
    setup.request(&setup.dev, "ClusterAdmin", "1h").await;
    let (status, _) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 403, "pending request");

    // An expired grant.
    setup.grant(&setup.dev2, "ClusterAdmin", "30m").await;
    let (status, body) = setup
        .connect_at(&setup.dev2, "ClusterAdmin", now + 31 * MINUTE)
        .await;
    assert_eq!(status, 403, "expired grant: {body}");

    // A grant with less time left than STS's shortest session.
    let (status, body) = setup
        .connect_at(&setup.dev2, "ClusterAdmin", now + 20 * MINUTE)
        .await;
    assert_eq!(status, 409, "grant about to end: {body}");
    assert!(error_message(&body).contains("15m"), "{body}");

    // A revoked grant.
    let revoked = setup.grant(&setup.dev, "ClusterView", "1h").await;
    let (status, _) = setup.connect(&setup.dev, "ClusterView").await;
    assert_eq!(status, 201, "active grant");
    let (status, body) = setup
        .call(
            &setup.bob,
            "POST",
            &format!("/grants/{revoked}/revoke"),
            Some(json!({"reason": "left the team"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = setup.connect(&setup.dev, "ClusterView").await;
    assert_eq!(status, 403, "revoked grant");

    // Another user's grant does not let you in.
    setup.grant(&setup.dev2, "ClusterView", "1h").await;
    let (status, _) = setup.connect(&setup.dev, "ClusterView").await;
    assert_eq!(status, 403, "another user's grant");

    // A role that the catalog does not list on the cluster.
    let (status, body) = setup.connect(&setup.dev, "NotARole").await;
    assert_eq!(status, 404, "{body}");
    assert!(error_message(&body).contains("not listed"), "{body}");

    // A cluster that is not in the catalog.
    let body = json!({"cluster": OTHER_CLUSTER, "role": "ClusterView"});
    let (status, body) = setup
        .call(&setup.dev, "POST", "/sessions", Some(body))
        .await;
    assert_eq!(status, 404, "{body}");

    // A malformed cluster ARN.
    let body = json!({"cluster": "payments-prod", "role": "ClusterView"});
    let (status, body) = setup
        .call(&setup.dev, "POST", "/sessions", Some(body))
        .await;
    assert_eq!(status, 400, "{body}");

    // Rejected attempts are on the audit trail.
    let (_, audit) = setup
        .call(&setup.alice, "GET", "/audit?limit=200", None)
        .await;
    let rejected = audit["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter(|r| r["action"] == "session.create" && r["outcome"] == "rejected")
        .count();
    assert!(
        rejected >= 5,
        "{rejected} rejected session attempts audited"
    );
}

#[tokio::test]
async fn claims_missing_or_malformed_get_401() {
    let setup = Setup::start().await;
    let cases: Vec<(&str, Option<Value>)> = vec![
        ("no authorizer", None),
        ("empty claims", Some(json!({}))),
        (
            "no email claim",
            Some(json!({"sub": "x", "groups": "[platform]"})),
        ),
        (
            "blank email",
            Some(json!({"email": "  ", "groups": "[platform]"})),
        ),
        ("non-string email", Some(json!({"email": 5}))),
        (
            "groups as an object",
            Some(json!({"email": "a@example.com", "groups": {"a": 1}})),
        ),
        ("claims not an object", Some(json!("claims"))),
        (
            "email not verified",
            Some(json!({"email": "a@example.com", "email_verified": false})),
        ),
        (
            "email not verified, as a string",
            Some(json!({"email": "a@example.com", "email_verified": "false"})),
        ),
    ];
    let verified = json!({"email": "a@example.com", "email_verified": "true"});
    let event = http_event("GET", "/clusters", Some(verified), None);
    let (status, body) = response_parts(&setup.app.handle(&event).await);
    assert_eq!(status, 200, "a verified email is accepted: {body}");
    for (case, claims) in cases {
        let event = http_event("GET", "/clusters", claims, None);
        let (status, body) = response_parts(&setup.app.handle(&event).await);
        assert_eq!(status, 401, "{case}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn decisions_authorization_table() {
    let setup = Setup::start().await;
    let id = setup.request(&setup.dev, "ClusterAdmin", "1h").await;
    let approve = format!("/requests/{id}/approve");

    // A non-approver may not approve.
    let (status, body) = setup.call(&setup.dev2, "POST", &approve, None).await;
    assert_eq!(status, 403, "{body}");
    // No user approves their own request, approvers included.
    let own = setup.request(&setup.alice, "ClusterAdmin", "1h").await;
    let (status, body) = setup
        .call(
            &setup.alice,
            "POST",
            &format!("/requests/{own}/approve"),
            None,
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(error_message(&body).contains("your own request"), "{body}");
    let (status, body) = setup
        .call(
            &setup.bob,
            "POST",
            &format!("/requests/{own}/approve"),
            None,
        )
        .await;
    assert_eq!(status, 200, "another approver: {body}");
    // The requester may not approve either.
    let (status, _) = setup.call(&setup.dev, "POST", &approve, None).await;
    assert_eq!(status, 403);

    // Denial needs a reason, and a decided request cannot be decided again.
    let deny = format!("/requests/{id}/deny");
    let (status, body) = setup.call(&setup.bob, "POST", &deny, Some(json!({}))).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = setup
        .call(
            &setup.bob,
            "POST",
            &deny,
            Some(json!({"reason": "use the read-only role"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["request"]["state"], "denied");
    let (status, body) = setup.call(&setup.alice, "POST", &approve, None).await;
    assert_eq!(status, 409, "{body}");

    // A request without a decision in time expires.
    let late = setup.request(&setup.dev, "ClusterAdmin", "1h").await;
    let (status, body) = setup
        .call_at(
            &setup.alice,
            "POST",
            &format!("/requests/{late}/approve"),
            None,
            now_ms() + 25 * 60 * MINUTE,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(error_message(&body).contains("expired"), "{body}");

    // Approving twice: the second approval gets the first's decision as a 409.
    let twice = setup.request(&setup.dev, "ClusterAdmin", "1h").await;
    let path = format!("/requests/{twice}/approve");
    assert_eq!(setup.call(&setup.alice, "POST", &path, None).await.0, 200);
    assert_eq!(setup.call(&setup.bob, "POST", &path, None).await.0, 409);

    // Only the requester may cancel a pending request.
    let cancel = setup.request(&setup.dev, "ClusterAdmin", "1h").await;
    let path = format!("/requests/{cancel}/cancel");
    assert_eq!(setup.call(&setup.dev2, "POST", &path, None).await.0, 404);
    assert_eq!(setup.call(&setup.alice, "POST", &path, None).await.0, 403);
    let (status, body) = setup.call(&setup.dev, "POST", &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["request"]["state"], "cancelled");

    // Pending lists are for approvers.
    assert_eq!(
        setup
            .call(&setup.dev, "GET", "/requests?scope=pending", None)
            .await
            .0,
        403
    );
    assert_eq!(
        setup
            .call(&setup.dev, "GET", "/grants?scope=all", None)
            .await
            .0,
        403
    );
    assert_eq!(
        setup
            .call(&setup.dev, "GET", "/sessions?scope=all", None)
            .await
            .0,
        403
    );
    assert_eq!(setup.call(&setup.dev, "GET", "/audit", None).await.0, 403);
}

#[tokio::test]
async fn grants_across_users() {
    let setup = Setup::start().await;
    let id = setup.grant(&setup.dev, "ClusterAdmin", "1h").await;

    // Another user can neither read nor end the grant: it looks like it does not exist.
    let (status, _) = setup
        .call(&setup.dev2, "GET", &format!("/requests/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = setup
        .call(&setup.dev2, "POST", &format!("/grants/{id}/end"), None)
        .await;
    assert_eq!(status, 404);
    // An approver revokes, and does not end, other users' grants.
    let (status, body) = setup
        .call(&setup.alice, "POST", &format!("/grants/{id}/end"), None)
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = setup
        .call(
            &setup.dev2,
            "POST",
            &format!("/grants/{id}/revoke"),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = setup
        .call(&setup.alice, "GET", &format!("/requests/{id}"), None)
        .await;
    assert_eq!(status, 200, "approvers read every request: {body}");

    // The holder ends it; it cannot be ended again.
    let (status, body) = setup
        .call(&setup.dev, "POST", &format!("/grants/{id}/end"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["request"]["state"], "ended");
    let (status, _) = setup
        .call(&setup.dev, "POST", &format!("/grants/{id}/end"), None)
        .await;
    assert_eq!(status, 409);
    let (status, _) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn overlapping_grants_are_kept() {
    let setup = Setup::start().await;
    let first = setup.grant(&setup.dev, "ClusterAdmin", "1h").await;
    let second = setup.grant(&setup.dev, "ClusterAdmin", "3h").await;

    let (_, body) = setup.call(&setup.dev, "GET", "/grants", None).await;
    assert_eq!(body["grants"].as_array().map(Vec::len), Some(2), "{body}");

    // A session uses the grant that ends last.
    let (status, session) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["grant"]["id"], second.as_str());

    // Ending one leaves the other.
    let (status, _) = setup
        .call(&setup.dev, "POST", &format!("/grants/{second}/end"), None)
        .await;
    assert_eq!(status, 200);
    let (status, session) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["grant"]["id"], first.as_str());

    let (_, body) = setup
        .call(&setup.alice, "GET", "/grants?scope=all", None)
        .await;
    let ids: Vec<&str> = body["grants"]
        .as_array()
        .expect("grants")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    assert_eq!(ids, vec![first.as_str()]);
}

#[tokio::test]
async fn session_lifetime_follows_the_grant() {
    let setup = Setup::start().await;
    setup.grant(&setup.dev, "ClusterAdmin", "20m").await;
    let issued = now_ms();
    let (status, session) = setup.connect_at(&setup.dev, "ClusterAdmin", issued).await;
    assert_eq!(status, 201, "{session}");
    let grant_end = session["grant"]["ends_at"]
        .as_str()
        .expect("ends_at")
        .to_string();
    let expiry = session["credentials"]["expiration"]
        .as_str()
        .expect("expiration")
        .to_string();
    // RFC 3339 UTC timestamps of equal length compare as times.
    assert!(
        expiry <= grant_end,
        "credentials expire at {expiry}, after the grant ends at {grant_end}"
    );
    let token_expiry = session["token"]["expiration"]
        .as_str()
        .expect("token expiration");
    assert!(
        token_expiry < expiry.as_str(),
        "token {token_expiry} outlives credentials {expiry}"
    );
}

#[tokio::test]
async fn auto_approval_rules() {
    let rules = r#"[{"name":"read-only","roles":["ClusterView"],"groups":["eks-users"],"max_duration":"4h"}]"#;
    let setup = Setup::start_with(&[("EKSGATE_AUTO_APPROVE", rules)]).await;
    let body =
        json!({"cluster": CLUSTER, "role": "ClusterView", "duration": "2h", "reason": "debugging"});
    let (status, body) = setup
        .call(&setup.dev, "POST", "/requests", Some(body))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["request"]["state"], "active");
    assert_eq!(body["request"]["auto_approved"], true);
    assert_eq!(setup.connect(&setup.dev, "ClusterView").await.0, 201);

    // Longer than the rule allows, or another role: an approver decides.
    let body =
        json!({"cluster": CLUSTER, "role": "ClusterView", "duration": "6h", "reason": "debugging"});
    let (_, body) = setup
        .call(&setup.dev, "POST", "/requests", Some(body))
        .await;
    assert_eq!(body["request"]["state"], "pending");
    let body = json!({"cluster": CLUSTER, "role": "ClusterAdmin", "reason": "debugging"});
    let (_, body) = setup
        .call(&setup.dev, "POST", "/requests", Some(body))
        .await;
    assert_eq!(body["request"]["state"], "pending");
}

#[tokio::test]
async fn request_validation() {
    let setup = Setup::start().await;
    let cases = [
        (
            "duration over the limit",
            json!({"cluster": CLUSTER, "role": "ClusterAdmin", "duration": "13h", "reason": "x"}),
            400,
            "between",
        ),
        (
            "duration under the limit",
            json!({"cluster": CLUSTER, "role": "ClusterAdmin", "duration": 60, "reason": "x"}),
            400,
            "between",
        ),
        (
            "duration unparsable",
            json!({"cluster": CLUSTER, "role": "ClusterAdmin", "duration": "soon", "reason": "x"}),
            400,
            "invalid duration",
        ),
        (
            "no reason",
            json!({"cluster": CLUSTER, "role": "ClusterAdmin"}),
            400,
            "reason",
        ),
        (
            "blank reason",
            json!({"cluster": CLUSTER, "role": "ClusterAdmin", "reason": "  "}),
            400,
            "reason",
        ),
        (
            "unknown field",
            json!({"cluster": CLUSTER, "role": "ClusterAdmin", "reason": "x", "admin": true}),
            400,
            "unknown field",
        ),
        (
            "role not on cluster",
            json!({"cluster": CLUSTER, "role": "Root", "reason": "x"}),
            404,
            "not listed",
        ),
        (
            "malformed role tag",
            json!({"cluster": CLUSTER, "role": "bad role!", "reason": "x"}),
            404,
            "not listed",
        ),
        (
            "cluster not in catalog",
            json!({"cluster": OTHER_CLUSTER, "role": "ClusterAdmin", "reason": "x"}),
            404,
            "not in the catalog",
        ),
        (
            "cluster not an ARN",
            json!({"cluster": "payments-prod", "role": "ClusterAdmin", "reason": "x"}),
            400,
            "cluster ARN",
        ),
    ];
    for (case, body, expected, fragment) in cases {
        let (status, response) = setup
            .call(&setup.dev, "POST", "/requests", Some(body))
            .await;
        assert_eq!(status, expected, "{case}: {response}");
        assert!(
            error_message(&response).contains(fragment),
            "{case}: {response}"
        );
    }

    let mut event = http_event("POST", "/requests", Some(setup.dev.claims()), None);
    event["body"] = Value::String("{not json".into());
    let (status, body) = response_parts(&setup.app.handle(&event).await);
    assert_eq!(status, 400, "{body}");
    event["body"] = Value::String("x".repeat(20_000));
    let (status, body) = response_parts(&setup.app.handle(&event).await);
    assert_eq!(status, 413, "{body}");

    let (status, body) = setup
        .call(&setup.dev, "GET", "/requests?limit=0", None)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = setup
        .call(&setup.dev, "GET", "/requests?cursor=garbage", None)
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = setup.call(&setup.dev, "DELETE", "/requests", None).await;
    assert_eq!(status, 405, "{body}");
    let (status, body) = setup.call(&setup.dev, "GET", "/nowhere", None).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn lists_page_with_cursors() {
    let setup = Setup::start().await;
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(setup.request(&setup.dev, "ClusterAdmin", "1h").await);
    }
    let (status, first) = setup
        .call(&setup.dev, "GET", "/requests?limit=2", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["requests"].as_array().map(Vec::len), Some(2));
    let cursor = first["next"].as_str().expect("a next cursor");
    let (status, second) = setup
        .call(
            &setup.dev,
            "GET",
            &format!("/requests?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let mut seen: Vec<String> = first["requests"]
        .as_array()
        .into_iter()
        .chain(second["requests"].as_array())
        .flatten()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    seen.sort();
    created.sort();
    assert_eq!(seen, created);
}

#[tokio::test]
async fn web_identity_mode_needs_the_callers_token() {
    let setup = Setup::start_with(&[("EKSGATE_ASSUME_MODE", "web-identity")]).await;
    setup.grant(&setup.dev, "ClusterAdmin", "1h").await;
    let body = json!({"cluster": CLUSTER, "role": "ClusterAdmin"});
    let mut event = http_event("POST", "/sessions", Some(setup.dev.claims()), Some(&body));
    event["headers"]
        .as_object_mut()
        .expect("headers")
        .remove("authorization");
    let (status, response) = response_parts(&setup.app.handle(&event).await);
    assert_eq!(status, 401, "{response}");

    let (status, session) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 201, "{session}");
    assert_eq!(session["session"]["mode"], "web-identity");
}

/// A writer that keeps everything logged, for checking what the logs contain.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_stay_out_of_logs_and_records() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let setup = Setup::start().await;
    setup.grant(&setup.dev, "ClusterAdmin", "1h").await;
    let (status, session) = setup.connect(&setup.dev, "ClusterAdmin").await;
    assert_eq!(status, 201, "{session}");
    let _ = setup.call(&setup.dev, "GET", "/sessions", None).await;
    let _ = setup.call(&setup.alice, "GET", "/audit", None).await;

    let secrets = [
        session["credentials"]["secret_access_key"]
            .as_str()
            .expect("secret")
            .to_string(),
        session["credentials"]["session_token"]
            .as_str()
            .expect("session token")
            .to_string(),
        session["token"]["token"]
            .as_str()
            .expect("token")
            .to_string(),
        "test-token.signature".to_string(),
    ];
    let logs = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        logs.contains("issued a session"),
        "the capture saw the flow: {logs}"
    );
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
    }

    let dynamodb = aws_sdk_dynamodb::Client::new(&local_config(&setup.moto.endpoint(), EU));
    let items = dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scan");
    let stored = format!("{:?}", items.items());
    assert!(
        stored.contains("SESSION#"),
        "the scan saw the session record"
    );
    for secret in &secrets {
        assert!(
            !stored.contains(secret.as_str()),
            "a secret reached the table"
        );
    }
}
