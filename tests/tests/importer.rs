//! The importer against a moto server: a mixed estate, unchanged runs, changes between runs and
//! scopes that fail.

use eksgate_catalog::{Catalog, CatalogEntry, Stored};
use eksgate_estate::{AwsScopeClients, ScopeClients, ScopeError};
use eksgate_importer::Importer;
use eksgate_tests::aws::{OWN_ACCOUNT, local_config, member_config};
use eksgate_tests::estate::{
    ClusterSpec, create_cluster, delete_cluster, tag_cluster, untag_cluster,
};
use eksgate_tests::local_importer;
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;

const TABLE: &str = "eksgate-test";
const EU: &str = "eu-west-1";
const US: &str = "us-east-1";
const MEMBER_ROLE: &str = "arn:aws:iam::222233334444:role/eksgate-read";

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

    fn importer(&self) -> Importer<AwsScopeClients> {
        local_importer(&self.endpoint(), TABLE, &[EU, US], &[MEMBER_ROLE])
    }

    async fn create(&self, region: &str, name: &str, tags: &[(&str, &str)]) -> String {
        create_cluster(
            &local_config(&self.endpoint(), region),
            &ClusterSpec::new(region, name, tags),
        )
        .await
    }

    async fn entry(&self, arn: &str) -> Option<CatalogEntry> {
        match self.catalog.get(arn).await.expect("catalog read") {
            Some(Stored::Live(entry)) => Some(entry),
            _ => None,
        }
    }
}

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:eks:{region}:{OWN_ACCOUNT}:cluster/{name}")
}

fn role_names(entry: &CatalogEntry) -> Vec<&str> {
    entry.roles.iter().map(|role| role.name.as_str()).collect()
}

/// Creates the mixed estate: tagged with roles, tagged without roles, untagged, a role with a
/// path, a malformed value, in two regions and a member account.
async fn mixed_estate(estate: &Estate) {
    estate
        .create(
            EU,
            "payments-prod",
            &[
                ("opal", ""),
                ("opal:eks:role:1", "ClusterAdmin"),
                ("opal:eks:role:2", "teams/payments/ClusterView"),
                ("team", "payments"),
            ],
        )
        .await;
    estate
        .create(EU, "payments-staging", &[("opal", "x")])
        .await;
    estate.create(EU, "legacy", &[("team", "legacy")]).await;
    estate
        .create(
            US,
            "search",
            &[
                ("opal", ""),
                (
                    "opal:eks:role:admin",
                    "arn:aws:iam::123456789012:role/SearchAdmin",
                ),
                ("opal:eks:role:bad", "Search Admin"),
            ],
        )
        .await;
    estate
        .create(
            US,
            "data",
            &[
                ("opal", ""),
                ("opal:eks:role:1", "DataView"),
                ("opal:eks:role:2", "DataView"),
            ],
        )
        .await;
    estate.create(US, "sandbox", &[]).await;
    let member = member_config(&estate.endpoint(), EU, MEMBER_ROLE).await;
    create_cluster(
        &member,
        &ClusterSpec::new(
            EU,
            "analytics",
            &[("opal", ""), ("opal:eks:role:1", "AnalyticsAdmin")],
        ),
    )
    .await;
}

#[tokio::test]
async fn mixed_estate_imported() {
    let estate = Estate::start().await;
    mixed_estate(&estate).await;

    let summary = estate.importer().run().await;

    assert_eq!(summary.failures, vec![]);
    assert_eq!(summary.scopes, 4);
    assert_eq!(summary.scopes_failed, 0);
    assert_eq!(summary.clusters_seen, 7);
    assert_eq!(summary.imported, 5);
    assert_eq!(summary.roles, 5);
    assert_eq!(summary.clusters_with_problems, 2);
    assert_eq!(summary.writes, 5, "one item per cluster, roles included");
    assert!(summary.aws_calls > 0);

    let all = estate.catalog.all().await.unwrap();
    let mut arns: Vec<&str> = all.keys().map(String::as_str).collect();
    arns.sort();
    assert_eq!(
        arns,
        vec![
            "arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod",
            "arn:aws:eks:eu-west-1:123456789012:cluster/payments-staging",
            "arn:aws:eks:eu-west-1:222233334444:cluster/analytics",
            "arn:aws:eks:us-east-1:123456789012:cluster/data",
            "arn:aws:eks:us-east-1:123456789012:cluster/search",
        ]
    );

    let payments = estate.entry(&arn(EU, "payments-prod")).await.unwrap();
    assert_eq!(role_names(&payments), vec!["ClusterAdmin", "ClusterView"]);
    let view = &payments.roles[1];
    assert_eq!(view.path, "/teams/payments/");
    assert_eq!(
        view.assume_arn,
        "arn:aws:iam::123456789012:role/teams/payments/ClusterView"
    );
    assert_eq!(
        view.mapped_arn,
        "arn:aws:iam::123456789012:role/ClusterView"
    );
    assert_eq!(view.tag_key, "opal:eks:role:2");
    assert_eq!(payments.cluster.account, OWN_ACCOUNT);
    assert_eq!(payments.cluster.region, EU);
    assert_eq!(payments.cluster.partition, "aws");
    assert_eq!(payments.cluster.version.as_deref(), Some("1.31"));
    assert_eq!(payments.cluster.status, "ACTIVE");
    assert_eq!(
        payments.cluster.tags.get("team").map(String::as_str),
        Some("payments")
    );
    assert!(
        payments
            .cluster
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("https://"))
    );
    assert!(payments.cluster.ca_data.is_some());
    assert_eq!(payments.cluster.problems, Vec::<String>::new());

    let staging = estate.entry(&arn(EU, "payments-staging")).await.unwrap();
    assert_eq!(staging.roles, vec![]);

    let search = estate.entry(&arn(US, "search")).await.unwrap();
    assert_eq!(role_names(&search), vec!["SearchAdmin"]);
    assert_eq!(search.cluster.problems.len(), 1);
    assert!(search.cluster.problems[0].contains("opal:eks:role:bad"));

    let data = estate.entry(&arn(US, "data")).await.unwrap();
    assert_eq!(role_names(&data), vec!["DataView"]);
    assert_eq!(
        data.roles[0].problems.len(),
        1,
        "duplicate declaration is reported"
    );

    let analytics = estate
        .entry("arn:aws:eks:eu-west-1:222233334444:cluster/analytics")
        .await
        .unwrap();
    assert_eq!(analytics.cluster.account, "222233334444");
    assert_eq!(
        analytics.roles[0].assume_arn,
        "arn:aws:iam::222233334444:role/AnalyticsAdmin"
    );

    assert_eq!(estate.entry(&arn(EU, "legacy")).await, None);
    assert_eq!(estate.entry(&arn(US, "sandbox")).await, None);
}

#[tokio::test]
async fn unchanged_run_writes_nothing() {
    let estate = Estate::start().await;
    mixed_estate(&estate).await;
    let importer = estate.importer();
    let first = importer.run().await;
    let before = estate.catalog.all().await.unwrap();

    let second = importer.run().await;

    assert_eq!(second.failures, vec![]);
    assert_eq!(second.writes, 0);
    assert_eq!(second.imported, 0);
    assert_eq!(second.updated, 0);
    assert_eq!(second.removed, 0);
    assert_eq!(second.unchanged, first.imported);
    assert_eq!(second.clusters_seen, first.clusters_seen);
    assert_eq!(
        estate.catalog.all().await.unwrap(),
        before,
        "entries, observation times included, are untouched"
    );
}

#[tokio::test]
async fn changes_between_runs_reconciled() {
    let estate = Estate::start().await;
    mixed_estate(&estate).await;
    let importer = estate.importer();
    importer.run().await;
    let config = local_config(&estate.endpoint(), EU);
    let us_config = local_config(&estate.endpoint(), US);

    untag_cluster(&config, EU, &arn(EU, "payments-staging"), &["opal"]).await;
    delete_cluster(&us_config, US, "search").await;
    tag_cluster(
        &config,
        EU,
        &arn(EU, "payments-prod"),
        &[("opal:eks:role:1", "PlatformAdmin")],
    )
    .await;
    untag_cluster(&config, EU, &arn(EU, "payments-prod"), &["opal:eks:role:2"]).await;
    tag_cluster(
        &config,
        EU,
        &arn(EU, "legacy"),
        &[("opal", ""), ("opal:eks:role:1", "LegacyView")],
    )
    .await;

    let summary = importer.run().await;

    assert_eq!(summary.failures, vec![]);
    assert_eq!(summary.removed, 2);
    assert_eq!(summary.updated, 1);
    assert_eq!(summary.imported, 1);
    // payments-prod updated, search and payments-staging replaced by removal markers, legacy new.
    assert_eq!(summary.writes, 4);

    assert_eq!(estate.entry(&arn(EU, "payments-staging")).await, None);
    assert!(matches!(
        estate
            .catalog
            .get(&arn(EU, "payments-staging"))
            .await
            .unwrap(),
        Some(Stored::Removed { .. })
    ));
    assert!(matches!(
        estate.catalog.get(&arn(US, "search")).await.unwrap(),
        Some(Stored::Removed { .. })
    ));
    let payments = estate.entry(&arn(EU, "payments-prod")).await.unwrap();
    assert_eq!(role_names(&payments), vec!["PlatformAdmin"]);
    let legacy = estate.entry(&arn(EU, "legacy")).await.unwrap();
    assert_eq!(role_names(&legacy), vec!["LegacyView"]);

    let third = importer.run().await;
    assert_eq!(third.writes, 0, "the run after the changes writes nothing");
}

/// Hands out a client for one region that points at a closed port on 127.0.0.1, so its
/// requests fail to connect, and the real clients for every other scope.
struct BrokenRegion {
    inner: AwsScopeClients,
    region: &'static str,
}

impl ScopeClients for BrokenRegion {
    async fn eks(&self, account: &str, region: &str) -> Result<aws_sdk_eks::Client, ScopeError> {
        if region != self.region {
            return self.inner.eks(account, region).await;
        }
        // Port 9 (discard) has no listener here, so the connection is refused at once.
        let config =
            aws_sdk_eks::config::Builder::from(&local_config("http://127.0.0.1:9", region))
                .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2))
                .build();
        Ok(aws_sdk_eks::Client::from_conf(config))
    }
}

#[tokio::test]
async fn failed_scope_left_untouched() {
    let estate = Estate::start().await;
    mixed_estate(&estate).await;
    estate.importer().run().await;
    let us_before: Vec<CatalogEntry> = estate
        .catalog
        .scope(OWN_ACCOUNT, US)
        .await
        .unwrap()
        .into_values()
        .collect();
    let config = local_config(&estate.endpoint(), EU);
    let us_config = local_config(&estate.endpoint(), US);
    delete_cluster(&us_config, US, "data").await;
    untag_cluster(&us_config, US, &arn(US, "search"), &["opal"]).await;
    untag_cluster(&config, EU, &arn(EU, "payments-staging"), &["opal"]).await;

    let base = estate.importer();
    let importer = Importer {
        clients: BrokenRegion {
            inner: base.clients,
            region: US,
        },
        catalog: base.catalog,
        namespace: base.namespace,
        scopes: base.scopes,
        scope_concurrency: base.scope_concurrency,
        describe_concurrency: base.describe_concurrency,
        calls: base.calls,
    };
    let summary = importer.run().await;

    assert_eq!(summary.scopes_failed, 2, "us-east-1 of both accounts");
    assert_eq!(summary.failures.len(), 2);
    assert!(
        summary
            .failures
            .iter()
            .all(|f| f.scope.ends_with("/us-east-1") && f.cluster.is_none())
    );
    assert!(
        summary.failures.iter().all(|f| f.transient),
        "a refused connection may work later"
    );
    assert!(
        summary.failures[0]
            .error
            .contains("eks:ListClusters failed"),
        "{}",
        summary.failures[0].error
    );
    assert_eq!(summary.removed, 1, "eu-west-1 still updates");
    assert_eq!(estate.entry(&arn(EU, "payments-staging")).await, None);

    let us_after: Vec<CatalogEntry> = estate
        .catalog
        .scope(OWN_ACCOUNT, US)
        .await
        .unwrap()
        .into_values()
        .collect();
    assert_eq!(us_after, us_before, "the failed scope keeps its entries");
    assert_eq!(us_after.len(), 2);
}
