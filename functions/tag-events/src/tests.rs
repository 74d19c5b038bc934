//! Error paths that moto cannot produce, with mocked EKS responses: access denied, throttling,
//! an account without a member-account role, and a catalog that cannot be reached.

use aws_sdk_eks::config::retry::RetryConfig;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::types::{Cluster, ClusterStatus};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use eksgate_catalog::Catalog;
use eksgate_estate::ScopeError;
use eksgate_tags::Namespace;
use serde_json::{Value, json};

use super::*;

const OWN_ACCOUNT: &str = "111122223333";
const UNKNOWN_ACCOUNT: &str = "999988887777";

/// Hands out one EKS client for the own account and rejects every other account, as
/// `AwsScopeClients` does for an account without a member-account role.
struct OneAccount {
    eks: aws_sdk_eks::Client,
}

impl ScopeClients for OneAccount {
    async fn eks(&self, account: &str, _region: &str) -> Result<aws_sdk_eks::Client, ScopeError> {
        if account != OWN_ACCOUNT {
            return Err(ScopeError::UnknownAccount {
                account: account.to_string(),
            });
        }
        Ok(self.eks.clone())
    }
}

/// Returns a catalog whose DynamoDB endpoint is a closed port on 127.0.0.1, so every call fails
/// to connect, which counts as transient.
fn unreachable_catalog() -> Catalog {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("eu-west-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    Catalog::new(aws_sdk_dynamodb::Client::from_conf(config), "eksgate-test")
}

fn handler(eks: aws_sdk_eks::Client) -> TagEventHandler<OneAccount> {
    TagEventHandler {
        catalog: unreachable_catalog(),
        clients: OneAccount { eks },
        namespace: Namespace::default(),
        calls: None,
    }
}

fn eks_error(status: u16, code: &str) -> HttpResponse {
    let mut response = HttpResponse::new(
        StatusCode::try_from(status).expect("valid status"),
        SdkBody::from(format!(r#"{{"message":"{code} for tests"}}"#)),
    );
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_string());
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

fn eks_client_answering(status: u16, code: &'static str) -> aws_sdk_eks::Client {
    let rule = mock!(aws_sdk_eks::Client::describe_cluster)
        .then_http_response(move || eks_error(status, code));
    mock_client!(aws_sdk_eks, RuleMode::MatchAny, [&rule], |config| {
        config.retry_config(RetryConfig::disabled())
    })
}

fn tag_event(account: &str) -> Value {
    json!({
        "version": "0",
        "id": "5c1b2c3d-0000-4e5f-8a9b-0c1d2e3f4a5b",
        "detail-type": "Tag Change on Resource",
        "source": "aws.tag",
        "account": account,
        "region": "eu-west-1",
        "resources": [format!("arn:aws:eks:eu-west-1:{account}:cluster/payments-prod")],
        "detail": {"service": "eks", "resource-type": "cluster", "version": 2, "tags": {}}
    })
}

fn lambda_event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, lambda_runtime::Context::default())
}

#[tokio::test]
async fn access_denied_dropped() {
    let handler = handler(eks_client_answering(403, "AccessDeniedException"));

    let report = handler.handle_event(&tag_event(OWN_ACCOUNT)).await.unwrap();

    assert_eq!(report.clusters.len(), 1);
    let cluster = &report.clusters[0];
    assert_eq!(cluster.outcome, Outcome::Dropped);
    assert_eq!(cluster.items_written, 0);
    let error = cluster.error.as_deref().unwrap_or_default();
    assert!(error.contains("AccessDeniedException"), "{error}");
    assert!(error.contains("eks:DescribeCluster"), "{error}");
}

#[tokio::test]
async fn throttling_returned_as_error() {
    let handler = handler(eks_client_answering(429, "ThrottlingException"));

    let error = handler
        .handle_event(&tag_event(OWN_ACCOUNT))
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(
        error.cluster_arn(),
        "arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod"
    );

    let lambda_error = handle(&handler, lambda_event(tag_event(OWN_ACCOUNT)))
        .await
        .unwrap_err();
    let message = lambda_error.to_string();
    assert!(message.contains("ThrottlingException"), "{message}");
    assert!(message.contains("payments-prod"), "{message}");
}

#[tokio::test]
async fn unknown_account_dropped() {
    let unused = mock!(aws_sdk_eks::Client::describe_cluster)
        .then_http_response(|| eks_error(500, "ServerException"));
    let handler = handler(mock_client!(aws_sdk_eks, [&unused]));

    let report = handle(&handler, lambda_event(tag_event(UNKNOWN_ACCOUNT)))
        .await
        .unwrap();

    assert_eq!(report.clusters.len(), 1);
    assert_eq!(report.clusters[0].outcome, Outcome::Dropped);
    let error = report.clusters[0].error.as_deref().unwrap_or_default();
    assert!(error.contains(UNKNOWN_ACCOUNT), "{error}");
    assert!(error.contains("EKSGATE_MEMBER_ROLE_ARNS"), "{error}");
    assert_eq!(unused.num_calls(), 0);
}

#[tokio::test]
async fn unreachable_catalog_returned_as_error() {
    let tagged = mock!(aws_sdk_eks::Client::describe_cluster).then_output(|| {
        let cluster = Cluster::builder()
            .name("payments-prod")
            .arn("arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod")
            .status(ClusterStatus::Active)
            .tags("opal", "")
            .build();
        DescribeClusterOutput::builder().cluster(cluster).build()
    });
    let handler = handler(mock_client!(aws_sdk_eks, [&tagged]));

    let error = handler
        .handle_event(&tag_event(OWN_ACCOUNT))
        .await
        .unwrap_err();

    assert!(matches!(error, RefreshError::Catalog { .. }), "{error:?}");
    assert!(error.is_transient(), "{error:?}");
}

#[tokio::test]
async fn ignored_event_succeeds_without_calls() {
    let unused = mock!(aws_sdk_eks::Client::describe_cluster)
        .then_http_response(|| eks_error(500, "ServerException"));
    let handler = handler(mock_client!(aws_sdk_eks, [&unused]));
    let mut event = tag_event(OWN_ACCOUNT);
    event["resources"] = json!([
        "arn:aws:eks:eu-west-1:111122223333:addon/payments-prod/vpc-cni/0ac7a3b2-1c2d-3e4f-5a6b-7c8d9e0f1a2b"
    ]);

    let report = handle(&handler, lambda_event(event)).await.unwrap();

    assert_eq!(report.clusters, vec![]);
    assert!(
        matches!(report.ignored, Some(Ignored::NotACluster { .. })),
        "{:?}",
        report.ignored
    );
    assert_eq!(unused.num_calls(), 0);
}

#[test]
fn report_serialized() {
    let report = EventReport {
        event_id: Some("e-1".into()),
        detail_type: Some(TAG_CHANGE.into()),
        event_name: None,
        clusters: vec![ClusterReport {
            cluster_arn: "arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod".into(),
            outcome: Outcome::Import,
            items_written: 3,
            error: None,
        }],
        ignored: None,
        aws_calls: 4,
    };
    assert_eq!(
        serde_json::to_value(&report).unwrap(),
        json!({
            "event_id": "e-1",
            "detail_type": "Tag Change on Resource",
            "clusters": [{
                "cluster_arn": "arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod",
                "outcome": "Import",
                "items_written": 3
            }],
            "aws_calls": 4
        })
    );
}
