use std::fmt;

use eksgate_catalog::{Catalog, CatalogEntry, CatalogError, Plan, WritePolicy};
use eksgate_estate::{
    AwsError, CallCounter, ClusterArn, ScopeClients, ScopeError, describe_cluster, desired_state,
};
use eksgate_tags::Namespace;
use eksgate_telemetry::error_chain;
use serde::Serialize;
use serde_json::Value;
use tracing::{error, info, warn};

use crate::event::{Ignored, ParsedEvent, Trigger, parse_event};

/// The handler's dependencies: where to read clusters and where to write the catalog.
pub struct TagEventHandler<C> {
    pub catalog: Catalog,
    pub clients: C,
    pub namespace: Namespace,
    /// Counts the AWS requests of every client the handler uses, when set. The count reported
    /// for an event is exact only while events are handled one at a time, as in Lambda.
    pub calls: Option<CallCounter>,
}

/// The result of handling one event, which the Lambda function returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventReport {
    /// The EventBridge event ID.
    pub event_id: Option<String>,
    pub detail_type: Option<String>,
    /// The CloudTrail `eventName`, for CloudTrail events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// One report for each cluster the event names, empty when the event was ignored.
    pub clusters: Vec<ClusterReport>,
    /// The reason the event changed nothing, when it was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<Ignored>,
    /// AWS request attempts, retries included, when the handler counts them.
    pub aws_calls: u64,
}

/// The result of handling one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterReport {
    pub cluster_arn: String,
    pub outcome: Outcome,
    /// Catalog items put or deleted.
    pub items_written: usize,
    /// The permanent error that made the handler drop the cluster, for [`Outcome::Dropped`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The catalog plan that the handler carried out for a cluster, named as [`Plan`] names it, or
/// [`Outcome::Dropped`] after a permanent error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    Import,
    Update,
    Remove,
    Unchanged,
    Touch,
    MarkAbsent,
    Superseded,
    /// A permanent error, such as access denied or an account without a member-account role, was
    /// logged and the cluster left as it was. Retrying would fail the same way.
    Dropped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Import => "Import",
            Outcome::Update => "Update",
            Outcome::Remove => "Remove",
            Outcome::Unchanged => "Unchanged",
            Outcome::Touch => "Touch",
            Outcome::MarkAbsent => "MarkAbsent",
            Outcome::Superseded => "Superseded",
            Outcome::Dropped => "Dropped",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&Plan> for Outcome {
    fn from(plan: &Plan) -> Self {
        match plan {
            Plan::Import { .. } => Outcome::Import,
            Plan::Update { .. } => Outcome::Update,
            Plan::Remove { .. } => Outcome::Remove,
            Plan::Unchanged => Outcome::Unchanged,
            Plan::Touch { .. } => Outcome::Touch,
            Plan::MarkAbsent { .. } => Outcome::MarkAbsent,
            Plan::Superseded { .. } => Outcome::Superseded,
        }
    }
}

/// A failure to bring one cluster's catalog entry up to date.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("getting an EKS client for cluster {arn} failed")]
    Clients {
        arn: String,
        #[source]
        source: ScopeError,
    },
    #[error("reading cluster {arn} failed")]
    Describe {
        arn: String,
        #[source]
        source: AwsError,
    },
    #[error("writing the catalog entry of cluster {arn} failed")]
    Catalog {
        arn: String,
        #[source]
        source: CatalogError,
    },
}

impl RefreshError {
    /// Tells whether handling the event again later may succeed: throttling, 5xx, time-outs,
    /// connection failures and contended catalog writes.
    pub fn is_transient(&self) -> bool {
        match self {
            RefreshError::Clients { source, .. } => source.is_transient(),
            RefreshError::Describe { source, .. } => source.transient,
            RefreshError::Catalog { source, .. } => source.is_transient(),
        }
    }

    pub fn cluster_arn(&self) -> &str {
        match self {
            RefreshError::Clients { arn, .. }
            | RefreshError::Describe { arn, .. }
            | RefreshError::Catalog { arn, .. } => arn,
        }
    }
}

impl<C: ScopeClients> TagEventHandler<C> {
    /// Handles one event: reads every cluster it names again and reconciles the cluster's catalog
    /// entry with what DescribeCluster shows, exactly as the importer does.
    ///
    /// Writes one log line for each cluster, or one for an ignored event. Returns an error only
    /// for a transient failure, so that Lambda retries the event and then sends it to the
    /// dead-letter queue. Clusters after the failing one are handled on the retry. Permanent
    /// failures are logged and reported as [`Outcome::Dropped`].
    pub async fn handle_event(&self, event: &Value) -> Result<EventReport, RefreshError> {
        if let Some(calls) = &self.calls {
            calls.take();
        }
        let parsed = parse_event(event);
        let mut report = EventReport {
            event_id: parsed.id.clone(),
            detail_type: parsed.detail_type.clone(),
            event_name: parsed.event_name.clone(),
            clusters: Vec::new(),
            ignored: None,
            aws_calls: 0,
        };

        match &parsed.trigger {
            Trigger::Ignore(ignored) => {
                log_ignored(&parsed, ignored);
                report.ignored = Some(ignored.clone());
            }
            Trigger::Refresh(clusters) => {
                for arn in clusters {
                    let cluster = self.refresh_logged(&parsed, arn).await?;
                    report.clusters.push(cluster);
                }
            }
        }

        if let Some(calls) = &self.calls {
            report.aws_calls = calls.snapshot().total_attempts();
        }
        Ok(report)
    }

    /// Refreshes one cluster and writes the event's log line for it.
    async fn refresh_logged(
        &self,
        parsed: &ParsedEvent,
        arn: &ClusterArn,
    ) -> Result<ClusterReport, RefreshError> {
        let event_id = parsed.id.as_deref().unwrap_or("-");
        let detail_type = parsed.detail_type.as_deref().unwrap_or("-");
        let event_name = parsed.event_name.as_deref().unwrap_or("-");
        let arn_text = arn.to_string();

        match self.refresh(arn).await {
            Ok((plan, attempts)) => {
                let outcome = Outcome::from(&plan);
                let items_written = plan.item_count();
                info!(
                    event_id,
                    detail_type,
                    event_name,
                    cluster_arn = %arn_text,
                    outcome = %outcome,
                    items_written,
                    attempts,
                    "event handled"
                );
                if let Plan::Import { entry } | Plan::Update { entry, .. } = &plan {
                    log_problems(entry);
                }
                Ok(ClusterReport {
                    cluster_arn: arn_text,
                    outcome,
                    items_written,
                    error: None,
                })
            }
            Err(failure) if failure.is_transient() => {
                warn!(
                    event_id,
                    detail_type,
                    event_name,
                    cluster_arn = %arn_text,
                    outcome = "Retry",
                    error = %error_chain(&failure),
                    "event failed with a transient error, Lambda will retry it"
                );
                Err(failure)
            }
            Err(failure) => {
                let message = error_chain(&failure);
                error!(
                    event_id,
                    detail_type,
                    event_name,
                    cluster_arn = %arn_text,
                    outcome = %Outcome::Dropped,
                    error = %message,
                    "event dropped after a permanent error, the catalog entry is left as it was"
                );
                Ok(ClusterReport {
                    cluster_arn: arn_text,
                    outcome: Outcome::Dropped,
                    items_written: 0,
                    error: Some(message),
                })
            }
        }
    }

    /// Reads the cluster and reconciles its catalog entry. Returns the plan carried out and the
    /// number of write attempts it took.
    async fn refresh(&self, arn: &ClusterArn) -> Result<(Plan, u32), RefreshError> {
        let eks = self
            .clients
            .eks(&arn.account, &arn.region)
            .await
            .map_err(|source| RefreshError::Clients {
                arn: arn.to_string(),
                source,
            })?;
        let (cluster, observed_at) =
            describe_cluster(&eks, &arn.name)
                .await
                .map_err(|source| RefreshError::Describe {
                    arn: arn.to_string(),
                    source,
                })?;
        let desired = desired_state(&self.namespace, arn, cluster.as_ref(), observed_at);
        // RecordObservation stores this observation's time even when nothing changed, so an
        // older observation still in flight, from the importer or a delayed event, is dropped.
        let outcome = self
            .catalog
            .reconcile(None, &desired, WritePolicy::RecordObservation)
            .await
            .map_err(|source| RefreshError::Catalog {
                arn: arn.to_string(),
                source,
            })?;
        Ok((outcome.plan, outcome.attempts))
    }
}

fn log_ignored(parsed: &ParsedEvent, ignored: &Ignored) {
    let event_id = parsed.id.as_deref().unwrap_or("-");
    let detail_type = parsed.detail_type.as_deref().unwrap_or("-");
    let event_name = parsed.event_name.as_deref().unwrap_or("-");
    match ignored {
        Ignored::FailedCall { error_code } => info!(
            event_id,
            detail_type,
            event_name,
            outcome = "Ignored",
            error_code = %error_code,
            "event ignored because the call it records failed"
        ),
        Ignored::NotACluster { resources } => info!(
            event_id,
            detail_type,
            event_name,
            outcome = "Ignored",
            resources = ?resources,
            "event ignored because it names no EKS cluster"
        ),
        Ignored::Unsupported { message } => warn!(
            event_id,
            detail_type,
            event_name,
            outcome = "Ignored",
            reason = %message,
            "event dropped because its shape is not supported, check the EventBridge rule"
        ),
    }
}

fn log_problems(entry: &CatalogEntry) {
    let arn = &entry.cluster.arn;
    for problem in &entry.cluster.problems {
        warn!(cluster_arn = %arn, problem = %problem, "role tag declares no usable role");
    }
    for role in entry.roles.iter().filter(|role| !role.problems.is_empty()) {
        warn!(cluster_arn = %arn, role = %role.name, problems = ?role.problems, "role declaration has problems");
    }
}
