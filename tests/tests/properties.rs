//! Property-based tests of the parsers that take untrusted input: role tags, EventBridge events,
//! HTTP API events and JWT claims, and of the role session name derivation.
//!
//! Each property runs 256 generated cases by default; set `PROPTEST_CASES` for more.

use std::collections::BTreeMap;

use eksgate_auth::{ClaimsConfig, identity_from_claims};
use eksgate_session_issuer::session_name;
use eksgate_tag_events::{Trigger, parse_event};
use eksgate_tags::{Namespace, Partition, parse_roles};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Arbitrary JSON, nested a few levels, with strings that look like the fields events carry.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("Tag Change on Resource"),
            Just("AWS API Call via CloudTrail"),
            Just("aws.tag"),
            Just("eks"),
            Just("cluster"),
            Just("arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod"),
            Just("arn:aws:eks:eu-west-1:111122223333:nodegroup/a/b/c"),
            Just("TagResource"),
            Just("POST"),
            Just("/sessions"),
        ]
        .prop_map(|text| Value::String(text.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("detail-type".to_string()),
                    Just("detail".to_string()),
                    Just("resources".to_string()),
                    Just("source".to_string()),
                    Just("requestParameters".to_string()),
                    Just("resourceArn".to_string()),
                    Just("errorCode".to_string()),
                    Just("eventName".to_string()),
                    Just("requestContext".to_string()),
                    Just("http".to_string()),
                    Just("method".to_string()),
                    Just("body".to_string()),
                    Just("email".to_string()),
                    Just("groups".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..6,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Tag maps mixing real role tags, near misses and arbitrary text.
fn tag_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    let key = prop_oneof![
        Just("opal".to_string()),
        "opal:eks:role:[a-z0-9]{0,4}",
        "Opal:EKS:role:[0-9]",
        ".{0,20}",
    ];
    let value = prop_oneof![
        "[A-Za-z0-9+=,.@_-]{1,64}",
        "[a-z]{1,5}/[A-Za-z0-9+=,.@_-]{1,20}",
        "arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[a-z/]{0,10}[A-Za-z]{1,10}",
        ".{0,80}",
    ];
    prop::collection::btree_map(key, value, 0..8)
}

proptest! {
    #[test]
    fn session_names_are_valid(user in ".{1,200}") {
        let name = session_name(&user);
        prop_assert!((2..=64).contains(&name.len()), "{name:?} has {} characters", name.len());
        prop_assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)),
            "{name:?} has a character STS rejects"
        );
    }

    #[test]
    fn session_names_are_injective(a in ".{1,100}", b in ".{1,100}") {
        prop_assume!(a != b);
        prop_assert_ne!(session_name(&a), session_name(&b));
    }

    #[test]
    fn similar_session_names_stay_distinct(base in "[a-z@.=-]{1,70}", suffix in "[=@ a-z-]{1,3}") {
        let other = format!("{base}{suffix}");
        prop_assert_ne!(session_name(&base), session_name(&other));
    }

    #[test]
    fn role_tags_never_map_to_another_role(tags in tag_map()) {
        let parsed = parse_roles(&Namespace::default(), &tags, "111122223333", Partition::Aws);
        for role in &parsed.roles {
            let value = &tags[&role.tag_key];
            // The role's name is the last path segment of the tag's value, never a rewrite of it.
            let last = value.rsplit('/').next().unwrap_or_default();
            prop_assert_eq!(&role.name, last, "tag {}={} became role {}", role.tag_key, value, role.name);
            let arn_tail = format!("role{}{}", role.path, role.name);
            prop_assert!(role.assume_arn.ends_with(&arn_tail), "{} lacks {}", role.assume_arn, arn_tail);
            prop_assert_eq!(
                &role.mapped_arn,
                &format!("arn:aws:iam::111122223333:role/{}", role.name)
            );
            prop_assert!(role.path.starts_with('/') && role.path.ends_with('/'));
        }
        // Every role tag either declares a role or is reported.
        for (key, value) in &tags {
            if key.starts_with("opal:eks:role:") {
                let declared = parsed.roles.iter().any(|role| {
                    role.tag_key == *key || value.rsplit('/').next() == Some(role.name.as_str())
                });
                let reported = parsed.problems.iter().any(|problem| problem.tag_key == *key);
                prop_assert!(declared || reported, "tag {key}={value} vanished");
            }
        }
    }

    #[test]
    fn event_parsing_never_panics(event in json_value()) {
        let parsed = parse_event(&event);
        if let Trigger::Refresh(clusters) = parsed.trigger {
            prop_assert!(!clusters.is_empty(), "a refresh names at least one cluster");
        }
    }

    #[test]
    fn claims_parsing_never_panics(claims in json_value()) {
        let config = ClaimsConfig::default();
        if let Ok(identity) = identity_from_claims(&claims, &config) {
            prop_assert!(!identity.user.trim().is_empty());
            prop_assert!(!identity.user.chars().any(char::is_control));
        }
    }
}

mod http_events {
    use eksgate_tests::api::local_session_issuer;

    use super::*;

    /// An HTTP API event around arbitrary parts: method, path, body and claims that identify
    /// no user.
    fn api_event() -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                Just("GET".to_string()),
                Just("POST".to_string()),
                Just("DELETE".to_string()),
                ".{0,8}",
            ],
            prop_oneof![
                Just("/clusters".to_string()),
                Just("/requests".to_string()),
                Just("/requests/x/approve".to_string()),
                Just("/sessions".to_string()),
                Just("/audit".to_string()),
                "/.{0,40}",
            ],
            prop_oneof![json_value().prop_map(|v| v.to_string()), ".{0,200}"],
            // Claims that name no usable user, so that no generated event reaches AWS.
            prop_oneof![
                Just(None),
                json_value()
                    .prop_filter("claims without a usable user", |claims| {
                        identity_from_claims(claims, &ClaimsConfig::default()).is_err()
                    })
                    .prop_map(Some),
            ],
            any::<bool>(),
        )
            .prop_map(|(method, path, body, claims, base64)| {
                let mut event = json!({
                    "version": "2.0",
                    "rawPath": path,
                    "rawQueryString": "scope=all&limit=abc&cursor=%zz",
                    "headers": {"content-type": "application/json"},
                    "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.10"}},
                    "body": body,
                    "isBase64Encoded": base64,
                });
                if let Some(claims) = claims {
                    event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims}});
                }
                event
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn malformed_requests_get_client_errors(event in api_event()) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            // A closed port of 127.0.0.1: a request that got as far as AWS would fail with a 503,
            // which the assertion below rejects. Every generated event must be turned away first.
            let response = runtime.block_on(async {
                let app = local_session_issuer("http://127.0.0.1:9", "eksgate-properties", &[]).await;
                app.handle(&event).await
            });
            let status = response["statusCode"].as_u64().unwrap_or_default();
            prop_assert!((400..500).contains(&status), "status {status} for {event}: {response}");
            let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
            prop_assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }
}
