use std::collections::BTreeSet;

use eksgate_auth::ClaimsConfig;
use serde::Deserialize;

use crate::duration::{format_duration, parse_duration};

/// The way the issuer obtains a user's credentials for a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssumeMode {
    /// The function's own role calls AssumeRole, with the user as SourceIdentity.
    Broker,
    /// AssumeRoleWithWebIdentity with the caller's own OIDC token.
    WebIdentity,
}

impl AssumeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broker => "broker",
            Self::WebIdentity => "web-identity",
        }
    }
}

/// A rule that approves matching requests without an approver.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoApproveRule {
    /// A name for the audit trail.
    pub name: String,
    /// Role names the rule covers; `*` covers every role.
    pub roles: Vec<String>,
    /// Cluster ARNs or names the rule covers; empty or `*` covers every cluster.
    #[serde(default)]
    pub clusters: Vec<String>,
    /// Groups whose members the rule covers; empty covers everyone.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Maximum grant length the rule approves, such as `4h`. Longer requests wait for an approver.
    #[serde(default)]
    pub max_duration: Option<String>,
    #[serde(skip)]
    pub max_duration_secs: Option<i64>,
}

impl AutoApproveRule {
    /// Tells whether the rule approves a request by a member of `groups` for `role` on the
    /// cluster `cluster_arn` named `cluster_name`, lasting `duration_secs`.
    pub fn matches(
        &self,
        cluster_arn: &str,
        cluster_name: &str,
        role: &str,
        groups: &BTreeSet<String>,
        duration_secs: i64,
    ) -> bool {
        let role_ok = self.roles.iter().any(|r| r == "*" || r == role);
        let cluster_ok = self.clusters.is_empty()
            || self
                .clusters
                .iter()
                .any(|c| c == "*" || c == cluster_arn || c == cluster_name);
        let group_ok = self.groups.is_empty() || self.groups.iter().any(|g| groups.contains(g));
        let duration_ok = self
            .max_duration_secs
            .is_none_or(|max| duration_secs <= max);
        role_ok && cluster_ok && group_ok && duration_ok
    }
}

/// Self-verification of bearer JWTs, for running without an API Gateway JWT authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<String>,
    /// `file:<path>` or an `https://` URL.
    pub jwks: String,
}

/// The session issuer's settings, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub table_name: String,
    pub claims: ClaimsConfig,
    /// Members of any of these groups may approve, deny and revoke, and read everything.
    pub approver_groups: BTreeSet<String>,
    pub min_grant_secs: i64,
    pub max_grant_secs: i64,
    pub default_grant_secs: i64,
    /// How long a request waits for a decision before it expires.
    pub pending_secs: i64,
    /// How long requests, sessions and audit records are kept after they stop mattering.
    pub retention_secs: i64,
    pub assume_mode: AssumeMode,
    /// Maximum credential lifetime to request from STS.
    pub max_session_secs: i64,
    pub auto_approve: Vec<AutoApproveRule>,
    pub jwt: Option<JwtSettings>,
    /// Command that the exec-plugin kubeconfig runs.
    pub exec_command: String,
}

/// A missing or invalid setting, naming the variable and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

pub const TABLE_NAME: &str = "EKSGATE_TABLE_NAME";
pub const USER_CLAIM: &str = "EKSGATE_USER_CLAIM";
pub const GROUPS_CLAIM: &str = "EKSGATE_GROUPS_CLAIM";
pub const APPROVER_GROUPS: &str = "EKSGATE_APPROVER_GROUPS";
pub const GRANT_MIN: &str = "EKSGATE_GRANT_MIN";
pub const GRANT_MAX: &str = "EKSGATE_GRANT_MAX";
pub const GRANT_DEFAULT: &str = "EKSGATE_GRANT_DEFAULT";
pub const REQUEST_TTL: &str = "EKSGATE_REQUEST_TTL";
pub const RETENTION: &str = "EKSGATE_RETENTION";
pub const ASSUME_MODE: &str = "EKSGATE_ASSUME_MODE";
pub const SESSION_MAX: &str = "EKSGATE_SESSION_MAX";
pub const AUTO_APPROVE: &str = "EKSGATE_AUTO_APPROVE";
pub const JWT_ISSUER: &str = "EKSGATE_JWT_ISSUER";
pub const JWT_AUDIENCE: &str = "EKSGATE_JWT_AUDIENCE";
pub const JWT_ALGORITHMS: &str = "EKSGATE_JWT_ALGORITHMS";
pub const JWKS: &str = "EKSGATE_JWKS";
pub const EXEC_COMMAND: &str = "EKSGATE_EXEC_COMMAND";

/// STS never issues credentials for less than 15 minutes.
pub const STS_MIN_SESSION_SECS: i64 = 900;
/// Role chaining, AssumeRole called with a Lambda function's role credentials, caps sessions at
/// one hour.
pub const STS_CHAINED_MAX_SECS: i64 = 3600;
/// Maximum session length STS grants, for a role with the highest MaxSessionDuration.
pub const STS_MAX_SESSION_SECS: i64 = 43_200;

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value if it is set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
        };
        let invalid = |variable: &'static str, message: String| ConfigError { variable, message };
        let seconds = |variable: &'static str, default: &str| {
            let text = get(variable).unwrap_or_else(|| default.to_string());
            parse_duration(&text).map_err(|message| invalid(variable, message))
        };

        let table_name = get(TABLE_NAME).ok_or_else(|| {
            invalid(
                TABLE_NAME,
                "missing: set it to the name of the eksgate DynamoDB table".into(),
            )
        })?;
        let claims = ClaimsConfig {
            user_claim: get(USER_CLAIM).unwrap_or_else(|| "email".into()),
            groups_claim: get(GROUPS_CLAIM).unwrap_or_else(|| "groups".into()),
        };
        let approver_groups: BTreeSet<String> = get(APPROVER_GROUPS)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|group| !group.is_empty())
            .map(str::to_string)
            .collect();
        if approver_groups.is_empty() {
            return Err(invalid(
                APPROVER_GROUPS,
                "missing: set it to the comma-separated groups whose members may approve requests"
                    .into(),
            ));
        }

        let min_grant_secs = seconds(GRANT_MIN, "15m")?;
        let max_grant_secs = seconds(GRANT_MAX, "12h")?;
        let default_grant_secs = seconds(GRANT_DEFAULT, "1h")?;
        if min_grant_secs < STS_MIN_SESSION_SECS {
            return Err(invalid(
                GRANT_MIN,
                format!(
                    "{} is shorter than the 15m minimum of an STS session: set 15m or more",
                    format_duration(min_grant_secs)
                ),
            ));
        }
        if max_grant_secs < min_grant_secs {
            return Err(invalid(
                GRANT_MAX,
                format!(
                    "must be at least {GRANT_MIN} ({})",
                    format_duration(min_grant_secs)
                ),
            ));
        }
        if !(min_grant_secs..=max_grant_secs).contains(&default_grant_secs) {
            return Err(invalid(
                GRANT_DEFAULT,
                format!(
                    "must lie between {GRANT_MIN} ({}) and {GRANT_MAX} ({})",
                    format_duration(min_grant_secs),
                    format_duration(max_grant_secs)
                ),
            ));
        }
        let pending_secs = seconds(REQUEST_TTL, "24h")?;
        if pending_secs < 60 {
            return Err(invalid(REQUEST_TTL, "must be at least 1m".into()));
        }
        let retention_secs = seconds(RETENTION, "400d")?;
        if retention_secs < 86_400 {
            return Err(invalid(RETENTION, "must be at least 1d".into()));
        }

        let assume_mode = match get(ASSUME_MODE).as_deref().unwrap_or("broker") {
            "broker" => AssumeMode::Broker,
            "web-identity" => AssumeMode::WebIdentity,
            other => {
                return Err(invalid(
                    ASSUME_MODE,
                    format!("unknown mode {other:?}: use broker or web-identity"),
                ));
            }
        };
        let session_cap = match assume_mode {
            AssumeMode::Broker => STS_CHAINED_MAX_SECS,
            AssumeMode::WebIdentity => STS_MAX_SESSION_SECS,
        };
        let max_session_secs = seconds(SESSION_MAX, "1h")?;
        if !(STS_MIN_SESSION_SECS..=session_cap).contains(&max_session_secs) {
            return Err(invalid(
                SESSION_MAX,
                format!(
                    "{} is outside what STS allows in {} mode: set 15m to {}",
                    format_duration(max_session_secs),
                    assume_mode.as_str(),
                    format_duration(session_cap)
                ),
            ));
        }

        let auto_approve = match get(AUTO_APPROVE) {
            None => Vec::new(),
            Some(text) => {
                parse_auto_approve(&text).map_err(|message| invalid(AUTO_APPROVE, message))?
            }
        };
        let jwt = jwt_settings(&get)?;
        let exec_command = get(EXEC_COMMAND).unwrap_or_else(|| "eksgate".into());

        Ok(Self {
            table_name,
            claims,
            approver_groups,
            min_grant_secs,
            max_grant_secs,
            default_grant_secs,
            pending_secs,
            retention_secs,
            assume_mode,
            max_session_secs,
            auto_approve,
            jwt,
            exec_command,
        })
    }
}

fn parse_auto_approve(text: &str) -> Result<Vec<AutoApproveRule>, String> {
    let mut rules: Vec<AutoApproveRule> = serde_json::from_str(text).map_err(|error| {
        format!(
            "not a JSON list of rules ({error}): write it like \
             [{{\"name\":\"read-only\",\"roles\":[\"ClusterView\"],\"max_duration\":\"4h\"}}]"
        )
    })?;
    for rule in &mut rules {
        if rule.roles.is_empty() {
            return Err(format!(
                "rule {:?} names no roles: list role names, or \"*\" for every role",
                rule.name
            ));
        }
        if let Some(max) = &rule.max_duration {
            let seconds = parse_duration(max)
                .map_err(|message| format!("rule {:?}: {message}", rule.name))?;
            rule.max_duration_secs = Some(seconds);
        }
    }
    Ok(rules)
}

fn jwt_settings(get: &impl Fn(&str) -> Option<String>) -> Result<Option<JwtSettings>, ConfigError> {
    let Some(jwks) = get(JWKS) else {
        return Ok(None);
    };
    let issuer = get(JWT_ISSUER).ok_or_else(|| ConfigError {
        variable: JWT_ISSUER,
        message: format!("missing: {JWKS} is set, so set the issuer (iss) that tokens must carry"),
    })?;
    let audiences: Vec<String> = get(JWT_AUDIENCE)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|aud| !aud.is_empty())
        .map(str::to_string)
        .collect();
    if audiences.is_empty() {
        return Err(ConfigError {
            variable: JWT_AUDIENCE,
            message: format!("missing: {JWKS} is set, so set the audience (aud) tokens must carry"),
        });
    }
    let algorithms = get(JWT_ALGORITHMS)
        .unwrap_or_else(|| "RS256".into())
        .split(',')
        .map(|alg| alg.trim().to_string())
        .filter(|alg| !alg.is_empty())
        .collect();
    Ok(Some(JwtSettings {
        issuer,
        audiences,
        algorithms,
        jwks,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const REQUIRED: [(&str, &str); 2] = [(TABLE_NAME, "eksgate"), (APPROVER_GROUPS, "platform")];

    #[test]
    fn defaults_applied() {
        let config = load(&REQUIRED).expect("valid");
        assert_eq!(config.claims.user_claim, "email");
        assert_eq!(config.claims.groups_claim, "groups");
        assert_eq!(config.min_grant_secs, 900);
        assert_eq!(config.max_grant_secs, 12 * 3600);
        assert_eq!(config.default_grant_secs, 3600);
        assert_eq!(config.pending_secs, 24 * 3600);
        assert_eq!(config.assume_mode, AssumeMode::Broker);
        assert_eq!(config.max_session_secs, 3600);
        assert!(config.auto_approve.is_empty());
        assert_eq!(config.jwt, None);
    }

    #[test]
    fn auto_approve_rules_parse() {
        let rules = r#"[{"name":"read-only","roles":["ClusterView"],"groups":["eks-users"],"max_duration":"4h"}]"#;
        let mut pairs = REQUIRED.to_vec();
        pairs.push((AUTO_APPROVE, rules));
        let config = load(&pairs).expect("valid");
        let rule = &config.auto_approve[0];
        assert_eq!(rule.max_duration_secs, Some(4 * 3600));
        let groups = BTreeSet::from(["eks-users".to_string()]);
        assert!(rule.matches("arn", "payments", "ClusterView", &groups, 3600));
        assert!(!rule.matches("arn", "payments", "ClusterAdmin", &groups, 3600));
        assert!(!rule.matches("arn", "payments", "ClusterView", &BTreeSet::new(), 3600));
        assert!(!rule.matches("arn", "payments", "ClusterView", &groups, 5 * 3600));
    }

    #[test]
    fn invalid_settings_table() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[(APPROVER_GROUPS, "platform")], TABLE_NAME),
            (&[(TABLE_NAME, "t")], APPROVER_GROUPS),
            (&[(GRANT_MIN, "5m")], GRANT_MIN),
            (&[(GRANT_MAX, "10m")], GRANT_MAX),
            (&[(GRANT_DEFAULT, "13h")], GRANT_DEFAULT),
            (&[(GRANT_DEFAULT, "soon")], GRANT_DEFAULT),
            (&[(ASSUME_MODE, "magic")], ASSUME_MODE),
            (&[(SESSION_MAX, "2h")], SESSION_MAX),
            (&[(SESSION_MAX, "5m")], SESSION_MAX),
            (&[(AUTO_APPROVE, "{}")], AUTO_APPROVE),
            (
                &[(AUTO_APPROVE, r#"[{"name":"x","roles":[]}]"#)],
                AUTO_APPROVE,
            ),
            (
                &[(AUTO_APPROVE, r#"[{"name":"x","roles":["a"],"typo":1}]"#)],
                AUTO_APPROVE,
            ),
            (&[(JWKS, "file:/tmp/jwks.json")], JWT_ISSUER),
            (
                &[(JWKS, "file:/tmp/jwks.json"), (JWT_ISSUER, "https://idp")],
                JWT_AUDIENCE,
            ),
            (&[(RETENTION, "1h")], RETENTION),
        ];
        for (overrides, variable) in cases {
            let mut pairs: Vec<(&str, &str)> = REQUIRED.to_vec();
            for (name, value) in overrides.iter() {
                pairs.retain(|(existing, _)| existing != name);
                pairs.push((name, value));
            }
            if overrides
                .iter()
                .any(|(name, _)| *name == TABLE_NAME || *name == APPROVER_GROUPS)
            {
                pairs = overrides.to_vec();
            }
            let error = load(&pairs).expect_err(variable);
            assert_eq!(error.variable, *variable, "{overrides:?}: {error}");
        }
    }

    #[test]
    fn web_identity_allows_longer_sessions() {
        let mut pairs = REQUIRED.to_vec();
        pairs.push((ASSUME_MODE, "web-identity"));
        pairs.push((SESSION_MAX, "4h"));
        let config = load(&pairs).expect("valid");
        assert_eq!(config.assume_mode, AssumeMode::WebIdentity);
        assert_eq!(config.max_session_secs, 4 * 3600);
    }
}
