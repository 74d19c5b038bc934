use std::collections::BTreeMap;

use eksgate_estate::parse_member_role_arns;
use eksgate_tags::Namespace;

/// The importer's settings, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The DynamoDB table that contains the catalog.
    pub table_name: String,
    /// The regions to scan in every account.
    pub regions: Vec<String>,
    /// Role ARN to assume for each member account, keyed by account ID.
    pub member_role_arns: BTreeMap<String, String>,
    pub namespace: Namespace,
    /// How many (account, region) scopes are scanned at once.
    pub scope_concurrency: usize,
    /// How many DescribeCluster calls run at once within one scope.
    pub describe_concurrency: usize,
}

/// A missing or invalid setting, naming the variable and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

pub const TABLE_NAME: &str = "EKSGATE_TABLE_NAME";
pub const REGIONS: &str = "EKSGATE_REGIONS";
pub const MEMBER_ROLE_ARNS: &str = "EKSGATE_MEMBER_ROLE_ARNS";
pub const TAG_NAMESPACE: &str = "EKSGATE_TAG_NAMESPACE";
pub const SCOPE_CONCURRENCY: &str = "EKSGATE_SCOPE_CONCURRENCY";
pub const DESCRIBE_CONCURRENCY: &str = "EKSGATE_DESCRIBE_CONCURRENCY";

const DEFAULT_SCOPE_CONCURRENCY: usize = 4;
const DEFAULT_DESCRIBE_CONCURRENCY: usize = 8;
const MAX_CONCURRENCY: usize = 64;

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
                .filter(|v| !v.is_empty())
        };

        let table_name = get(TABLE_NAME).ok_or_else(|| ConfigError {
            variable: TABLE_NAME,
            message: "missing: set it to the name of the eksgate DynamoDB table".into(),
        })?;

        let region_list =
            get(REGIONS)
                .or_else(|| get("AWS_REGION"))
                .ok_or_else(|| {
                    ConfigError {
                variable: REGIONS,
                message:
                    "missing: set a comma-separated list of regions, such as eu-west-1,us-east-1"
                        .into(),
            }
                })?;
        let mut regions = Vec::new();
        for region in region_list
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            if !is_region_name(region) {
                return Err(ConfigError {
                    variable: REGIONS,
                    message: format!(
                        "invalid region {region:?}: use region codes such as eu-west-1"
                    ),
                });
            }
            if !regions.iter().any(|known| known == region) {
                regions.push(region.to_string());
            }
        }

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
            regions,
            member_role_arns,
            namespace,
            scope_concurrency: concurrency(&get, SCOPE_CONCURRENCY, DEFAULT_SCOPE_CONCURRENCY)?,
            describe_concurrency: concurrency(
                &get,
                DESCRIBE_CONCURRENCY,
                DEFAULT_DESCRIBE_CONCURRENCY,
            )?,
        })
    }
}

fn concurrency(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    let Some(value) = get(variable) else {
        return Ok(default);
    };
    match value.parse::<usize>() {
        Ok(parsed) if (1..=MAX_CONCURRENCY).contains(&parsed) => Ok(parsed),
        _ => Err(ConfigError {
            variable,
            message: format!(
                "invalid value {value:?}: use a whole number from 1 to {MAX_CONCURRENCY}"
            ),
        }),
    }
}

/// Checks the shape of a region code: lower-case words joined by dashes, ending in a number.
fn is_region_name(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
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
        let config = load(&[(TABLE_NAME, "eksgate"), ("AWS_REGION", "eu-west-1")]).unwrap();
        assert_eq!(config.regions, vec!["eu-west-1"]);
        assert_eq!(config.namespace, Namespace::default());
        assert!(config.member_role_arns.is_empty());
        assert_eq!(config.scope_concurrency, DEFAULT_SCOPE_CONCURRENCY);
        assert_eq!(config.describe_concurrency, DEFAULT_DESCRIBE_CONCURRENCY);
    }

    #[test]
    fn full_configuration() {
        let config = load(&[
            (TABLE_NAME, "eksgate"),
            (REGIONS, " eu-west-1, us-east-1 ,eu-west-1,us-gov-west-1"),
            (MEMBER_ROLE_ARNS, "arn:aws:iam::222233334444:role/eksgate-read, arn:aws:iam::555566667777:role/ops/read"),
            (TAG_NAMESPACE, "acme"),
            (SCOPE_CONCURRENCY, "2"),
            (DESCRIBE_CONCURRENCY, "16"),
        ])
        .unwrap();
        assert_eq!(
            config.regions,
            vec!["eu-west-1", "us-east-1", "us-gov-west-1"]
        );
        assert_eq!(config.member_role_arns.len(), 2);
        assert_eq!(
            config.member_role_arns["555566667777"],
            "arn:aws:iam::555566667777:role/ops/read"
        );
        assert_eq!(config.namespace.marker(), "acme");
        assert_eq!(config.scope_concurrency, 2);
        assert_eq!(config.describe_concurrency, 16);
    }

    #[test]
    fn invalid_settings_table() {
        let base = [(TABLE_NAME, "eksgate"), (REGIONS, "eu-west-1")];
        let cases: &[(&str, &str, &str)] = &[
            (TABLE_NAME, "", "missing"),
            (REGIONS, "Europe", "\"Europe\""),
            (REGIONS, "eu-west", "\"eu-west\""),
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
            (SCOPE_CONCURRENCY, "0", "\"0\""),
            (DESCRIBE_CONCURRENCY, "many", "\"many\""),
            (DESCRIBE_CONCURRENCY, "65", "\"65\""),
        ];
        for (variable, value, expected) in cases {
            let mut pairs: Vec<(&str, &str)> = base
                .iter()
                .filter(|(k, _)| k != variable)
                .copied()
                .collect();
            pairs.push((variable, value));
            let error = load(&pairs).unwrap_err();
            assert_eq!(error.variable, *variable, "{variable}={value:?}");
            assert!(
                error.to_string().contains(expected),
                "{variable}={value:?}: {error}"
            );
        }
    }

    #[test]
    fn region_missing_everywhere() {
        let error = load(&[(TABLE_NAME, "eksgate")]).unwrap_err();
        assert_eq!(error.variable, REGIONS);
    }
}
