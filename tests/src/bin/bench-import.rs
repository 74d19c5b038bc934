//! Benchmark of the importer on a large estate in moto.
//!
//! Usage: `bench-import [--clusters N] [--regions R] [--concurrency C]`. It starts its own moto
//! server on 127.0.0.1, creates N clusters spread over R regions of one account (two of every
//! three tagged, with one to three roles), then runs the importer three times: the first import,
//! an unchanged run, and a run after 1% of the clusters changed their tags. It prints one JSON
//! line per run with the wall time, the importer's CPU time, AWS calls and items written.

use std::time::Instant;

use eksgate_tests::aws::{OWN_ACCOUNT, local_config};
use eksgate_tests::estate::{ClusterSpec, create_cluster, tag_cluster};
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use eksgate_tests::{local_importer, peak_rss_mib, process_cpu_seconds};
use futures::StreamExt;
use serde_json::json;

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
    let regions = &REGIONS[..region_count];

    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let table = "eksgate-bench";
    create_catalog_table(
        &aws_sdk_dynamodb::Client::new(&local_config(&endpoint, regions[0])),
        table,
    )
    .await;

    let seed_started = Instant::now();
    let specs: Vec<ClusterSpec> = (0..clusters).map(|index| spec(index, regions)).collect();
    futures::stream::iter(&specs)
        .map(|spec| {
            let config = local_config(&endpoint, &spec.region);
            async move { create_cluster(&config, spec).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    eprintln!(
        "created {clusters} clusters in {} regions in {:.1} s",
        regions.len(),
        seed_started.elapsed().as_secs_f64()
    );

    let mut importer = local_importer(&endpoint, table, regions, &[]);
    importer.scope_concurrency = concurrency;
    importer.describe_concurrency = concurrency;

    measure("first", &importer).await;
    measure("unchanged", &importer).await;

    let changed = clusters / 100;
    for spec in specs
        .iter()
        .filter(|spec| spec.tags.iter().any(|(k, _)| k == "opal"))
        .take(changed)
    {
        let arn = format!(
            "arn:aws:eks:{}:{OWN_ACCOUNT}:cluster/{}",
            spec.region, spec.name
        );
        tag_cluster(
            &local_config(&endpoint, &spec.region),
            &spec.region,
            &arn,
            &[("opal:eks:role:9", "BenchOncall")],
        )
        .await;
    }
    eprintln!("changed the tags of {changed} clusters");
    measure("one_percent_changed", &importer).await;
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
