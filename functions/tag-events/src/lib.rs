//! The tag-change handler: keeps the catalog current between import runs from EventBridge
//! events about EKS clusters.
//!
//! It accepts `aws.tag` "Tag Change on Resource" events and "AWS API Call via CloudTrail" events
//! for the EKS calls CreateCluster, DeleteCluster, TagResource and UntagResource. Events are only
//! triggers: the handler reads the cluster again with DescribeCluster and reconciles its catalog
//! entry through the same code as the importer, so a duplicate or late event cannot store an
//! older state over a newer one.

pub mod config;
mod event;
mod refresh;

use std::time::Instant;

use eksgate_estate::ScopeClients;
use eksgate_telemetry::{Unit, emit_metrics, error_chain};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

pub use config::{Config, ConfigError};
pub use event::{
    CLOUDTRAIL_CALL, EKS_EVENT_SOURCE, Ignored, ParsedEvent, TAG_CHANGE, Trigger, parse_event,
};
pub use refresh::{ClusterReport, EventReport, Outcome, RefreshError, TagEventHandler};

/// Handles one invocation, which EventBridge makes with one event.
///
/// Returns an error only for a transient failure, so that Lambda's retries and the dead-letter
/// queue apply. Every other event, including one that is ignored or dropped, succeeds.
pub async fn handle<C: ScopeClients>(
    handler: &TagEventHandler<C>,
    event: LambdaEvent<Value>,
) -> Result<EventReport, lambda_runtime::Error> {
    let started = Instant::now();
    let result = handler.handle_event(&event.payload).await;
    emit_event_metrics(result.as_ref().ok(), started.elapsed().as_millis() as u64);
    result.map_err(|error| error_chain(&error).into())
}

/// Emits one event's counts as CloudWatch metrics in Embedded Metric Format. `report` is `None`
/// when the event failed with a transient error.
pub fn emit_event_metrics(report: Option<&EventReport>, duration_ms: u64) {
    let count = |outcome: Outcome| {
        report.map_or(0, |report| {
            report
                .clusters
                .iter()
                .filter(|cluster| cluster.outcome == outcome)
                .count()
        }) as f64
    };
    let ignored = report.is_some_and(|report| report.ignored.is_some());
    let items_written: usize = report.map_or(0, |report| {
        report
            .clusters
            .iter()
            .map(|cluster| cluster.items_written)
            .sum()
    });
    emit_metrics(
        "eksgate",
        &[("Function", "tag-events")],
        &[
            ("Events", 1.0, Unit::Count),
            ("EventsIgnored", f64::from(u8::from(ignored)), Unit::Count),
            ("ClustersImported", count(Outcome::Import), Unit::Count),
            ("ClustersUpdated", count(Outcome::Update), Unit::Count),
            ("ClustersRemoved", count(Outcome::Remove), Unit::Count),
            (
                "ObservationsSuperseded",
                count(Outcome::Superseded),
                Unit::Count,
            ),
            ("ItemsWritten", items_written as f64, Unit::Count),
            ("Failures", count(Outcome::Dropped), Unit::Count),
            (
                "TransientFailures",
                f64::from(u8::from(report.is_none())),
                Unit::Count,
            ),
            (
                "AwsCalls",
                report.map_or(0, |report| report.aws_calls) as f64,
                Unit::Count,
            ),
            ("Duration", duration_ms as f64, Unit::Milliseconds),
        ],
    );
}

#[cfg(test)]
mod tests;
