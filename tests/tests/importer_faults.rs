//! Importer paths that moto cannot produce, with EKS responses from aws-smithy-mocks and the
//! catalog in moto: throttled listings and denied DescribeCluster calls.

use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::list_clusters::ListClustersOutput;
use aws_sdk_eks::types::{Cluster, ClusterStatus};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use eksgate_catalog::Catalog;
use eksgate_estate::{ScopeClients, ScopeError};
use eksgate_importer::Importer;
use eksgate_tags::Namespace;
use eksgate_tests::aws::local_config;
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;

const TABLE: &str = "eksgate-faults";
const ACCOUNT: &str = "111122223333";
const REGION: &str = "eu-west-1";

/// Hands out a mocked EKS client built from the given rules for every scope.
struct Mocked {
    rules: Vec<Rule>,
}

impl ScopeClients for Mocked {
    async fn eks(&self, _account: &str, _region: &str) -> Result<aws_sdk_eks::Client, ScopeError> {
        let rules: Vec<&Rule> = self.rules.iter().collect();
        Ok(mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules))
    }
}

fn eks_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(r#"{{"message":"{code} for tests"}}"#);
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_string());
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

fn cluster(name: &str) -> Cluster {
    Cluster::builder()
        .name(name)
        .arn(format!("arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{name}"))
        .endpoint("https://example.eks.amazonaws.com")
        .version("1.31")
        .status(ClusterStatus::Active)
        .tags("opal", "")
        .tags("opal:eks:role:1", "Admin")
        .build()
}

async fn importer(moto: &Moto, rules: Vec<Rule>) -> Importer<Mocked> {
    let dynamodb = aws_sdk_dynamodb::Client::new(&local_config(&moto.endpoint(), REGION));
    create_catalog_table(&dynamodb, TABLE).await;
    Importer {
        catalog: Catalog::new(dynamodb, TABLE),
        clients: Mocked { rules },
        namespace: Namespace::default(),
        scopes: vec![eksgate_estate::Scope {
            account: ACCOUNT.into(),
            region: REGION.into(),
        }],
        scope_concurrency: 1,
        describe_concurrency: 2,
        calls: None,
    }
}

#[tokio::test]
async fn throttled_listing_fails_scope() {
    let moto = Moto::start();
    let list = mock!(aws_sdk_eks::Client::list_clusters)
        .then_output(|| ListClustersOutput::builder().clusters("a").build());
    let describe = mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(|request| {
        DescribeClusterOutput::builder()
            .cluster(cluster(request.name().unwrap()))
            .build()
    });
    let mut importer = importer(&moto, vec![list, describe]).await;
    let first = importer.run().await;
    assert_eq!(first.imported, 1);

    let throttled = mock!(aws_sdk_eks::Client::list_clusters)
        .then_http_response(|| eks_error(429, "ThrottlingException"));
    importer.clients = Mocked {
        rules: vec![throttled],
    };
    let summary = importer.run().await;

    assert_eq!(summary.scopes_failed, 1);
    assert_eq!(summary.failures.len(), 1);
    assert!(summary.failures[0].transient);
    assert!(
        summary.failures[0].error.contains("ThrottlingException"),
        "{}",
        summary.failures[0].error
    );
    assert_eq!(summary.removed, 0);
    assert_eq!(
        importer.catalog.all().await.unwrap().len(),
        1,
        "the entry survives the failed scan"
    );
}

#[tokio::test]
async fn denied_describe_keeps_entry() {
    let moto = Moto::start();
    let list = mock!(aws_sdk_eks::Client::list_clusters).then_output(|| {
        ListClustersOutput::builder()
            .clusters("a")
            .clusters("b")
            .build()
    });
    let describe = mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(|request| {
        DescribeClusterOutput::builder()
            .cluster(cluster(request.name().unwrap()))
            .build()
    });
    let mut importer = importer(&moto, vec![list.clone(), describe]).await;
    assert_eq!(importer.run().await.imported, 2);

    let denied_for_a = mock!(aws_sdk_eks::Client::describe_cluster)
        .match_requests(|request| request.name() == Some("a"))
        .then_http_response(|| eks_error(403, "AccessDeniedException"));
    let untagged_b = mock!(aws_sdk_eks::Client::describe_cluster).then_compute_output(|request| {
        let mut untagged = cluster(request.name().unwrap());
        untagged.tags = None;
        DescribeClusterOutput::builder().cluster(untagged).build()
    });
    importer.clients = Mocked {
        rules: vec![list, denied_for_a, untagged_b],
    };
    let summary = importer.run().await;

    assert_eq!(summary.scopes_failed, 0);
    assert_eq!(summary.failures.len(), 1);
    let failure = &summary.failures[0];
    assert_eq!(
        failure.cluster.as_deref(),
        Some("arn:aws:eks:eu-west-1:111122223333:cluster/a")
    );
    assert!(!failure.transient, "access denied does not heal by itself");
    assert!(
        failure.error.contains("AccessDeniedException"),
        "{}",
        failure.error
    );
    assert_eq!(summary.removed, 1, "b lost its tag");
    let entries = importer.catalog.all().await.unwrap();
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        vec!["arn:aws:eks:eu-west-1:111122223333:cluster/a"]
    );
}
