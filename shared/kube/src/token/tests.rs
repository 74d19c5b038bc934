use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eksgate_tags::Partition;

use super::*;

const ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEXAMPLE+session/token==";

/// 2023-11-14T22:13:20Z.
const SIGNING_SECS: u64 = 1_700_000_000;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn credentials(session_token: Option<&str>, expires_at: Option<SystemTime>) -> SigningCredentials {
    SigningCredentials {
        access_key_id: ACCESS_KEY_ID.to_string(),
        secret_access_key: SECRET_ACCESS_KEY.to_string(),
        session_token: session_token.map(str::to_string),
        expires_at,
    }
}

fn token_for(session_token: Option<&str>, cluster: &str, region: &str) -> EksToken {
    eks_token(
        &credentials(session_token, None),
        cluster,
        region,
        Partition::of_region(region),
        at(SIGNING_SECS),
    )
    .expect("token")
}

/// Decodes the presigned URL out of a token.
fn presigned_url(token: &EksToken) -> String {
    let body = token
        .token
        .strip_prefix(TOKEN_PREFIX)
        .expect("token starts with k8s-aws-v1.");
    String::from_utf8(URL_SAFE_NO_PAD.decode(body).expect("base64url")).expect("UTF-8 URL")
}

/// Splits a URL's query into (name, percent-decoded value) pairs, in order.
fn query_pairs(url: &str) -> Vec<(String, String)> {
    let (_, query) = url.split_once('?').expect("URL has a query");
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("name=value");
            (name.to_string(), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("missing query parameter {name}"))
}

#[test]
fn url_has_expected_parameters_with_session_token() {
    let url = presigned_url(&token_for(Some(SESSION_TOKEN), "dev", "eu-west-1"));
    assert!(
        url.starts_with("https://sts.eu-west-1.amazonaws.com/?"),
        "{url}"
    );

    let pairs = query_pairs(&url);
    let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Action",
            "Version",
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Security-Token",
            "X-Amz-Signature",
        ]
    );
    assert_eq!(param(&pairs, "Action"), "GetCallerIdentity");
    assert_eq!(param(&pairs, "Version"), "2011-06-15");
    assert_eq!(param(&pairs, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    assert_eq!(
        param(&pairs, "X-Amz-Credential"),
        "AKIAIOSFODNN7EXAMPLE/20231114/eu-west-1/sts/aws4_request"
    );
    assert_eq!(param(&pairs, "X-Amz-Date"), "20231114T221320Z");
    assert_eq!(param(&pairs, "X-Amz-Expires"), "60");
    assert_eq!(param(&pairs, "X-Amz-SignedHeaders"), "host;x-k8s-aws-id");
    assert_eq!(param(&pairs, "X-Amz-Security-Token"), SESSION_TOKEN);

    let signature = param(&pairs, "X-Amz-Signature");
    assert_eq!(signature.len(), 64, "{signature}");
    assert!(
        signature
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)),
        "{signature}"
    );
}

#[test]
fn url_encodes_reserved_characters() {
    let url = presigned_url(&token_for(Some(SESSION_TOKEN), "dev", "eu-west-1"));
    assert!(
        url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&"),
        "{url}"
    );
    assert!(
        url.contains(
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20231114%2Feu-west-1%2Fsts%2Faws4_request&"
        ),
        "{url}"
    );
    assert!(
        url.contains("X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2Bsession%2Ftoken%3D%3D&"),
        "{url}"
    );
}

#[test]
fn url_without_session_token_omits_it() {
    let url = presigned_url(&token_for(None, "dev", "eu-west-1"));
    let pairs = query_pairs(&url);
    let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Action",
            "Version",
            "X-Amz-Algorithm",
            "X-Amz-Credential",
            "X-Amz-Date",
            "X-Amz-Expires",
            "X-Amz-SignedHeaders",
            "X-Amz-Signature",
        ]
    );
    assert_eq!(param(&pairs, "X-Amz-SignedHeaders"), "host;x-k8s-aws-id");
}

#[test]
fn signature_depends_on_cluster_name() {
    let first = presigned_url(&token_for(None, "dev", "eu-west-1"));
    let second = presigned_url(&token_for(None, "prod", "eu-west-1"));
    assert_ne!(
        param(&query_pairs(&first), "X-Amz-Signature"),
        param(&query_pairs(&second), "X-Amz-Signature")
    );
}

#[test]
fn token_is_deterministic_and_url_safe() {
    let first = token_for(Some(SESSION_TOKEN), "dev", "eu-west-1");
    let second = token_for(Some(SESSION_TOKEN), "dev", "eu-west-1");
    assert_eq!(first.token, second.token);
    assert!(first.token.starts_with("k8s-aws-v1."));
    let body = &first.token[TOKEN_PREFIX.len()..];
    assert!(
        body.bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'),
        "{body}"
    );
}

#[test]
fn aws_cn_token_uses_cn_host() {
    let url = presigned_url(&token_for(None, "dev", "cn-north-1"));
    assert!(
        url.starts_with("https://sts.cn-north-1.amazonaws.com.cn/?Action=GetCallerIdentity&"),
        "{url}"
    );
    assert_eq!(
        param(&query_pairs(&url), "X-Amz-Credential"),
        "AKIAIOSFODNN7EXAMPLE/20231114/cn-north-1/sts/aws4_request"
    );
}

#[test]
fn sts_host_per_partition() {
    assert_eq!(
        sts_host("eu-west-1", Partition::Aws).unwrap(),
        "sts.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        sts_host("cn-northwest-1", Partition::AwsCn).unwrap(),
        "sts.cn-northwest-1.amazonaws.com.cn"
    );
    assert_eq!(
        sts_host("us-gov-west-1", Partition::AwsUsGov).unwrap(),
        "sts.us-gov-west-1.amazonaws.com"
    );
}

#[test]
fn sts_host_rejects_invalid_regions() {
    for region in [
        "",
        "EU-west-1",
        "eu west 1",
        "-eu-west-1",
        "eu-west-1-",
        "eu.west",
    ] {
        let error = sts_host(region, Partition::Aws).expect_err(region);
        assert!(
            matches!(error, TokenError::InvalidRegion { .. }),
            "{region}: {error}"
        );
        assert!(
            error.to_string().contains(&format!("{region:?}")),
            "{error}"
        );
    }
}

#[test]
fn sts_host_rejects_partition_mismatch() {
    let error = sts_host("cn-north-1", Partition::Aws).unwrap_err();
    assert!(
        matches!(error, TokenError::PartitionMismatch { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("aws-cn"), "{error}");
}

#[test]
fn cluster_name_rules() {
    let longest = "a".repeat(CLUSTER_NAME_MAX_LEN);
    for name in ["a", "0", "dev_cluster-1", longest.as_str()] {
        let result = eks_token(
            &credentials(None, None),
            name,
            "eu-west-1",
            Partition::Aws,
            at(SIGNING_SECS),
        );
        assert!(result.is_ok(), "{name}: {result:?}");
    }

    let too_long = "a".repeat(CLUSTER_NAME_MAX_LEN + 1);
    for name in [
        "",
        "-dev",
        "_dev",
        "dev.cluster",
        "dev cluster",
        "dév",
        too_long.as_str(),
    ] {
        let error = eks_token(
            &credentials(None, None),
            name,
            "eu-west-1",
            Partition::Aws,
            at(SIGNING_SECS),
        )
        .expect_err(name);
        assert!(
            matches!(error, TokenError::InvalidClusterName { .. }),
            "{name}: {error}"
        );
        assert!(error.to_string().contains(&format!("{name:?}")), "{error}");
    }
}

#[test]
fn missing_access_key_is_rejected() {
    let mut creds = credentials(None, None);
    creds.access_key_id.clear();
    let error =
        eks_token(&creds, "dev", "eu-west-1", Partition::Aws, at(SIGNING_SECS)).unwrap_err();
    assert!(
        matches!(error, TokenError::MissingCredential { .. }),
        "{error}"
    );
}

fn expiry_with(
    credentials_expiry: Option<SystemTime>,
    now: SystemTime,
) -> Result<SystemTime, TokenError> {
    eks_token(
        &credentials(Some(SESSION_TOKEN), credentials_expiry),
        "dev",
        "eu-west-1",
        Partition::Aws,
        now,
    )
    .map(|token| token.expires_at)
}

#[test]
fn expiry_capped_at_fifteen_minutes() {
    let expected = at(SIGNING_SECS + 15 * 60 - 60);
    assert_eq!(expiry_with(None, at(SIGNING_SECS)).unwrap(), expected);
    assert_eq!(
        expiry_with(Some(at(SIGNING_SECS + 3600)), at(SIGNING_SECS)).unwrap(),
        expected
    );
}

#[test]
fn expiry_capped_by_credentials() {
    let credentials_expiry = at(SIGNING_SECS + 10 * 60);
    assert_eq!(
        expiry_with(Some(credentials_expiry), at(SIGNING_SECS)).unwrap(),
        at(SIGNING_SECS + 10 * 60 - 60)
    );
}

#[test]
fn expiry_counts_from_whole_second() {
    let now = at(SIGNING_SECS) + Duration::from_millis(700);
    assert_eq!(
        expiry_with(None, now).unwrap(),
        at(SIGNING_SECS + 15 * 60 - 60)
    );
    let url = presigned_url(
        &eks_token(
            &credentials(None, None),
            "dev",
            "eu-west-1",
            Partition::Aws,
            now,
        )
        .unwrap(),
    );
    assert_eq!(param(&query_pairs(&url), "X-Amz-Date"), "20231114T221320Z");
}

#[test]
fn credentials_within_margin_are_rejected() {
    let now = at(SIGNING_SECS);
    for credentials_expiry in [
        at(SIGNING_SECS - 1),
        now,
        at(SIGNING_SECS + 30),
        now + EXPIRY_MARGIN,
    ] {
        let error = expiry_with(Some(credentials_expiry), now).unwrap_err();
        assert!(
            matches!(error, TokenError::CredentialsExpired { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("fresh credentials"), "{error}");
    }
}

#[test]
fn credentials_just_past_margin_are_accepted() {
    let now = at(SIGNING_SECS);
    let expires_at = expiry_with(Some(now + EXPIRY_MARGIN + Duration::from_secs(1)), now).unwrap();
    assert_eq!(expires_at, at(SIGNING_SECS + 1));
}

#[test]
fn debug_redacts_secrets() {
    let creds = credentials(Some(SESSION_TOKEN), Some(at(SIGNING_SECS + 3600)));
    let debug = format!("{creds:?}");
    assert!(!debug.contains(SECRET_ACCESS_KEY), "{debug}");
    assert!(!debug.contains(SESSION_TOKEN), "{debug}");
    assert!(debug.contains(ACCESS_KEY_ID), "{debug}");

    let token = token_for(Some(SESSION_TOKEN), "dev", "eu-west-1");
    let debug = format!("{token:?}");
    assert!(!debug.contains(&token.token), "{debug}");
    assert!(!debug.contains(TOKEN_PREFIX), "{debug}");
}

#[test]
fn signatures_match_botocore_reference() {
    // Expected values from tests/support/botocore_presign.py with botocore 1.44.8, for the same
    // credentials and time. tests/tests/eks_token.rs runs botocore for more cases.
    let url = presigned_url(&token_for(Some(SESSION_TOKEN), "dev", "eu-west-1"));
    assert_eq!(
        param(&query_pairs(&url), "X-Amz-Signature"),
        "1c7b83fdb060a16ae0b34278a4ec7c5718e912994e3780f36c603ded5c1fa440"
    );

    let url = presigned_url(&token_for(None, "dev", "cn-north-1"));
    assert_eq!(
        param(&query_pairs(&url), "X-Amz-Signature"),
        "164e092ba3fcaa4671a973f5ee745159dd2b51bbb5f0340d9b5462f99da985b0"
    );
}
