//! Test harness shared by the integration tests and the `eksgate-dev` tool of the demo: a moto
//! server on 127.0.0.1, SDK configuration that can only reach it, the catalog table created from
//! `infra/template.yaml`, and helpers that build EKS estates in moto.

pub mod aws;
pub mod estate;
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
