//! EKS bearer tokens: presigned STS `GetCallerIdentity` URLs.
//!
//! The EKS API server (through aws-iam-authenticator) authenticates a request by calling the
//! presigned URL that the token carries, so the token proves the caller's IAM identity without
//! sending its secret. The token is `k8s-aws-v1.` followed by the URL in base64url without
//! padding. The URL is
//! `GET https://sts.<region>.<dns suffix>/?Action=GetCallerIdentity&Version=2011-06-15`, signed
//! with SigV4 in query parameters with `X-Amz-Expires=60` and the signed header
//! `x-k8s-aws-id: <cluster name>`, which binds the token to one cluster.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    self, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eksgate_tags::Partition;

use crate::exec::format_rfc3339;

/// Prefix of every EKS bearer token, before the base64url-encoded URL.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";

/// Signed header that names the cluster. The API server rejects a token signed for another
/// cluster.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// `X-Amz-Expires` of the presigned URL.
pub const PRESIGNED_URL_EXPIRES: Duration = Duration::from_secs(60);

/// How long the EKS API server accepts a token after its `X-Amz-Date`.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Margin subtracted from the real expiry of a token, so that clients replace it before the API
/// server starts to reject it. Credentials that expire within this margin are rejected.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Maximum length of an EKS cluster name, in characters.
pub const CLUSTER_NAME_MAX_LEN: usize = 100;

/// SigV4 service name of STS.
const STS_SERVICE: &str = "sts";

/// Query of the presigned request, before the SigV4 parameters.
const GET_CALLER_IDENTITY_QUERY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// AWS credentials that sign an EKS token, usually temporary ones from `AssumeRole`.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Session token of temporary credentials. It travels in the URL as `X-Amz-Security-Token`.
    pub session_token: Option<String>,
    /// Expiry of temporary credentials. The token never outlives it.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("expires_at", &self.expires_at.map(format_rfc3339))
            .finish()
    }
}

/// An EKS bearer token and the time until which clients may use it.
#[derive(Clone, PartialEq, Eq)]
pub struct EksToken {
    /// `k8s-aws-v1.` followed by the presigned URL in base64url without padding.
    pub token: String,
    /// The earlier of the API server's limit and the credentials' expiry, minus
    /// [`EXPIRY_MARGIN`]. Whole seconds.
    pub expires_at: SystemTime,
}

impl fmt::Debug for EksToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EksToken")
            .field("token", &"** redacted **")
            .field("expires_at", &format_rfc3339(self.expires_at))
            .finish()
    }
}

/// Failures to build an EKS token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(
        "invalid AWS region {region:?}: a region contains only lowercase letters, digits and \
         inner hyphens, such as eu-west-1"
    )]
    InvalidRegion { region: String },

    #[error(
        "region {region:?} belongs to partition {region_partition}, not {partition}: \
         pass the partition from the cluster ARN"
    )]
    PartitionMismatch {
        region: String,
        region_partition: Partition,
        partition: Partition,
    },

    #[error("invalid EKS cluster name {name:?}: {reason}")]
    InvalidClusterName { name: String, reason: &'static str },

    #[error("missing {field} in the signing credentials")]
    MissingCredential { field: &'static str },

    #[error(
        "the signing credentials expire at {expires_at}, which is not more than {margin_secs} s \
         after {now}: get fresh credentials and try again"
    )]
    CredentialsExpired {
        expires_at: String,
        now: String,
        margin_secs: u64,
    },

    #[error("invalid signing time: it is before 1970-01-01T00:00:00Z")]
    TimeBeforeEpoch,

    #[error("signing the STS GetCallerIdentity URL failed: {0}")]
    Signing(String),
}

/// Returns the regional STS host that signs tokens for clusters in `region`, such as
/// `sts.eu-west-1.amazonaws.com` or `sts.cn-north-1.amazonaws.com.cn`.
///
/// Rejects a region that is not DNS label text or that belongs to another partition than
/// `partition`, because the resulting token would fail on the API server.
pub fn sts_host(region: &str, partition: Partition) -> Result<String, TokenError> {
    validate_region(region)?;
    let region_partition = Partition::of_region(region);
    if region_partition != partition {
        return Err(TokenError::PartitionMismatch {
            region: region.to_string(),
            region_partition,
            partition,
        });
    }
    Ok(format!("sts.{region}.{}", partition.dns_suffix()))
}

/// Builds the bearer token for `cluster_name` in `region`, signed with `creds` at `now`.
///
/// The signing time is `now` truncated to whole seconds, as `X-Amz-Date` carries it. Rejects
/// credentials that expire within [`EXPIRY_MARGIN`] of `now`.
pub fn eks_token(
    creds: &SigningCredentials,
    cluster_name: &str,
    region: &str,
    partition: Partition,
    now: SystemTime,
) -> Result<EksToken, TokenError> {
    validate_cluster_name(cluster_name)?;
    let host = sts_host(region, partition)?;
    if creds.access_key_id.is_empty() {
        return Err(TokenError::MissingCredential {
            field: "access key id",
        });
    }
    if creds.secret_access_key.is_empty() {
        return Err(TokenError::MissingCredential {
            field: "secret access key",
        });
    }

    let signing_time = truncate_to_seconds(now)?;
    let expires_at = token_expiry(signing_time, now, creds.expires_at)?;
    let url = presign_url(creds, &host, cluster_name, region, signing_time)?;
    Ok(EksToken {
        token: format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(url)),
        expires_at,
    })
}

/// Computes the reported expiry: the earlier of `signing_time + TOKEN_LIFETIME` and the
/// credentials' expiry, minus [`EXPIRY_MARGIN`].
fn token_expiry(
    signing_time: SystemTime,
    now: SystemTime,
    credentials_expiry: Option<SystemTime>,
) -> Result<SystemTime, TokenError> {
    let mut valid_until = signing_time + TOKEN_LIFETIME;
    if let Some(credentials_expiry) = credentials_expiry {
        if credentials_expiry <= now + EXPIRY_MARGIN {
            return Err(TokenError::CredentialsExpired {
                expires_at: format_rfc3339(credentials_expiry),
                now: format_rfc3339(now),
                margin_secs: EXPIRY_MARGIN.as_secs(),
            });
        }
        valid_until = valid_until.min(truncate_to_seconds(credentials_expiry)?);
    }
    Ok(valid_until - EXPIRY_MARGIN)
}

/// Signs the `GetCallerIdentity` request and returns its URL with the query parameters in the
/// order that botocore's `SigV4QueryAuth` writes them.
fn presign_url(
    creds: &SigningCredentials,
    host: &str,
    cluster_name: &str,
    region: &str,
    signing_time: SystemTime,
) -> Result<String, TokenError> {
    let identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        creds.expires_at,
        "eksgate",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGNED_URL_EXPIRES);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(STS_SERVICE)
        .time(signing_time)
        .settings(settings)
        .build()
        .map_err(|error| TokenError::Signing(error.to_string()))?
        .into();

    let base_url = format!("https://{host}/?{GET_CALLER_IDENTITY_QUERY}");
    let request = SignableRequest::new(
        "GET",
        base_url.as_str(),
        [(CLUSTER_ID_HEADER, cluster_name)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|error| TokenError::Signing(error.to_string()))?;
    let (instructions, _signature) = http_request::sign(request, &params)
        .map_err(|error| TokenError::Signing(error.to_string()))?
        .into_parts();
    let (_headers, signing_params) = instructions.into_parts();

    // aws-sigv4 lists X-Amz-Security-Token after X-Amz-Signature. botocore, and so
    // `aws eks get-token`, puts the signature last. The order does not change the signature, but
    // following botocore makes the tokens identical.
    let mut url = base_url;
    let mut signature = None;
    for (name, value) in &signing_params {
        if *name == "X-Amz-Signature" {
            signature = Some(value);
            continue;
        }
        push_query_param(&mut url, name, value);
    }
    let signature = signature.ok_or_else(|| {
        TokenError::Signing("aws-sigv4 returned no X-Amz-Signature parameter".to_string())
    })?;
    push_query_param(&mut url, "X-Amz-Signature", signature);
    Ok(url)
}

fn push_query_param(url: &mut String, name: &str, value: &str) {
    url.push('&');
    percent_encode_into(url, name);
    url.push('=');
    percent_encode_into(url, value);
}

/// Percent-encodes every byte except the RFC 3986 unreserved characters, with uppercase hex
/// digits, as SigV4 canonical queries and botocore's `percent_encode` do.
fn percent_encode_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

fn truncate_to_seconds(time: SystemTime) -> Result<SystemTime, TokenError> {
    let since_epoch = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| TokenError::TimeBeforeEpoch)?;
    Ok(UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs()))
}

fn validate_region(region: &str) -> Result<(), TokenError> {
    let valid = !region.is_empty()
        && !region.starts_with('-')
        && !region.ends_with('-')
        && region
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if valid {
        Ok(())
    } else {
        Err(TokenError::InvalidRegion {
            region: region.to_string(),
        })
    }
}

/// Checks the EKS naming rule: 1 to 100 characters, `[0-9A-Za-z][A-Za-z0-9_-]*`.
fn validate_cluster_name(name: &str) -> Result<(), TokenError> {
    let invalid = |reason| {
        Err(TokenError::InvalidClusterName {
            name: name.to_string(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return invalid("the name is empty");
    };
    if !first.is_ascii_alphanumeric() {
        return invalid("the name must start with a letter or digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return invalid("the name may contain only letters, digits, hyphens and underscores");
    }
    if name.len() > CLUSTER_NAME_MAX_LEN {
        return invalid("the name is longer than 100 characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
