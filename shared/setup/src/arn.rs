//! ARNs of the things the setup kit names: EKS clusters, IAM roles and IAM OIDC providers.

use std::collections::BTreeMap;
use std::fmt;

use eksgate_tags::{DeclaredRole, Namespace, Partition, parse_roles};

use crate::SetupError;

/// The maximum length of an EKS cluster name.
const MAX_CLUSTER_NAME_LEN: usize = 100;

/// An EKS cluster ARN: `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterArn {
    partition: Partition,
    region: String,
    account: String,
    name: String,
}

impl ClusterArn {
    /// Parses and validates a cluster ARN, including that its region is in its partition.
    pub fn parse(value: &str) -> Result<Self, SetupError> {
        let invalid = |reason: &str| SetupError::InvalidClusterArn {
            value: value.to_string(),
            reason: reason.to_string(),
        };

        let fields: Vec<&str> = value.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = fields[..] else {
            return Err(invalid(
                "expected arn:<partition>:eks:<region>:<account>:cluster/<name>",
            ));
        };
        if prefix != "arn" || service != "eks" {
            return Err(invalid(
                "not an EKS ARN: expected arn:<partition>:eks:<region>:<account>:cluster/<name>",
            ));
        }

        let partition = Partition::parse(partition)
            .ok_or_else(|| invalid("unknown partition: expected aws, aws-cn or aws-us-gov"))?;

        let region_valid = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !region_valid {
            return Err(invalid("missing or invalid region, such as eu-west-1"));
        }
        if Partition::of_region(region) != partition {
            return Err(invalid(&format!(
                "region {region} is not in partition {partition}"
            )));
        }

        if !is_account_id(account) {
            return Err(invalid("the account must be 12 digits"));
        }

        let name = resource
            .strip_prefix("cluster/")
            .ok_or_else(|| invalid("the resource must be cluster/<name>"))?;
        if !is_cluster_name(name) {
            return Err(invalid(&format!(
                "invalid cluster name {name:?}: use 1 to {MAX_CLUSTER_NAME_LEN} letters, digits, \
                 '-' and '_', starting with a letter or digit"
            )));
        }

        Ok(Self {
            partition,
            region: region.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for ClusterArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:eks:{}:{}:cluster/{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

/// An IAM OIDC identity provider: `arn:<partition>:iam::<account>:oidc-provider/<issuer>`,
/// where `<issuer>` is the issuer URL without `https://`, such as `idp.example.com/oauth2/default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OidcProvider {
    arn: String,
    partition: Partition,
    account: String,
    issuer: String,
}

impl OidcProvider {
    /// Parses and validates an OIDC provider ARN.
    pub fn parse(value: &str) -> Result<Self, SetupError> {
        let invalid = |reason: &str| SetupError::InvalidOidcProvider {
            value: value.to_string(),
            reason: reason.to_string(),
        };
        let fields: Vec<&str> = value.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = fields[..] else {
            return Err(invalid(
                "expected arn:<partition>:iam::<account>:oidc-provider/<issuer host and path>",
            ));
        };
        if prefix != "arn" || service != "iam" || !region.is_empty() {
            return Err(invalid(
                "not an IAM ARN: expected arn:<partition>:iam::<account>:oidc-provider/<issuer>",
            ));
        }
        let partition = Partition::parse(partition)
            .ok_or_else(|| invalid("unknown partition: expected aws, aws-cn or aws-us-gov"))?;
        if !is_account_id(account) {
            return Err(invalid("the account must be 12 digits"));
        }
        let issuer = resource
            .strip_prefix("oidc-provider/")
            .ok_or_else(|| invalid("the resource must be oidc-provider/<issuer host and path>"))?;
        check_issuer(issuer).map_err(|reason| invalid(&reason))?;
        Ok(Self {
            arn: value.to_string(),
            partition,
            account: account.to_string(),
            issuer: issuer.to_string(),
        })
    }

    /// Builds the provider ARN that IAM gives the identity provider with this issuer URL, such
    /// as `https://idp.example.com/oauth2/default`.
    pub fn from_issuer_url(
        partition: Partition,
        account: &str,
        issuer_url: &str,
    ) -> Result<Self, SetupError> {
        let issuer = issuer_url
            .strip_prefix("https://")
            .ok_or_else(|| SetupError::InvalidOidcProvider {
                value: issuer_url.to_string(),
                reason: "the issuer URL must start with https://".into(),
            })?
            .trim_end_matches('/');
        Self::parse(&format!(
            "arn:{partition}:iam::{account}:oidc-provider/{issuer}"
        ))
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    pub fn partition(&self) -> Partition {
        self.partition
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// Returns the issuer host and path, such as `idp.example.com/oauth2/default`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Returns the condition key that contains the token's audience, `<issuer>:aud`.
    pub fn audience_key(&self) -> String {
        format!("{}:aud", self.issuer)
    }
}

fn check_issuer(issuer: &str) -> Result<(), String> {
    if issuer.is_empty() {
        return Err("missing issuer host after oidc-provider/".into());
    }
    if issuer.contains("://") {
        return Err("the issuer must be a host and path without a scheme".into());
    }
    if issuer.ends_with('/') {
        return Err("the issuer must not end with '/'".into());
    }
    if let Some(bad) = issuer
        .chars()
        .find(|c| !c.is_ascii_graphic() || "?#".contains(*c))
    {
        return Err(format!("invalid character {bad:?} in the issuer"));
    }
    Ok(())
}

/// Tells whether `value` is a 12-digit AWS account ID.
pub(crate) fn is_account_id(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

fn is_cluster_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= MAX_CLUSTER_NAME_LEN
        && first.is_ascii_alphanumeric()
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses a role declaration (a name, a path and name, or a role ARN) in `account` and
/// `partition` with the rules of the tag convention, so that the setup kit accepts exactly the
/// roles that the importer would.
pub(crate) fn declare_role(
    value: &str,
    account: &str,
    partition: Partition,
) -> Result<DeclaredRole, String> {
    let namespace = Namespace::default();
    let tags = BTreeMap::from([(format!("{}1", namespace.role_prefix()), value.to_string())]);
    let mut parsed = parse_roles(&namespace, &tags, account, partition);
    if let Some(problem) = parsed.problems.pop() {
        return Err(problem.reason);
    }
    parsed
        .roles
        .pop()
        .ok_or_else(|| "the value names no role".to_string())
}

/// Parses an IAM role ARN, `arn:<partition>:iam::<account>:role/<path/><name>`.
pub(crate) fn parse_role_arn(value: &str) -> Result<DeclaredRole, SetupError> {
    let invalid = |reason: &str| SetupError::InvalidRoleArn {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let fields: Vec<&str> = value.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, _] = fields[..] else {
        return Err(invalid(
            "expected arn:<partition>:iam::<account>:role/<path/><name>",
        ));
    };
    if prefix != "arn" || service != "iam" || !region.is_empty() {
        return Err(invalid(
            "not an IAM ARN: expected arn:<partition>:iam::<account>:role/<path/><name>",
        ));
    }
    let partition = Partition::parse(partition)
        .ok_or_else(|| invalid("unknown partition: expected aws, aws-cn or aws-us-gov"))?;
    if !is_account_id(account) {
        return Err(invalid("the account must be 12 digits"));
    }
    declare_role(value, account, partition).map_err(|reason| invalid(&reason))
}
