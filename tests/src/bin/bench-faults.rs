//! Benchmark of the importer under injected faults.
//!
//! Usage: `bench-faults [--clusters N] [--regions R] [--runs K] [--seed S]
//! [--fault-percents P,P,...]` (defaults 200, 2, 3, 1 and 0,5,20). It starts its own moto server
//! on 127.0.0.1 with a fault proxy in front of it and creates N clusters spread over R regions of
//! one account, two of every three tagged. For each fault percentage it then makes K first
//! imports, each into a new table, through the proxy. P% of the requests get an error fault,
//! drawn per attempt and split evenly between throttling, server errors (500 or 503), connection
//! resets and lost responses. A fault-free run follows each import, and the catalog is compared
//! with a fault-free import into a separate table.
//!
//! It prints one JSON line per import: wall time, the SDK's attempts and retries, the faults that
//! the proxy injected, the import's failures, and the writes and result of the fault-free run.

use std::time::Instant;

use eksgate_catalog::{CatalogEntry, ClusterRecord, RoleRecord};
use eksgate_tests::aws::local_config;
use eksgate_tests::estate::{ClusterSpec, create_cluster};
use eksgate_tests::faults::{FaultProxy, FaultRates};
use eksgate_tests::local_importer;
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use futures::StreamExt;
use serde_json::json;

const REGIONS: &[&str] = &["eu-west-1", "us-east-1", "us-west-2", "ap-southeast-1"];

type Content = (ClusterRecord, Vec<RoleRecord>);

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: usize| eksgate_tests::count_option(&args, name, default);
    let clusters = option("--clusters", 200);
    let regions = &REGIONS[..option("--regions", 2).clamp(1, REGIONS.len())];
    let runs = option("--runs", 3);
    let seed = option("--seed", 1) as u64;
    let percents = fault_percents(&args);

    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint(), seed).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&local_config(&moto.endpoint(), regions[0]));

    let specs: Vec<ClusterSpec> = (0..clusters).map(|index| spec(index, regions)).collect();
    futures::stream::iter(&specs)
        .map(|spec| {
            let config = local_config(&moto.endpoint(), &spec.region);
            async move { create_cluster(&config, spec).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    create_catalog_table(&dynamodb, "bench-truth").await;
    let truth_run = local_importer(&moto.endpoint(), "bench-truth", regions, &[])
        .run()
        .await;
    assert!(
        truth_run.failures.is_empty(),
        "the fault-free import failed: {:?}",
        truth_run.failures
    );
    let truth = read_contents(&dynamodb, "bench-truth").await;
    eprintln!(
        "created {clusters} clusters in {} regions, {} of them tagged",
        regions.len(),
        truth.len()
    );

    for percent in percents {
        for run in 1..=runs {
            let table = format!("bench-{percent}-{run}");
            create_catalog_table(&dynamodb, &table).await;
            let importer = local_importer(&proxy.endpoint(), &table, regions, &[]);
            proxy.set_faults(FaultRates::mixed(f64::from(percent) / 100.0));
            proxy.reset_counts();

            let started = Instant::now();
            let summary = importer.run().await;
            let wall = started.elapsed().as_secs_f64();
            let stats = proxy.stats();

            proxy.set_faults(FaultRates::none());
            let follow_up = importer.run().await;
            let converged = read_contents(&dynamodb, &table).await == truth;
            println!(
                "{}",
                json!({
                    "fault_percent": percent,
                    "run": run,
                    "wall_s": (wall * 1000.0).round() / 1000.0,
                    "aws_calls": summary.aws_calls,
                    "retries": summary.retries,
                    "proxy_requests": stats.requests,
                    "injected": {
                        "throttled": stats.throttled,
                        "server_errors": stats.server_errors,
                        "resets": stats.resets,
                        "lost_responses": stats.lost_responses,
                    },
                    "failures": summary.failures.len(),
                    "scopes_failed": summary.scopes_failed,
                    "imported": summary.imported,
                    "follow_up_writes": follow_up.writes,
                    "follow_up_failures": follow_up.failures.len(),
                    "converged": converged,
                })
            );
        }
    }
}

/// Reads `--fault-percents 0,5,20`, whole percentages from 0 to 100.
fn fault_percents(args: &[String]) -> Vec<u32> {
    let Some(list) = args
        .windows(2)
        .find(|pair| pair[0] == "--fault-percents")
        .map(|pair| pair[1].clone())
    else {
        return vec![0, 5, 20];
    };
    list.split(',')
        .map(|item| {
            item.trim()
                .parse()
                .ok()
                .filter(|percent| *percent <= 100)
                .unwrap_or_else(|| {
                    panic!(
                        "--fault-percents takes whole percentages from 0 to 100, such as 0,5,20, \
                         not {item:?}"
                    )
                })
        })
        .collect()
}

/// Returns the `index`-th cluster: one in three untagged, one in three with one role, one in three with
/// three roles, one of them with an IAM path.
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

/// Reads the live entries of `table` without their observation times, straight from moto.
async fn read_contents(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> std::collections::BTreeMap<String, Content> {
    eksgate_catalog::Catalog::new(dynamodb.clone(), table)
        .all()
        .await
        .unwrap_or_else(|error| panic!("reading table {table} failed: {error}"))
        .into_iter()
        .map(|(arn, CatalogEntry { cluster, roles, .. })| (arn, (cluster, roles)))
        .collect()
}
