//! The hourly importer: scans EKS clusters in every configured account and region and keeps the
//! catalog in step with their tags.

pub mod config;
mod import;

use eksgate_telemetry::{Unit, emit_metrics};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use tracing::{info, warn};

pub use config::{Config, ConfigError};
pub use import::{Failure, ImportSummary, Importer};

use eksgate_estate::ScopeClients;

/// Handles one invocation: an EventBridge scheduled event, or any JSON for a manual run.
pub async fn handle<C: ScopeClients>(
    importer: &Importer<C>,
    event: LambdaEvent<Value>,
) -> Result<ImportSummary, lambda_runtime::Error> {
    let payload = &event.payload;
    let event_id = payload.get("id").and_then(Value::as_str).unwrap_or("-");
    let detail_type = payload
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("-");
    info!(request_id = %event.context.request_id, event_id, detail_type, "import invoked");
    let summary = importer.run().await;
    log_summary(&summary);
    emit_summary_metrics(&summary);
    Ok(summary)
}

/// Writes the run's one summary log line.
pub fn log_summary(summary: &ImportSummary) {
    let fields = serde_json::to_string(summary).unwrap_or_default();
    if summary.failures.is_empty() {
        info!(
            scopes = summary.scopes,
            clusters_seen = summary.clusters_seen,
            imported = summary.imported,
            updated = summary.updated,
            removed = summary.removed,
            roles = summary.roles,
            writes = summary.writes,
            aws_calls = summary.aws_calls,
            duration_ms = summary.duration_ms,
            "import finished"
        );
    } else {
        warn!(summary = %fields, "import finished with failures");
    }
}

/// Emits the run's counts as CloudWatch metrics in Embedded Metric Format.
pub fn emit_summary_metrics(summary: &ImportSummary) {
    let count = |value: usize| value as f64;
    emit_metrics(
        "eksgate",
        &[("Function", "importer")],
        &[
            ("Scopes", count(summary.scopes), Unit::Count),
            ("ScopesFailed", count(summary.scopes_failed), Unit::Count),
            ("ClustersSeen", count(summary.clusters_seen), Unit::Count),
            ("ClustersImported", count(summary.imported), Unit::Count),
            ("ClustersUpdated", count(summary.updated), Unit::Count),
            ("ClustersRemoved", count(summary.removed), Unit::Count),
            ("Roles", count(summary.roles), Unit::Count),
            (
                "ClustersWithProblems",
                count(summary.clusters_with_problems),
                Unit::Count,
            ),
            ("ItemsWritten", count(summary.writes), Unit::Count),
            ("Failures", count(summary.failures.len()), Unit::Count),
            ("AwsCalls", summary.aws_calls as f64, Unit::Count),
            ("Retries", summary.retries as f64, Unit::Count),
            ("Duration", summary.duration_ms as f64, Unit::Milliseconds),
        ],
    );
}
