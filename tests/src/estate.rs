//! Builds EKS estates in moto: clusters with tags, in any account and region.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_eks::types::VpcConfigRequest;

/// One cluster to create.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub region: String,
    pub name: String,
    pub tags: Vec<(String, String)>,
}

impl ClusterSpec {
    pub fn new(region: &str, name: &str, tags: &[(&str, &str)]) -> Self {
        Self {
            region: region.to_string(),
            name: name.to_string(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Returns an EKS client for the region, with the account and endpoint of `config`.
pub fn eks_client(config: &SdkConfig, region: &str) -> aws_sdk_eks::Client {
    let eks = aws_sdk_eks::config::Builder::from(config)
        .region(aws_sdk_eks::config::Region::new(region.to_string()))
        .build();
    aws_sdk_eks::Client::from_conf(eks)
}

/// Creates a cluster and returns its ARN.
pub async fn create_cluster(config: &SdkConfig, spec: &ClusterSpec) -> String {
    let tags: HashMap<String, String> = spec.tags.iter().cloned().collect();
    let output = eks_client(config, &spec.region)
        .create_cluster()
        .name(&spec.name)
        .version("1.31")
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            VpcConfigRequest::builder()
                .subnet_ids("subnet-0a1b2c3d")
                .build(),
        )
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "CreateCluster {} failed: {}",
                spec.name,
                aws_sdk_eks::error::DisplayErrorContext(error)
            )
        });
    output
        .cluster()
        .and_then(|c| c.arn())
        .expect("CreateCluster returns the ARN")
        .to_string()
}

/// Sets tags on a cluster.
pub async fn tag_cluster(config: &SdkConfig, region: &str, arn: &str, tags: &[(&str, &str)]) {
    eks_client(config, region)
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "TagResource {arn} failed: {}",
                aws_sdk_eks::error::DisplayErrorContext(error)
            )
        });
}

/// Removes tags from a cluster.
pub async fn untag_cluster(config: &SdkConfig, region: &str, arn: &str, keys: &[&str]) {
    eks_client(config, region)
        .untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.iter().map(|k| k.to_string()).collect()))
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "UntagResource {arn} failed: {}",
                aws_sdk_eks::error::DisplayErrorContext(error)
            )
        });
}

/// Deletes a cluster.
pub async fn delete_cluster(config: &SdkConfig, region: &str, name: &str) {
    eks_client(config, region)
        .delete_cluster()
        .name(name)
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "DeleteCluster {name} failed: {}",
                aws_sdk_eks::error::DisplayErrorContext(error)
            )
        });
}
