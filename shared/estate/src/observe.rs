use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::types::{Cluster, ClusterStatus};
use eksgate_catalog::{CatalogEntry, ClusterRecord, Desired, RoleRecord};
use eksgate_tags::{Namespace, Partition, parse_roles};

use crate::error::AwsError;

/// Returns the current time in epoch milliseconds, the unit of `observed_at`.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

/// The parts of an EKS cluster ARN, `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterArn {
    pub partition: Partition,
    pub region: String,
    pub account: String,
    pub name: String,
}

impl ClusterArn {
    /// Parses a cluster ARN. Other EKS resources (node groups, add-ons) return `None`.
    pub fn parse(arn: &str) -> Option<Self> {
        let fields: Vec<&str> = arn.splitn(6, ':').collect();
        let ["arn", partition, "eks", region, account, resource] = fields[..] else {
            return None;
        };
        let name = resource.strip_prefix("cluster/")?;
        let valid_name = !name.is_empty()
            && name.len() <= 100
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let valid_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        if !valid_name || !valid_account || region.is_empty() {
            return None;
        }
        Some(Self {
            partition: Partition::parse(partition)?,
            region: region.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
    }

    /// Builds the ARN of the cluster `name` in `account` and `region`.
    pub fn new(account: &str, region: &str, name: &str) -> Self {
        Self {
            partition: Partition::of_region(region),
            region: region.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        }
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

/// Lists the names of every cluster that the client's account and region hold, all pages.
pub async fn list_cluster_names(eks: &aws_sdk_eks::Client) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut pages = eks.list_clusters().max_results(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| AwsError::from_sdk("eks:ListClusters", error))?;
        names.extend(page.clusters().iter().cloned());
    }
    Ok(names)
}

/// Reads one cluster. Returns `None` when it does not exist, with the time the request started,
/// which orders this observation against others of the same cluster.
pub async fn describe_cluster(
    eks: &aws_sdk_eks::Client,
    name: &str,
) -> Result<(Option<Cluster>, i64), AwsError> {
    let observed_at = now_millis();
    match eks.describe_cluster().name(name).send().await {
        Ok(output) => Ok((output.cluster().cloned(), observed_at)),
        Err(error) => match error.as_service_error() {
            Some(DescribeClusterError::ResourceNotFoundException(_)) => Ok((None, observed_at)),
            _ => Err(AwsError::from_sdk("eks:DescribeCluster", error)),
        },
    }
}

/// Returns the catalog state that one observation calls for: present with its roles when the
/// cluster exists, is not being deleted and carries the namespace tag, absent otherwise.
///
/// A cluster in status `DELETING` counts as absent because AWS keeps describing it for minutes
/// after DeleteCluster, and no session to it can be useful.
pub fn desired_state(
    namespace: &Namespace,
    arn: &ClusterArn,
    cluster: Option<&Cluster>,
    observed_at: i64,
) -> Desired {
    let cluster = cluster.filter(|cluster| cluster.status() != Some(&ClusterStatus::Deleting));
    let tags: BTreeMap<String, String> = cluster
        .and_then(Cluster::tags)
        .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let Some(cluster) = cluster.filter(|_| namespace.is_marked(&tags)) else {
        return Desired::Absent {
            arn: arn.to_string(),
            observed_at,
        };
    };

    let parsed = parse_roles(namespace, &tags, &arn.account, arn.partition);
    let roles = parsed
        .roles
        .into_iter()
        .map(|role| RoleRecord {
            name: role.name,
            path: role.path,
            assume_arn: role.assume_arn,
            mapped_arn: role.mapped_arn,
            tag_key: role.tag_key,
            problems: role.problems,
        })
        .collect();
    let record = ClusterRecord {
        arn: arn.to_string(),
        name: arn.name.clone(),
        account: arn.account.clone(),
        region: arn.region.clone(),
        partition: arn.partition.to_string(),
        endpoint: cluster.endpoint().map(str::to_string),
        ca_data: cluster
            .certificate_authority()
            .and_then(|authority| authority.data())
            .map(str::to_string),
        version: cluster.version().map(str::to_string),
        status: cluster
            .status()
            .map(|status| status.as_str().to_string())
            .unwrap_or_else(|| "UNKNOWN".to_string()),
        tags,
        problems: parsed.problems.iter().map(ToString::to_string).collect(),
    };
    Desired::Present(CatalogEntry {
        cluster: record,
        roles,
        observed_at,
    })
}

#[cfg(test)]
mod tests {
    use aws_sdk_eks::types::Certificate;

    use super::*;

    const ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod";

    #[test]
    fn cluster_arn_table() {
        let cases: &[(&str, bool)] = &[
            (ARN, true),
            ("arn:aws-cn:eks:cn-north-1:111122223333:cluster/c", true),
            (
                "arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/c_1",
                true,
            ),
            (
                "arn:aws:eks:eu-west-1:111122223333:nodegroup/payments-prod/ng/abc",
                false,
            ),
            (
                "arn:aws:eks:eu-west-1:111122223333:addon/payments-prod/vpc-cni/abc",
                false,
            ),
            ("arn:aws:eks:eu-west-1:111122223333:cluster/", false),
            ("arn:aws:eks:eu-west-1:11112222333:cluster/c", false),
            ("arn:aws:ecs:eu-west-1:111122223333:cluster/c", false),
            ("arn:aws-iso:eks:eu-west-1:111122223333:cluster/c", false),
            ("payments-prod", false),
        ];
        for (arn, valid) in cases {
            let parsed = ClusterArn::parse(arn);
            assert_eq!(parsed.is_some(), *valid, "ARN {arn:?}");
            if let Some(parsed) = parsed {
                assert_eq!(parsed.to_string(), *arn);
            }
        }
    }

    #[test]
    fn arn_built_from_name() {
        assert_eq!(
            ClusterArn::new("111122223333", "eu-west-1", "payments-prod").to_string(),
            ARN
        );
        assert_eq!(
            ClusterArn::new("111122223333", "cn-north-1", "c").to_string(),
            "arn:aws-cn:eks:cn-north-1:111122223333:cluster/c"
        );
    }

    fn cluster(tags: &[(&str, &str)]) -> Cluster {
        Cluster::builder()
            .name("payments-prod")
            .arn(ARN)
            .endpoint("https://ABC.gr7.eu-west-1.eks.amazonaws.com")
            .certificate_authority(Certificate::builder().data("LS0tLS1CRUdJTg==").build())
            .version("1.31")
            .status(ClusterStatus::Active)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ))
            .build()
    }

    #[test]
    fn desired_state_of_tagged_cluster() {
        let arn = ClusterArn::parse(ARN).unwrap();
        let observed = cluster(&[
            ("opal", ""),
            ("opal:eks:role:1", "ClusterAdmin"),
            ("opal:eks:role:2", "teams/dev/ClusterView"),
            ("opal:eks:role:3", "arn:aws:s3:::nope"),
            ("team", "payments"),
        ]);
        let Desired::Present(entry) =
            desired_state(&Namespace::default(), &arn, Some(&observed), 42)
        else {
            panic!("tagged cluster must be present");
        };
        assert_eq!(entry.observed_at, 42);
        assert_eq!(entry.cluster.arn, ARN);
        assert_eq!(
            entry.cluster.endpoint.as_deref(),
            Some("https://ABC.gr7.eu-west-1.eks.amazonaws.com")
        );
        assert_eq!(entry.cluster.ca_data.as_deref(), Some("LS0tLS1CRUdJTg=="));
        assert_eq!(entry.cluster.version.as_deref(), Some("1.31"));
        assert_eq!(entry.cluster.status, "ACTIVE");
        assert_eq!(entry.cluster.tags.len(), 5);
        assert_eq!(entry.cluster.problems.len(), 1);
        assert!(entry.cluster.problems[0].starts_with("tag opal:eks:role:3="));
        let names: Vec<&str> = entry.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["ClusterAdmin", "ClusterView"]);
        assert_eq!(
            entry.roles[1].assume_arn,
            "arn:aws:iam::111122223333:role/teams/dev/ClusterView"
        );
        assert_eq!(
            entry.roles[1].mapped_arn,
            "arn:aws:iam::111122223333:role/ClusterView"
        );
    }

    #[test]
    fn desired_state_absent_cases() {
        let arn = ClusterArn::parse(ARN).unwrap();
        let untagged = cluster(&[("team", "payments"), ("opal:eks:role:1", "Admin")]);
        let mut deleting = cluster(&[("opal", ""), ("opal:eks:role:1", "Admin")]);
        deleting.status = Some(ClusterStatus::Deleting);
        for (case, observed) in [
            ("untagged", Some(&untagged)),
            ("deleting", Some(&deleting)),
            ("missing", None),
        ] {
            let desired = desired_state(&Namespace::default(), &arn, observed, 7);
            assert_eq!(
                desired,
                Desired::Absent {
                    arn: ARN.into(),
                    observed_at: 7
                },
                "case {case}"
            );
        }
    }
}
