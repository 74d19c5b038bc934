//! Local tool for the demo: creates the catalog table in moto, builds and changes a demo EKS
//! estate, prints the catalog as a table, and writes and reads session API events.
//!
//! Usage: `eksgate-dev <command> --endpoint http://127.0.0.1:<port> [--table <name>]`, with
//! commands `create-table`, `seed`, `change`, `show`, and `tag --cluster <ARN> --tag <k>=<v>`.
//! Two commands need no endpoint: `api-event --user <email> --groups <a,b> --method <M>
//! --path <path> [--body <JSON>]` prints an HTTP API event with the claims an API Gateway JWT
//! authorizer would pass, and `api-response [--field <a.b>] [--summary]` reads a response event
//! on stdin and prints its status and body with credentials masked, one field of the body, or
//! one line per cluster of a cluster list.

use std::io::Read;
use std::process::ExitCode;

use eksgate_catalog::{Catalog, CatalogEntry};
use eksgate_tests::api::{User, http_event, response_parts};
use eksgate_tests::aws::{OWN_ACCOUNT, local_config, member_config};
use eksgate_tests::estate::{
    ClusterSpec, create_cluster, delete_cluster, tag_cluster, untag_cluster,
};
use eksgate_tests::table::create_catalog_table;
use serde_json::Value;

const EU: &str = "eu-west-1";
const US: &str = "us-east-1";
/// The read-only role that the demo's member account offers the importer.
const MEMBER_ROLE: &str = "arn:aws:iam::222233334444:role/eksgate-read";

const USAGE: &str = "usage: eksgate-dev <create-table|seed|change|show|tag> --endpoint http://127.0.0.1:<port> [--table <name>] [--cluster <ARN> --tag <key>=<value>]\n       eksgate-dev api-event --user <email> --groups <a,b> --method <GET|POST> --path <path> [--body <JSON>]\n       eksgate-dev api-response [--field <name.name>] [--summary] < response.json";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let option = |name: &str| {
        args.windows(2)
            .find(|pair| pair[0] == name)
            .map(|pair| pair[1].clone())
    };
    match command.as_str() {
        "api-event" => return api_event(&option),
        "api-response" => {
            let summary = args.iter().any(|arg| arg == "--summary");
            return api_response(option("--field").as_deref(), summary);
        }
        _ => {}
    }
    let Some(endpoint) = option("--endpoint").filter(|e| e.starts_with("http://127.0.0.1:")) else {
        eprintln!(
            "missing or non-local --endpoint: pass the moto server's http://127.0.0.1:<port> URL\n{USAGE}"
        );
        return ExitCode::from(2);
    };
    let table = option("--table").unwrap_or_else(|| "eksgate-demo".to_string());

    match command.as_str() {
        "create-table" => {
            let dynamodb = aws_sdk_dynamodb::Client::new(&local_config(&endpoint, EU));
            create_catalog_table(&dynamodb, &table).await;
            println!("created table {table} from infra/template.yaml");
        }
        "seed" => seed(&endpoint).await,
        "change" => change(&endpoint).await,
        "tag" => {
            let (Some(arn), Some(pair)) = (option("--cluster"), option("--tag")) else {
                eprintln!("tag needs --cluster <ARN> and --tag <key>=<value>\n{USAGE}");
                return ExitCode::from(2);
            };
            let Some((key, value)) = pair.split_once('=') else {
                eprintln!("invalid --tag {pair:?}: use <key>=<value>");
                return ExitCode::from(2);
            };
            let Some(region) = arn.split(':').nth(3) else {
                eprintln!("invalid --cluster {arn:?}: use a cluster ARN");
                return ExitCode::from(2);
            };
            tag_cluster(
                &local_config(&endpoint, region),
                region,
                &arn,
                &[(key, value)],
            )
            .await;
            println!("tagged {arn} with {key}={value}");
        }
        "show" => {
            let catalog = Catalog::new(
                aws_sdk_dynamodb::Client::new(&local_config(&endpoint, EU)),
                &table,
            );
            match catalog.all().await {
                Ok(entries) => print_catalog(entries.values()),
                Err(error) => {
                    eprintln!("reading the catalog failed: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        other => {
            eprintln!("unknown command {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}

/// Creates seven clusters in two regions and two accounts: tagged with roles, tagged without
/// roles, untagged, a role with a path, a malformed value and a duplicate.
async fn seed(endpoint: &str) {
    let eu = local_config(endpoint, EU);
    let us = local_config(endpoint, US);
    let member = member_config(endpoint, EU, MEMBER_ROLE).await;
    let clusters = [
        (
            &eu,
            ClusterSpec::new(
                EU,
                "payments-prod",
                &[
                    ("opal", ""),
                    ("opal:eks:role:1", "ClusterAdmin"),
                    ("opal:eks:role:2", "teams/payments/ClusterView"),
                    ("team", "payments"),
                ],
            ),
        ),
        (
            &eu,
            ClusterSpec::new(EU, "payments-staging", &[("opal", "x")]),
        ),
        (&eu, ClusterSpec::new(EU, "legacy", &[("team", "legacy")])),
        (
            &us,
            ClusterSpec::new(
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
            ),
        ),
        (
            &us,
            ClusterSpec::new(
                US,
                "data",
                &[
                    ("opal", ""),
                    ("opal:eks:role:1", "DataView"),
                    ("opal:eks:role:2", "DataView"),
                ],
            ),
        ),
        (&us, ClusterSpec::new(US, "sandbox", &[])),
        (
            &member,
            ClusterSpec::new(
                EU,
                "analytics",
                &[("opal", ""), ("opal:eks:role:1", "AnalyticsAdmin")],
            ),
        ),
    ];
    for (config, spec) in &clusters {
        let arn = create_cluster(config, spec).await;
        let tags: Vec<String> = spec.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("created {arn}  [{}]", tags.join(", "));
    }
}

/// Changes the demo estate: a role added and one removed, one cluster untagged, one deleted and
/// one newly tagged.
async fn change(endpoint: &str) {
    let eu = local_config(endpoint, EU);
    let us = local_config(endpoint, US);
    let arn =
        |region: &str, name: &str| format!("arn:aws:eks:{region}:{OWN_ACCOUNT}:cluster/{name}");

    tag_cluster(
        &eu,
        EU,
        &arn(EU, "payments-prod"),
        &[("opal:eks:role:3", "PaymentsOncall")],
    )
    .await;
    println!("payments-prod: added opal:eks:role:3=PaymentsOncall");
    untag_cluster(&eu, EU, &arn(EU, "payments-prod"), &["opal:eks:role:2"]).await;
    println!("payments-prod: removed opal:eks:role:2");
    untag_cluster(&eu, EU, &arn(EU, "payments-staging"), &["opal"]).await;
    println!("payments-staging: removed the opal tag");
    delete_cluster(&us, US, "data").await;
    println!("data: cluster deleted");
    tag_cluster(
        &eu,
        EU,
        &arn(EU, "legacy"),
        &[("opal", ""), ("opal:eks:role:1", "LegacyView")],
    )
    .await;
    println!("legacy: tagged opal and opal:eks:role:1=LegacyView");
}

fn print_catalog<'a>(entries: impl Iterator<Item = &'a CatalogEntry>) {
    let entries: Vec<&CatalogEntry> = entries.collect();
    let mut rows = vec![[
        "ACCOUNT".to_string(),
        "REGION".into(),
        "CLUSTER".into(),
        "STATUS".into(),
        "VERSION".into(),
        "ROLE".into(),
        "ASSUME ARN".into(),
        "PROBLEMS".into(),
    ]];
    for entry in &entries {
        let cluster = &entry.cluster;
        let mut first = true;
        let mut cells = |role: &str, arn: &str, problems: String| {
            let shown = |value: &str| {
                if first {
                    value.to_string()
                } else {
                    String::new()
                }
            };
            rows.push([
                shown(&cluster.account),
                shown(&cluster.region),
                shown(&cluster.name),
                shown(&cluster.status),
                shown(cluster.version.as_deref().unwrap_or("-")),
                role.to_string(),
                arn.to_string(),
                problems,
            ]);
            first = false;
        };
        if entry.roles.is_empty() {
            cells("-", "-", String::new());
        }
        for role in &entry.roles {
            cells(&role.name, &role.assume_arn, role.problems.join("; "));
        }
        for problem in &cluster.problems {
            cells("", "", problem.clone());
        }
    }

    let widths: Vec<usize> = (0..rows[0].len())
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    println!("({} clusters in the catalog)", entries.len());
}

/// Prints an HTTP API event for the session issuer.
fn api_event(option: &dyn Fn(&str) -> Option<String>) -> ExitCode {
    let (Some(user), Some(method), Some(path)) =
        (option("--user"), option("--method"), option("--path"))
    else {
        eprintln!("api-event needs --user, --method and --path\n{USAGE}");
        return ExitCode::from(2);
    };
    let groups = option("--groups").unwrap_or_default();
    let groups: Vec<&str> = groups.split(',').filter(|g| !g.is_empty()).collect();
    let body = match option("--body").map(|text| serde_json::from_str::<Value>(&text)) {
        None => None,
        Some(Ok(body)) => Some(body),
        Some(Err(error)) => {
            eprintln!("invalid --body: {error}");
            return ExitCode::from(2);
        }
    };
    let claims = User::new(&user, &groups).claims();
    println!(
        "{}",
        http_event(&method, &path, Some(claims), body.as_ref())
    );
    ExitCode::SUCCESS
}

/// Reads a response event on stdin and prints one of: one body field, a one-line summary per
/// cluster of a cluster list, or the status and the body with every secret masked.
fn api_response(field: Option<&str>, summary: bool) -> ExitCode {
    let mut text = String::new();
    if let Err(error) = std::io::stdin().read_to_string(&mut text) {
        eprintln!("reading the response failed: {error}");
        return ExitCode::FAILURE;
    }
    let Ok(response) = serde_json::from_str::<Value>(&text) else {
        eprintln!("the response is not JSON: {text}");
        return ExitCode::FAILURE;
    };
    let (status, mut body) = response_parts(&response);
    if let Some(field) = field {
        let value = field.split('.').fold(&body, |value, name| &value[name]);
        return match value.as_str() {
            Some(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("the response (status {status}) has no text field {field}: {body}");
                ExitCode::FAILURE
            }
        };
    }
    if summary && let Some(clusters) = body["clusters"].as_array() {
        println!("HTTP {status}: {} clusters", clusters.len());
        for cluster in clusters {
            let roles: Vec<&str> = cluster["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|role| role["name"].as_str())
                .collect();
            println!(
                "  {:<70} {:<8} roles: {}",
                cluster["arn"].as_str().unwrap_or("?"),
                cluster["status"].as_str().unwrap_or("?"),
                roles.join(", ")
            );
        }
        return ExitCode::SUCCESS;
    }
    mask_secrets(&mut body);
    let kubeconfig = body
        .as_object_mut()
        .and_then(|map| map.remove("kubeconfig"));
    println!("HTTP {status}");
    println!(
        "{}",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    );
    if let Some(Value::String(kubeconfig)) = kubeconfig {
        println!("kubeconfig:\n{kubeconfig}");
    }
    if status >= 400 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Replaces the secret parts of a session with their first characters and a mask.
fn mask_secrets(body: &mut Value) {
    let mask = |value: Option<&mut Value>| {
        if let Some(value) = value
            && let Some(text) = value.as_str()
        {
            let shown: String = text.chars().take(4).collect();
            *value = Value::String(format!("{shown}... ({} characters, masked)", text.len()));
        }
    };
    for field in ["secret_access_key", "session_token"] {
        mask(body.pointer_mut(&format!("/credentials/{field}")));
    }
    mask(body.pointer_mut("/token/token"));
    if let Some(Value::String(kubeconfig)) = body.get_mut("kubeconfig") {
        let masked: Vec<String> = kubeconfig
            .lines()
            .map(|line| match line.split_once("token: ") {
                Some((indent, _)) => format!("{indent}token: k8s-aws-v1.... (masked)"),
                None => line.to_string(),
            })
            .collect();
        *kubeconfig = masked.join("\n");
    }
}
