use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::*;

#[test]
fn exec_credential_json_shape() {
    let credential = ExecCredential {
        api_version: ExecApiVersion::V1Beta1,
        token: "k8s-aws-v1.abc".to_string(),
        expiration_timestamp: UNIX_EPOCH + Duration::from_millis(1_700_000_000_900),
    };
    let document: Value = serde_json::from_str(&credential.to_json()).unwrap();
    assert_eq!(
        document,
        json!({
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "kind": "ExecCredential",
            "status": {
                "expirationTimestamp": "2023-11-14T22:13:20Z",
                "token": "k8s-aws-v1.abc",
            },
        })
    );
}

#[test]
fn exec_credential_keeps_requested_version() {
    let token = EksToken {
        token: "k8s-aws-v1.abc".to_string(),
        expires_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let credential = ExecCredential::from_token(&token, ExecApiVersion::V1);
    let document: Value = serde_json::from_str(&credential.to_json()).unwrap();
    assert_eq!(document["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(document["status"]["token"], "k8s-aws-v1.abc");
}

#[test]
fn exec_credential_debug_redacts_token() {
    let credential = ExecCredential {
        api_version: ExecApiVersion::V1Beta1,
        token: "k8s-aws-v1.secret-token".to_string(),
        expiration_timestamp: UNIX_EPOCH,
    };
    let debug = format!("{credential:?}");
    assert!(!debug.contains("secret-token"), "{debug}");
}

#[test]
fn exec_info_accepts_v1beta1_and_v1() {
    let info = parse_exec_info(
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#,
    )
    .unwrap();
    assert_eq!(info.api_version, ExecApiVersion::V1Beta1);
    assert!(!info.interactive);

    let info = parse_exec_info(
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":true,"cluster":{"server":"https://127.0.0.1"}}}"#,
    )
    .unwrap();
    assert_eq!(info.api_version, ExecApiVersion::V1);
    assert!(info.interactive);
}

#[test]
fn exec_info_without_spec_is_not_interactive() {
    let info = parse_exec_info(r#"{"apiVersion":"client.authentication.k8s.io/v1beta1"}"#).unwrap();
    assert!(!info.interactive);
}

#[test]
fn exec_info_rejects_other_versions() {
    let error = parse_exec_info(
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1","spec":{}}"#,
    )
    .unwrap_err();
    assert!(
        matches!(error, ExecInfoError::UnsupportedApiVersion(ref version) if version == "client.authentication.k8s.io/v1alpha1"),
        "{error}"
    );
    assert!(error.to_string().contains("v1alpha1"), "{error}");
    assert!(
        error
            .to_string()
            .contains("client.authentication.k8s.io/v1beta1"),
        "{error}"
    );
}

#[test]
fn exec_info_rejects_bad_documents() {
    assert!(matches!(
        parse_exec_info("not json"),
        Err(ExecInfoError::InvalidJson(_))
    ));
    assert!(matches!(
        parse_exec_info(r#"{"kind":"ExecCredential"}"#),
        Err(ExecInfoError::MissingApiVersion)
    ));
    assert!(matches!(
        parse_exec_info(r#"{"kind":"Pod","apiVersion":"client.authentication.k8s.io/v1"}"#),
        Err(ExecInfoError::WrongKind(kind)) if kind == "Pod"
    ));
}

#[test]
fn rfc3339_known_dates() {
    let cases: [(i64, &str); 8] = [
        (0, "1970-01-01T00:00:00Z"),
        (-1, "1969-12-31T23:59:59Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (1_709_164_800, "2024-02-29T00:00:00Z"),
        (1_735_689_599, "2024-12-31T23:59:59Z"),
        (4_102_444_800, "2100-01-01T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
    ];
    for (seconds, expected) in cases {
        let time = if seconds >= 0 {
            UNIX_EPOCH + Duration::from_secs(seconds.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(seconds.unsigned_abs())
        };
        assert_eq!(format_rfc3339(time), expected, "{seconds}");
    }
}

#[test]
fn rfc3339_drops_subseconds() {
    assert_eq!(
        format_rfc3339(UNIX_EPOCH + Duration::from_millis(1_999)),
        "1970-01-01T00:00:01Z"
    );
    assert_eq!(
        format_rfc3339(UNIX_EPOCH - Duration::from_millis(500)),
        "1969-12-31T23:59:59Z"
    );
}

#[test]
fn civil_from_days_walks_400_years() {
    // Walks day by day from 1970 to 2370 and checks that the date moves forward by one day.
    let mut previous = (1969, 12, 31);
    for day in 0..(400 * 366) {
        let (year, month, day_of_month) = civil_from_days(day);
        let expected = next_day(previous);
        assert_eq!((year, month, day_of_month), expected, "day {day}");
        previous = expected;
    }
}

fn next_day((year, month, day): (i64, u32, u32)) -> (i64, u32, u32) {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_length = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day < month_length {
        (year, month, day + 1)
    } else if month < 12 {
        (year, month + 1, 1)
    } else {
        (year + 1, 1, 1)
    }
}
