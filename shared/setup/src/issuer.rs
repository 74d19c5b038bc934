//! The identity that assumes the access roles: the session issuer's role, or the users' own
//! tokens through an IAM OIDC provider.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::SetupError;
use crate::arn::{OidcProvider, parse_role_arn};

/// The way the session issuer assumes access roles, as in the `AssumeMode` stack parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssumeMode {
    /// The issuer's Lambda role calls `sts:AssumeRole` with the user's session name as
    /// `SourceIdentity`. Chained role sessions last at most one hour.
    Broker,
    /// The issuer calls `sts:AssumeRoleWithWebIdentity` with the user's OIDC token. Sessions
    /// last up to the role's `MaxSessionDuration`.
    WebIdentity,
}

impl AssumeMode {
    /// Returns the mode as the stack parameter spells it: `broker` or `web-identity`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broker => "broker",
            Self::WebIdentity => "web-identity",
        }
    }

    /// Parses `broker` or `web-identity`.
    pub fn parse(value: &str) -> Result<Self, SetupError> {
        match value {
            "broker" => Ok(Self::Broker),
            "web-identity" => Ok(Self::WebIdentity),
            _ => Err(SetupError::InvalidValue {
                field: "assume mode",
                value: value.to_string(),
                reason: "expected broker or web-identity".into(),
            }),
        }
    }
}

impl fmt::Display for AssumeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity that assumes the access roles, in one of the two modes. Build it with [`Issuer::broker`] or
/// [`Issuer::web_identity`], which validate their input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuer {
    Broker {
        /// The session issuer's Lambda role (stack output `SessionIssuerRoleArn`).
        role_arn: String,
        /// An optional `StringLike` pattern for `sts:SourceIdentity`, such as `*@example.com`,
        /// that the trust policy adds as a condition.
        source_identity_pattern: Option<String>,
    },
    WebIdentity {
        provider: OidcProvider,
        /// The client ID that the tokens carry in `aud`.
        audience: String,
    },
}

impl Issuer {
    /// Validates the issuer role ARN of broker mode.
    pub fn broker(role_arn: &str) -> Result<Self, SetupError> {
        parse_role_arn(role_arn)?;
        Ok(Self::Broker {
            role_arn: role_arn.to_string(),
            source_identity_pattern: None,
        })
    }

    /// Like [`Issuer::broker`], with a `StringLike` condition on `sts:SourceIdentity`.
    ///
    /// The issuer sets the source identity to the user's session name, which contains only
    /// `[\w+=,.@-]`, so the pattern may contain those characters and the wildcards `*` and `?`.
    pub fn broker_with_source_identity(
        role_arn: &str,
        source_identity_pattern: &str,
    ) -> Result<Self, SetupError> {
        parse_role_arn(role_arn)?;
        let allowed = |c: char| c.is_alphanumeric() || "_+=,.@-*?".contains(c);
        if source_identity_pattern.is_empty() || !source_identity_pattern.chars().all(allowed) {
            return Err(SetupError::InvalidValue {
                field: "source identity pattern",
                value: source_identity_pattern.to_string(),
                reason: "use letters, digits, the characters _+=,.@- and the wildcards * and ?"
                    .into(),
            });
        }
        Ok(Self::Broker {
            role_arn: role_arn.to_string(),
            source_identity_pattern: Some(source_identity_pattern.to_string()),
        })
    }

    /// Validates the OIDC provider ARN and the audience (client ID) of web-identity mode.
    pub fn web_identity(provider_arn: &str, audience: &str) -> Result<Self, SetupError> {
        let provider = OidcProvider::parse(provider_arn)?;
        if audience.is_empty() || audience.chars().any(|c| c.is_whitespace() || c == '"') {
            return Err(SetupError::InvalidValue {
                field: "audience",
                value: audience.to_string(),
                reason: "expected the client ID of the identity provider, without spaces".into(),
            });
        }
        Ok(Self::WebIdentity {
            provider,
            audience: audience.to_string(),
        })
    }

    pub fn mode(&self) -> AssumeMode {
        match self {
            Self::Broker { .. } => AssumeMode::Broker,
            Self::WebIdentity { .. } => AssumeMode::WebIdentity,
        }
    }

    /// Returns the STS actions that the trust policy must allow in this mode.
    pub fn required_actions(&self) -> &'static [&'static str] {
        match self {
            Self::Broker { .. } => &["sts:AssumeRole", "sts:SetSourceIdentity"],
            Self::WebIdentity { .. } => &["sts:AssumeRoleWithWebIdentity"],
        }
    }
}
