//! The importer and the tag-change handler behind a fault-injecting proxy: throttling with
//! retries and backoff, mixed faults, an outage in the middle of a run, conditional-write
//! conflicts and floods of duplicate and reordered events.
//!
//! Every test starts its own moto server and [`FaultProxy`], and uses regions that no other test
//! in this file uses. The SDK keeps one retry token bucket per service and region for the whole
//! process, so tests that share a region would spend each other's retries.
//!
//! Set `EKSGATE_LONG_TESTS=1` to run the long variants: larger estates (one scope with more than
//! one page of ListClusters), more rounds of faults and more events. `make test` runs the short
//! ones.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use eksgate_catalog::{
    Catalog, CatalogEntry, CatalogError, ClusterRecord, Desired, RoleRecord, Stored, WritePolicy,
};
use eksgate_estate::{AwsError, AwsScopeClients, ClusterArn, describe_cluster, desired_state};
use eksgate_importer::{ImportSummary, Importer};
use eksgate_tag_events::{EventReport, Ignored, Outcome, TagEventHandler};
use eksgate_tags::Namespace;
use eksgate_tests::aws::{OWN_ACCOUNT, local_config, member_config};
use eksgate_tests::estate::{
    ClusterSpec, create_cluster, delete_cluster, eks_client, tag_cluster, untag_cluster,
};
use eksgate_tests::faults::{FaultKind, FaultProxy, FaultRates, attempt_times};
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use eksgate_tests::{local_importer, local_tag_event_handler};
use futures::StreamExt;
use futures::future::join_all;
use serde_json::{Value, json};

const TABLE: &str = "eksgate-faults";
/// The table that a fault-free importer, reading moto directly, keeps at the true state.
const TRUTH_TABLE: &str = "eksgate-truth";
const MEMBER_ACCOUNT: &str = "222233334444";
const MEMBER_ROLE: &str = "arn:aws:iam::222233334444:role/eksgate-read";

fn long_tests() -> bool {
    std::env::var("EKSGATE_LONG_TESTS").is_ok_and(|value| value == "1")
}

/// Returns `short` normally and `long` when the long variants run.
fn scaled(short: usize, long: usize) -> usize {
    if long_tests() { long } else { short }
}

/// The part of an entry that an observation decides: everything but its observation time.
type Content = (ClusterRecord, Vec<RoleRecord>);
type Contents = BTreeMap<String, Content>;
type Entries = BTreeMap<String, CatalogEntry>;

fn content(entry: &CatalogEntry) -> Content {
    (entry.cluster.clone(), entry.roles.clone())
}

/// Describes an entry briefly for a failure message: its roles, status and observation time.
fn brief(entry: Option<&CatalogEntry>) -> String {
    match entry {
        None => "no live entry".to_string(),
        Some(entry) => {
            let roles: Vec<&str> = entry.roles.iter().map(|role| role.name.as_str()).collect();
            format!(
                "roles {roles:?}, status {}, observed at {}",
                entry.cluster.status, entry.observed_at
            )
        }
    }
}

fn contents(entries: &Entries) -> Contents {
    entries
        .iter()
        .map(|(arn, entry)| (arn.clone(), content(entry)))
        .collect()
}

/// One cluster of a test estate, in moto's own account or the member account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cluster {
    member: bool,
    region: String,
    name: String,
}

impl Cluster {
    fn account(&self) -> &str {
        if self.member {
            MEMBER_ACCOUNT
        } else {
            OWN_ACCOUNT
        }
    }

    fn arn(&self) -> ClusterArn {
        ClusterArn::new(self.account(), &self.region, &self.name)
    }
}

/// Tags of the `index`-th cluster of a generated estate: one in four untagged, the others with
/// one to three roles, among them a role with an IAM path and a malformed value.
fn generated_tags(index: usize) -> Vec<(String, String)> {
    let tags: &[(&str, &str)] = match index % 4 {
        0 => &[("team", "platform")],
        1 => &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
        2 => &[
            ("opal", "x"),
            ("opal:eks:role:1", "ClusterAdmin"),
            ("opal:eks:role:2", "teams/dev/ClusterView"),
        ],
        _ => &[
            ("opal", ""),
            ("opal:eks:role:1", "ReadOnly"),
            ("opal:eks:role:bad", "Not A Role"),
        ],
    };
    tags.iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn as_pairs(tags: &[(String, String)]) -> Vec<(&str, &str)> {
    tags.iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

/// A moto server with the catalog table and the truth table in the first of the test's regions,
/// and a fault proxy in front of it.
struct Lab {
    moto: Moto,
    proxy: FaultProxy,
    regions: Vec<String>,
    /// The catalog under test, read from moto directly.
    catalog: Catalog,
    truth: Catalog,
    /// SDK configuration that reaches moto directly, for each (member account?, region).
    configs: BTreeMap<(bool, String), SdkConfig>,
    /// The number of clusters created so far, which makes each new name unique.
    created: AtomicUsize,
}

impl Lab {
    async fn start(regions: &[&str], seed: u64) -> Self {
        let moto = Moto::start();
        let proxy = FaultProxy::start(&moto.endpoint(), seed).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&local_config(&moto.endpoint(), regions[0]));
        create_catalog_table(&dynamodb, TABLE).await;
        create_catalog_table(&dynamodb, TRUTH_TABLE).await;
        let mut configs = BTreeMap::new();
        for region in regions {
            configs.insert(
                (false, region.to_string()),
                local_config(&moto.endpoint(), region),
            );
            configs.insert(
                (true, region.to_string()),
                member_config(&moto.endpoint(), region, MEMBER_ROLE).await,
            );
        }
        Self {
            catalog: Catalog::new(dynamodb.clone(), TABLE),
            truth: Catalog::new(dynamodb, TRUTH_TABLE),
            regions: regions.iter().map(ToString::to_string).collect(),
            configs,
            created: AtomicUsize::new(0),
            moto,
            proxy,
        }
    }

    fn region_names(&self) -> Vec<&str> {
        self.regions.iter().map(String::as_str).collect()
    }

    /// Returns an importer of both accounts in the test's regions that reaches AWS through the
    /// proxy.
    fn importer(&self) -> Importer<AwsScopeClients> {
        local_importer(
            &self.proxy.endpoint(),
            TABLE,
            &self.region_names(),
            &[MEMBER_ROLE],
        )
    }

    /// Returns the catalog through the proxy, in the table's region.
    fn catalog_via_proxy(&self) -> Catalog {
        let config = local_config(&self.proxy.endpoint(), &self.regions[0]);
        Catalog::new(aws_sdk_dynamodb::Client::new(&config), TABLE)
    }

    /// Returns a tag-change handler that reaches AWS through the proxy.
    fn handler(&self) -> TagEventHandler<AwsScopeClients> {
        let mut handler = local_tag_event_handler(&self.proxy.endpoint(), TABLE, &[MEMBER_ROLE]);
        // local_tag_event_handler keeps its catalog in eu-west-1, and this test's table is in
        // the test's own first region.
        let mut config = aws_sdk_dynamodb::config::Builder::from(&local_config(
            &self.proxy.endpoint(),
            &self.regions[0],
        ));
        if let Some(calls) = &handler.calls {
            config = config.interceptor(calls.clone());
        }
        handler.catalog = Catalog::new(aws_sdk_dynamodb::Client::from_conf(config.build()), TABLE);
        handler
    }

    fn config(&self, cluster: &Cluster) -> &SdkConfig {
        &self.configs[&(cluster.member, cluster.region.clone())]
    }

    async fn create(&self, member: bool, region: &str, tags: &[(String, String)]) -> Cluster {
        let index = self.created.fetch_add(1, Ordering::SeqCst);
        let cluster = Cluster {
            member,
            region: region.to_string(),
            name: format!("cluster-{index:04}"),
        };
        let spec = ClusterSpec::new(region, &cluster.name, &as_pairs(tags));
        create_cluster(self.config(&cluster), &spec).await;
        cluster
    }

    /// Creates `count` clusters with generated tags for each (member account?, region, count).
    async fn populate(&self, layout: &[(bool, &str, usize)]) -> Vec<Cluster> {
        let specs: Vec<(bool, &str, usize)> = layout
            .iter()
            .flat_map(|(member, region, count)| (0..*count).map(move |i| (*member, *region, i)))
            .collect();
        let mut clusters: Vec<Cluster> = futures::stream::iter(specs)
            .map(|(member, region, index)| async move {
                self.create(member, region, &generated_tags(index)).await
            })
            .buffer_unordered(8)
            .collect()
            .await;
        clusters.sort();
        clusters
    }

    async fn tag(&self, cluster: &Cluster, tags: &[(&str, &str)]) {
        let arn = cluster.arn().to_string();
        tag_cluster(self.config(cluster), &cluster.region, &arn, tags).await;
    }

    async fn untag(&self, cluster: &Cluster, keys: &[&str]) {
        let arn = cluster.arn().to_string();
        untag_cluster(self.config(cluster), &cluster.region, &arn, keys).await;
    }

    async fn current_tags(&self, cluster: &Cluster) -> Vec<(String, String)> {
        let output = eks_client(self.config(cluster), &cluster.region)
            .describe_cluster()
            .name(&cluster.name)
            .send()
            .await
            .expect("moto DescribeCluster");
        let mut tags: Vec<(String, String)> = output
            .cluster()
            .and_then(|cluster| cluster.tags())
            .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        tags.sort();
        tags
    }

    /// Returns the live entries of the catalog under test, read from moto directly.
    async fn entries(&self) -> Entries {
        self.catalog.all().await.expect("reading the catalog")
    }

    async fn contents(&self) -> Contents {
        contents(&self.entries().await)
    }

    /// Brings the truth table to the estate's current state with a fault-free importer that
    /// reads moto directly, and returns its content.
    async fn truth(&self) -> Contents {
        let summary = local_importer(
            &self.moto.endpoint(),
            TRUTH_TABLE,
            &self.region_names(),
            &[MEMBER_ROLE],
        )
        .run()
        .await;
        assert_eq!(summary.failures, vec![], "the fault-free importer failed");
        contents(&self.truth.all().await.expect("reading the truth table"))
    }

    /// Returns the catalog content that the cluster calls for now, from a DescribeCluster
    /// straight to moto: `None` when it is deleted or untagged.
    async fn true_content(&self, cluster: &Cluster) -> Option<Content> {
        let eks = eks_client(self.config(cluster), &cluster.region);
        let (observed, observed_at) = describe_cluster(&eks, &cluster.name)
            .await
            .expect("moto DescribeCluster");
        match desired_state(
            &Namespace::default(),
            &cluster.arn(),
            observed.as_ref(),
            observed_at,
        ) {
            Desired::Present(entry) => Some(content(&entry)),
            Desired::Absent { .. } => None,
        }
    }

    async fn stored(&self, cluster: &Cluster) -> Option<Stored> {
        self.catalog
            .get(&cluster.arn().to_string())
            .await
            .expect("reading the catalog")
    }

    /// Makes one random change to the estate, as an operator would, and returns the event that
    /// AWS sends for it: mostly tag changes, sometimes a cluster deleted or created. `estate`
    /// follows the deletions and creations.
    async fn change(&self, rng: &mut fastrand::Rng, estate: &mut Vec<Cluster>) -> Value {
        match rng.u8(0..10) {
            8 if estate.len() > 4 => {
                let cluster = estate.remove(rng.usize(0..estate.len()));
                delete_cluster(self.config(&cluster), &cluster.region, &cluster.name).await;
                delete_cluster_event(&cluster.arn())
            }
            9 => {
                let member = rng.bool();
                let region = self.regions[rng.usize(0..self.regions.len())].clone();
                let tags = generated_tags(rng.usize(0..4));
                let cluster = self.create(member, &region, &tags).await;
                estate.push(cluster.clone());
                create_cluster_event(&cluster.arn())
            }
            _ => self.change_tags(rng, estate).await,
        }
    }

    /// Makes one random tag change on one of the clusters and returns its event: a role tag set
    /// or removed, or the namespace tag removed or set. The event is a CloudTrail record or an
    /// `aws.tag` event, because AWS sends both for a tag change.
    async fn change_tags(&self, rng: &mut fastrand::Rng, estate: &[Cluster]) -> Value {
        const ROLE_VALUES: [&str; 4] = [
            "ClusterAdmin",
            "ClusterView",
            "teams/ops/OnCall",
            "Bad Value",
        ];
        let cluster = &estate[rng.usize(0..estate.len())];
        let arn = cluster.arn();
        let role_key = format!("opal:eks:role:{}", rng.u8(1..4));
        let (changed_key, record) = match rng.u8(0..8) {
            0..=2 => {
                let value = ROLE_VALUES[rng.usize(0..ROLE_VALUES.len())];
                self.tag(cluster, &[(&role_key, value)]).await;
                (
                    role_key.clone(),
                    tag_resource_event(&arn, &[(&role_key, value)]),
                )
            }
            3 | 4 => {
                self.untag(cluster, &[&role_key]).await;
                (role_key.clone(), untag_resource_event(&arn, &[&role_key]))
            }
            5 => {
                self.untag(cluster, &["opal"]).await;
                ("opal".to_string(), untag_resource_event(&arn, &["opal"]))
            }
            _ => {
                self.tag(cluster, &[("opal", "")]).await;
                (
                    "opal".to_string(),
                    tag_resource_event(&arn, &[("opal", "")]),
                )
            }
        };
        if rng.bool() {
            return record;
        }
        let tags = self.current_tags(cluster).await;
        tag_change_event(&arn, &as_pairs(&tags), &[&changed_key])
    }
}

/// Gives each event its own EventBridge ID.
fn next_event_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("fa017000-0000-4000-8000-{n:012}")
}

/// Returns an `aws.tag` "Tag Change on Resource" event with the cluster's tags after the change.
fn tag_change_event(arn: &ClusterArn, tags: &[(&str, &str)], changed: &[&str]) -> Value {
    let tags: serde_json::Map<String, Value> = tags
        .iter()
        .map(|(key, value)| (key.to_string(), json!(value)))
        .collect();
    json!({
        "version": "0",
        "id": next_event_id(),
        "detail-type": "Tag Change on Resource",
        "source": "aws.tag",
        "account": arn.account,
        "time": "2026-12-04T12:00:00Z",
        "region": arn.region,
        "resources": [arn.to_string()],
        "detail": {
            "changed-tag-keys": changed,
            "service": "eks",
            "resource-type": "cluster",
            "version": 1,
            "tags": tags,
        }
    })
}

/// Returns an "AWS API Call via CloudTrail" event of a successful EKS call.
fn cloudtrail_event(arn: &ClusterArn, event_name: &str, parameters: Value) -> Value {
    json!({
        "version": "0",
        "id": next_event_id(),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.eks",
        "account": arn.account,
        "time": "2026-12-04T12:00:00Z",
        "region": arn.region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventTime": "2026-12-04T12:00:00Z",
            "eventSource": "eks.amazonaws.com",
            "eventName": event_name,
            "awsRegion": arn.region,
            "requestParameters": parameters,
            "responseElements": null,
            "eventType": "AwsApiCall",
            "recipientAccountId": arn.account,
        }
    })
}

fn tag_resource_event(arn: &ClusterArn, tags: &[(&str, &str)]) -> Value {
    let tags: serde_json::Map<String, Value> = tags
        .iter()
        .map(|(key, value)| (key.to_string(), json!(value)))
        .collect();
    cloudtrail_event(
        arn,
        "TagResource",
        json!({"resourceArn": arn.to_string(), "tags": tags}),
    )
}

fn untag_resource_event(arn: &ClusterArn, keys: &[&str]) -> Value {
    cloudtrail_event(
        arn,
        "UntagResource",
        json!({"resourceArn": arn.to_string(), "tagKeys": keys}),
    )
}

fn create_cluster_event(arn: &ClusterArn) -> Value {
    cloudtrail_event(
        arn,
        "CreateCluster",
        json!({"name": arn.name, "version": "1.31"}),
    )
}

fn delete_cluster_event(arn: &ClusterArn) -> Value {
    cloudtrail_event(arn, "DeleteCluster", json!({"name": arn.name}))
}

/// Marks a CloudTrail event as the record of a call that failed.
fn failed_call(mut event: Value) -> Value {
    event["detail"]["errorCode"] = json!("AccessDeniedException");
    event["detail"]["errorMessage"] = json!("AccessDeniedException for tests");
    event
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

#[tokio::test]
async fn proxy_faults_in_service_wire_shapes() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint(), 1).await;
    let region = "eu-central-2";
    let config = local_config(&proxy.endpoint(), region);
    let one_attempt = RetryConfig::standard().with_max_attempts(1);
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .retry_config(one_attempt.clone())
            .build(),
    );
    let eks = aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::config::Builder::from(&config)
            .retry_config(one_attempt.clone())
            .build(),
    );
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .retry_config(one_attempt)
            .build(),
    );

    // Throttling: the SDK reads each service's error code, and eksgate treats it as transient.
    proxy.set_faults(FaultRates::throttling(1.0));
    let error = dynamodb.list_tables().send().await.unwrap_err();
    assert_eq!(error.code(), Some("ThrottlingException"), "DynamoDB");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(AwsError::from_sdk("dynamodb:ListTables", error).transient);
    let error = eks.list_clusters().send().await.unwrap_err();
    assert_eq!(error.code(), Some("ThrottlingException"), "EKS");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(AwsError::from_sdk("eks:ListClusters", error).transient);
    let error = sts.get_caller_identity().send().await.unwrap_err();
    assert_eq!(error.code(), Some("Throttling"), "STS");
    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(AwsError::from_sdk("sts:GetCallerIdentity", error).transient);
    assert_eq!(proxy.stats().throttled, 3);
    assert_eq!(proxy.stats().forwarded, 0);

    // Server errors: HTTP 500 or 503 with the service's code.
    proxy.set_faults(FaultRates {
        server_error: 1.0,
        ..FaultRates::none()
    });
    proxy.reset_counts();
    let error = dynamodb.list_tables().send().await.unwrap_err();
    let status = error.raw_response().map(|r| r.status().as_u16());
    assert!(matches!(status, Some(500 | 503)), "status {status:?}");
    assert!(
        matches!(
            error.code(),
            Some("InternalServerError" | "ServiceUnavailable")
        ),
        "{:?}",
        error.code()
    );
    assert!(AwsError::from_sdk("dynamodb:ListTables", error).transient);
    let error = eks.list_clusters().send().await.unwrap_err();
    assert!(
        matches!(
            error.code(),
            Some("ServerException" | "ServiceUnavailableException")
        ),
        "{:?}",
        error.code()
    );
    let error = sts.get_caller_identity().send().await.unwrap_err();
    assert!(
        matches!(error.code(), Some("InternalFailure" | "ServiceUnavailable")),
        "{:?}",
        error.code()
    );
    assert_eq!(proxy.stats().server_errors, 3);

    // Resets: no response at all, which eksgate reports as a transient connection failure.
    proxy.set_faults(FaultRates {
        reset: 1.0,
        ..FaultRates::none()
    });
    proxy.reset_counts();
    let error = eks.list_clusters().send().await.unwrap_err();
    assert!(matches!(error, SdkError::DispatchFailure(_)), "{error:?}");
    let error = AwsError::from_sdk("eks:ListClusters", error);
    assert!(error.transient);
    assert_eq!(error.message, "connection failed");
    assert_eq!(proxy.stats().resets, 1);
    assert_eq!(proxy.stats().forwarded, 0);

    // Lost responses: the call fails, but moto carried it out.
    proxy.set_faults(FaultRates {
        lost_response: 1.0,
        ..FaultRates::none()
    });
    proxy.reset_counts();
    let error = dynamodb
        .create_table()
        .table_name("created-without-answer")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(matches!(error, SdkError::DispatchFailure(_)), "{error:?}");
    assert_eq!(proxy.stats().lost_responses, 1);
    assert_eq!(proxy.stats().forwarded, 1);
    let direct = aws_sdk_dynamodb::Client::new(&local_config(&moto.endpoint(), region));
    let tables = direct.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["created-without-answer"]);

    // Latency: the request waits before it is forwarded.
    proxy.set_faults(FaultRates::none().with_latency(
        1.0,
        Duration::from_millis(300),
        Duration::from_millis(300),
    ));
    proxy.reset_counts();
    let started = std::time::Instant::now();
    dynamodb.list_tables().send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(proxy.stats().delayed, 1);

    // A limit per call lets the SDK's third attempt through: one call, three attempts. The
    // short backoff only keeps this check fast.
    let retrying = aws_sdk_eks::Client::from_conf(
        aws_sdk_eks::config::Builder::from(&config)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .build(),
    );
    proxy.set_faults(FaultRates::throttling(1.0).with_max_faults_per_call(2));
    proxy.reset_counts();
    retrying.list_clusters().send().await.unwrap();
    let records = proxy.records();
    let attempts: Vec<(Option<u32>, Option<FaultKind>)> = records
        .iter()
        .map(|record| (record.attempt, record.fault))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (Some(1), Some(FaultKind::Throttle)),
            (Some(2), Some(FaultKind::Throttle)),
            (Some(3), None)
        ]
    );
    assert_eq!(records[0].service.as_deref(), Some("eks"));
    assert_eq!(records[0].region.as_deref(), Some(region));
    assert_eq!(records[0].operation, "ListClusters");
    assert!(
        records
            .iter()
            .all(|r| r.invocation_id == records[0].invocation_id)
    );

    // Per call, every attempt of a faulted call gets the same fault.
    proxy.set_faults(
        FaultRates {
            server_error: 0.5,
            ..FaultRates::none()
        }
        .per_call(),
    );
    proxy.reset_counts();
    let mut failed = 0;
    for _ in 0..20 {
        failed += usize::from(retrying.list_clusters().send().await.is_err());
    }
    let records = proxy.records();
    let mut faults_by_call: BTreeMap<String, Vec<Option<FaultKind>>> = BTreeMap::new();
    for record in &records {
        faults_by_call
            .entry(record.invocation_id.clone().unwrap())
            .or_default()
            .push(record.fault);
    }
    assert_eq!(faults_by_call.len(), 20);
    let faulted_calls = faults_by_call
        .values()
        .filter(|faults| faults.iter().all(|fault| fault.is_some()))
        .count();
    assert_eq!(faulted_calls, failed, "each faulted call failed");
    for faults in faults_by_call.values() {
        assert!(
            faults == &vec![None] || faults == &vec![Some(FaultKind::ServerError); 3],
            "{faults:?}"
        );
    }
    assert!(failed > 0, "none of 20 calls failed at a rate of 0.5");
    assert!(failed < 20, "all of 20 calls failed at a rate of 0.5");

    // Down: connections are refused until the proxy is back up.
    proxy.set_faults(FaultRates::none());
    proxy.set_down(true).await;
    let error = eks.list_clusters().send().await.unwrap_err();
    let error = AwsError::from_sdk("eks:ListClusters", error);
    assert!(error.transient, "{error:?}");
    proxy.set_down(false).await;
    eks.list_clusters().send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_import_retries_with_backoff() {
    let region = "eu-north-1";
    let lab = Lab::start(&[region], 11).await;
    lab.populate(&[
        (false, region, scaled(16, 40)),
        (true, region, scaled(6, 16)),
    ])
    .await;
    let truth = lab.truth().await;

    // Every SDK call is throttled twice before it goes through, so each makes three attempts.
    lab.proxy
        .set_faults(FaultRates::throttling(1.0).with_max_faults_per_call(2));
    let importer = lab.importer();
    let summary = importer.run().await;
    let stats = lab.proxy.stats();
    let records = lab.proxy.records();

    assert_eq!(
        summary.failures,
        vec![],
        "the SDK's retries absorb every throttling error"
    );
    assert_eq!(lab.contents().await, truth);
    assert!(summary.imported > 0);
    assert_eq!(stats.upstream_failures, 0, "moto answered every request");
    assert_eq!(
        stats.requests, summary.aws_calls,
        "the proxy received every attempt that the importer counted"
    );
    assert_eq!(
        summary.retries, stats.throttled,
        "each throttling error led to one retry"
    );
    let throttled_services: BTreeSet<&str> = records
        .iter()
        .filter(|record| record.fault == Some(FaultKind::Throttle))
        .filter_map(|record| record.service.as_deref())
        .collect();
    assert_eq!(
        throttled_services,
        BTreeSet::from(["dynamodb", "eks", "sts"]),
        "the SDK recognised the throttling shape of each service"
    );

    let calls = attempt_times(&records);
    assert!(calls.iter().all(|attempts| attempts.len() == 3));
    assert_eq!(calls.len() as u64 * 3, summary.aws_calls);
    let first_gaps: Vec<f64> = calls
        .iter()
        .map(|attempts| (attempts[1] - attempts[0]).as_secs_f64())
        .collect();
    let second_gaps: Vec<f64> = calls
        .iter()
        .map(|attempts| (attempts[2] - attempts[1]).as_secs_f64())
        .collect();
    eprintln!(
        "{} calls, mean wait before the first retry {:.3} s, before the second {:.3} s",
        calls.len(),
        mean(&first_gaps),
        mean(&second_gaps)
    );
    // The SDK waits a random time below a ceiling that doubles with each retry (1 s, then 2 s,
    // for throttling errors), so over many calls the second wait is about twice the first.
    assert!(
        mean(&second_gaps) > mean(&first_gaps),
        "mean wait before the second retry {:.3} s is not longer than before the first {:.3} s, \
         over {} calls",
        mean(&second_gaps),
        mean(&first_gaps),
        calls.len()
    );

    // The throttling stops: the next run needs no retry and writes nothing.
    lab.proxy.set_faults(FaultRates::none());
    let calm = importer.run().await;
    assert_eq!(calm.failures, vec![]);
    assert_eq!(calm.retries, 0);
    assert_eq!(calm.writes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_write_responses_reported() {
    let region = "ap-south-1";
    let lab = Lab::start(&[region], 66).await;
    let estate = lab.populate(&[(false, region, 8)]).await;
    let truth = lab.truth().await;

    // The first attempt of every call reaches moto and loses its response, and the SDK's retry
    // goes through. A retried write then fails its condition against its own first attempt.
    lab.proxy.set_faults(
        FaultRates {
            lost_response: 1.0,
            ..FaultRates::none()
        }
        .with_max_faults_per_call(1),
    );
    let summary = lab.importer().run().await;

    assert_eq!(summary.failures, vec![]);
    assert_eq!(lab.contents().await, truth);
    assert!(lab.proxy.stats().lost_responses > 0);
    assert!(lab.proxy.stats().conditional_check_failures > 0);
    assert_eq!(
        summary.imported,
        truth.len(),
        "a write whose response was lost counts as an import"
    );
    assert_eq!(summary.writes, truth.len());
    assert_eq!(summary.unchanged, 0);

    // The handler reports the removal it wrote, not an unchanged entry.
    let tagged = estate
        .iter()
        .find(|cluster| truth.contains_key(&cluster.arn().to_string()))
        .expect("the estate has a tagged cluster");
    lab.untag(tagged, &["opal"]).await;
    let report = lab
        .handler()
        .handle_event(&untag_resource_event(&tagged.arn(), &["opal"]))
        .await
        .expect("the event is handled");
    assert_eq!(report.clusters[0].outcome, Outcome::Remove, "{report:?}");
    assert_eq!(report.clusters[0].items_written, 1);
    assert!(
        matches!(lab.stored(tagged).await, Some(Stored::Removed { .. })),
        "{} keeps a removal marker",
        tagged.name
    );
}

/// Checks the catalog after an import run under faults: every scope that failed is exactly as
/// before, every cluster that failed is as before or at the true state, and everything else is
/// at the true state. Returns the numbers of failed scopes and failed clusters.
fn check_run_under_faults(
    round: usize,
    summary: &ImportSummary,
    before: &Entries,
    after: &Entries,
    truth: &Contents,
) -> (usize, usize) {
    for failure in &summary.failures {
        assert!(
            failure.transient,
            "round {round}: injected faults are transient, but {failure:?} is not"
        );
    }
    let failed_scopes: BTreeSet<&str> = summary
        .failures
        .iter()
        .filter(|failure| failure.cluster.is_none())
        .map(|failure| failure.scope.as_str())
        .collect();
    let failed_clusters: BTreeSet<&str> = summary
        .failures
        .iter()
        .filter_map(|failure| failure.cluster.as_deref())
        .collect();
    let arns: BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .chain(truth.keys())
        .collect();
    for arn in arns {
        let parsed = ClusterArn::parse(arn).expect("catalog keys are cluster ARNs");
        let scope = format!("{}/{}", parsed.account, parsed.region);
        let was = before.get(arn);
        let now = after.get(arn);
        let expected = truth.get(arn);
        if failed_scopes.contains(scope.as_str()) {
            assert!(
                now == was,
                "round {round}: {arn} changed although the scan of {scope} failed: it had {}, \
                 now {}",
                brief(was),
                brief(now)
            );
        } else if failed_clusters.contains(arn.as_str()) {
            let now_content = now.map(content);
            assert!(
                now_content == was.map(content) || now_content.as_ref() == expected,
                "round {round}: {arn} failed and is neither as before nor at the true state: \
                 it had {}, now {}",
                brief(was),
                brief(now)
            );
        } else {
            assert!(
                now.map(content).as_ref() == expected,
                "round {round}: {arn} was not brought to the true state: it has {}, the true \
                 state has {}",
                brief(now),
                expected.map_or("no entry".to_string(), |(cluster, roles)| {
                    let names: Vec<&str> = roles.iter().map(|role| role.name.as_str()).collect();
                    format!("roles {names:?}, status {}", cluster.status)
                })
            );
        }
    }
    (failed_scopes.len(), failed_clusters.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_faults_converge() {
    let regions = ["ca-central-1", "sa-east-1"];
    let lab = Lab::start(&regions, 22).await;
    let mut estate = lab
        .populate(&[
            (false, "ca-central-1", scaled(24, 130)),
            (false, "sa-east-1", 12),
            (true, "ca-central-1", 10),
            (true, "sa-east-1", 6),
        ])
        .await;
    let first = lab.importer().run().await;
    assert_eq!(first.failures, vec![]);
    let mut truth = lab.truth().await;
    assert_eq!(lab.contents().await, truth);

    // Rounds of changes, each imported under 20% faults. Every third round draws them per
    // attempt (blips that retries absorb), the others per call (failures that outlast the
    // retries). The rounds go on until a failed ListClusters and a failed cluster have been
    // seen. A scope whose catalog read or AssumeRole fails stops before it lists anything, so
    // only a failed listing shows that the importer deletes nothing it did not see.
    let mut rng = fastrand::Rng::with_seed(22);
    let (min_rounds, max_rounds) = if long_tests() { (6, 24) } else { (3, 16) };
    let mut failed_listings = 0;
    let mut failed_clusters = 0;
    let mut rounds = 0;
    while rounds < max_rounds
        && (rounds < min_rounds || failed_listings == 0 || failed_clusters == 0)
    {
        rounds += 1;
        for _ in 0..10 {
            lab.change(&mut rng, &mut estate).await;
        }
        truth = lab.truth().await;
        let before = lab.entries().await;
        let faults = if rounds % 3 == 1 {
            FaultRates::mixed(0.2).with_latency(0.1, Duration::ZERO, Duration::from_millis(20))
        } else {
            FaultRates::mixed(0.2).per_call()
        };
        lab.proxy.set_faults(faults);
        let summary = lab.importer().run().await;
        lab.proxy.set_faults(FaultRates::none());
        let after = lab.entries().await;

        let (scopes, clusters) = check_run_under_faults(rounds, &summary, &before, &after, &truth);
        let listings = summary
            .failures
            .iter()
            .filter(|failure| failure.error.contains("eks:ListClusters failed"))
            .count();
        eprintln!(
            "round {rounds}: {faults:?}, {} faults injected so far, {scopes} scopes \
             ({listings} listings) and {clusters} clusters failed, {} retries",
            lab.proxy.stats().injected(),
            summary.retries
        );
        failed_listings += listings;
        failed_clusters += clusters;
    }
    assert!(
        failed_listings > 0,
        "no ListClusters failed in {rounds} rounds, so the rule for failed scopes went unchecked"
    );
    assert!(
        failed_clusters > 0,
        "no single cluster failed in {rounds} rounds, so the rule for failed clusters went unchecked"
    );
    assert!(lab.proxy.stats().injected() > 0);

    let clean = lab.importer().run().await;
    assert_eq!(clean.failures, vec![]);
    assert_eq!(lab.contents().await, truth, "a clean run converges");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_mid_run_deletes_nothing() {
    let regions = ["eu-west-2", "eu-west-3"];
    let lab = Lab::start(&regions, 33).await;
    let estate = lab
        .populate(&[
            (false, "eu-west-2", scaled(20, 80)),
            (false, "eu-west-3", scaled(20, 80)),
        ])
        .await;
    let importer = lab.importer();
    assert_eq!(importer.run().await.failures, vec![]);
    let before = lab.entries().await;

    // Changes that the next run writes: removals, role changes and new clusters.
    let tagged: Vec<Cluster> = estate
        .iter()
        .filter(|cluster| before.contains_key(&cluster.arn().to_string()))
        .cloned()
        .collect();
    for cluster in &tagged[0..3] {
        lab.untag(cluster, &["opal"]).await;
    }
    for cluster in &tagged[3..6] {
        delete_cluster(lab.config(cluster), &cluster.region, &cluster.name).await;
    }
    for cluster in &tagged[6..10] {
        lab.tag(cluster, &[("opal:eks:role:1", "PlatformAdmin")])
            .await;
    }
    for region in regions {
        lab.create(false, region, &generated_tags(1)).await;
    }
    let truth = lab.truth().await;
    assert_ne!(contents(&before), truth);

    // The endpoint dies after a dozen requests of the run, all of them slowed down.
    lab.proxy.set_faults(FaultRates::none().with_latency(
        1.0,
        Duration::from_millis(20),
        Duration::from_millis(60),
    ));
    lab.proxy.reset_counts();
    let (summary, ()) = tokio::join!(importer.run(), async {
        while lab.proxy.stats().requests < 12 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        lab.proxy.set_down(true).await;
    });

    assert!(!summary.failures.is_empty(), "the run reports the outage");
    for failure in &summary.failures {
        assert!(failure.transient, "{failure:?}");
    }
    let after = lab.entries().await;
    for (arn, entry) in &before {
        match after.get(arn) {
            Some(now) => assert!(
                content(now) == content(entry) || truth.get(arn) == Some(&content(now)),
                "{arn} is neither as before nor at the true state"
            ),
            None => assert!(
                !truth.contains_key(arn),
                "{arn} lost its entry although its cluster is still tagged"
            ),
        }
    }
    for (arn, entry) in &after {
        let expected = before.get(arn).map(content);
        assert!(
            expected.as_ref() == Some(&content(entry)) || truth.get(arn) == Some(&content(entry)),
            "{arn} is neither as before nor at the true state"
        );
    }

    // While the endpoint is down, a run fails every scope and changes nothing.
    let down_run = importer.run().await;
    assert_eq!(down_run.scopes_failed, down_run.scopes);
    assert_eq!(lab.entries().await, after);

    // An event during the outage fails with a transient error, so Lambda retries it.
    let handler = lab.handler();
    let untagged = tagged[0].arn();
    let event = untag_resource_event(&untagged, &["opal"]);
    let error = handler.handle_event(&event).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(lab.entries().await, after);

    // Back up: the retried event and a clean run bring the catalog to the true state.
    lab.proxy.set_down(false).await;
    lab.proxy.set_faults(FaultRates::none());
    let report = handler.handle_event(&event).await.expect("retried event");
    assert!(
        matches!(
            report.clusters[0].outcome,
            Outcome::Remove | Outcome::MarkAbsent
        ),
        "{report:?}"
    );
    let clean = importer.run().await;
    assert_eq!(clean.failures, vec![]);
    assert_eq!(lab.contents().await, truth);
}

/// Reads a cluster through the proxy and reconciles its entry, as the tag-change handler does,
/// returning the catalog's outcome with its number of write attempts.
async fn observe_and_reconcile(
    eks: &aws_sdk_eks::Client,
    catalog: &Catalog,
    cluster: &Cluster,
) -> Result<eksgate_catalog::ApplyOutcome, CatalogError> {
    let (observed, observed_at) = describe_cluster(eks, &cluster.name)
        .await
        .expect("DescribeCluster without injected errors");
    let desired = desired_state(
        &Namespace::default(),
        &cluster.arn(),
        observed.as_ref(),
        observed_at,
    );
    catalog
        .reconcile(None, &desired, WritePolicy::RecordObservation)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_write_conflicts_retried() {
    let region = "ap-northeast-2";
    let lab = Lab::start(&[region], 44).await;
    let estate = lab.populate(&[(false, region, 6)]).await;
    assert_eq!(lab.importer().run().await.failures, vec![]);

    // Latency on every request widens the gap between a writer's read and its conditional
    // write, so writers of the same cluster overlap.
    lab.proxy.set_faults(FaultRates::none().with_latency(
        1.0,
        Duration::from_millis(2),
        Duration::from_millis(40),
    ));
    lab.proxy.reset_counts();
    let handler = lab.handler();
    let importers = [lab.importer(), lab.importer()];
    let catalog = lab.catalog_via_proxy();
    let eks = eks_client(&local_config(&lab.proxy.endpoint(), region), region);
    let waves = scaled(4, 12);
    let writers_per_cluster = 3;
    let direct_outcomes = Mutex::new(Vec::new());
    let failed_events = Mutex::new(Vec::new());

    let importer_runs = join_all(importers.iter().map(|importer| async move {
        let mut summaries = Vec::new();
        for _ in 0..waves {
            summaries.push(importer.run().await);
        }
        summaries
    }));
    let direct_writers = async {
        for _ in 0..waves {
            let writers = estate.iter().flat_map(|cluster| {
                (0..writers_per_cluster).map(|_| observe_and_reconcile(&eks, &catalog, cluster))
            });
            let outcomes = join_all(writers).await;
            direct_outcomes.lock().unwrap().extend(outcomes);
        }
    };
    let changes = async {
        let mut rng = fastrand::Rng::with_seed(44);
        for _ in 0..waves * 3 {
            let event = lab.change_tags(&mut rng, &estate).await;
            // EventBridge delivers at least once: the event and a duplicate, at the same time.
            let (first, second) =
                tokio::join!(handler.handle_event(&event), handler.handle_event(&event));
            for result in [first, second] {
                if let Err(error) = result {
                    failed_events.lock().unwrap().push((event.clone(), error));
                }
            }
        }
    };
    // Every write is conditional on the observation it replaces and carries a newer one, so a
    // cluster's stored observation time never goes back. The monitor reads moto directly.
    let racing = AtomicBool::new(true);
    let monitor = async {
        let mut latest: BTreeMap<String, i64> = BTreeMap::new();
        let mut samples = 0;
        while racing.load(Ordering::SeqCst) {
            for cluster in &estate {
                let Some(stored) = lab.stored(cluster).await else {
                    continue;
                };
                let observed_at = stored.observed_at();
                let previous = latest.entry(cluster.name.clone()).or_insert(observed_at);
                assert!(
                    observed_at >= *previous,
                    "{}: the stored observation went back from {} to {observed_at}",
                    cluster.name,
                    *previous
                );
                *previous = observed_at;
                samples += 1;
            }
        }
        samples
    };
    let race = async {
        let results = tokio::join!(importer_runs, direct_writers, changes);
        racing.store(false, Ordering::SeqCst);
        results
    };
    let ((summaries, (), ()), samples) = tokio::join!(race, monitor);
    assert!(samples > 0);

    // Lambda retries an event that failed with a transient error.
    for (event, error) in failed_events.into_inner().unwrap() {
        assert!(error.is_transient(), "{error:?}");
        handler
            .handle_event(&event)
            .await
            .unwrap_or_else(|error| panic!("retried event failed: {error:?}"));
    }
    for summary in summaries.iter().flatten() {
        for failure in &summary.failures {
            assert!(failure.transient, "{failure:?}");
            assert!(failure.error.contains("other writers"), "{failure:?}");
        }
    }
    let direct_outcomes = direct_outcomes.into_inner().unwrap();
    let mut attempts = Vec::new();
    for outcome in &direct_outcomes {
        match outcome {
            Ok(applied) => attempts.push(applied.attempts),
            Err(error) => assert!(
                matches!(error, CatalogError::Contended { .. }),
                "a direct write failed: {error:?}"
            ),
        }
    }
    let retried: u32 = attempts.iter().map(|attempts| attempts - 1).sum();
    assert!(
        attempts.iter().any(|attempts| *attempts > 1),
        "no write of {} needed a second attempt, so no conflict was retried",
        attempts.len()
    );
    let conflicts = lab.proxy.stats().conditional_check_failures;
    assert!(
        conflicts >= u64::from(retried),
        "the proxy saw {conflicts} failed conditional writes, fewer than the {retried} retried \
         ones"
    );
    let by_operation = lab.proxy.conditional_check_failures_by_operation();
    assert!(
        by_operation.get("PutItem").is_some_and(|count| *count > 0),
        "no conditional PutItem lost a race: {by_operation:?}"
    );

    for cluster in &estate {
        let stored = lab.stored(cluster).await;
        let stored_content = match &stored {
            Some(Stored::Live(entry)) => Some(content(entry)),
            _ => None,
        };
        assert_eq!(
            stored_content,
            lab.true_content(cluster).await,
            "{} after the race",
            cluster.name
        );
    }
}

/// One event waiting for delivery, and how many times it failed so far.
struct Delivery {
    event: Value,
    failures: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_flood_ends_at_true_state() {
    let region = "ap-southeast-2";
    let lab = Lab::start(&[region], 55).await;
    let initial = lab.populate(&[(false, region, 5), (true, region, 1)]).await;
    let handler = lab.handler();
    // 8% of the SDK calls fail through all their retries, so some deliveries fail and are
    // delivered again, as Lambda does with a transient error.
    lab.proxy
        .set_faults(FaultRates::mixed(0.08).per_call().with_latency(
            0.3,
            Duration::ZERO,
            Duration::from_millis(15),
        ));
    let steps = scaled(80, 400);
    let pending: Mutex<Vec<Delivery>> = Mutex::new(Vec::new());
    let producing = AtomicBool::new(true);
    let in_flight = AtomicUsize::new(0);
    let picker = Mutex::new(fastrand::Rng::with_seed(5055));
    let reports: Mutex<Vec<EventReport>> = Mutex::new(Vec::new());
    let redeliveries = AtomicUsize::new(0);
    let every_cluster: Mutex<BTreeSet<Cluster>> = Mutex::new(initial.iter().cloned().collect());

    let producer = async {
        let mut rng = fastrand::Rng::with_seed(55);
        let mut estate = initial.clone();
        for step in 0..steps {
            let event = lab.change(&mut rng, &mut estate).await;
            every_cluster.lock().unwrap().extend(estate.iter().cloned());
            let mut deliveries: Vec<Delivery> = (0..rng.usize(1..=4))
                .map(|_| Delivery {
                    event: event.clone(),
                    failures: 0,
                })
                .collect();
            // Events that change nothing: a CloudTrail record of a failed call, and a node
            // group's tags.
            if step % 10 == 0 {
                let cluster = &estate[0];
                deliveries.push(Delivery {
                    event: failed_call(untag_resource_event(&cluster.arn(), &["opal"])),
                    failures: 0,
                });
                let mut nodegroup = tag_change_event(&cluster.arn(), &[], &["team"]);
                nodegroup["resources"] = json!([format!(
                    "arn:aws:eks:{}:{}:nodegroup/{}/workers/4ec7a3b2",
                    cluster.region,
                    cluster.account(),
                    cluster.name
                )]);
                deliveries.push(Delivery {
                    event: nodegroup,
                    failures: 0,
                });
            }
            pending.lock().unwrap().extend(deliveries);
            tokio::time::sleep(Duration::from_millis(rng.u64(0..10))).await;
        }
        producing.store(false, Ordering::SeqCst);
    };
    let consumer = {
        let (pending, producing, in_flight, picker, reports, redeliveries) = (
            &pending,
            &producing,
            &in_flight,
            &picker,
            &reports,
            &redeliveries,
        );
        let handler = &handler;
        move || async move {
            loop {
                let next = {
                    let mut queue = pending.lock().unwrap();
                    if queue.is_empty() {
                        None
                    } else {
                        let index = picker.lock().unwrap().usize(0..queue.len());
                        in_flight.fetch_add(1, Ordering::SeqCst);
                        Some(queue.swap_remove(index))
                    }
                };
                let Some(mut delivery) = next else {
                    if !producing.load(Ordering::SeqCst) && in_flight.load(Ordering::SeqCst) == 0 {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                };
                match handler.handle_event(&delivery.event).await {
                    Ok(report) => reports.lock().unwrap().push(report),
                    Err(error) => {
                        assert!(error.is_transient(), "{error:?}");
                        delivery.failures += 1;
                        assert!(
                            delivery.failures < 20,
                            "event {} failed 20 times: {error:?}",
                            delivery.event["id"]
                        );
                        redeliveries.fetch_add(1, Ordering::SeqCst);
                        pending.lock().unwrap().push(delivery);
                    }
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        }
    };
    let consumers = join_all((0..12).map(|_| consumer()));
    tokio::join!(producer, consumers);

    let reports = reports.into_inner().unwrap();
    assert!(
        reports.len() >= 2 * steps,
        "only {} deliveries for {steps} changes",
        reports.len()
    );
    assert!(
        redeliveries.load(Ordering::SeqCst) > 0,
        "no delivery failed, so redelivery went unchecked"
    );
    let dropped: Vec<&EventReport> = reports
        .iter()
        .filter(|report| {
            report
                .clusters
                .iter()
                .any(|cluster| cluster.outcome == Outcome::Dropped)
        })
        .collect();
    assert_eq!(dropped, Vec::<&EventReport>::new(), "no event is dropped");
    let failed_calls = reports
        .iter()
        .filter(|report| matches!(report.ignored, Some(Ignored::FailedCall { .. })))
        .count();
    let not_clusters = reports
        .iter()
        .filter(|report| matches!(report.ignored, Some(Ignored::NotACluster { .. })))
        .count();
    assert_eq!(failed_calls, steps.div_ceil(10));
    assert_eq!(not_clusters, steps.div_ceil(10));

    for cluster in every_cluster.into_inner().unwrap() {
        let stored = lab.stored(&cluster).await;
        let stored_content = match &stored {
            Some(Stored::Live(entry)) => Some(content(entry)),
            _ => None,
        };
        assert_eq!(
            stored_content,
            lab.true_content(&cluster).await,
            "{} after the flood",
            cluster.name
        );
    }
}
