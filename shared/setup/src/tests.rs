//! Unit tests of the setup kit. The doctor's tests get AWS responses from aws-smithy-mocks.
//! The tests against moto and cfn-lint are in the workspace's tests crate.

mod aws_auth;
mod doctor;
mod generate;
mod trust;

use serde_json::Value;

pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const CLUSTER_ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod";
pub(crate) const ISSUER_ROLE_ARN: &str =
    "arn:aws:iam::444455556666:role/eksgate-SessionIssuerFunctionRole-1A2B3C";
pub(crate) const PROVIDER_ARN: &str =
    "arn:aws:iam::111122223333:oidc-provider/idp.example.com/oauth2/default";
pub(crate) const AUDIENCE: &str = "0oa1b2c3d4e5f6g7h8i9";

/// The statement keys that IAM's policy grammar allows.
const STATEMENT_KEYS: &[&str] = &[
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn assert_string_or_list(value: &Value, field: &str) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(items) => {
            assert!(!items.is_empty(), "{field} is an empty list");
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .unwrap_or_else(|| panic!("{field} contains a non-string {item}"))
                        .to_string()
                })
                .collect()
        }
        other => panic!("{field} is neither a string nor a list of strings: {other}"),
    }
}

/// Asserts that `policy` has the shape of an IAM policy document: Version 2012-10-17, a
/// non-empty Statement list, and statements with a valid Effect, Action and Principal.
pub(crate) fn assert_iam_policy(policy: &Value, trust: bool) {
    assert_eq!(policy["Version"], "2012-10-17", "{policy}");
    let statements = policy["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("Statement is not a list: {policy}"));
    assert!(!statements.is_empty(), "no statements: {policy}");
    for statement in statements {
        let object = statement.as_object().expect("a statement is an object");
        for key in object.keys() {
            assert!(STATEMENT_KEYS.contains(&key.as_str()), "unknown key {key}");
        }
        if let Some(sid) = object.get("Sid") {
            let sid = sid.as_str().expect("Sid is a string");
            assert!(sid.chars().all(|c| c.is_ascii_alphanumeric()), "Sid {sid}");
        }
        let effect = object["Effect"].as_str().expect("Effect is a string");
        assert!(effect == "Allow" || effect == "Deny", "Effect {effect}");
        for action in assert_string_or_list(&object["Action"], "Action") {
            let (service, name) = action.split_once(':').expect("service:Action");
            assert!(
                service.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{action}"
            );
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '*'),
                "{action}"
            );
        }
        if trust {
            assert!(
                object.get("Resource").is_none(),
                "trust policies name no Resource"
            );
            let principal = object["Principal"]
                .as_object()
                .expect("Principal is an object");
            for (kind, values) in principal {
                assert!(
                    ["AWS", "Federated", "Service"].contains(&kind.as_str()),
                    "principal kind {kind}"
                );
                for value in assert_string_or_list(values, "Principal") {
                    assert!(value.starts_with("arn:"), "principal {value}");
                }
            }
        } else {
            assert!(object.get("Principal").is_none());
            for resource in assert_string_or_list(&object["Resource"], "Resource") {
                assert!(
                    resource.starts_with("arn:") || resource == "*",
                    "{resource}"
                );
            }
        }
        if let Some(condition) = object.get("Condition") {
            for (operator, keys) in condition.as_object().expect("Condition is an object") {
                for (key, value) in keys.as_object().expect("condition keys are an object") {
                    assert_string_or_list(value, &format!("{operator} {key}"));
                }
            }
        }
    }
}

/// Splits a printed shell command into its words with /bin/sh, which also checks the quoting.
pub(crate) fn shell_words(command: &str) -> Vec<String> {
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {command}"))
        .output()
        .expect("running sh");
    assert!(output.status.success(), "sh failed on {command}");
    String::from_utf8(output.stdout)
        .expect("UTF-8 words")
        .split('\0')
        .filter(|word| !word.is_empty())
        .map(str::to_string)
        .collect()
}

/// Returns the word after `option` in a command's words.
pub(crate) fn option_value<'a>(words: &'a [String], option: &str) -> &'a str {
    let index = words
        .iter()
        .position(|word| word == option)
        .unwrap_or_else(|| panic!("{option} missing from {words:?}"));
    &words[index + 1]
}

/// Splits printed text into its commands, skipping comments and joining continuation lines.
pub(crate) fn commands_of(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if current.is_empty() && (line.starts_with('#') || line.trim().is_empty()) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if !line.ends_with('\\') {
            commands.push(std::mem::take(&mut current));
        }
    }
    assert!(current.is_empty(), "unfinished command {current:?}");
    commands
}
