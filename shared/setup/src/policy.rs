//! IAM policy documents of an access role.

use serde_json::{Value, json};

use crate::arn::ClusterArn;
use crate::issuer::Issuer;

/// The IAM policy language version of every generated document.
pub const POLICY_VERSION: &str = "2012-10-17";

/// Builds the trust policy (`AssumeRolePolicyDocument`) that lets the issuer assume a role.
///
/// Broker mode allows the issuer role `sts:AssumeRole` and `sts:SetSourceIdentity`, because the
/// issuer passes the user's session name as `SourceIdentity`. Web-identity mode allows the OIDC
/// provider `sts:AssumeRoleWithWebIdentity` for tokens whose `aud` is the client ID.
pub fn trust_policy(issuer: &Issuer) -> Value {
    let statement = match issuer {
        Issuer::Broker {
            role_arn,
            source_identity_pattern,
        } => {
            let mut statement = json!({
                "Sid": "EksgateBroker",
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
            });
            if let Some(pattern) = source_identity_pattern {
                statement["Condition"] = json!({"StringLike": {"sts:SourceIdentity": pattern}});
            }
            statement
        }
        Issuer::WebIdentity { provider, audience } => json!({
            "Sid": "EksgateWebIdentity",
            "Effect": "Allow",
            "Principal": {"Federated": provider.arn()},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {provider.audience_key(): audience}},
        }),
    };
    json!({"Version": POLICY_VERSION, "Statement": [statement]})
}

/// Builds the inline permission policy that allows `eks:DescribeCluster` on one cluster, which
/// `aws eks update-kubeconfig` and the EKS token flow of clients need.
pub fn describe_cluster_policy(cluster: &ClusterArn) -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [{
            "Sid": "DescribeCluster",
            "Effect": "Allow",
            "Action": "eks:DescribeCluster",
            "Resource": cluster.to_string(),
        }],
    })
}

/// The name of the inline policy that contains [`describe_cluster_policy`].
pub(crate) const DESCRIBE_POLICY_NAME: &str = "eksgate-describe-cluster";
