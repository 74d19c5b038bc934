use std::error::Error as StdError;

use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::error::{ProvideErrorMetadata, SdkError};

/// A failed AWS call, with whether it may succeed if tried again.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    /// The AWS error code, such as `AccessDeniedException`, when the service returned one.
    pub code: Option<String>,
    pub message: String,
    /// Throttling, 5xx, time-outs and connection failures: the SDK already retried them, and a
    /// later run may succeed.
    pub transient: bool,
    #[source]
    pub source: Box<dyn StdError + Send + Sync>,
}

impl AwsError {
    pub fn from_sdk<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_string);
        let (message, transient) = match &error {
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                let transient = status >= 500 || is_transient_code(code.as_deref());
                let message = match &code {
                    Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
                    None => format!("HTTP {status} without an error code"),
                };
                (message, transient)
            }
            SdkError::TimeoutError(_) => ("timed out".to_string(), true),
            SdkError::DispatchFailure(failure) => {
                let kind = if failure.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                };
                (kind.to_string(), true)
            }
            SdkError::ResponseError(_) => ("invalid response".to_string(), true),
            _ => ("request could not be built".to_string(), false),
        };
        Self {
            operation,
            code,
            message,
            transient,
            source: Box::new(error),
        }
    }
}

/// Tells whether an AWS error code means "try again later".
fn is_transient_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "Throttling"
                | "TooManyRequestsException"
                | "RequestLimitExceeded"
                | "ServerException"
                | "ServiceUnavailableException"
                | "InternalFailure"
                | "InternalError"
        )
    )
}

/// A failure to read a whole (account, region) scope.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("assuming member-account role {role_arn} failed")]
    AssumeRole {
        role_arn: String,
        #[source]
        source: AwsError,
    },
    #[error("AssumeRole for {role_arn} returned no credentials")]
    NoCredentials { role_arn: String },
    #[error(
        "account {account} has no member-account role configured: add one to EKSGATE_MEMBER_ROLE_ARNS"
    )]
    UnknownAccount { account: String },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl ScopeError {
    pub fn is_transient(&self) -> bool {
        match self {
            ScopeError::AssumeRole { source, .. } => source.transient,
            ScopeError::Aws(error) => error.transient,
            ScopeError::NoCredentials { .. } | ScopeError::UnknownAccount { .. } => false,
        }
    }
}
