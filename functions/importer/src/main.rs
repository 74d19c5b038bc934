use aws_config::BehaviorVersion;
use eksgate_catalog::Catalog;
use eksgate_estate::{AwsScopeClients, CallCounter, Scope, caller_account};
use eksgate_importer::{Config, Importer, handle};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eksgate_telemetry::init_tracing();
    let config =
        Config::from_env().inspect_err(|error| tracing::error!(%error, "importer cannot start"))?;

    let calls = CallCounter::default();
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(calls.clone())
        .build();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    let own_account = caller_account(&sts)
        .await
        .inspect_err(|error| tracing::error!(%error, "GetCallerIdentity failed at start-up"))?;

    let clients = AwsScopeClients::new(
        sdk,
        sts,
        &own_account,
        config.member_role_arns.clone(),
        "eksgate-importer",
        Some(calls.clone()),
    );
    let scopes = clients
        .accounts()
        .into_iter()
        .flat_map(|account| {
            config.regions.iter().map(move |region| Scope {
                account: account.clone(),
                region: region.clone(),
            })
        })
        .collect();
    let importer = Importer {
        catalog: Catalog::new(
            aws_sdk_dynamodb::Client::from_conf(dynamodb),
            &config.table_name,
        ),
        clients,
        namespace: config.namespace.clone(),
        scopes,
        scope_concurrency: config.scope_concurrency,
        describe_concurrency: config.describe_concurrency,
        calls: Some(calls),
    };
    tracing::info!(table = %config.table_name, regions = ?config.regions, own_account = %own_account, member_accounts = config.member_role_arns.len(), "importer ready");

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        handle(&importer, event)
    }))
    .await
}
