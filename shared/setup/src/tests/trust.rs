//! The static reading of trust policies.

use serde_json::{Value, json};

use super::*;
use crate::trust::{assess_trust, decode_policy_document, parse_policy, wildcard_match};
use crate::{Issuer, Status};

const ISSUER_ACCOUNT: &str = "444455556666";
const AUD_KEY: &str = "idp.example.com/oauth2/default:aud";

fn broker() -> Issuer {
    Issuer::broker(ISSUER_ROLE_ARN).unwrap()
}

fn web_identity() -> Issuer {
    Issuer::web_identity(PROVIDER_ARN, AUDIENCE).unwrap()
}

fn policy(statements: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

fn allow(principal: Value, action: Value) -> Value {
    json!({"Effect": "Allow", "Principal": principal, "Action": action})
}

fn assess(issuer: &Issuer, document: &Value) -> (Status, String) {
    let parsed = parse_policy(document).unwrap_or_else(|error| panic!("{document}: {error}"));
    let assessment = assess_trust(&parsed, issuer);
    let text = [
        assessment.problems.join(" | "),
        assessment.warnings.join(" | "),
        assessment.notes.join(" | "),
    ]
    .join(" || ");
    (assessment.status, text)
}

#[test]
fn broker_policies_table() {
    let both = json!(["sts:AssumeRole", "sts:SetSourceIdentity"]);
    let issuer_principal = json!({"AWS": ISSUER_ROLE_ARN});
    let cases: Vec<(&str, Value, Status, &str)> = vec![
        (
            "exact principal, both actions",
            policy(json!([allow(issuer_principal.clone(), both.clone())])),
            Status::Ok,
            "",
        ),
        (
            "single statement object",
            json!({"Version": "2012-10-17", "Statement": allow(issuer_principal.clone(), both.clone())}),
            Status::Ok,
            "",
        ),
        (
            "service wildcard",
            policy(json!([allow(issuer_principal.clone(), json!("sts:*"))])),
            Status::Ok,
            "",
        ),
        (
            "any action",
            policy(json!([allow(issuer_principal.clone(), json!("*"))])),
            Status::Ok,
            "",
        ),
        (
            "partial wildcards and other case",
            policy(json!([allow(
                issuer_principal.clone(),
                json!(["STS:assume*", "sts:Set?ourceIdentity"])
            )])),
            Status::Ok,
            "",
        ),
        (
            "principal list",
            policy(json!([allow(
                json!({"AWS": ["arn:aws:iam::444455556666:role/Other", ISSUER_ROLE_ARN]}),
                both.clone()
            )])),
            Status::Ok,
            "",
        ),
        (
            "actions split over statements",
            policy(json!([
                allow(issuer_principal.clone(), json!("sts:AssumeRole")),
                allow(issuer_principal.clone(), json!("sts:SetSourceIdentity")),
            ])),
            Status::Ok,
            "",
        ),
        (
            "NotAction that spares sts",
            policy(
                json!([{"Effect": "Allow", "Principal": issuer_principal.clone(), "NotAction": "iam:*"}]),
            ),
            Status::Ok,
            "",
        ),
        (
            "SetSourceIdentity missing",
            policy(json!([allow(
                issuer_principal.clone(),
                json!("sts:AssumeRole")
            )])),
            Status::Problem,
            "call sts:SetSourceIdentity",
        ),
        (
            "web identity action only",
            policy(json!([allow(
                issuer_principal.clone(),
                json!("sts:AssumeRoleWithWebIdentity")
            )])),
            Status::Problem,
            "call sts:AssumeRole",
        ),
        (
            "NotAction that excludes sts",
            policy(
                json!([{"Effect": "Allow", "Principal": issuer_principal.clone(), "NotAction": "sts:*"}]),
            ),
            Status::Problem,
            "no Allow statement",
        ),
        (
            "account root",
            policy(json!([allow(
                json!({"AWS": format!("arn:aws:iam::{ISSUER_ACCOUNT}:root")}),
                both.clone()
            )])),
            Status::Ok,
            "trusts the whole issuer account",
        ),
        (
            "bare account ID",
            policy(json!([allow(json!({"AWS": ISSUER_ACCOUNT}), both.clone())])),
            Status::Ok,
            "trusts the whole issuer account",
        ),
        (
            "other account root",
            policy(json!([allow(
                json!({"AWS": "arn:aws:iam::999988887777:root"}),
                both.clone()
            )])),
            Status::Problem,
            "no Allow statement",
        ),
        (
            "anyone without condition",
            policy(json!([allow(json!("*"), both.clone())])),
            Status::Problem,
            "any principal in any AWS account",
        ),
        (
            "AWS star without condition",
            policy(json!([allow(json!({"AWS": "*"}), both.clone())])),
            Status::Problem,
            "any principal in any AWS account",
        ),
        (
            "anyone with condition",
            policy(json!([{
                "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": both.clone(),
                "Condition": {"ArnEquals": {"aws:PrincipalArn": ISSUER_ROLE_ARN}}
            }])),
            Status::Warning,
            "trusts every principal",
        ),
        (
            "deleted role ID",
            policy(json!([allow(
                json!({"AWS": "AROAEXAMPLEID12345678"}),
                both.clone()
            )])),
            Status::Problem,
            "unique ID of a deleted role",
        ),
        (
            "same name, other path",
            policy(json!([allow(
                json!({"AWS": "arn:aws:iam::444455556666:role/teams/eksgate-SessionIssuerFunctionRole-1A2B3C"}),
                both.clone()
            )])),
            Status::Problem,
            "has the issuer role's name",
        ),
        (
            "service principal",
            policy(json!([allow(
                json!({"Service": "lambda.amazonaws.com"}),
                json!("sts:AssumeRole")
            )])),
            Status::Problem,
            "no Allow statement",
        ),
        (
            "unconditional deny",
            policy(json!([
                allow(issuer_principal.clone(), both.clone()),
                {"Effect": "Deny", "Principal": "*", "Action": "sts:SetSourceIdentity"},
            ])),
            Status::Problem,
            "denies sts:SetSourceIdentity",
        ),
        (
            "conditional deny",
            policy(json!([
                allow(issuer_principal.clone(), both.clone()),
                {"Effect": "Deny", "Principal": issuer_principal.clone(), "Action": "sts:*",
                 "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}},
            ])),
            Status::Warning,
            "denies sts:AssumeRole when",
        ),
        (
            "deny for everyone but the issuer",
            policy(json!([
                allow(issuer_principal.clone(), both.clone()),
                {"Effect": "Deny", "NotPrincipal": issuer_principal.clone(), "Action": "sts:*"},
            ])),
            Status::Ok,
            "",
        ),
        (
            "deny for everyone but another role",
            policy(json!([
                allow(issuer_principal.clone(), both.clone()),
                {"Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:role/Other"}, "Action": "sts:*"},
            ])),
            Status::Problem,
            "denies sts:AssumeRole",
        ),
        (
            "deny of another action",
            policy(json!([
                allow(issuer_principal.clone(), both.clone()),
                {"Effect": "Deny", "Principal": "*", "Action": "sts:TagSession"},
            ])),
            Status::Ok,
            "",
        ),
        (
            "conditional allow",
            policy(json!([{
                "Effect": "Allow", "Principal": issuer_principal.clone(), "Action": both.clone(),
                "Condition": {"StringLike": {"sts:SourceIdentity": "*@example.com"}}
            }])),
            Status::Warning,
            "only under the condition",
        ),
    ];
    for (name, document, status, fragment) in cases {
        let (actual, text) = assess(&broker(), &document);
        assert_eq!(actual, status, "{name}: {text}");
        assert!(
            text.contains(fragment),
            "{name}: {text:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn broker_expected_condition_passes() {
    let issuer = Issuer::broker_with_source_identity(ISSUER_ROLE_ARN, "*@example.com").unwrap();
    let document = policy(json!([{
        "Effect": "Allow", "Principal": {"AWS": ISSUER_ROLE_ARN},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Condition": {"StringLike": {"sts:SourceIdentity": "*@example.com"}}
    }]));
    assert_eq!(assess(&issuer, &document).0, Status::Ok);
    let other = Issuer::broker_with_source_identity(ISSUER_ROLE_ARN, "*@example.org").unwrap();
    assert_eq!(assess(&other, &document).0, Status::Warning);
}

#[test]
fn web_identity_policies_table() {
    let federated = json!({"Federated": PROVIDER_ARN});
    let action = json!("sts:AssumeRoleWithWebIdentity");
    let with_condition = |condition: Value| {
        policy(json!([{
            "Effect": "Allow", "Principal": federated.clone(), "Action": action.clone(),
            "Condition": condition
        }]))
    };
    let cases: Vec<(&str, Value, Status, &str)> = vec![
        (
            "audience matches",
            with_condition(json!({"StringEquals": {AUD_KEY: AUDIENCE}})),
            Status::Ok,
            "",
        ),
        (
            "audience in a list",
            with_condition(json!({"StringEquals": {AUD_KEY: ["other", AUDIENCE]}})),
            Status::Ok,
            "",
        ),
        (
            "condition key in other case",
            with_condition(json!({"StringEquals": {AUD_KEY.to_uppercase(): AUDIENCE}})),
            Status::Ok,
            "",
        ),
        (
            "set operator",
            with_condition(json!({"ForAnyValue:StringEquals": {AUD_KEY: AUDIENCE}})),
            Status::Ok,
            "",
        ),
        (
            "audience pattern",
            with_condition(json!({"StringLike": {AUD_KEY: "0oa1*"}})),
            Status::Ok,
            "",
        ),
        (
            "audience mismatch",
            with_condition(json!({"StringEquals": {AUD_KEY: "someone-else"}})),
            Status::Problem,
            "\"0oa1b2c3d4e5f6g7h8i9\"",
        ),
        (
            "audience excluded",
            with_condition(json!({"StringNotEquals": {AUD_KEY: AUDIENCE}})),
            Status::Problem,
            "requires",
        ),
        (
            "no audience condition",
            policy(json!([allow(federated.clone(), action.clone())])),
            Status::Warning,
            "any client of the identity provider",
        ),
        (
            "extra subject condition",
            with_condition(json!({"StringEquals": {AUD_KEY: AUDIENCE},
                                  "StringLike": {"idp.example.com/oauth2/default:sub": "dev*"}})),
            Status::Warning,
            "limits the users",
        ),
        (
            "other provider",
            policy(json!([{
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::111122223333:oidc-provider/other.example.com"},
                "Action": action.clone(),
                "Condition": {"StringEquals": {"other.example.com:aud": AUDIENCE}}
            }])),
            Status::Problem,
            "no Allow statement",
        ),
        (
            "provider with trailing slash",
            policy(json!([{
                "Effect": "Allow",
                "Principal": {"Federated": format!("{PROVIDER_ARN}/")},
                "Action": action.clone(),
                "Condition": {"StringEquals": {AUD_KEY: AUDIENCE}}
            }])),
            Status::Problem,
            "looks meant for",
        ),
        (
            "broker action only",
            with_condition(json!({"StringEquals": {AUD_KEY: AUDIENCE}}))
                .as_object()
                .map(|object| {
                    let mut object = object.clone();
                    object["Statement"][0]["Action"] = json!("sts:AssumeRole");
                    Value::Object(object)
                })
                .unwrap(),
            Status::Problem,
            "call sts:AssumeRoleWithWebIdentity",
        ),
        (
            "issuer role principal",
            policy(json!([allow(
                json!({"AWS": ISSUER_ROLE_ARN}),
                action.clone()
            )])),
            Status::Problem,
            "no Allow statement",
        ),
    ];
    for (name, document, status, fragment) in cases {
        let (actual, text) = assess(&web_identity(), &document);
        assert_eq!(actual, status, "{name}: {text}");
        assert!(
            text.contains(fragment),
            "{name}: {text:?} lacks {fragment:?}"
        );
    }
}

#[test]
fn malformed_policies_rejected() {
    let principal = json!({"AWS": ISSUER_ROLE_ARN});
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "not a JSON object"),
        (json!({"Version": "2012-10-17"}), "no Statement"),
        (json!({"Statement": "x"}), "neither an object nor a list"),
        (policy(json!(["x"])), "statement 1 is not an object"),
        (
            policy(json!([{"Effect": "allow", "Principal": principal, "Action": "sts:*"}])),
            "Effect must be",
        ),
        (
            policy(json!([{"Principal": principal, "Action": "sts:*"}])),
            "Effect must be",
        ),
        (
            policy(json!([{"Effect": "Allow", "Principal": principal, "Action": 3}])),
            "Action must be",
        ),
        (
            policy(json!([{"Effect": "Allow", "Principal": principal, "Action": ["sts:*", 3]}])),
            "only strings",
        ),
        (
            policy(json!([{"Effect": "Allow", "Principal": principal}])),
            "exactly one of Action",
        ),
        (
            policy(
                json!([{"Effect": "Allow", "Principal": principal, "Action": "a", "NotAction": "b"}]),
            ),
            "exactly one of Action",
        ),
        (
            policy(json!([{"Effect": "Allow", "Principal": [ISSUER_ROLE_ARN], "Action": "sts:*"}])),
            "Principal must be",
        ),
        (
            policy(
                json!([{"Effect": "Allow", "Principal": "arn:aws:iam::1:root", "Action": "sts:*"}]),
            ),
            "Principal must be",
        ),
        (
            policy(
                json!([{"Sid": "Broken", "Effect": "Allow", "Principal": principal, "Action": "sts:*", "Condition": []}]),
            ),
            "statement \"Broken\": Condition",
        ),
    ];
    for (document, expected) in cases {
        let error = parse_policy(&document).expect_err(&document.to_string());
        assert!(error.contains(expected), "{document}: {error}");
    }
}

#[test]
fn decode_policy_documents() {
    let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/a b"}, "Action": "sts:AssumeRole"}]});
    let text = document.to_string();
    let percent = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    assert_eq!(decode_policy_document(&percent).unwrap(), document);
    assert_eq!(decode_policy_document(&text).unwrap(), document);
    let pretty = serde_json::to_string_pretty(&document).unwrap();
    let form = percent_encoding::utf8_percent_encode(&pretty, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%20", "+");
    assert_eq!(decode_policy_document(&form).unwrap(), document);
    assert!(decode_policy_document("%7B%22Version").is_err());
    assert!(decode_policy_document("%FF%FE").is_err());
    assert!(decode_policy_document("").is_err());
}

#[test]
fn wildcard_table() {
    let cases = [
        ("sts:*", "sts:AssumeRole", true, true),
        ("*", "sts:AssumeRole", true, true),
        ("sts:Assume*", "sts:AssumeRoleWithWebIdentity", true, true),
        ("sts:Assume?ole", "sts:AssumeRole", true, true),
        ("sts:Assume?ole", "sts:AssumeRRole", true, false),
        ("sts:assumerole", "sts:AssumeRole", true, true),
        ("sts:assumerole", "sts:AssumeRole", false, false),
        ("*Role", "sts:AssumeRole", true, true),
        ("*Role", "sts:AssumeRoles", true, false),
        ("s*s*e", "sts:SetSourceIdentity", true, false),
        ("s*s*y", "sts:SetSourceIdentity", true, true),
        ("", "", true, true),
        ("", "a", true, false),
        ("**", "", true, true),
        ("*a", "*ba", false, true),
    ];
    for (pattern, value, ignore_case, expected) in cases {
        assert_eq!(
            wildcard_match(pattern, value, ignore_case),
            expected,
            "{pattern:?} against {value:?}"
        );
    }
}
