//! Benchmark of the importer on a large estate in moto.
//!
//! Usage: `bench-import [--clusters N] [--regions R] [--accounts A] [--concurrency C]
//! [--sweep C1,C2,...]`. It starts its own moto server on 127.0.0.1, creates N clusters spread
//! over R regions of A accounts: moto's own and up to two member accounts that the importer
//! reaches through a role. Two of every three clusters are tagged, with one to three roles.
//! It then runs the importer three times: the first import, an unchanged run, and a run after
//! 1% of the clusters changed their tags. It prints one JSON line per run with the wall time, the
//! importer's CPU time, AWS calls and items written.
//!
//! With `--sweep`, it then runs, for each concurrency C (used for scopes and DescribeCluster calls
//! alike), an unchanged import and a baseline: the minimal calls of such a run (every
//! ListClusters page and one DescribeCluster per cluster, with the same clients and the same
//! concurrency, and nothing else). The baseline's wall time is what this local AWS needs to
//! answer those calls, the floor for the importer on this machine.

use std::time::Instant;

use eksgate_estate::{ScopeClients, describe_cluster, list_cluster_names};
use eksgate_tests::aws::{OWN_ACCOUNT, local_config, member_config};
use eksgate_tests::estate::{ClusterSpec, create_cluster, tag_cluster};
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use eksgate_tests::{local_importer, peak_rss_mib, process_cpu_seconds};
use futures::StreamExt;
use serde_json::json;

/// Read-only roles of the member accounts, which moto lets any caller assume.
const MEMBER_ROLES: &[&str] = &[
    "arn:aws:iam::222233334444:role/eksgate-read",
    "arn:aws:iam::333344445555:role/eksgate-read",
];

const REGIONS: &[&str] = &[
    "eu-west-1",
    "us-east-1",
    "us-west-2",
    "ap-southeast-1",
    "eu-central-1",
    "us-east-2",
    "ap-northeast-1",
    "sa-east-1",
];

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: usize| eksgate_tests::count_option(&args, name, default);
    let clusters = option("--clusters", 1000);
    let region_count = option("--regions", 4).clamp(1, REGIONS.len());
    let concurrency = option("--concurrency", 8);
    let account_count = option("--accounts", 1).clamp(1, MEMBER_ROLES.len() + 1);
    let sweep: Vec<usize> = args
        .windows(2)
        .find(|pair| pair[0] == "--sweep")
        .map(|pair| {
            pair[1]
                .split(',')
                .map(|value| {
                    value.trim().parse().unwrap_or_else(|_| {
                        panic!("--sweep takes comma-separated whole numbers, not {value:?}")
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let regions = &REGIONS[..region_count];
    let member_roles = &MEMBER_ROLES[..account_count - 1];

    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let table = "eksgate-bench";
    create_catalog_table(
        &aws_sdk_dynamodb::Client::new(&local_config(&endpoint, regions[0])),
        table,
    )
    .await;

    let seed_started = Instant::now();
    let mut account_configs = vec![(OWN_ACCOUNT.to_string(), local_config(&endpoint, regions[0]))];
    for role in member_roles {
        let account = eksgate_estate::parse_member_role_arn(role).expect("valid role ARN");
        account_configs.push((account, member_config(&endpoint, regions[0], role).await));
    }
    let specs: Vec<(usize, ClusterSpec)> = (0..clusters)
        .map(|index| (index % account_configs.len(), spec(index, regions)))
        .collect();
    futures::stream::iter(&specs)
        .map(|(account, spec)| {
            let config = &account_configs[*account].1;
            async move { create_cluster(config, spec).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    eprintln!(
        "created {clusters} clusters in {} regions of {} accounts in {:.1} s",
        regions.len(),
        account_configs.len(),
        seed_started.elapsed().as_secs_f64()
    );

    let mut importer = local_importer(&endpoint, table, regions, member_roles);
    importer.scope_concurrency = concurrency;
    importer.describe_concurrency = concurrency;

    measure("first", &importer).await;
    measure("unchanged", &importer).await;

    let changed = clusters / 100;
    for (account, spec) in specs
        .iter()
        .filter(|(_, spec)| spec.tags.iter().any(|(k, _)| k == "opal"))
        .take(changed)
    {
        let (account_id, config) = &account_configs[*account];
        let arn = format!(
            "arn:aws:eks:{}:{account_id}:cluster/{}",
            spec.region, spec.name
        );
        tag_cluster(
            config,
            &spec.region,
            &arn,
            &[("opal:eks:role:9", "BenchOncall")],
        )
        .await;
    }
    eprintln!("changed the tags of {changed} clusters");
    measure("one_percent_changed", &importer).await;

    for concurrency in sweep {
        importer.scope_concurrency = concurrency;
        importer.describe_concurrency = concurrency;
        measure(
            &format!("unchanged_at_concurrency_{concurrency}"),
            &importer,
        )
        .await;
        baseline(&importer, concurrency).await;
    }
}

/// Runs the minimal calls of an unchanged import (all ListClusters pages, one DescribeCluster
/// per cluster) with the importer's clients and concurrency, and prints its wall time.
async fn baseline<C: ScopeClients>(importer: &eksgate_importer::Importer<C>, concurrency: usize) {
    if let Some(counter) = &importer.calls {
        // Reset the counts, so that the ones read below are the baseline's own.
        counter.take();
    }
    let started = Instant::now();
    let described: usize = futures::stream::iter(&importer.scopes)
        .map(|scope| async move {
            let eks = importer
                .clients
                .eks(&scope.account, &scope.region)
                .await
                .expect("scope client");
            let names = list_cluster_names(&eks).await.expect("ListClusters");
            let count = names.len();
            futures::stream::iter(names)
                .map(|name| {
                    let eks = eks.clone();
                    async move {
                        describe_cluster(&eks, &name)
                            .await
                            .expect("DescribeCluster")
                    }
                })
                .buffer_unordered(concurrency)
                .collect::<Vec<_>>()
                .await;
            count
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .sum();
    let wall = started.elapsed().as_secs_f64();
    let aws_calls = importer
        .calls
        .as_ref()
        .map(|counter| counter.take().total_attempts())
        .unwrap_or_default();
    println!(
        "{}",
        json!({
            "run": format!("baseline_at_concurrency_{concurrency}"),
            "wall_s": (wall * 1000.0).round() / 1000.0,
            "clusters_described": described,
            "aws_calls": aws_calls,
        })
    );
}

fn spec(index: usize, regions: &[&str]) -> ClusterSpec {
    let region = regions[index % regions.len()];
    let name = format!("bench-{index:05}");
    match index % 3 {
        0 => ClusterSpec::new(region, &name, &[("team", "bench")]),
        1 => ClusterSpec::new(
            region,
            &name,
            &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
        ),
        _ => ClusterSpec::new(
            region,
            &name,
            &[
                ("opal", ""),
                ("opal:eks:role:1", "ClusterAdmin"),
                ("opal:eks:role:2", "teams/dev/ClusterView"),
                ("opal:eks:role:3", "ReadOnly"),
            ],
        ),
    }
}

async fn measure<C: eksgate_estate::ScopeClients>(
    run: &str,
    importer: &eksgate_importer::Importer<C>,
) {
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let summary = importer.run().await;
    let wall = started.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds() - cpu_before;
    assert!(
        summary.failures.is_empty(),
        "benchmark run {run} failed: {:?}",
        summary.failures
    );
    println!(
        "{}",
        json!({
            "run": run,
            "wall_s": (wall * 1000.0).round() / 1000.0,
            "importer_cpu_s": (cpu * 100.0).round() / 100.0,
            "clusters_seen": summary.clusters_seen,
            "imported": summary.imported,
            "updated": summary.updated,
            "aws_calls": summary.aws_calls,
            "items_written": summary.writes,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
}
