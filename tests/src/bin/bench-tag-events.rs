//! Benchmark of the tag-change handler on moto.
//!
//! Usage: `bench-tag-events [--events N]` (default 200). It starts its own moto server on
//! 127.0.0.1 with one tagged cluster, then N times changes a role tag and hands the matching
//! `aws.tag` event to the handler in-process. For each event it records the time from delivery
//! to the finished catalog write, and the handler process's CPU time. It prints one JSON line.

use std::time::Instant;

use eksgate_tests::aws::local_config;
use eksgate_tests::estate::{ClusterSpec, create_cluster, tag_cluster};
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use eksgate_tests::{local_tag_event_handler, process_cpu_seconds};
use serde_json::json;

const REGION: &str = "eu-west-1";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let events = eksgate_tests::count_option(&args, "--events", 200);

    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let config = local_config(&endpoint, REGION);
    create_catalog_table(&aws_sdk_dynamodb::Client::new(&config), "eksgate-bench").await;
    let spec = ClusterSpec::new(
        REGION,
        "payments-prod",
        &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
    );
    let arn = create_cluster(&config, &spec).await;
    let handler = local_tag_event_handler(&endpoint, "eksgate-bench", &[]);

    let mut latencies_ms = Vec::with_capacity(events);
    let mut cpu_seconds = 0.0;
    let mut items_written = 0usize;
    for index in 0..events {
        let role = format!("Oncall{index}");
        tag_cluster(
            &config,
            REGION,
            &arn,
            &[("opal:eks:role:oncall", role.as_str())],
        )
        .await;
        let event = json!({
            "version": "0",
            "id": format!("bench-{index}"),
            "detail-type": "Tag Change on Resource",
            "source": "aws.tag",
            "account": "123456789012",
            "time": "2026-12-04T12:00:00Z",
            "region": REGION,
            "resources": [arn],
            "detail": {"changed-tag-keys": ["opal:eks:role:oncall"], "service": "eks", "resource-type": "cluster", "version": index + 1},
        });

        let cpu_before = process_cpu_seconds();
        let delivered = Instant::now();
        let report = handler.handle_event(&event).await.expect("handler run");
        latencies_ms.push(delivered.elapsed().as_secs_f64() * 1000.0);
        cpu_seconds += process_cpu_seconds() - cpu_before;
        items_written += report
            .clusters
            .iter()
            .map(|cluster| cluster.items_written)
            .sum::<usize>();
    }

    latencies_ms.sort_by(f64::total_cmp);
    let percentile =
        |p: f64| latencies_ms[((latencies_ms.len() as f64 - 1.0) * p).round() as usize];
    let round = |value: f64| (value * 100.0).round() / 100.0;
    println!(
        "{}",
        json!({
            "events": events,
            "items_written": items_written,
            "delivery_to_write_ms_p50": round(percentile(0.5)),
            "delivery_to_write_ms_p99": round(percentile(0.99)),
            "delivery_to_write_ms_max": round(percentile(1.0)),
            "handler_cpu_ms_per_event": round(cpu_seconds * 1000.0 / events as f64),
        })
    );
}
