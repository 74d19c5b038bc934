//! kubectl exec credential plugins: the `ExecCredential` that a plugin prints on standard output
//! and the `KUBERNETES_EXEC_INFO` request that kubectl passes to it.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::token::EksToken;

/// Environment variable in which kubectl passes the exec request, as JSON, to the plugin.
pub const EXEC_INFO_ENV: &str = "KUBERNETES_EXEC_INFO";

/// `apiVersion` of the v1beta1 exec credential API, the one that eksgate kubeconfigs request.
pub const API_VERSION_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// `apiVersion` of the v1 exec credential API.
pub const API_VERSION_V1: &str = "client.authentication.k8s.io/v1";

const EXEC_CREDENTIAL_KIND: &str = "ExecCredential";

/// A version of the `client.authentication.k8s.io` API. kubectl rejects a credential whose
/// version differs from the one in its request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExecApiVersion {
    #[default]
    V1Beta1,
    V1,
}

impl ExecApiVersion {
    /// Parses a full `apiVersion` value such as `client.authentication.k8s.io/v1beta1`.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            API_VERSION_V1BETA1 => Some(Self::V1Beta1),
            API_VERSION_V1 => Some(Self::V1),
            _ => None,
        }
    }

    /// Returns the full `apiVersion` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1Beta1 => API_VERSION_V1BETA1,
            Self::V1 => API_VERSION_V1,
        }
    }
}

impl fmt::Display for ExecApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The credential that an exec plugin returns to kubectl: a bearer token and its expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecCredential {
    /// The API version that kubectl requested.
    pub api_version: ExecApiVersion,
    pub token: String,
    /// kubectl runs the plugin again after this time. Written with seconds precision.
    pub expiration_timestamp: SystemTime,
}

impl ExecCredential {
    /// Wraps an EKS token in a credential of the requested API version.
    pub fn from_token(token: &EksToken, api_version: ExecApiVersion) -> Self {
        Self {
            api_version,
            token: token.token.clone(),
            expiration_timestamp: token.expires_at,
        }
    }

    /// Serialises the credential as the JSON document that the plugin prints.
    pub fn to_json(&self) -> String {
        let document = ExecCredentialJson {
            api_version: self.api_version.as_str(),
            kind: EXEC_CREDENTIAL_KIND,
            status: ExecCredentialStatusJson {
                expiration_timestamp: format_rfc3339(self.expiration_timestamp),
                token: &self.token,
            },
        };
        serde_json::to_string(&document).expect("an exec credential serialises to JSON")
    }
}

impl fmt::Debug for ExecCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecCredential")
            .field("api_version", &self.api_version)
            .field("token", &"** redacted **")
            .field(
                "expiration_timestamp",
                &format_rfc3339(self.expiration_timestamp),
            )
            .finish()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialJson<'a> {
    api_version: &'static str,
    kind: &'static str,
    status: ExecCredentialStatusJson<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecCredentialStatusJson<'a> {
    expiration_timestamp: String,
    token: &'a str,
}

/// The request that kubectl passes to an exec plugin in `KUBERNETES_EXEC_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecInfo {
    /// The API version that the plugin's `ExecCredential` must use.
    pub api_version: ExecApiVersion,
    /// Whether kubectl gave the plugin a terminal to prompt on. `false` when the field is absent.
    pub interactive: bool,
}

/// Failures to parse `KUBERNETES_EXEC_INFO`.
#[derive(Debug, thiserror::Error)]
pub enum ExecInfoError {
    #[error("invalid KUBERNETES_EXEC_INFO: it is not a JSON ExecCredential object: {0}")]
    InvalidJson(#[from] serde_json::Error),

    #[error("invalid KUBERNETES_EXEC_INFO: the apiVersion field is missing")]
    MissingApiVersion,

    #[error(
        "unsupported exec credential apiVersion {0:?} in KUBERNETES_EXEC_INFO: set the exec \
         apiVersion in the kubeconfig to client.authentication.k8s.io/v1beta1 or \
         client.authentication.k8s.io/v1"
    )]
    UnsupportedApiVersion(String),

    #[error("invalid KUBERNETES_EXEC_INFO: kind is {0:?}, expected \"ExecCredential\"")]
    WrongKind(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecInfoJson {
    api_version: Option<String>,
    kind: Option<String>,
    spec: Option<ExecInfoSpecJson>,
}

#[derive(Deserialize)]
struct ExecInfoSpecJson {
    interactive: Option<bool>,
}

/// Parses the JSON that kubectl puts in `KUBERNETES_EXEC_INFO` and returns the requested API
/// version. Accepts v1beta1 and v1 and rejects other versions, such as the removed v1alpha1.
pub fn parse_exec_info(json: &str) -> Result<ExecInfo, ExecInfoError> {
    let info: ExecInfoJson = serde_json::from_str(json)?;
    if let Some(kind) = info.kind
        && kind != EXEC_CREDENTIAL_KIND
    {
        return Err(ExecInfoError::WrongKind(kind));
    }
    let api_version = info.api_version.ok_or(ExecInfoError::MissingApiVersion)?;
    let api_version = ExecApiVersion::parse(&api_version)
        .ok_or(ExecInfoError::UnsupportedApiVersion(api_version))?;
    Ok(ExecInfo {
        api_version,
        interactive: info.spec.and_then(|spec| spec.interactive).unwrap_or(false),
    })
}

/// Formats `time` as an RFC 3339 UTC timestamp with seconds precision, such as
/// `2024-02-29T13:05:09Z`. Sub-second parts are dropped.
pub fn format_rfc3339(time: SystemTime) -> String {
    let seconds: i64 = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        // Round down towards the past, so that 0.5 s before the epoch is 23:59:59.
        Err(before) => {
            let before = before.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            if before.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    };
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// This is Howard Hinnant's `civil_from_days`
/// (<https://howardhinnant.github.io/date_algorithms.html>). It counts in 400-year eras and
/// starts each year on 1 March, so that the leap day is the last day of a year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 is March, 11 is February.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both values are in range by construction: day in 1..=31 and month in 1..=12.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests;
