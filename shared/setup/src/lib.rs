//! The cluster setup kit of eksgate.
//!
//! An operator gives eksgate access to an EKS cluster in three steps, and this crate generates
//! the artefacts of each one and checks the result:
//!
//! 1. An IAM role per access level ([`AccessRole`]) whose trust policy lets the session issuer
//!    assume it ([`trust_policy`], for [`AssumeMode::Broker`] or [`AssumeMode::WebIdentity`])
//!    and whose inline policy allows `eks:DescribeCluster` on the cluster
//!    ([`describe_cluster_policy`]). [`create_role_commands`], [`cloudformation_deploy_command`]
//!    and [`terraform_module_block`] turn them into AWS CLI, CloudFormation or Terraform input.
//! 2. A Kubernetes mapping of the role: an aws-auth `mapRoles` entry ([`MapRole`]) merged into
//!    the existing ConfigMap ([`merge_aws_auth`]), or an EKS access entry with an access policy
//!    ([`access_entry_commands`], [`access_entry_cloudformation`]).
//! 3. The cluster tags that declare the roles ([`tag_resource_command`]).
//!
//! [`check_cluster`] (the "doctor") reads IAM and EKS and reports, per role, what is missing
//! or wrong, each problem with the command or snippet that fixes it.
//!
//! Every function returns plain strings or serializable structs, so that a command-line tool can
//! print them or emit JSON.

mod arn;
mod aws_auth;
mod commands;
mod doctor;
mod issuer;
mod policy;
mod report;
mod role;
mod shell;
mod trust;

pub use arn::{ClusterArn, OidcProvider};
pub use aws_auth::{
    AwsAuthChange, AwsAuthError, AwsAuthUpdate, MapRole, SessionNameTemplate, aws_auth_configmap,
    merge_aws_auth, remove_from_aws_auth, view_cluster_role_binding,
};
pub use commands::{
    access_entry_cloudformation, access_entry_commands, associate_access_policy_command,
    cloudformation_deploy_command, create_role_commands, enable_access_entries_command,
    put_describe_cluster_policy_command, simulate_describe_cluster_command, tag_resource_command,
    teardown_commands, terraform_module_block, update_trust_policy_command,
};
pub use doctor::{CatalogRole, DoctorInput, check_cluster};
pub use issuer::{AssumeMode, Issuer};
pub use policy::{POLICY_VERSION, describe_cluster_policy, trust_policy};
pub use report::{Check, CheckKind, DoctorReport, RoleReport, Status, StatusCounts};
pub use role::{
    AccessLevel, AccessRole, DEFAULT_ROLE_PATH, MAX_SESSION_DURATION_SECS,
    MIN_SESSION_DURATION_SECS, suggested_role_name,
};

/// An invalid input to the setup kit, with the value and what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("invalid cluster ARN {value:?}: {reason}")]
    InvalidClusterArn { value: String, reason: String },
    #[error("invalid IAM role ARN {value:?}: {reason}")]
    InvalidRoleArn { value: String, reason: String },
    #[error("invalid IAM role {value:?}: {reason}")]
    InvalidRole { value: String, reason: String },
    #[error("invalid OIDC provider {value:?}: {reason}")]
    InvalidOidcProvider { value: String, reason: String },
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidValue {
        field: &'static str,
        value: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests;
