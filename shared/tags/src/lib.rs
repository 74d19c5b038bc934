//! The eksgate tag convention on EKS clusters.
//!
//! A cluster takes part when it carries the tag key `<namespace>` (any value, the empty string
//! too). Every tag whose key starts with `<namespace>:eks:role:` names an IAM role in the
//! cluster's account: a bare role name, a name with an IAM path, or a full role ARN. Keys are
//! case-sensitive. A value that cannot name exactly one role is reported as a [`TagProblem`] and
//! never turned into a guess.

use std::collections::BTreeMap;
use std::fmt;

/// The namespace used when the operator configures none.
pub const DEFAULT_NAMESPACE: &str = "opal";

/// The longest IAM role name that IAM accepts.
const MAX_ROLE_NAME_LEN: usize = 64;
/// The longest IAM path that IAM accepts, slashes included.
const MAX_PATH_LEN: usize = 512;
/// The maximum namespace length. EKS tag keys are at most 128 characters, and the role prefix
/// adds `:eks:role:` plus a suffix.
const MAX_NAMESPACE_LEN: usize = 64;

/// Values that people put in a role tag to mean "no role yet". They are reported, not imported.
const PLACEHOLDERS: &[&str] = &[
    "x",
    "-",
    "none",
    "null",
    "nil",
    "n/a",
    "na",
    "tbd",
    "todo",
    "placeholder",
    "changeme",
];

/// A validated tag namespace and the keys derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    marker: String,
    role_prefix: String,
}

/// An invalid namespace in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceError {
    pub value: String,
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid tag namespace {:?}: use 1 to {MAX_NAMESPACE_LEN} characters from letters, \
             digits, space and _.:/=+-@, without a trailing ':' (the default is {DEFAULT_NAMESPACE:?})",
            self.value
        )
    }
}

impl std::error::Error for NamespaceError {}

impl Namespace {
    /// Validates `value` against the characters that EKS allows in tag keys.
    pub fn new(value: &str) -> Result<Self, NamespaceError> {
        let allowed = |c: char| c.is_alphanumeric() || " _.:/=+-@".contains(c);
        let valid = !value.is_empty()
            && value.len() <= MAX_NAMESPACE_LEN
            && value.chars().all(allowed)
            && !value.ends_with(':')
            && value.trim() == value
            && !value.to_ascii_lowercase().starts_with("aws:");
        if !valid {
            return Err(NamespaceError {
                value: value.to_string(),
            });
        }
        Ok(Self {
            marker: value.to_string(),
            role_prefix: format!("{value}:eks:role:"),
        })
    }

    /// Returns the tag key that marks a cluster for import, such as `opal`.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// Returns the key prefix of role tags, such as `opal:eks:role:`.
    pub fn role_prefix(&self) -> &str {
        &self.role_prefix
    }

    /// Tells whether a cluster with these tags belongs in the catalog.
    pub fn is_marked(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.contains_key(&self.marker)
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new(DEFAULT_NAMESPACE).expect("the default namespace is valid")
    }
}

/// An AWS partition that eksgate supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Partition {
    Aws,
    AwsCn,
    AwsUsGov,
}

impl Partition {
    /// Parses the partition field of an ARN.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "aws" => Some(Self::Aws),
            "aws-cn" => Some(Self::AwsCn),
            "aws-us-gov" => Some(Self::AwsUsGov),
            _ => None,
        }
    }

    /// Returns the partition that a region belongs to.
    pub fn of_region(region: &str) -> Self {
        if region.starts_with("cn-") {
            Self::AwsCn
        } else if region.starts_with("us-gov-") {
            Self::AwsUsGov
        } else {
            Self::Aws
        }
    }

    /// Returns the partition name as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "aws",
            Self::AwsCn => "aws-cn",
            Self::AwsUsGov => "aws-us-gov",
        }
    }

    /// Returns the DNS suffix of regional endpoints, such as `amazonaws.com.cn` for `aws-cn`.
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Self::Aws | Self::AwsUsGov => "amazonaws.com",
            Self::AwsCn => "amazonaws.com.cn",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IAM role that a cluster's tags declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredRole {
    /// The role name, without path.
    pub name: String,
    /// The IAM path, `/` when the tag named none, otherwise `/seg/.../`.
    pub path: String,
    /// The ARN to assume, with the path: `arn:<partition>:iam::<account>:role<path><name>`.
    pub assume_arn: String,
    /// The ARN that aws-auth `mapRoles` must name: aws-iam-authenticator drops the path.
    pub mapped_arn: String,
    /// The first tag key, in key order, that declared the role.
    pub tag_key: String,
    /// Problems that do not stop the role from being usable, such as duplicate declarations.
    pub problems: Vec<String>,
}

/// A role tag that declares no usable role, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagProblem {
    pub tag_key: String,
    pub value: String,
    pub reason: String,
}

impl fmt::Display for TagProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag {}={:?}: {}", self.tag_key, self.value, self.reason)
    }
}

/// The roles and problems found in one cluster's tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedTags {
    /// Roles sorted by name.
    pub roles: Vec<DeclaredRole>,
    /// Tags that declare no role, in key order.
    pub problems: Vec<TagProblem>,
}

/// Parses the role tags of a cluster in `account` and `partition`.
///
/// Tags outside the namespace are ignored, except keys that differ from the role prefix only in
/// letter case, which are reported because keys are case-sensitive and such a tag is likely a
/// typo. Role names are unique per account regardless of case and path, so two tags naming the
/// same role become one role, and two tags naming it with different paths become a problem.
pub fn parse_roles(
    namespace: &Namespace,
    tags: &BTreeMap<String, String>,
    account: &str,
    partition: Partition,
) -> ParsedTags {
    let mut parsed = ParsedTags::default();
    // Keyed by the lower-case role name, because IAM role names are case-insensitive.
    let mut by_name: BTreeMap<String, Vec<(String, RoleName)>> = BTreeMap::new();

    for (key, value) in tags {
        if !key.starts_with(namespace.role_prefix()) {
            let lowered = key.to_lowercase();
            if lowered.starts_with(&namespace.role_prefix().to_lowercase()) {
                parsed.problems.push(TagProblem {
                    tag_key: key.clone(),
                    value: value.clone(),
                    reason: format!(
                        "ignored because tag keys are case-sensitive: rename the key to start with {:?}",
                        namespace.role_prefix()
                    ),
                });
            }
            continue;
        }
        match parse_role_value(value, account, partition) {
            Ok(role) => by_name
                .entry(role.name.to_lowercase())
                .or_default()
                .push((key.clone(), role)),
            Err(reason) => parsed.problems.push(TagProblem {
                tag_key: key.clone(),
                value: value.clone(),
                reason,
            }),
        }
    }

    for declarations in by_name.into_values() {
        let (first_key, first) = &declarations[0];
        let conflicting = declarations
            .iter()
            .any(|(_, role)| role.path != first.path || role.name != first.name);
        if conflicting {
            let names: Vec<String> = declarations
                .iter()
                .map(|(key, role)| format!("{key}={}{}", role.path, role.name))
                .collect();
            for (key, role) in &declarations {
                parsed.problems.push(TagProblem {
                    tag_key: key.clone(),
                    value: tags[key].clone(),
                    reason: format!(
                        "conflicting declarations of role {:?} ({}): IAM role names are unique \
                         per account, so keep one path and spelling",
                        role.name,
                        names.join(", ")
                    ),
                });
            }
            continue;
        }

        let mut problems = Vec::new();
        if declarations.len() > 1 {
            let keys: Vec<&str> = declarations.iter().map(|(key, _)| key.as_str()).collect();
            problems.push(format!(
                "declared by {} tags ({}): remove all but one",
                keys.len(),
                keys.join(", ")
            ));
        }
        parsed.roles.push(DeclaredRole {
            assume_arn: format!(
                "arn:{partition}:iam::{account}:role{}{}",
                first.path, first.name
            ),
            mapped_arn: format!("arn:{partition}:iam::{account}:role/{}", first.name),
            name: first.name.clone(),
            path: first.path.clone(),
            tag_key: first_key.clone(),
            problems,
        });
    }
    parsed.roles.sort_by(|a, b| a.name.cmp(&b.name));
    parsed
        .problems
        .sort_by(|a, b| a.tag_key.cmp(&b.tag_key).then(a.reason.cmp(&b.reason)));
    parsed
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct RoleName {
    name: String,
    path: String,
}

/// Parses one role tag value, returning the reason when it names no single role.
fn parse_role_value(value: &str, account: &str, partition: Partition) -> Result<RoleName, String> {
    if value.is_empty() {
        return Err("empty value: set a role name, a path and name, or a role ARN".into());
    }
    if PLACEHOLDERS.contains(&value.to_ascii_lowercase().as_str()) {
        return Err(
            "placeholder value, so no role is declared: set a role name, a path and name, \
             or a role ARN"
                .into(),
        );
    }
    if value.trim() != value {
        return Err("leading or trailing white space: remove it".into());
    }
    let path_and_name = if let Some(rest) = value.strip_prefix("arn:") {
        parse_role_arn(rest, account, partition)?
    } else {
        value
    };
    split_path_and_name(path_and_name)
}

/// Checks the fields after `arn:` and returns the `<path><name>` part after `role`.
fn parse_role_arn<'a>(
    rest: &'a str,
    account: &str,
    partition: Partition,
) -> Result<&'a str, String> {
    let fields: Vec<&str> = rest.splitn(5, ':').collect();
    let [arn_partition, service, region, arn_account, resource] = fields[..] else {
        return Err("not an ARN: expected arn:<partition>:iam::<account>:role/<name>".into());
    };
    let Some(arn_partition) = Partition::parse(arn_partition) else {
        return Err(format!(
            "unknown partition {arn_partition:?}: expected aws, aws-cn or aws-us-gov"
        ));
    };
    if service != "iam" || !region.is_empty() {
        return Err(
            "not an IAM role ARN: expected arn:<partition>:iam::<account>:role/<name>".into(),
        );
    }
    if arn_partition != partition {
        return Err(format!(
            "role is in partition {arn_partition} but the cluster is in {partition}: \
             name a role in the cluster's partition"
        ));
    }
    if arn_account != account {
        return Err(format!(
            "role is in account {arn_account:?} but the cluster is in {account}: \
             name a role in the cluster's account"
        ));
    }
    resource
        .strip_prefix("role/")
        .ok_or_else(|| format!("resource {resource:?} is not a role: expected role/<path/><name>"))
}

/// Splits `path/to/Name` (leading slash optional) into an IAM path and a role name.
fn split_path_and_name(value: &str) -> Result<RoleName, String> {
    let trimmed = value.strip_prefix('/').unwrap_or(value);
    let (path_inner, name) = match trimmed.rsplit_once('/') {
        Some((path, name)) => (Some(path), name),
        None => (None, trimmed),
    };

    if name.is_empty() {
        return Err("missing role name after the last '/'".into());
    }
    if name.len() > MAX_ROLE_NAME_LEN {
        return Err(format!(
            "role name is {} characters long: IAM allows at most {MAX_ROLE_NAME_LEN}",
            name.len()
        ));
    }
    if let Some(bad) = name.chars().find(|c| !is_role_name_char(*c)) {
        return Err(format!(
            "invalid character {bad:?} in role name {name:?}: IAM allows letters, digits and +=,.@_-"
        ));
    }

    let path = match path_inner {
        None => "/".to_string(),
        Some(inner) => {
            if inner.is_empty() || inner.split('/').any(str::is_empty) {
                return Err(format!("empty segment in IAM path of {value:?}"));
            }
            if let Some(bad) = inner.chars().find(|c| !('\u{21}'..='\u{7e}').contains(c)) {
                return Err(format!(
                    "invalid character {bad:?} in IAM path: paths use printable ASCII without spaces"
                ));
            }
            let path = format!("/{inner}/");
            if path.len() > MAX_PATH_LEN {
                return Err(format!(
                    "IAM path is {} characters long: IAM allows at most {MAX_PATH_LEN}",
                    path.len()
                ));
            }
            path
        }
    };
    Ok(RoleName {
        name: name.to_string(),
        path,
    })
}

fn is_role_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

#[cfg(test)]
mod tests;
