use std::collections::BTreeMap;

use eksgate_estate::parse_member_role_arns;
use eksgate_tags::Namespace;

/// The tag-change handler's settings, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The DynamoDB table of the catalog.
    pub table_name: String,
    /// Role ARN to assume for each member account, keyed by account ID. Events about clusters in
    /// other accounts without a role here are logged and dropped.
    pub member_role_arns: BTreeMap<String, String>,
    pub namespace: Namespace,
}

/// A missing or invalid setting, naming the variable and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

pub const TABLE_NAME: &str = "EKSGATE_TABLE_NAME";
pub const MEMBER_ROLE_ARNS: &str = "EKSGATE_MEMBER_ROLE_ARNS";
pub const TAG_NAMESPACE: &str = "EKSGATE_TAG_NAMESPACE";

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

        let table_name = get(TABLE_NAME).ok_or_else(|| ConfigError {
            variable: TABLE_NAME,
            message: "missing: set it to the name of the eksgate DynamoDB table".into(),
        })?;

        let member_role_list = get(MEMBER_ROLE_ARNS).unwrap_or_default();
        let member_role_arns =
            parse_member_role_arns(&member_role_list).map_err(|message| ConfigError {
                variable: MEMBER_ROLE_ARNS,
                message,
            })?;

        let namespace_value =
            get(TAG_NAMESPACE).unwrap_or_else(|| eksgate_tags::DEFAULT_NAMESPACE.to_string());
        let namespace = Namespace::new(&namespace_value).map_err(|error| ConfigError {
            variable: TAG_NAMESPACE,
            message: error.to_string(),
        })?;

        Ok(Self {
            table_name,
            member_role_arns,
            namespace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_applied() {
        let config = load(&[(TABLE_NAME, "eksgate")]).unwrap();
        assert_eq!(config.table_name, "eksgate");
        assert_eq!(config.namespace, Namespace::default());
        assert!(config.member_role_arns.is_empty());
    }

    #[test]
    fn full_configuration() {
        let config = load(&[
            (TABLE_NAME, " eksgate "),
            (
                MEMBER_ROLE_ARNS,
                "arn:aws:iam::222233334444:role/eksgate-read, arn:aws:iam::555566667777:role/ops/read",
            ),
            (TAG_NAMESPACE, "acme"),
        ])
        .unwrap();
        assert_eq!(config.table_name, "eksgate");
        assert_eq!(config.member_role_arns.len(), 2);
        assert_eq!(
            config.member_role_arns["555566667777"],
            "arn:aws:iam::555566667777:role/ops/read"
        );
        assert_eq!(config.namespace.marker(), "acme");
    }

    #[test]
    fn invalid_settings_table() {
        let cases: &[(&str, &str, &str)] = &[
            (TABLE_NAME, " ", "missing"),
            (
                MEMBER_ROLE_ARNS,
                "arn:aws:iam::1234:role/x",
                "\"arn:aws:iam::1234:role/x\"",
            ),
            (
                MEMBER_ROLE_ARNS,
                "arn:aws:iam::222233334444:role/a,arn:aws:iam::222233334444:role/b",
                "listed twice",
            ),
            (TAG_NAMESPACE, "opal:", "\"opal:\""),
        ];
        for (variable, value, expected) in cases {
            let mut pairs = vec![(TABLE_NAME, "eksgate")];
            pairs.retain(|(name, _)| name != variable);
            pairs.push((variable, value));
            let error = load(&pairs).unwrap_err();
            assert_eq!(error.variable, *variable, "{variable}={value:?}");
            assert!(
                error.to_string().contains(expected),
                "{variable}={value:?}: {error}"
            );
        }
    }
}
