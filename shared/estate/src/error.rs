use std::error::Error as StdError;

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

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
    pub fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = error.code().map(str::to_string);
        let transient = match &error {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => matches!(
                service.err().code(),
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
            ),
            _ => false,
        };
        let message = match &code {
            Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
            None => DisplayErrorContext(&error).to_string(),
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

/// Why a whole (account, region) scope could not be read.
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
