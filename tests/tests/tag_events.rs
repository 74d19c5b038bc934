//! The tag-change handler against a moto server: the sample events rewritten for a moto estate,
//! their variants, duplicate and reordered delivery, another account, and races with the
//! importer.
//!
//! The events come from `tests/fixtures/events/`. Their account, region and cluster fields are
//! rewritten to name clusters that the test creates in moto, and the test makes the change an
//! event records before it delivers the event, as AWS would.

use std::sync::atomic::{AtomicU32, Ordering};

use eksgate_catalog::{Catalog, CatalogEntry, ClusterRecord, RoleRecord, Stored, WritePolicy};
use eksgate_estate::{
    AwsScopeClients, ClusterArn, ScopeClients, ScopeError, describe_cluster, desired_state,
};
use eksgate_tag_events::{EventReport, Ignored, Outcome, TagEventHandler, handle};
use eksgate_tags::Namespace;
use eksgate_tests::aws::{OWN_ACCOUNT, local_config, member_config};
use eksgate_tests::estate::{
    ClusterSpec, create_cluster, delete_cluster, eks_client, tag_cluster, untag_cluster,
};
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use eksgate_tests::{local_importer, local_tag_event_handler, repo_root};
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

const TABLE: &str = "eksgate-test";
const EU: &str = "eu-west-1";
const US: &str = "us-east-1";
const MEMBER_ACCOUNT: &str = "222233334444";
const MEMBER_ROLE: &str = "arn:aws:iam::222233334444:role/eksgate-read";
/// The account that the sample events name.
const SAMPLE_ACCOUNT: &str = "111122223333";

struct Estate {
    moto: Moto,
    catalog: Catalog,
}

impl Estate {
    async fn start() -> Self {
        let moto = Moto::start();
        let config = local_config(&moto.endpoint(), EU);
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        create_catalog_table(&dynamodb, TABLE).await;
        Self {
            catalog: Catalog::new(dynamodb, TABLE),
            moto,
        }
    }

    fn endpoint(&self) -> String {
        self.moto.endpoint()
    }

    fn handler(&self) -> TagEventHandler<AwsScopeClients> {
        local_tag_event_handler(&self.endpoint(), TABLE, &[MEMBER_ROLE])
    }

    /// Creates a cluster in moto's own account and returns its ARN.
    async fn create(&self, region: &str, name: &str, tags: &[(&str, &str)]) -> ClusterArn {
        let arn = create_cluster(
            &local_config(&self.endpoint(), region),
            &ClusterSpec::new(region, name, tags),
        )
        .await;
        ClusterArn::parse(&arn).expect("moto returns a cluster ARN")
    }

    async fn tag(&self, arn: &ClusterArn, tags: &[(&str, &str)]) {
        let config = local_config(&self.endpoint(), &arn.region);
        tag_cluster(&config, &arn.region, &arn.to_string(), tags).await;
    }

    async fn untag(&self, arn: &ClusterArn, keys: &[&str]) {
        let config = local_config(&self.endpoint(), &arn.region);
        untag_cluster(&config, &arn.region, &arn.to_string(), keys).await;
    }

    async fn stored(&self, arn: &ClusterArn) -> Option<Stored> {
        self.catalog
            .get(&arn.to_string())
            .await
            .expect("catalog read")
    }

    async fn entry(&self, arn: &ClusterArn) -> Option<CatalogEntry> {
        match self.stored(arn).await {
            Some(Stored::Live(entry)) => Some(entry),
            _ => None,
        }
    }

    /// Returns the catalog content that the cluster calls for now, from a fresh DescribeCluster:
    /// `None` when it is missing or untagged.
    async fn true_state(&self, arn: &ClusterArn) -> Option<Content> {
        let config = if arn.account == OWN_ACCOUNT {
            local_config(&self.endpoint(), &arn.region)
        } else {
            member_config(&self.endpoint(), &arn.region, MEMBER_ROLE).await
        };
        let (cluster, observed_at) = describe_cluster(&eks_client(&config, &arn.region), &arn.name)
            .await
            .expect("moto DescribeCluster");
        match desired_state(&Namespace::default(), arn, cluster.as_ref(), observed_at) {
            eksgate_catalog::Desired::Present(entry) => Some(content(entry)),
            eksgate_catalog::Desired::Absent { .. } => None,
        }
    }

    /// Asserts that the catalog contains exactly what the cluster calls for now.
    async fn assert_true_state(&self, arn: &ClusterArn, context: &str) {
        let expected = self.true_state(arn).await;
        let stored = self.entry(arn).await.map(content);
        assert_eq!(stored, expected, "{context}: catalog entry of {arn}");
    }
}

/// The part of an entry that an observation decides: everything but its observation time.
type Content = (ClusterRecord, Vec<RoleRecord>);

fn content(entry: CatalogEntry) -> Content {
    (entry.cluster, entry.roles)
}

fn role_names(entry: &CatalogEntry) -> Vec<&str> {
    entry.roles.iter().map(|role| role.name.as_str()).collect()
}

fn fixture(name: &str) -> Value {
    let path = repo_root().join("tests/fixtures/events").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {} failed: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not valid JSON: {error}", path.display()))
}

/// Replaces `from` with `to` in every string of `value`.
fn replace_in_strings(value: &mut Value, from: &str, to: &str) {
    match value {
        Value::String(text) => *text = text.replace(from, to),
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_in_strings(item, from, to)),
        Value::Object(fields) => fields
            .values_mut()
            .for_each(|field| replace_in_strings(field, from, to)),
        _ => {}
    }
}

/// Gives each event its own EventBridge ID, as EventBridge does.
fn next_event_id() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Loads a sample event and rewrites its envelope and identity for `arn`'s account and region.
fn sample_for(name: &str, arn: &ClusterArn) -> Value {
    let mut event = fixture(name);
    replace_in_strings(&mut event, SAMPLE_ACCOUNT, &arn.account);
    event["id"] = json!(next_event_id());
    event["region"] = json!(arn.region);
    if event["detail"].get("awsRegion").is_some() {
        event["detail"]["awsRegion"] = json!(arn.region);
    }
    event
}

fn tag_map(tags: &[(&str, &str)]) -> Value {
    Value::Object(
        tags.iter()
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect(),
    )
}

/// Returns the `aws.tag` sample rewritten for `arn`, carrying the cluster's tags after the change.
fn tag_change_event(arn: &ClusterArn, tags: &[(&str, &str)], changed: &[&str]) -> Value {
    let mut event = sample_for("tag-change-on-resource.json", arn);
    event["resources"] = json!([arn.to_string()]);
    event["detail"]["tags"] = tag_map(tags);
    event["detail"]["changed-tag-keys"] = json!(changed);
    event
}

/// Returns the CloudTrail TagResource sample rewritten for `arn`, adding `tags`.
fn tag_resource_event(arn: &ClusterArn, tags: &[(&str, &str)]) -> Value {
    let mut event = sample_for("cloudtrail-tag-resource.json", arn);
    event["detail"]["requestParameters"]["resourceArn"] = json!(arn.to_string());
    event["detail"]["requestParameters"]["tags"] = tag_map(tags);
    event
}

/// Returns the CloudTrail UntagResource sample rewritten for `arn`, removing `keys`.
fn untag_resource_event(arn: &ClusterArn, keys: &[&str]) -> Value {
    let mut event = sample_for("cloudtrail-untag-resource.json", arn);
    event["detail"]["requestParameters"]["resourceArn"] = json!(arn.to_string());
    event["detail"]["requestParameters"]["tagKeys"] = json!(keys);
    event
}

/// Returns the CloudTrail DeleteCluster sample rewritten for `arn`.
fn delete_cluster_event(arn: &ClusterArn) -> Value {
    let mut event = sample_for("cloudtrail-delete-cluster.json", arn);
    event["detail"]["requestParameters"]["name"] = json!(arn.name);
    event["detail"]["responseElements"]["cluster"]["name"] = json!(arn.name);
    event["detail"]["responseElements"]["cluster"]["arn"] = json!(arn.to_string());
    event
}

/// Returns a CloudTrail CreateCluster record for `arn`. It is built from the DeleteCluster
/// sample, so it keeps that envelope and identity, with the request and response of CreateCluster.
fn create_cluster_event(arn: &ClusterArn, tags: &[(&str, &str)]) -> Value {
    let mut event = sample_for("cloudtrail-delete-cluster.json", arn);
    event["detail"]["eventName"] = json!("CreateCluster");
    event["detail"]["requestParameters"] = json!({
        "name": arn.name,
        "version": "1.31",
        "roleArn": format!("arn:aws:iam::{}:role/eks-cluster", arn.account),
        "resourcesVpcConfig": {"subnetIds": ["subnet-0a1b2c3d"]},
        "tags": tag_map(tags),
    });
    event["detail"]["responseElements"] = json!({
        "cluster": {"name": arn.name, "arn": arn.to_string(), "status": "CREATING"}
    });
    event
}

/// Marks a CloudTrail event as the record of a failed call.
fn failed(mut event: Value, error_code: &str) -> Value {
    event["detail"]["errorCode"] = json!(error_code);
    event["detail"]["errorMessage"] = json!(format!("{error_code} for tests"));
    event["detail"]["responseElements"] = Value::Null;
    event
}

/// Returns the tags that a sample TagResource event adds.
fn requested_tags(event: &Value) -> Vec<(String, String)> {
    event["detail"]["requestParameters"]["tags"]
        .as_object()
        .expect("requestParameters.tags is an object")
        .iter()
        .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_string()))
        .collect()
}

async fn deliver(handler: &TagEventHandler<AwsScopeClients>, event: &Value) -> EventReport {
    handler
        .handle_event(event)
        .await
        .unwrap_or_else(|error| panic!("handling event {} failed: {error:?}", event["id"]))
}

/// Returns the one cluster outcome of a report.
fn outcome(report: &EventReport) -> Outcome {
    assert_eq!(report.clusters.len(), 1, "report {report:?}");
    report.clusters[0].outcome
}

#[tokio::test]
async fn tag_change_sample_updates_roles() {
    let estate = Estate::start().await;
    let arn = estate
        .create(
            EU,
            "payments-prod",
            &[
                ("opal", ""),
                ("opal:eks:role:1", "ClusterAdmin"),
                ("team", "payments"),
            ],
        )
        .await;
    local_importer(&estate.endpoint(), TABLE, &[EU], &[])
        .run()
        .await;
    let sample = fixture("tag-change-on-resource.json");
    let view = sample["detail"]["tags"]["opal:eks:role:2"]
        .as_str()
        .expect("the sample adds opal:eks:role:2");
    estate.tag(&arn, &[("opal:eks:role:2", view)]).await;

    let event = tag_change_event(
        &arn,
        &[
            ("opal", ""),
            ("opal:eks:role:1", "ClusterAdmin"),
            ("opal:eks:role:2", view),
            ("team", "payments"),
        ],
        &["opal:eks:role:2"],
    );
    let report = deliver(&estate.handler(), &event).await;

    assert_eq!(report.event_id.as_deref(), event["id"].as_str());
    assert_eq!(
        report.detail_type.as_deref(),
        Some("Tag Change on Resource")
    );
    assert_eq!(report.ignored, None);
    assert_eq!(outcome(&report), Outcome::Update);
    assert_eq!(report.clusters[0].cluster_arn, arn.to_string());
    assert!(report.clusters[0].items_written > 0, "report {report:?}");
    assert!(report.aws_calls > 0);
    let entry = estate.entry(&arn).await.expect("entry kept");
    assert_eq!(role_names(&entry), vec!["ClusterAdmin", "ClusterView"]);
    estate.assert_true_state(&arn, "after the event").await;
}

#[tokio::test]
async fn created_cluster_imported() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let tags = [
        ("opal", ""),
        ("opal:eks:role:1", "ClusterAdmin"),
        ("opal:eks:role:2", "teams/dev/ClusterView"),
    ];
    let arn = estate.create(US, "staging", &tags).await;
    let untagged = estate.create(US, "scratch", &[("team", "dev")]).await;

    let report = deliver(&handler, &create_cluster_event(&arn, &tags)).await;

    assert_eq!(report.event_name.as_deref(), Some("CreateCluster"));
    assert_eq!(outcome(&report), Outcome::Import);
    assert!(report.clusters[0].items_written > 0, "report {report:?}");
    let entry = estate.entry(&arn).await.expect("created cluster imported");
    assert_eq!(role_names(&entry), vec!["ClusterAdmin", "ClusterView"]);
    assert_eq!(
        entry.roles[1].assume_arn,
        "arn:aws:iam::123456789012:role/teams/dev/ClusterView"
    );
    assert_eq!(entry.cluster.account, OWN_ACCOUNT);
    assert_eq!(entry.cluster.region, US);
    estate.assert_true_state(&arn, "after CreateCluster").await;

    let report = deliver(
        &handler,
        &create_cluster_event(&untagged, &[("team", "dev")]),
    )
    .await;
    assert_eq!(outcome(&report), Outcome::MarkAbsent);
    assert_eq!(estate.entry(&untagged).await, None);
}

#[tokio::test]
async fn cloudtrail_samples_applied() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let arn = estate.create(US, "staging", &[("team", "platform")]).await;

    // TagResource with the sample's tags, opal=x and opal:eks:role:1=ClusterAdmin, after an
    // earlier change that added opal:eks:role:2.
    let sample_tags = requested_tags(&fixture("cloudtrail-tag-resource.json"));
    let tags: Vec<(&str, &str)> = sample_tags
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    estate
        .tag(&arn, &[("opal:eks:role:2", "ClusterView")])
        .await;
    estate.tag(&arn, &tags).await;
    let report = deliver(&handler, &tag_resource_event(&arn, &tags)).await;
    assert_eq!(report.event_name.as_deref(), Some("TagResource"));
    assert_eq!(outcome(&report), Outcome::Import);
    let entry = estate.entry(&arn).await.expect("tagged cluster imported");
    assert_eq!(role_names(&entry), vec!["ClusterAdmin", "ClusterView"]);
    estate.assert_true_state(&arn, "after TagResource").await;

    // UntagResource, as in the sample: opal:eks:role:1 removed.
    let untag_event = untag_resource_event(&arn, &["opal:eks:role:1"]);
    estate.untag(&arn, &["opal:eks:role:1"]).await;
    let report = deliver(&handler, &untag_event).await;
    assert_eq!(outcome(&report), Outcome::Update);
    assert!(report.clusters[0].items_written > 0, "report {report:?}");
    let entry = estate.entry(&arn).await.expect("entry kept");
    assert_eq!(role_names(&entry), vec!["ClusterView"]);
    estate.assert_true_state(&arn, "after UntagResource").await;

    // UntagResource of the namespace tag: the cluster leaves the catalog with its roles.
    estate.untag(&arn, &["opal"]).await;
    let report = deliver(&handler, &untag_resource_event(&arn, &["opal"])).await;
    assert_eq!(outcome(&report), Outcome::Remove);
    assert!(report.clusters[0].items_written > 0, "report {report:?}");
    assert!(matches!(
        estate.stored(&arn).await,
        Some(Stored::Removed { .. })
    ));
    let all = estate.catalog.all().await.unwrap();
    assert!(all.is_empty(), "no live entry or role left: {all:?}");

    // Tagged again, then DeleteCluster.
    estate.tag(&arn, &[("opal", "")]).await;
    let report = deliver(&handler, &tag_resource_event(&arn, &[("opal", "")])).await;
    assert_eq!(outcome(&report), Outcome::Import);
    delete_cluster(&local_config(&estate.endpoint(), US), US, &arn.name).await;
    let report = deliver(&handler, &delete_cluster_event(&arn)).await;
    assert_eq!(report.event_name.as_deref(), Some("DeleteCluster"));
    assert_eq!(outcome(&report), Outcome::Remove);
    assert!(matches!(
        estate.stored(&arn).await,
        Some(Stored::Removed { .. })
    ));
    estate.assert_true_state(&arn, "after DeleteCluster").await;
}

#[tokio::test]
async fn failed_calls_change_nothing() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let arn = estate
        .create(
            US,
            "staging",
            &[("opal", "x"), ("opal:eks:role:1", "ClusterAdmin")],
        )
        .await;
    deliver(&handler, &create_cluster_event(&arn, &[])).await;
    let before = estate.catalog.all().await.unwrap();
    // The cluster now differs from its entry, so any refresh would write.
    estate.untag(&arn, &["opal:eks:role:1"]).await;
    estate
        .tag(&arn, &[("opal:eks:role:2", "ClusterView")])
        .await;

    let events = [
        (
            "TagResource",
            failed(
                tag_resource_event(&arn, &[("opal:eks:role:2", "ClusterView")]),
                "AccessDeniedException",
            ),
        ),
        (
            "UntagResource",
            failed(
                untag_resource_event(&arn, &["opal:eks:role:1"]),
                "AccessDeniedException",
            ),
        ),
        (
            "DeleteCluster",
            failed(delete_cluster_event(&arn), "ResourceInUseException"),
        ),
        (
            "CreateCluster",
            failed(create_cluster_event(&arn, &[]), "ResourceInUseException"),
        ),
    ];
    for (name, event) in &events {
        let report = deliver(&handler, event).await;
        assert_eq!(report.clusters, vec![], "{name}");
        assert!(
            matches!(&report.ignored, Some(Ignored::FailedCall { error_code }) if event["detail"]["errorCode"] == json!(error_code)),
            "{name}: {:?}",
            report.ignored
        );
        assert_eq!(report.aws_calls, 0, "{name}: no AWS request");
    }

    assert_eq!(
        estate.catalog.all().await.unwrap(),
        before,
        "entries, observation times included, are untouched"
    );
}

#[tokio::test]
async fn duplicate_delivery_idempotent() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let arn = estate.create(EU, "payments-prod", &[("opal", "")]).await;
    deliver(&handler, &create_cluster_event(&arn, &[])).await;
    estate
        .tag(&arn, &[("opal:eks:role:1", "ClusterAdmin")])
        .await;
    let event = tag_resource_event(&arn, &[("opal:eks:role:1", "ClusterAdmin")]);

    let first = deliver(&handler, &event).await;
    assert_eq!(outcome(&first), Outcome::Update);
    let after_first = estate.entry(&arn).await.expect("entry kept");

    for delivery in 2..=4 {
        let report = deliver(&handler, &event).await;
        let repeated = outcome(&report);
        assert!(
            matches!(repeated, Outcome::Touch | Outcome::Unchanged),
            "delivery {delivery}: {repeated}"
        );
        assert!(report.clusters[0].items_written <= 1, "delivery {delivery}");
        let entry = estate.entry(&arn).await.expect("entry kept");
        assert_eq!(
            content(entry.clone()),
            content(after_first.clone()),
            "delivery {delivery}"
        );
        assert!(entry.observed_at >= after_first.observed_at);
    }
    estate
        .assert_true_state(&arn, "after repeated delivery")
        .await;
}

#[tokio::test]
async fn reordered_delivery_ends_at_true_state() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let arn = estate
        .create(
            EU,
            "payments-prod",
            &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
        )
        .await;
    let created = create_cluster_event(&arn, &[]);
    deliver(&handler, &created).await;

    // Three changes, delivered last first.
    estate
        .tag(&arn, &[("opal:eks:role:2", "ClusterView")])
        .await;
    let added = tag_resource_event(&arn, &[("opal:eks:role:2", "ClusterView")]);
    estate.untag(&arn, &["opal:eks:role:1"]).await;
    let removed_role = untag_resource_event(&arn, &["opal:eks:role:1"]);
    estate.untag(&arn, &["opal"]).await;
    let untagged = untag_resource_event(&arn, &["opal"]);

    for (name, event) in [
        ("namespace removed", &untagged),
        ("role added", &added),
        ("role removed", &removed_role),
        ("creation", &created),
    ] {
        deliver(&handler, event).await;
        assert_eq!(estate.entry(&arn).await, None, "after {name}");
        estate.assert_true_state(&arn, name).await;
    }

    // Tagged again: a late event of the earlier removal re-reads the cluster and keeps it.
    estate.tag(&arn, &[("opal", "")]).await;
    let retagged = tag_change_event(
        &arn,
        &[("opal", ""), ("opal:eks:role:2", "ClusterView")],
        &["opal"],
    );
    assert_eq!(
        outcome(&deliver(&handler, &retagged).await),
        Outcome::Import
    );
    deliver(&handler, &untagged).await;
    let entry = estate
        .entry(&arn)
        .await
        .expect("late event keeps the entry");
    assert_eq!(role_names(&entry), vec!["ClusterView"]);
    estate.assert_true_state(&arn, "after the late event").await;

    // Deleted: late tag events after the DeleteCluster event bring nothing back.
    delete_cluster(&local_config(&estate.endpoint(), EU), EU, &arn.name).await;
    deliver(&handler, &delete_cluster_event(&arn)).await;
    for (name, event) in [("tag change", &retagged), ("role added", &added)] {
        let report = deliver(&handler, event).await;
        assert_eq!(outcome(&report), Outcome::MarkAbsent, "late {name}");
        assert!(
            matches!(estate.stored(&arn).await, Some(Stored::Removed { .. })),
            "late {name}"
        );
    }
}

#[tokio::test]
async fn late_importer_observation_superseded() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let arn = estate
        .create(
            EU,
            "payments-prod",
            &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
        )
        .await;
    deliver(&handler, &create_cluster_event(&arn, &[])).await;

    // An importer-style observation made before the change, written after the event.
    let eks = eks_client(&local_config(&estate.endpoint(), EU), EU);
    let (cluster, observed_at) = describe_cluster(&eks, &arn.name).await.unwrap();
    let stale = desired_state(&Namespace::default(), &arn, cluster.as_ref(), observed_at);
    estate.untag(&arn, &["opal"]).await;
    let report = deliver(&handler, &untag_resource_event(&arn, &["opal"])).await;
    assert_eq!(outcome(&report), Outcome::Remove);

    let late = estate
        .catalog
        .reconcile(None, &stale, WritePolicy::ChangesOnly)
        .await
        .unwrap();

    assert!(
        matches!(late.plan, eksgate_catalog::Plan::Superseded { .. }),
        "{:?}",
        late.plan
    );
    assert_eq!(estate.entry(&arn).await, None);
}

#[tokio::test]
async fn cross_account_cluster_via_member_role() {
    let estate = Estate::start().await;
    let member = member_config(&estate.endpoint(), EU, MEMBER_ROLE).await;
    let arn = create_cluster(
        &member,
        &ClusterSpec::new(
            EU,
            "analytics",
            &[("opal", ""), ("opal:eks:role:1", "AnalyticsAdmin")],
        ),
    )
    .await;
    let arn = ClusterArn::parse(&arn).unwrap();
    assert_eq!(arn.account, MEMBER_ACCOUNT);
    let event = tag_change_event(
        &arn,
        &[("opal", ""), ("opal:eks:role:1", "AnalyticsAdmin")],
        &["opal"],
    );
    assert_eq!(event["account"], json!(MEMBER_ACCOUNT));

    // Without a member-account role the event is dropped, not retried.
    let without_roles = local_tag_event_handler(&estate.endpoint(), TABLE, &[]);
    let report = deliver(&without_roles, &event).await;
    assert_eq!(outcome(&report), Outcome::Dropped);
    let error = report.clusters[0].error.as_deref().unwrap_or_default();
    assert!(error.contains(MEMBER_ACCOUNT), "{error}");
    assert_eq!(estate.entry(&arn).await, None);

    let report = deliver(&estate.handler(), &event).await;
    assert_eq!(outcome(&report), Outcome::Import);
    let entry = estate.entry(&arn).await.expect("member cluster imported");
    assert_eq!(entry.cluster.account, MEMBER_ACCOUNT);
    assert_eq!(
        entry.roles[0].assume_arn,
        "arn:aws:iam::222233334444:role/AnalyticsAdmin"
    );
    estate
        .assert_true_state(&arn, "after the member-account event")
        .await;

    // CloudTrail events from the member account name it as recipientAccountId.
    untag_cluster(&member, EU, &arn.to_string(), &["opal"]).await;
    let report = deliver(&estate.handler(), &untag_resource_event(&arn, &["opal"])).await;
    assert_eq!(outcome(&report), Outcome::Remove);
    assert_eq!(estate.entry(&arn).await, None);
}

#[tokio::test]
async fn non_cluster_resources_ignored() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let arn = estate
        .create(
            US,
            "staging",
            &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
        )
        .await;
    deliver(&handler, &create_cluster_event(&arn, &[])).await;
    let before = estate.catalog.all().await.unwrap();
    estate.untag(&arn, &["opal"]).await;

    let nodegroup = format!(
        "arn:aws:eks:{US}:{OWN_ACCOUNT}:nodegroup/staging/workers/4ec7a3b2-1c2d-3e4f-5a6b-7c8d9e0f1a2b"
    );
    let addon = format!(
        "arn:aws:eks:{US}:{OWN_ACCOUNT}:addon/staging/vpc-cni/0ac7a3b2-1c2d-3e4f-5a6b-7c8d9e0f1a2b"
    );
    let mut nodegroup_tagged = tag_resource_event(&arn, &[("team", "platform")]);
    nodegroup_tagged["detail"]["requestParameters"]["resourceArn"] = json!(nodegroup);
    let mut addon_untagged = untag_resource_event(&arn, &["team"]);
    addon_untagged["detail"]["requestParameters"]["resourceArn"] = json!(addon);
    let mut nodegroup_tag_change = tag_change_event(&arn, &[("team", "platform")], &["team"]);
    nodegroup_tag_change["resources"] = json!([nodegroup]);
    nodegroup_tag_change["detail"]["resource-type"] = json!("nodegroup");

    for (name, event) in [
        ("TagResource of a node group", &nodegroup_tagged),
        ("UntagResource of an add-on", &addon_untagged),
        ("tag change of a node group", &nodegroup_tag_change),
    ] {
        let report = deliver(&handler, event).await;
        assert_eq!(report.clusters, vec![], "{name}");
        assert!(
            matches!(report.ignored, Some(Ignored::NotACluster { .. })),
            "{name}: {:?}",
            report.ignored
        );
    }
    assert_eq!(estate.catalog.all().await.unwrap(), before);
}

#[tokio::test]
async fn unsupported_events_dropped() {
    let estate = Estate::start().await;
    let handler = estate.handler();
    let arn = estate.create(US, "staging", &[("opal", "")]).await;
    let mut unknown_call = tag_resource_event(&arn, &[]);
    unknown_call["detail"]["eventName"] = json!("UpdateClusterConfig");
    let mut tag_change_without_resources = tag_change_event(&arn, &[("opal", "")], &["opal"]);
    tag_change_without_resources
        .as_object_mut()
        .unwrap()
        .remove("resources");

    for (name, event) in [
        ("scheduled event", fixture("scheduled.json")),
        ("HTTP API request", fixture("http-api-connect.json")),
        ("unknown eventName", unknown_call),
        ("tag change without resources", tag_change_without_resources),
        ("not an object", json!("Tag Change on Resource")),
    ] {
        let report = handle(
            &handler,
            LambdaEvent::new(event, lambda_runtime::Context::default()),
        )
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(report.clusters, vec![], "{name}");
        assert!(
            matches!(report.ignored, Some(Ignored::Unsupported { .. })),
            "{name}: {:?}",
            report.ignored
        );
    }
    assert!(estate.catalog.all().await.unwrap().is_empty());
}

/// Hands out EKS clients whose endpoint is a closed port on 127.0.0.1, so every request fails
/// to connect.
struct Unreachable;

impl ScopeClients for Unreachable {
    async fn eks(&self, _account: &str, region: &str) -> Result<aws_sdk_eks::Client, ScopeError> {
        // Port 9 (discard) has no listener here, so the connection is refused at once.
        let config =
            aws_sdk_eks::config::Builder::from(&local_config("http://127.0.0.1:9", region))
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
                .build();
        Ok(aws_sdk_eks::Client::from_conf(config))
    }
}

#[tokio::test]
async fn transient_failure_returned_for_retry() {
    let estate = Estate::start().await;
    let arn = estate.create(EU, "payments-prod", &[("opal", "")]).await;
    let base = estate.handler();
    let handler = TagEventHandler {
        catalog: base.catalog,
        clients: Unreachable,
        namespace: base.namespace,
        calls: base.calls,
    };

    let event = tag_resource_event(&arn, &[("opal", "")]);
    let error = handler.handle_event(&event).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    assert_eq!(error.cluster_arn(), arn.to_string());

    let lambda_error = handle(
        &handler,
        LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .unwrap_err();
    let message = lambda_error.to_string();
    assert!(message.contains("eks:DescribeCluster failed"), "{message}");
    assert!(estate.catalog.all().await.unwrap().is_empty());
}

/// Returns the cluster's current tags in moto, sorted by key.
async fn current_tags(estate: &Estate, arn: &ClusterArn) -> Vec<(String, String)> {
    let config = local_config(&estate.endpoint(), &arn.region);
    let output = eks_client(&config, &arn.region)
        .describe_cluster()
        .name(&arn.name)
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

/// Makes one tag change of the race test, picked by round number, and returns its event: a
/// CloudTrail record in odd rounds and an `aws.tag` event in even ones.
async fn change_tags(estate: &Estate, arn: &ClusterArn, round: usize) -> Value {
    let role_keys: Vec<String> = current_tags(estate, arn)
        .await
        .into_iter()
        .map(|(key, _)| key)
        .filter(|key| key.starts_with("opal:eks:role:"))
        .collect();
    let role_key = format!("opal:eks:role:{round}");
    let role_name = format!("Role{round}");
    let (record, changed) = match round % 5 {
        0 | 3 => {
            estate.tag(arn, &[(&role_key, &role_name)]).await;
            (
                tag_resource_event(arn, &[(&role_key, &role_name)]),
                role_key.clone(),
            )
        }
        1 if !role_keys.is_empty() => {
            let key = role_keys[0].as_str();
            estate.untag(arn, &[key]).await;
            (untag_resource_event(arn, &[key]), key.to_string())
        }
        2 => {
            estate.untag(arn, &["opal"]).await;
            (untag_resource_event(arn, &["opal"]), "opal".to_string())
        }
        _ => {
            estate.tag(arn, &[("opal", "")]).await;
            (tag_resource_event(arn, &[("opal", "")]), "opal".to_string())
        }
    };
    if round % 2 == 1 {
        return record;
    }
    let tags = current_tags(estate, arn).await;
    let pairs: Vec<(&str, &str)> = tags
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    tag_change_event(arn, &pairs, &[&changed])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importer_and_handler_race() {
    const ROUNDS: usize = 20;
    let estate = Estate::start().await;
    let handler = estate.handler();
    let importer = local_importer(&estate.endpoint(), TABLE, &[EU], &[]);
    let arn = estate
        .create(
            EU,
            "payments-prod",
            &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
        )
        .await;
    let mut last_event = create_cluster_event(&arn, &[]);

    for round in 0..ROUNDS {
        // The importer scans, the handler works through the previous change's event, and the
        // cluster's tags change and that change's event is handled, all at once.
        let previous = last_event.clone();
        let (summary, previous_result, latest) =
            tokio::join!(importer.run(), handler.handle_event(&previous), async {
                let event = change_tags(&estate, &arn, round).await;
                let result = handler.handle_event(&event).await;
                (event, result)
            });
        let (event, latest_result) = latest;
        assert_eq!(summary.failures, vec![], "round {round}: importer failures");
        previous_result
            .unwrap_or_else(|error| panic!("round {round}: previous event failed: {error:?}"));
        latest_result
            .unwrap_or_else(|error| panic!("round {round}: latest event failed: {error:?}"));

        // The final run for the last change, as a late or repeated delivery would make.
        deliver(&handler, &event).await;
        estate
            .assert_true_state(&arn, &format!("round {round}"))
            .await;
        last_event = event;
    }
}
