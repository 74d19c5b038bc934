use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;

fn groups(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

/// Claims as an API Gateway HTTP API JWT authorizer passes them: every value is a string.
fn api_gateway_claims() -> Value {
    json!({
        "sub": "00u1a2b3c4d5e6f7g8h9",
        "email": "dev.one@example.com",
        "groups": "[eks-users platform]",
        "iss": "https://idp.example.com/oauth2/default",
        "aud": "0oa1example2client3id",
        "exp": "1764512000",
        "iat": "1764508400"
    })
}

fn with_groups(value: Value) -> Value {
    json!({ "email": "dev.one@example.com", "groups": value })
}

#[test]
fn identity_from_api_gateway_claims() {
    let identity = identity_from_claims(&api_gateway_claims(), &ClaimsConfig::default()).unwrap();

    assert_eq!(identity.user, "dev.one@example.com");
    assert_eq!(identity.subject.as_deref(), Some("00u1a2b3c4d5e6f7g8h9"));
    assert_eq!(
        identity.issuer.as_deref(),
        Some("https://idp.example.com/oauth2/default")
    );
    assert_eq!(identity.groups, groups(&["eks-users", "platform"]));
}

#[test]
fn identity_from_request_event() {
    let request = json!({
        "version": "2.0",
        "requestContext": { "authorizer": { "jwt": { "claims": api_gateway_claims(), "scopes": null } } }
    });

    let claims = jwt_authorizer_claims(&request).expect("claims are present");
    let identity = identity_from_claims(claims, &ClaimsConfig::default()).unwrap();

    assert_eq!(identity.user, "dev.one@example.com");
    assert_eq!(
        jwt_authorizer_claims(&json!({ "requestContext": {} })),
        None
    );
}

#[test]
fn groups_claim_forms() {
    let cases: Vec<(&str, Value, BTreeSet<String>)> = vec![
        (
            "api gateway rendering",
            json!("[a b c]"),
            groups(&["a", "b", "c"]),
        ),
        (
            "api gateway rendering, extra spaces",
            json!("[ a   b ]"),
            groups(&["a", "b"]),
        ),
        (
            "api gateway rendering, one name",
            json!("[admins]"),
            groups(&["admins"]),
        ),
        ("api gateway rendering, empty", json!("[]"), groups(&[])),
        (
            "json in a string",
            json!(r#"["a","b"]"#),
            groups(&["a", "b"]),
        ),
        (
            "json in a string, spaces",
            json!(r#"[ "a" , " b " ]"#),
            groups(&["a", "b"]),
        ),
        ("comma list", json!("a, b"), groups(&["a", "b"])),
        (
            "comma list, empty items",
            json!(",a,,b,"),
            groups(&["a", "b"]),
        ),
        ("single name", json!("platform"), groups(&["platform"])),
        (
            "single name with a space",
            json!("Domain Users"),
            groups(&["Domain Users"]),
        ),
        ("json array", json!(["a", "b"]), groups(&["a", "b"])),
        (
            "json array, duplicates",
            json!(["a", " a ", "b", "a"]),
            groups(&["a", "b"]),
        ),
        (
            "json array, empty names",
            json!(["", "  ", "a"]),
            groups(&["a"]),
        ),
        ("json array, empty", json!([]), groups(&[])),
        ("empty string", json!(""), groups(&[])),
        ("blank string", json!("   "), groups(&[])),
        ("null", Value::Null, groups(&[])),
    ];

    for (case, value, expected) in cases {
        let identity = identity_from_claims(&with_groups(value), &ClaimsConfig::default())
            .unwrap_or_else(|error| panic!("{case}: unexpected error {error}"));
        assert_eq!(identity.groups, expected, "{case}");
    }
}

#[test]
fn groups_claim_absent() {
    let claims = json!({ "email": "dev.one@example.com" });

    let identity = identity_from_claims(&claims, &ClaimsConfig::default()).unwrap();

    assert!(identity.groups.is_empty());
    assert_eq!(identity.subject, None);
    assert_eq!(identity.issuer, None);
}

#[test]
fn groups_claim_invalid_forms() {
    let too_long = "g".repeat(MAX_NAME_CHARS + 1);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "object",
            json!({ "a": true }),
            "must be a string or an array of strings",
        ),
        (
            "number",
            json!(7),
            "must be a string or an array of strings",
        ),
        (
            "boolean",
            json!(true),
            "must be a string or an array of strings",
        ),
        (
            "numbers in array",
            json!(["a", 1]),
            "must be a string or an array of strings",
        ),
        (
            "nested array",
            json!([["a"]]),
            "must be a string or an array of strings",
        ),
        (
            "numbers in json string",
            json!("[1,2]"),
            "must be a string or an array of strings",
        ),
        (
            "control character",
            json!(["a\u{7}b"]),
            "contains control characters",
        ),
        (
            "newline in rendering",
            json!("a,b\nc"),
            "contains control characters",
        ),
        ("overlong name", json!([too_long]), "is too long"),
    ];

    for (case, value, reason) in cases {
        let error =
            identity_from_claims(&with_groups(value), &ClaimsConfig::default()).expect_err(case);
        assert_eq!(
            error,
            AuthError::InvalidClaim {
                claim: "groups".to_owned(),
                reason
            },
            "{case}"
        );
    }
}

#[test]
fn user_claim_trimmed() {
    let claims = json!({ "email": "  dev.one@example.com\t" });

    let identity = identity_from_claims(&claims, &ClaimsConfig::default()).unwrap();

    assert_eq!(identity.user, "dev.one@example.com");
}

#[test]
fn user_claim_at_length_limit() {
    let claims = json!({ "email": "é".repeat(MAX_NAME_CHARS) });

    let identity = identity_from_claims(&claims, &ClaimsConfig::default()).unwrap();

    assert_eq!(identity.user.chars().count(), MAX_NAME_CHARS);
}

#[test]
fn user_claim_invalid_values() {
    let cases: Vec<(&str, Value, AuthError)> = vec![
        (
            "missing",
            json!({ "groups": "[a]" }),
            AuthError::missing_claim("email"),
        ),
        (
            "null",
            json!({ "email": null }),
            AuthError::missing_claim("email"),
        ),
        (
            "empty",
            json!({ "email": "" }),
            AuthError::invalid_claim("email", "is empty"),
        ),
        (
            "blank",
            json!({ "email": " \t " }),
            AuthError::invalid_claim("email", "is empty"),
        ),
        (
            "number",
            json!({ "email": 42 }),
            AuthError::invalid_claim("email", "must be a string"),
        ),
        (
            "array",
            json!({ "email": ["dev.one@example.com"] }),
            AuthError::invalid_claim("email", "must be a string"),
        ),
        (
            "overlong",
            json!({ "email": "a".repeat(MAX_NAME_CHARS + 1) }),
            AuthError::invalid_claim("email", "is too long"),
        ),
        (
            "control character",
            json!({ "email": "dev\u{0}one@example.com" }),
            AuthError::invalid_claim("email", "contains control characters"),
        ),
        (
            "line break",
            json!({ "email": "dev.one@example.com\r\nx: y" }),
            AuthError::invalid_claim("email", "contains control characters"),
        ),
    ];

    for (case, claims, expected) in cases {
        let error = identity_from_claims(&claims, &ClaimsConfig::default()).expect_err(case);
        assert_eq!(error, expected, "{case}");
    }
}

#[test]
fn user_claim_error_names_claim() {
    let config = ClaimsConfig {
        user_claim: "preferred_username".to_owned(),
        ..ClaimsConfig::default()
    };

    let error = identity_from_claims(&api_gateway_claims(), &config).unwrap_err();

    assert_eq!(error.to_string(), "claim `preferred_username` is missing");
    assert_eq!(error.http_status(), 401);
}

#[test]
fn custom_claim_names() {
    let config = ClaimsConfig {
        user_claim: "upn".to_owned(),
        groups_claim: "roles".to_owned(),
    };
    let claims = json!({ "upn": "dev.two@example.com", "roles": ["viewer"], "groups": 7 });

    let identity = identity_from_claims(&claims, &config).unwrap();

    assert_eq!(identity.user, "dev.two@example.com");
    assert_eq!(identity.groups, groups(&["viewer"]));
}

#[test]
fn subject_and_issuer_checks() {
    let non_string_subject = json!({ "email": "a@example.com", "sub": 5 });
    let overlong_issuer =
        json!({ "email": "a@example.com", "iss": "i".repeat(MAX_ISSUER_CHARS + 1) });
    let empty_subject = json!({ "email": "a@example.com", "sub": "" });

    let subject_error =
        identity_from_claims(&non_string_subject, &ClaimsConfig::default()).unwrap_err();
    let issuer_error =
        identity_from_claims(&overlong_issuer, &ClaimsConfig::default()).unwrap_err();
    let identity = identity_from_claims(&empty_subject, &ClaimsConfig::default()).unwrap();

    assert_eq!(
        subject_error,
        AuthError::invalid_claim("sub", "must be a string")
    );
    assert_eq!(issuer_error, AuthError::invalid_claim("iss", "is too long"));
    assert_eq!(identity.subject, None);
}

#[test]
fn claims_not_an_object() {
    for claims in [json!(null), json!("email"), json!(["email"]), json!(1)] {
        let error = identity_from_claims(&claims, &ClaimsConfig::default()).unwrap_err();
        assert_eq!(error, AuthError::ClaimsNotObject, "{claims}");
    }
}

#[test]
fn identity_serializes_groups_as_array() {
    let identity = identity_from_claims(&api_gateway_claims(), &ClaimsConfig::default()).unwrap();

    let value = serde_json::to_value(&identity).unwrap();

    assert_eq!(value["groups"], json!(["eks-users", "platform"]));
    assert_eq!(value["user"], json!("dev.one@example.com"));
}

#[test]
fn bearer_token_accepted_forms() {
    let cases = [
        (
            json!({ "authorization": "Bearer abc.def.ghi" }),
            "abc.def.ghi",
        ),
        (
            json!({ "Authorization": "bearer abc.def.ghi" }),
            "abc.def.ghi",
        ),
        (
            json!({ "AUTHORIZATION": "BEARER  abc.def.ghi  " }),
            "abc.def.ghi",
        ),
        (
            json!({ "authorization": "Bearer\tabc-_~+/9==" }),
            "abc-_~+/9==",
        ),
        (
            json!({ "authorization": "Bearer t", "content-type": "application/json" }),
            "t",
        ),
    ];

    for (headers, expected) in cases {
        assert_eq!(bearer_token(&headers), Some(expected), "{headers}");
    }
}

#[test]
fn bearer_token_rejected_forms() {
    let cases = [
        json!({}),
        json!(null),
        json!("Bearer abc"),
        json!({ "authorization": 5 }),
        json!({ "authorization": "" }),
        json!({ "authorization": "Bearer" }),
        json!({ "authorization": "Bearer   " }),
        json!({ "authorization": "Basic dXNlcjpwYXNz" }),
        json!({ "authorization": "Bearerabc" }),
        json!({ "authorization": "Bearer a b" }),
        json!({ "authorization": "Bearer a,Bearer b" }),
        json!({ "authorization": "Bearer ===" }),
        json!({ "authorization": "Bearer a=b" }),
        json!({ "proxy-authorization": "Bearer abc" }),
        json!({ "authorization": "Bearer abc", "Authorization": "Bearer def" }),
    ];

    for headers in cases {
        assert_eq!(bearer_token(&headers), None, "{headers}");
    }
}
