//! The error type shared by claim parsing and JWT verification.

/// The reason a caller could not be authenticated.
///
/// For every variant whose [`AuthError::http_status`] is 401, the `Display` text is safe to
/// send to the client: it states what was wrong and never contains the token, a signature or a
/// claim value taken from the token. The 500 and 503 variants carry operator detail (a file
/// path, a JWKS URL, a transport error), so log those and send the client a generic message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The request has no usable `Authorization: Bearer` header. For callers of
    /// [`crate::bearer_token`] to return, because nothing in this crate returns it.
    #[error("bearer token is missing")]
    MissingToken,

    #[error("claims are not a JSON object")]
    ClaimsNotObject,

    #[error("claim `{claim}` is missing")]
    MissingClaim { claim: String },

    #[error("claim `{claim}` is invalid: {reason}")]
    InvalidClaim { claim: String, reason: &'static str },

    #[error("token is larger than {max_bytes} bytes")]
    TokenTooLarge { max_bytes: usize },

    #[error("token is malformed: {reason}")]
    MalformedToken { reason: &'static str },

    /// `alg` is the header's value when it is a short alphanumeric name, and
    /// `<unrecognised>` otherwise, so the message never echoes arbitrary token text.
    #[error("token algorithm `{alg}` is not allowed")]
    AlgorithmNotAllowed { alg: String },

    #[error("token header has no `kid` and the issuer publishes more than one key")]
    MissingKeyId,

    #[error("token `kid` does not match any key published by the issuer")]
    UnknownKeyId,

    #[error("the issuer's key for this token's `kid` cannot verify algorithm `{alg}`")]
    KeyAlgorithmMismatch { alg: String },

    #[error("token signature is invalid")]
    InvalidSignature,

    #[error("token expired")]
    Expired,

    #[error("token is not valid yet (`nbf` is in the future)")]
    NotYetValid,

    #[error("token issuer is not accepted")]
    IssuerMismatch,

    #[error("token audience is not accepted")]
    AudienceMismatch,

    /// The verifier configuration is unusable. Raised only by `JwtVerifier::new`.
    #[error("JWT verifier configuration is invalid: {0}")]
    InvalidConfig(String),

    /// The JWKS could not be read, fetched or parsed.
    #[error("signing keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// Category of an [`AuthError`], for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    MissingToken,
    InvalidClaims,
    MalformedToken,
    AlgorithmNotAllowed,
    KeyNotFound,
    InvalidSignature,
    Expired,
    NotYetValid,
    IssuerMismatch,
    AudienceMismatch,
    Configuration,
    KeysUnavailable,
}

impl AuthErrorKind {
    /// Returns the snake_case name used as a log field value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::InvalidClaims => "invalid_claims",
            Self::MalformedToken => "malformed_token",
            Self::AlgorithmNotAllowed => "algorithm_not_allowed",
            Self::KeyNotFound => "key_not_found",
            Self::InvalidSignature => "invalid_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::AudienceMismatch => "audience_mismatch",
            Self::Configuration => "configuration",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }
}

impl std::fmt::Display for AuthErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuthError {
    pub fn kind(&self) -> AuthErrorKind {
        match self {
            Self::MissingToken => AuthErrorKind::MissingToken,
            Self::ClaimsNotObject | Self::MissingClaim { .. } | Self::InvalidClaim { .. } => {
                AuthErrorKind::InvalidClaims
            }
            Self::TokenTooLarge { .. } | Self::MalformedToken { .. } => {
                AuthErrorKind::MalformedToken
            }
            Self::AlgorithmNotAllowed { .. } => AuthErrorKind::AlgorithmNotAllowed,
            Self::MissingKeyId | Self::UnknownKeyId | Self::KeyAlgorithmMismatch { .. } => {
                AuthErrorKind::KeyNotFound
            }
            Self::InvalidSignature => AuthErrorKind::InvalidSignature,
            Self::Expired => AuthErrorKind::Expired,
            Self::NotYetValid => AuthErrorKind::NotYetValid,
            Self::IssuerMismatch => AuthErrorKind::IssuerMismatch,
            Self::AudienceMismatch => AuthErrorKind::AudienceMismatch,
            Self::InvalidConfig(_) => AuthErrorKind::Configuration,
            Self::KeysUnavailable(_) => AuthErrorKind::KeysUnavailable,
        }
    }

    /// Returns the HTTP status of the response: 401 when the caller's credentials are at
    /// fault, 500 for a configuration error, 503 when the signing keys cannot be loaded.
    pub fn http_status(&self) -> u16 {
        match self.kind() {
            AuthErrorKind::Configuration => 500,
            AuthErrorKind::KeysUnavailable => 503,
            _ => 401,
        }
    }

    pub(crate) fn missing_claim(claim: &str) -> Self {
        Self::MissingClaim {
            claim: claim.to_owned(),
        }
    }

    pub(crate) fn invalid_claim(claim: &str, reason: &'static str) -> Self {
        Self::InvalidClaim {
            claim: claim.to_owned(),
            reason,
        }
    }

    pub(crate) fn malformed(reason: &'static str) -> Self {
        Self::MalformedToken { reason }
    }
}
