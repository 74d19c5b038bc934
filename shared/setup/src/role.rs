//! Access levels and the IAM role that grants one level on one cluster.

use std::fmt;

use eksgate_tags::{DeclaredRole, Partition};
use serde::{Deserialize, Serialize};

use crate::SetupError;
use crate::arn::{ClusterArn, declare_role};

/// The IAM path of access roles unless the operator picks another. The SAM template's
/// `AccessRoleArns` default (`arn:aws:iam::*:role/eksgate/*`) lets the broker-mode issuer assume
/// exactly the roles under this path.
pub const DEFAULT_ROLE_PATH: &str = "/eksgate/";

/// The shortest `MaxSessionDuration` that IAM accepts, in seconds.
pub const MIN_SESSION_DURATION_SECS: u32 = 3600;
/// The longest `MaxSessionDuration` that IAM accepts, in seconds.
pub const MAX_SESSION_DURATION_SECS: u32 = 43_200;

/// The maximum length of an IAM role name.
const MAX_ROLE_NAME_LEN: usize = 64;

/// An access level: the permissions that a role gives its users on the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccessLevel {
    /// Full control: `AmazonEKSClusterAdminPolicy`, or the `system:masters` group in aws-auth.
    Admin,
    /// Read access without Secrets: `AmazonEKSViewPolicy`, or a group bound to the `view`
    /// ClusterRole in aws-auth.
    ReadOnly,
}

impl AccessLevel {
    pub const ALL: [AccessLevel; 2] = [AccessLevel::Admin, AccessLevel::ReadOnly];

    /// Returns `admin` or `read-only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ReadOnly => "read-only",
        }
    }

    /// Parses `admin` or `read-only`.
    pub fn parse(value: &str) -> Result<Self, SetupError> {
        match value {
            "admin" => Ok(Self::Admin),
            "read-only" => Ok(Self::ReadOnly),
            _ => Err(SetupError::InvalidValue {
                field: "access level",
                value: value.to_string(),
                reason: "expected admin or read-only".into(),
            }),
        }
    }

    /// Returns the name of the EKS access policy for this level.
    pub fn access_policy_name(self) -> &'static str {
        match self {
            Self::Admin => "AmazonEKSClusterAdminPolicy",
            Self::ReadOnly => "AmazonEKSViewPolicy",
        }
    }

    /// Returns the ARN of the EKS access policy, such as
    /// `arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy`.
    pub fn access_policy_arn(self, partition: Partition) -> String {
        format!(
            "arn:{partition}:eks::aws:cluster-access-policy/{}",
            self.access_policy_name()
        )
    }

    /// Returns the Kubernetes groups of the aws-auth entry. `eksgate:view` needs the
    /// ClusterRoleBinding from [`crate::view_cluster_role_binding`].
    pub fn default_groups(self) -> Vec<String> {
        match self {
            Self::Admin => vec!["system:masters".to_string()],
            Self::ReadOnly => vec!["eksgate:view".to_string()],
        }
    }

    /// Returns the suffix of the role tag key, as in `opal:eks:role:admin`.
    pub fn tag_suffix(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ReadOnly => "view",
        }
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The IAM role that grants one access level on one cluster. It lives in the cluster's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRole {
    cluster: ClusterArn,
    level: AccessLevel,
    role: DeclaredRole,
}

impl AccessRole {
    /// Validates the role name and IAM path with the rules of the tag convention. The path may
    /// be given as `/`, `eksgate`, `/eksgate/` or `teams/dev`.
    pub fn new(
        cluster: &ClusterArn,
        level: AccessLevel,
        name: &str,
        path: &str,
    ) -> Result<Self, SetupError> {
        let inner = path.trim_matches('/');
        let value = if inner.is_empty() {
            name.to_string()
        } else {
            format!("{inner}/{name}")
        };
        if name.is_empty() || name.contains('/') {
            return Err(SetupError::InvalidRole {
                value: name.to_string(),
                reason: "the role name must be non-empty and must not contain '/'; give the \
                         path separately"
                    .into(),
            });
        }
        let role =
            declare_role(&value, cluster.account(), cluster.partition()).map_err(|reason| {
                SetupError::InvalidRole {
                    value: value.clone(),
                    reason,
                }
            })?;
        Ok(Self {
            cluster: cluster.clone(),
            level,
            role,
        })
    }

    pub fn cluster(&self) -> &ClusterArn {
        &self.cluster
    }

    pub fn level(&self) -> AccessLevel {
        self.level
    }

    pub fn name(&self) -> &str {
        &self.role.name
    }

    /// Returns the IAM path, `/` or `/seg/.../`.
    pub fn path(&self) -> &str {
        &self.role.path
    }

    /// Returns the role ARN with its path: the ARN to assume and to name in an access entry.
    pub fn arn(&self) -> &str {
        &self.role.assume_arn
    }

    /// Returns the role ARN without path, as aws-auth `mapRoles` must name it.
    pub fn mapped_arn(&self) -> &str {
        &self.role.mapped_arn
    }

    /// Returns the value of the role tag: the name, or the path and name without the leading
    /// slash, such as `eksgate/prod-admin`.
    pub fn tag_value(&self) -> String {
        format!("{}{}", self.path().trim_start_matches('/'), self.name())
    }
}

/// Suggests a role name for a level on a cluster, such as `prod-eksgate-admin`. The cluster
/// part is shortened to keep the name within IAM's 64 characters.
pub fn suggested_role_name(cluster_name: &str, level: AccessLevel) -> String {
    let suffix = format!("-eksgate-{}", level.tag_suffix());
    let room = MAX_ROLE_NAME_LEN - suffix.len();
    let cluster: String = cluster_name.chars().take(room).collect();
    format!("{cluster}{suffix}")
}
