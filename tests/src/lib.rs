//! Test harness shared by the integration tests and the `eksgate-dev` tool of the demo: a moto
//! server on 127.0.0.1, SDK configuration that can only reach it, the catalog table created from
//! `infra/template.yaml`, and helpers that build EKS estates in moto.

pub mod api;
pub mod aws;
pub mod estate;
pub mod faults;
pub mod idp;
pub mod moto;
pub mod table;

use std::path::PathBuf;

/// Returns the repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives one level below the repository root")
        .to_path_buf()
}

use std::collections::BTreeMap;

use eksgate_catalog::Catalog;
use eksgate_estate::{AwsScopeClients, CallCounter, Scope};
use eksgate_importer::Importer;
use eksgate_tag_events::TagEventHandler;
use eksgate_tags::Namespace;

/// Builds the clients and catalog that a function uses against moto: EKS clients for moto's own
/// account and for each member account through its role, and the catalog in `table`.
fn local_clients(
    endpoint: &str,
    table: &str,
    region: &str,
    member_role_arns: &[&str],
    session_name: &str,
    calls: &CallCounter,
) -> (Catalog, AwsScopeClients) {
    let config = aws::local_config(endpoint, region);
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(calls.clone())
            .build(),
    );
    let members: BTreeMap<String, String> = member_role_arns
        .iter()
        .map(|arn| {
            (
                eksgate_estate::parse_member_role_arn(arn).expect("valid member role ARN"),
                arn.to_string(),
            )
        })
        .collect();
    let clients = AwsScopeClients::new(
        config,
        sts,
        aws::OWN_ACCOUNT,
        members,
        session_name,
        Some(calls.clone()),
    );
    (Catalog::new(dynamodb, table), clients)
}

/// Builds an importer that scans `regions` of moto's own account and of the member accounts,
/// writing to `table`, as the Lambda's `main` does.
pub fn local_importer(
    endpoint: &str,
    table: &str,
    regions: &[&str],
    member_role_arns: &[&str],
) -> Importer<AwsScopeClients> {
    let calls = CallCounter::default();
    let (catalog, clients) = local_clients(
        endpoint,
        table,
        regions[0],
        member_role_arns,
        "eksgate-importer",
        &calls,
    );
    let scopes = clients
        .accounts()
        .into_iter()
        .flat_map(|account| {
            regions.iter().map(move |region| Scope {
                account: account.clone(),
                region: region.to_string(),
            })
        })
        .collect();
    Importer {
        catalog,
        clients,
        namespace: Namespace::default(),
        scopes,
        scope_concurrency: 4,
        describe_concurrency: 8,
        calls: Some(calls),
    }
}

/// Builds a tag-change handler for clusters of moto's own account and of the member accounts,
/// writing to `table`, as the Lambda's `main` does.
pub fn local_tag_event_handler(
    endpoint: &str,
    table: &str,
    member_role_arns: &[&str],
) -> TagEventHandler<AwsScopeClients> {
    let calls = CallCounter::default();
    let (catalog, clients) = local_clients(
        endpoint,
        table,
        "eu-west-1",
        member_role_arns,
        "eksgate-tag-events",
        &calls,
    );
    TagEventHandler {
        catalog,
        clients,
        namespace: Namespace::default(),
        calls: Some(calls),
    }
}

/// Returns the user and system CPU time of this process so far, from /proc/self/stat.
pub fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the file, so 12 and 13 after the name. Linux
    // reports them in clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

/// Returns the peak resident memory of this process so far (VmHWM), in MiB.
pub fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| (kib / 1024.0 * 10.0).round() / 10.0)
        .unwrap_or(0.0)
}

/// Returns the whole number after `name` in a benchmark's arguments, or `default`.
///
/// Panics with a message naming the option when the value is not a whole number.
pub fn count_option(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| {
            pair[1]
                .parse()
                .unwrap_or_else(|_| panic!("{name} takes a whole number, not {:?}", pair[1]))
        })
        .unwrap_or(default)
}

/// Returns the CPU time of the calling thread so far, in seconds, with nanosecond resolution,
/// from /proc/thread-self/schedstat. On a current-thread runtime this is the time of all the
/// async work the thread ran.
pub fn thread_cpu_seconds() -> f64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat is readable on Linux");
    let nanos: u64 = text
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .expect("schedstat starts with the nanoseconds on CPU");
    nanos as f64 / 1e9
}
