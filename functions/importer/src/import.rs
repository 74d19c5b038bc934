use std::collections::BTreeMap;
use std::time::Instant;

use eksgate_catalog::{Catalog, CatalogEntry, Desired, Plan, Stored, WritePolicy};
use eksgate_estate::{
    CallCounter, ClusterArn, Scope, ScopeClients, describe_cluster, desired_state,
    list_cluster_names, now_millis,
};
use eksgate_tags::Namespace;
use eksgate_telemetry::error_chain;
use futures::StreamExt;
use futures::stream;
use serde::Serialize;
use tracing::{debug, error, info, warn};

/// The counts and failures of one import run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    pub scopes: usize,
    pub scopes_failed: usize,
    pub clusters_seen: usize,
    pub imported: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Observations dropped because the catalog already held a newer one.
    pub superseded: usize,
    /// Roles of the tagged clusters seen.
    pub roles: usize,
    /// Tagged clusters with at least one role tag that declares no usable role.
    pub clusters_with_problems: usize,
    /// Items put or deleted.
    pub writes: usize,
    /// AWS request attempts, retries included.
    pub aws_calls: u64,
    pub retries: u64,
    pub failures: Vec<Failure>,
    pub duration_ms: u64,
}

/// A scope or cluster that the run could not bring up to date; its catalog entries were left as
/// they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub scope: String,
    /// The cluster, when only that cluster failed.
    pub cluster: Option<String>,
    pub error: String,
    pub transient: bool,
}

/// One import run's inputs: where to look and where to write.
pub struct Importer<C> {
    pub catalog: Catalog,
    pub clients: C,
    pub namespace: Namespace,
    pub scopes: Vec<Scope>,
    pub scope_concurrency: usize,
    pub describe_concurrency: usize,
    /// Counts the AWS requests of every client the run uses, when set.
    pub calls: Option<CallCounter>,
}

impl<C: ScopeClients> Importer<C> {
    /// Scans every scope, a bounded number at a time, and reconciles the catalog with what it
    /// finds. A scope whose listing fails keeps its catalog entries as they are.
    pub async fn run(&self) -> ImportSummary {
        let started = Instant::now();
        if let Some(calls) = &self.calls {
            calls.take();
        }
        info!(scopes = self.scopes.len(), "import started");

        let reports: Vec<ImportSummary> = stream::iter(&self.scopes)
            .map(|scope| self.import_scope(scope))
            .buffer_unordered(self.scope_concurrency.max(1))
            .collect()
            .await;

        let mut summary = ImportSummary {
            scopes: self.scopes.len(),
            ..ImportSummary::default()
        };
        for report in reports {
            add(&mut summary, report);
        }
        summary
            .failures
            .sort_by(|a, b| (&a.scope, &a.cluster).cmp(&(&b.scope, &b.cluster)));
        if let Some(calls) = &self.calls {
            let counts = calls.snapshot();
            summary.aws_calls = counts.total_attempts();
            summary.retries = counts.total_retries();
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary
    }

    async fn import_scope(&self, scope: &Scope) -> ImportSummary {
        let mut report = ImportSummary::default();
        let fail = |report: &mut ImportSummary, message: String, transient: bool| {
            error!(scope = %scope, error = %message, "scope scan failed, its catalog entries are left as they were");
            report.scopes_failed = 1;
            report.failures.push(Failure {
                scope: scope.to_string(),
                cluster: None,
                error: message,
                transient,
            });
        };

        let eks = match self.clients.eks(&scope.account, &scope.region).await {
            Ok(eks) => eks,
            Err(error) => {
                fail(&mut report, error_chain(&error), error.is_transient());
                return report;
            }
        };
        let stored = match self.catalog.scope(&scope.account, &scope.region).await {
            Ok(stored) => stored,
            Err(error) => {
                fail(&mut report, error_chain(&error), error.is_transient());
                return report;
            }
        };
        let listed_at = now_millis();
        let names = match list_cluster_names(&eks).await {
            Ok(names) => names,
            Err(error) => {
                fail(&mut report, error_chain(&error), error.transient);
                return report;
            }
        };
        report.clusters_seen = names.len();
        debug!(scope = %scope, clusters = names.len(), catalog_entries = stored.len(), "listed clusters");

        let listed: Vec<ClusterArn> = names
            .iter()
            .map(|name| ClusterArn::new(&scope.account, &scope.region, name))
            .collect();
        let listed_arns: Vec<String> = listed.iter().map(ToString::to_string).collect();

        let observed: Vec<ClusterResult> = stream::iter(listed)
            .map(|arn| self.import_cluster(&eks, arn, &stored))
            .buffer_unordered(self.describe_concurrency.max(1))
            .collect()
            .await;

        // Entries whose cluster is no longer listed: deleted, or in the catalog from a scan
        // that predates the deletion.
        let unlisted: Vec<&CatalogEntry> = stored
            .values()
            .filter(|entry| !listed_arns.contains(&entry.cluster.arn))
            .collect();
        let removals: Vec<ClusterResult> = stream::iter(unlisted)
            .map(|entry| async move {
                let desired = Desired::Absent {
                    arn: entry.cluster.arn.clone(),
                    observed_at: listed_at,
                };
                let hint = Stored::Live(entry.clone());
                self.write(&entry.cluster.arn, Some(&hint), desired).await
            })
            .buffer_unordered(self.describe_concurrency.max(1))
            .collect()
            .await;

        for result in observed.into_iter().chain(removals) {
            match result {
                ClusterResult::Done {
                    plan,
                    present,
                    roles,
                    problems,
                } => {
                    report.roles += roles;
                    report.clusters_with_problems += usize::from(problems);
                    report.writes += plan.item_count();
                    match plan {
                        Plan::Import { .. } => report.imported += 1,
                        Plan::Update { .. } => report.updated += 1,
                        Plan::Remove { .. } => report.removed += 1,
                        Plan::Superseded { .. } => report.superseded += 1,
                        Plan::Unchanged if present => report.unchanged += 1,
                        Plan::Unchanged | Plan::Touch { .. } | Plan::MarkAbsent { .. } => {}
                    }
                }
                ClusterResult::Failed {
                    arn,
                    error,
                    transient,
                } => {
                    warn!(scope = %scope, cluster_arn = %arn, error = %error, "cluster left as it was after a failure");
                    report.failures.push(Failure {
                        scope: scope.to_string(),
                        cluster: Some(arn),
                        error,
                        transient,
                    });
                }
            }
        }
        info!(
            scope = %scope,
            clusters_seen = report.clusters_seen,
            imported = report.imported,
            updated = report.updated,
            removed = report.removed,
            failures = report.failures.len(),
            "scope scanned"
        );
        report
    }

    async fn import_cluster(
        &self,
        eks: &aws_sdk_eks::Client,
        arn: ClusterArn,
        stored: &BTreeMap<String, CatalogEntry>,
    ) -> ClusterResult {
        let arn_text = arn.to_string();
        let (cluster, observed_at) = match describe_cluster(eks, &arn.name).await {
            Ok(observation) => observation,
            Err(error) => {
                return ClusterResult::Failed {
                    arn: arn_text,
                    transient: error.transient,
                    error: error_chain(&error),
                };
            }
        };
        let desired = desired_state(&self.namespace, &arn, cluster.as_ref(), observed_at);
        let hint = stored.get(&arn_text).cloned().map(Stored::Live);
        self.write(&arn_text, hint.as_ref(), desired).await
    }

    async fn write(&self, arn: &str, hint: Option<&Stored>, desired: Desired) -> ClusterResult {
        let (present, roles, problems) = match &desired {
            Desired::Present(entry) => (
                true,
                entry.roles.len(),
                !entry.cluster.problems.is_empty()
                    || entry.roles.iter().any(|r| !r.problems.is_empty()),
            ),
            Desired::Absent { .. } => (false, 0, false),
        };
        match self
            .catalog
            .reconcile(Some(hint), &desired, WritePolicy::ChangesOnly)
            .await
        {
            Ok(outcome) => {
                log_change(arn, &outcome.plan);
                ClusterResult::Done {
                    plan: outcome.plan,
                    present,
                    roles,
                    problems,
                }
            }
            Err(error) => ClusterResult::Failed {
                arn: arn.to_string(),
                transient: error.is_transient(),
                error: error_chain(&error),
            },
        }
    }
}

#[allow(
    clippy::large_enum_variant,
    reason = "short-lived values, one per cluster"
)]
enum ClusterResult {
    Done {
        plan: Plan,
        present: bool,
        roles: usize,
        problems: bool,
    },
    Failed {
        arn: String,
        error: String,
        transient: bool,
    },
}

fn log_change(arn: &str, plan: &Plan) {
    match plan {
        Plan::Import { entry } | Plan::Update { entry, .. } => {
            let action = if matches!(plan, Plan::Import { .. }) {
                "imported"
            } else {
                "updated"
            };
            info!(cluster_arn = %arn, action, roles = entry.roles.len(), "catalog entry written");
            for problem in &entry.cluster.problems {
                warn!(cluster_arn = %arn, problem = %problem, "role tag declares no usable role");
            }
            for role in entry.roles.iter().filter(|role| !role.problems.is_empty()) {
                warn!(cluster_arn = %arn, role = %role.name, problems = ?role.problems, "role declaration has problems");
            }
        }
        Plan::Remove { .. } => {
            info!(cluster_arn = %arn, action = "removed", "catalog entry written")
        }
        Plan::Superseded { stored_observed_at } => {
            debug!(cluster_arn = %arn, stored_observed_at, "observation superseded by a newer one")
        }
        Plan::Unchanged | Plan::Touch { .. } | Plan::MarkAbsent { .. } => {}
    }
}

fn add(total: &mut ImportSummary, part: ImportSummary) {
    total.scopes_failed += part.scopes_failed;
    total.clusters_seen += part.clusters_seen;
    total.imported += part.imported;
    total.updated += part.updated;
    total.removed += part.removed;
    total.unchanged += part.unchanged;
    total.superseded += part.superseded;
    total.roles += part.roles;
    total.clusters_with_problems += part.clusters_with_problems;
    total.writes += part.writes;
    total.failures.extend(part.failures);
}
