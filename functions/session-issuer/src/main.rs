use aws_config::BehaviorVersion;
use eksgate_session_issuer::{App, Config};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    eksgate_telemetry::init_tracing();
    let config = Config::from_env()
        .inspect_err(|error| tracing::error!(%error, "session issuer cannot start"))?;
    let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let app = App::new(config, &sdk).await.inspect_err(
        |error| tracing::error!(%error, "session issuer cannot load its JWT key set"),
    )?;
    let config = app.config();
    tracing::info!(
        table = %config.table_name,
        assume_mode = config.assume_mode.as_str(),
        self_verifying = config.jwt.is_some(),
        approver_groups = config.approver_groups.len(),
        auto_approve_rules = config.auto_approve.len(),
        "session issuer ready"
    );

    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let app = &app;
        async move { Ok::<Value, lambda_runtime::Error>(app.handle(&event.payload).await) }
    }))
    .await
}
