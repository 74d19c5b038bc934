//! Role credentials from STS, on the endpoint of the cluster's region.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use aws_config::{Region, SdkConfig};
use aws_sdk_sts::Client;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::config::AssumeMode;

/// Temporary credentials for a role. Debug output hides the secret parts.
#[derive(Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch milliseconds.
    pub expires_at: i64,
}

impl fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A role to assume, the session name and the duration.
#[derive(Debug, Clone)]
pub struct AssumeRequest<'a> {
    pub mode: AssumeMode,
    pub region: &'a str,
    pub role_arn: &'a str,
    pub session_name: &'a str,
    /// The caller's OIDC token, for web identity mode.
    pub web_identity_token: Option<&'a str>,
    pub duration_secs: i64,
}

/// A failed STS call, with the reason STS gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("STS {operation} for {role_arn} failed: {code}: {message}")]
pub struct AssumeError {
    pub operation: &'static str,
    pub role_arn: String,
    /// The AWS error code, or a description of a transport failure.
    pub code: String,
    pub message: String,
    pub kind: AssumeErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssumeErrorKind {
    /// The role's trust policy or the caller's permissions do not allow it.
    Denied,
    /// The caller's web identity token was rejected.
    InvalidToken,
    /// Throttling, 5xx, time-outs and connection failures.
    Transient,
    Other,
}

/// STS clients, one per region, made on first use from one base configuration.
#[derive(Debug)]
pub struct StsClients {
    base: SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
}

impl StsClients {
    pub fn new(base: SdkConfig) -> Self {
        Self {
            base,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Returns the client for `region`. The SDK resolves the regional endpoint, in the region's
    /// partition (`sts.cn-north-1.amazonaws.com.cn` for `cn-north-1`), unless the base
    /// configuration overrides the endpoint.
    fn client(&self, region: &str) -> Client {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        clients
            .entry(region.to_string())
            .or_insert_with(|| {
                let config = aws_sdk_sts::config::Builder::from(&self.base)
                    .region(Region::new(region.to_string()))
                    .build();
                Client::from_conf(config)
            })
            .clone()
    }

    /// Assumes a role for a user.
    pub async fn assume(
        &self,
        request: &AssumeRequest<'_>,
    ) -> Result<RoleCredentials, AssumeError> {
        let client = self.client(request.region);
        let duration = i32::try_from(request.duration_secs).unwrap_or(i32::MAX);
        match request.mode {
            AssumeMode::Broker => {
                let output = client
                    .assume_role()
                    .role_arn(request.role_arn)
                    .role_session_name(request.session_name)
                    .source_identity(request.session_name)
                    .duration_seconds(duration)
                    .send()
                    .await
                    .map_err(|error| assume_error("AssumeRole", request.role_arn, error))?;
                credentials(output.credentials(), "AssumeRole", request.role_arn)
            }
            AssumeMode::WebIdentity => {
                let token = request.web_identity_token.unwrap_or_default();
                let output = client
                    .assume_role_with_web_identity()
                    .role_arn(request.role_arn)
                    .role_session_name(request.session_name)
                    .web_identity_token(token)
                    .duration_seconds(duration)
                    .send()
                    .await
                    .map_err(|error| {
                        assume_error("AssumeRoleWithWebIdentity", request.role_arn, error)
                    })?;
                credentials(
                    output.credentials(),
                    "AssumeRoleWithWebIdentity",
                    request.role_arn,
                )
            }
        }
    }
}

fn credentials(
    credentials: Option<&aws_sdk_sts::types::Credentials>,
    operation: &'static str,
    role_arn: &str,
) -> Result<RoleCredentials, AssumeError> {
    let Some(credentials) = credentials else {
        return Err(AssumeError {
            operation,
            role_arn: role_arn.to_string(),
            code: "MissingCredentials".into(),
            message: "the response held no credentials".into(),
            kind: AssumeErrorKind::Other,
        });
    };
    let expiration = credentials.expiration();
    let expires_at = expiration.secs() * 1000 + i64::from(expiration.subsec_nanos() / 1_000_000);
    Ok(RoleCredentials {
        access_key_id: credentials.access_key_id().to_string(),
        secret_access_key: credentials.secret_access_key().to_string(),
        session_token: credentials.session_token().to_string(),
        expires_at,
    })
}

fn assume_error<E: ProvideErrorMetadata>(
    operation: &'static str,
    role_arn: &str,
    error: SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
) -> AssumeError {
    let (code, message, kind) = match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("Unknown").to_string();
            let message = service.err().message().unwrap_or("no message").to_string();
            let kind = match code.as_str() {
                "AccessDenied" | "AccessDeniedException" | "RegionDisabledException" => {
                    AssumeErrorKind::Denied
                }
                "InvalidIdentityToken" | "ExpiredTokenException" | "IDPRejectedClaim" => {
                    AssumeErrorKind::InvalidToken
                }
                "Throttling" | "ThrottlingException" | "IDPCommunicationError" => {
                    AssumeErrorKind::Transient
                }
                _ if status >= 500 => AssumeErrorKind::Transient,
                _ => AssumeErrorKind::Other,
            };
            (code, message, kind)
        }
        SdkError::TimeoutError(_) => (
            "Timeout".into(),
            "timed out".into(),
            AssumeErrorKind::Transient,
        ),
        SdkError::DispatchFailure(_) => (
            "DispatchFailure".into(),
            "connection failed".into(),
            AssumeErrorKind::Transient,
        ),
        SdkError::ResponseError(_) => (
            "ResponseError".into(),
            "invalid response".into(),
            AssumeErrorKind::Transient,
        ),
        _ => (
            "ConstructionFailure".into(),
            "request could not be built".into(),
            AssumeErrorKind::Other,
        ),
    };
    AssumeError {
        operation,
        role_arn: role_arn.to_string(),
        code,
        message,
        kind,
    }
}
