//! Clusters named on the command line: by ARN, or by a name that the catalog resolves.

use eksgate_tags::Partition;
use serde_json::Value;

use crate::api::ApiClient;
use crate::error::CliError;

/// An EKS cluster identified by its ARN, with the parts that signing a token needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterRef {
    pub arn: String,
    pub partition: Partition,
    pub region: String,
    pub account: String,
    pub name: String,
}

impl ClusterRef {
    /// Parses `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
    pub fn parse_arn(arn: &str) -> Result<Self, String> {
        let invalid = |reason: &str| {
            format!(
                "invalid cluster ARN {arn:?}: {reason}; an EKS cluster ARN looks like \
                 arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod"
            )
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(invalid("it does not have six colon-separated parts"));
        };
        if prefix != "arn" || service != "eks" {
            return Err(invalid("it is not an EKS ARN"));
        }
        let partition = Partition::parse(partition)
            .ok_or_else(|| invalid("the partition is not aws, aws-cn or aws-us-gov"))?;
        if region.is_empty() {
            return Err(invalid("the region is empty"));
        }
        if account.len() != 12 || !account.bytes().all(|byte| byte.is_ascii_digit()) {
            return Err(invalid("the account is not 12 digits"));
        }
        let name = resource
            .strip_prefix("cluster/")
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .ok_or_else(|| invalid("the resource is not cluster/<name>"))?;
        Ok(Self {
            arn: arn.to_string(),
            partition,
            region: region.to_string(),
            account: account.to_string(),
            name: name.to_string(),
        })
    }
}

/// Tells whether a command-line value is meant as an ARN rather than a name.
pub fn is_arn(text: &str) -> bool {
    text.starts_with("arn:")
}

/// Returns the cluster that `given` names: an ARN as it is, or the one catalog cluster with
/// that name.
pub async fn resolve(api: &ApiClient, given: &str) -> Result<ClusterRef, CliError> {
    let given = given.trim();
    if is_arn(given) {
        return ClusterRef::parse_arn(given).map_err(CliError::Usage);
    }
    let document = api.get("/clusters").await?;
    let arn = find_by_name(&document, given)?;
    ClusterRef::parse_arn(&arn).map_err(|reason| CliError::Protocol {
        url: api.base().join("/clusters"),
        reason,
    })
}

/// Finds the ARN of the one cluster named `name` in a `GET /clusters` response.
pub fn find_by_name(document: &Value, name: &str) -> Result<String, CliError> {
    let matches: Vec<&str> = document["clusters"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|cluster| cluster["name"].as_str() == Some(name))
        .filter_map(|cluster| cluster["arn"].as_str())
        .collect();
    match matches.as_slice() {
        [arn] => Ok(arn.to_string()),
        [] => Err(CliError::Other(format!(
            "no cluster named {name:?} is in the catalog. Run 'eksgate clusters' to list the \
             clusters you can request, or pass the cluster ARN"
        ))),
        several => Err(CliError::Other(format!(
            "the cluster name {name:?} is ambiguous: {} clusters have it. Pass one of these \
             ARNs with --cluster:\n  {}",
            several.len(),
            several.join("\n  ")
        ))),
    }
}

/// Returns the name part of a cluster ARN, or the whole text if it is not one.
pub fn name_of(arn: &str) -> &str {
    arn.rsplit_once(":cluster/").map_or(arn, |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_cluster_arns() {
        let cluster =
            ClusterRef::parse_arn("arn:aws-cn:eks:cn-north-1:111122223333:cluster/pay_ments-1")
                .expect("valid");
        assert_eq!(cluster.partition, Partition::AwsCn);
        assert_eq!(cluster.region, "cn-north-1");
        assert_eq!(cluster.account, "111122223333");
        assert_eq!(cluster.name, "pay_ments-1");

        let invalid = [
            "arn:aws:eks:eu-west-1:111122223333",
            "arn:aws:iam::111122223333:role/x",
            "arn:aws-xx:eks:eu-west-1:111122223333:cluster/x",
            "arn:aws:eks:eu-west-1:1111:cluster/x",
            "arn:aws:eks:eu-west-1:111122223333:nodegroup/x",
            "arn:aws:eks:eu-west-1:111122223333:cluster/",
            "arn:aws:eks::111122223333:cluster/x",
        ];
        for arn in invalid {
            assert!(ClusterRef::parse_arn(arn).is_err(), "{arn}");
        }
    }

    #[test]
    fn resolves_names_in_the_catalog() {
        let document = json!({"clusters": [
            {"name": "payments", "arn": "arn:aws:eks:eu-west-1:111122223333:cluster/payments"},
            {"name": "shared", "arn": "arn:aws:eks:eu-west-1:111122223333:cluster/shared"},
            {"name": "shared", "arn": "arn:aws:eks:us-east-1:111122223333:cluster/shared"},
        ]});
        assert_eq!(
            find_by_name(&document, "payments").expect("unique"),
            "arn:aws:eks:eu-west-1:111122223333:cluster/payments"
        );
        let error = find_by_name(&document, "shared").expect_err("ambiguous");
        let message = error.to_string();
        assert!(message.contains("ambiguous"), "{message}");
        assert!(message.contains("us-east-1"), "{message}");
        assert!(message.contains("eu-west-1"), "{message}");
        let error = find_by_name(&document, "nope").expect_err("missing");
        assert!(error.to_string().contains("eksgate clusters"), "{error}");
    }

    #[test]
    fn names_of_arns() {
        assert_eq!(
            name_of("arn:aws:eks:eu-west-1:111122223333:cluster/payments"),
            "payments"
        );
        assert_eq!(name_of("payments"), "payments");
    }
}
