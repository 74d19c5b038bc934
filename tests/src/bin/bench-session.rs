//! Benchmark of the session issuer on moto.
//!
//! Usage: `bench-session [--rounds N] [--concurrency C] [--requests R]` (defaults 100, 16, 400).
//! It starts its own moto server on 127.0.0.1, imports one tagged cluster, and then:
//!
//! 1. runs N rounds of the workflow in one task (list clusters, create a request, approve it,
//!    connect, list requests) and records, per route, the wall time of each call and the CPU time
//!    the issuer spent on it. The benchmark runs on a current-thread runtime and moto runs in
//!    another process, so the thread's CPU time is the handler's own work, SDK signing and
//!    parsing included, without the AWS side of the calls;
//! 2. sends R connect requests from C concurrent tasks and records their latency and errors.
//!
//! It prints one JSON line per phase.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use eksgate_session_issuer::App;
use eksgate_tests::api::{User, http_event, local_session_issuer, response_parts};
use eksgate_tests::aws::local_config;
use eksgate_tests::estate::{ClusterSpec, create_cluster};
use eksgate_tests::moto::Moto;
use eksgate_tests::table::create_catalog_table;
use eksgate_tests::{count_option, local_importer, thread_cpu_seconds};
use serde_json::{Value, json};

const REGION: &str = "eu-west-1";
const TABLE: &str = "eksgate-bench";
const CLUSTER: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/payments-prod";

fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index]
}

/// Wall and CPU milliseconds of each call to one route.
#[derive(Default)]
struct RouteTimes {
    wall_ms: Vec<f64>,
    cpu_ms: Vec<f64>,
}

async fn call(
    app: &App,
    user: &User,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let event = http_event(method, path, Some(user.claims()), body.as_ref());
    response_parts(&app.handle(&event).await)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = count_option(&args, "--rounds", 100);
    let concurrency = count_option(&args, "--concurrency", 16).max(1);
    let requests = count_option(&args, "--requests", 400);

    let moto = Moto::start();
    let endpoint = moto.endpoint();
    let config = local_config(&endpoint, REGION);
    create_catalog_table(&aws_sdk_dynamodb::Client::new(&config), TABLE).await;
    let spec = ClusterSpec::new(
        REGION,
        "payments-prod",
        &[("opal", ""), ("opal:eks:role:1", "ClusterAdmin")],
    );
    create_cluster(&config, &spec).await;
    local_importer(&endpoint, TABLE, &[REGION], &[]).run().await;
    let app = Arc::new(local_session_issuer(&endpoint, TABLE, &[]).await);
    let developer = User::new("dev.one@example.com", &["eks-users"]);
    let approver = User::new("alice@example.com", &["platform"]);

    let mut routes: BTreeMap<&str, RouteTimes> = BTreeMap::new();
    let mut timed =
        async |route: &'static str, user: &User, method: &str, path: &str, body: Option<Value>| {
            let cpu_before = thread_cpu_seconds();
            let started = Instant::now();
            let (status, response) = call(&app, user, method, path, body).await;
            let times = routes.entry(route).or_default();
            times.wall_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            times
                .cpu_ms
                .push((thread_cpu_seconds() - cpu_before) * 1000.0);
            assert!(status < 300, "{route} answered {status}: {response}");
            response
        };
    for _ in 0..rounds {
        timed("GET /clusters", &developer, "GET", "/clusters", None).await;
        let body = json!({"cluster": CLUSTER, "role": "ClusterAdmin", "duration": "1h", "reason": "benchmark"});
        let created = timed(
            "POST /requests",
            &developer,
            "POST",
            "/requests",
            Some(body),
        )
        .await;
        let id = created["request"]["id"]
            .as_str()
            .expect("request id")
            .to_string();
        let path = format!("/requests/{id}/approve");
        timed(
            "POST /requests/{id}/approve",
            &approver,
            "POST",
            &path,
            None,
        )
        .await;
        let body = json!({"cluster": CLUSTER, "role": "ClusterAdmin"});
        timed(
            "POST /sessions",
            &developer,
            "POST",
            "/sessions",
            Some(body),
        )
        .await;
        timed(
            "GET /requests",
            &developer,
            "GET",
            "/requests?limit=20",
            None,
        )
        .await;
    }
    let mut per_route = serde_json::Map::new();
    for (route, mut times) in routes {
        times.wall_ms.sort_by(f64::total_cmp);
        times.cpu_ms.sort_by(f64::total_cmp);
        let mean_cpu = times.cpu_ms.iter().sum::<f64>() / times.cpu_ms.len().max(1) as f64;
        per_route.insert(
            route.to_string(),
            json!({
                "calls": times.wall_ms.len(),
                "wall_p50_ms": percentile(&times.wall_ms, 0.5),
                "wall_p99_ms": percentile(&times.wall_ms, 0.99),
                "cpu_mean_ms": mean_cpu,
                "cpu_p99_ms": percentile(&times.cpu_ms, 0.99),
            }),
        );
    }
    println!(
        "{}",
        json!({"phase": "sequential", "rounds": rounds, "routes": per_route})
    );

    let started = Instant::now();
    let cpu_before = thread_cpu_seconds();
    let mut tasks = Vec::new();
    let per_task = requests.div_ceil(concurrency);
    for _ in 0..concurrency {
        let app = Arc::clone(&app);
        let user = developer.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            let mut errors: BTreeMap<u16, usize> = BTreeMap::new();
            for _ in 0..per_task {
                let body = json!({"cluster": CLUSTER, "role": "ClusterAdmin"});
                let sent = Instant::now();
                let (status, _) = call(&app, &user, "POST", "/sessions", Some(body)).await;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                if status >= 300 {
                    *errors.entry(status).or_default() += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<u16, usize> = BTreeMap::new();
    for task in tasks {
        let (task_latencies, task_errors) = task.await.expect("load task");
        latencies.extend(task_latencies);
        for (status, count) in task_errors {
            *errors.entry(status).or_default() += count;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu_before;
    latencies.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "phase": "concurrent connect",
            "concurrency": concurrency,
            "requests": latencies.len(),
            "errors": errors.iter().map(|(status, count)| (status.to_string(), json!(count))).collect::<serde_json::Map<_, _>>(),
            "p50_ms": percentile(&latencies, 0.5),
            "p99_ms": percentile(&latencies, 0.99),
            "max_ms": latencies.last().copied().unwrap_or_default(),
            "throughput_per_s": latencies.len() as f64 / elapsed,
            "cpu_ms_per_request": cpu * 1000.0 / latencies.len().max(1) as f64,
        })
    );
}
