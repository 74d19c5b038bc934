//! The JSON shapes the API returns.

use std::time::{Duration, UNIX_EPOCH};

use eksgate_catalog::access::{AccessRequest, AuditRecord, Decision, RequestState, SessionRecord};
use eksgate_catalog::{CatalogEntry, RoleRecord};
use eksgate_kube::exec::format_rfc3339;
use serde::Serialize;

/// Formats epoch milliseconds as an RFC 3339 UTC timestamp with second precision.
pub fn rfc3339(at_ms: i64) -> String {
    let time = if at_ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(at_ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(at_ms.unsigned_abs())
    };
    format_rfc3339(time)
}

#[derive(Debug, Serialize)]
pub struct RoleView<'a> {
    pub name: &'a str,
    pub arn: &'a str,
    /// The path-less ARN that aws-auth maps.
    pub mapped_arn: &'a str,
    /// Whether sessions can be issued for the role: its tag declares it without problems.
    pub usable: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub problems: &'a [String],
}

impl<'a> RoleView<'a> {
    pub fn new(role: &'a RoleRecord) -> Self {
        Self {
            name: &role.name,
            arn: &role.assume_arn,
            mapped_arn: &role.mapped_arn,
            usable: role.problems.is_empty(),
            problems: &role.problems,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ClusterView<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub account: &'a str,
    pub region: &'a str,
    pub status: &'a str,
    pub version: Option<&'a str>,
    pub endpoint: Option<&'a str>,
    pub roles: Vec<RoleView<'a>>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub problems: &'a [String],
    pub observed_at: String,
}

impl<'a> ClusterView<'a> {
    pub fn new(entry: &'a CatalogEntry) -> Self {
        let cluster = &entry.cluster;
        Self {
            arn: &cluster.arn,
            name: &cluster.name,
            account: &cluster.account,
            region: &cluster.region,
            status: &cluster.status,
            version: cluster.version.as_deref(),
            endpoint: cluster.endpoint.as_deref(),
            roles: entry.roles.iter().map(RoleView::new).collect(),
            problems: &cluster.problems,
            observed_at: rfc3339(entry.observed_at),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DecisionView<'a> {
    pub by: &'a str,
    pub at: String,
    pub reason: Option<&'a str>,
}

impl<'a> DecisionView<'a> {
    fn new(decision: &'a Decision) -> Self {
        Self {
            by: &decision.by,
            at: rfc3339(decision.at),
            reason: decision.reason.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RequestView<'a> {
    pub id: &'a str,
    pub requester: &'a str,
    pub cluster: &'a str,
    pub cluster_name: &'a str,
    pub role: &'a str,
    pub role_arn: &'a str,
    pub duration_seconds: i64,
    pub reason: &'a str,
    /// The state now: pending, expired, active, elapsed, denied, cancelled, ended or revoked.
    pub state: RequestState,
    pub created_at: String,
    pub pending_until: String,
    pub auto_approved: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed: Option<DecisionView<'a>>,
}

impl<'a> RequestView<'a> {
    pub fn new(request: &'a AccessRequest, now_ms: i64) -> Self {
        Self {
            id: &request.id,
            requester: &request.requester,
            cluster: &request.cluster_arn,
            cluster_name: &request.cluster_name,
            role: &request.role_name,
            role_arn: &request.role_arn,
            duration_seconds: request.duration_secs,
            reason: &request.reason,
            state: request.state(now_ms),
            created_at: rfc3339(request.created_at),
            pending_until: rfc3339(request.pending_until),
            auto_approved: request.auto_approved,
            decision: request.decision.as_ref().map(DecisionView::new),
            starts_at: request.starts_at.map(rfc3339),
            ends_at: request.ends_at.map(rfc3339),
            closed: request.closed.as_ref().map(DecisionView::new),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SessionView<'a> {
    pub id: &'a str,
    pub user: &'a str,
    pub grant_id: &'a str,
    pub cluster: &'a str,
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub mode: &'a str,
    pub issued_at: String,
    pub expires_at: String,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

impl<'a> SessionView<'a> {
    pub fn new(record: &'a SessionRecord) -> Self {
        Self {
            id: &record.id,
            user: &record.user,
            grant_id: &record.grant_id,
            cluster: &record.cluster_arn,
            role_arn: &record.role_arn,
            session_name: &record.session_name,
            mode: &record.mode,
            issued_at: rfc3339(record.issued_at),
            expires_at: rfc3339(record.expires_at),
            source_ip: record.source_ip.as_deref(),
            user_agent: record.user_agent.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AuditView<'a> {
    pub id: &'a str,
    pub at: String,
    pub actor: &'a str,
    pub action: &'a str,
    pub outcome: &'a str,
    pub target: Option<&'a str>,
    pub cluster: Option<&'a str>,
    pub role: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub source_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
}

impl<'a> AuditView<'a> {
    pub fn new(record: &'a AuditRecord) -> Self {
        Self {
            id: &record.id,
            at: rfc3339(record.at),
            actor: &record.actor,
            action: &record.action,
            outcome: &record.outcome,
            target: record.target.as_deref(),
            cluster: record.cluster_arn.as_deref(),
            role: record.role_name.as_deref(),
            reason: record.reason.as_deref(),
            source_ip: record.source_ip.as_deref(),
            user_agent: record.user_agent.as_deref(),
            request_id: record.request_id.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_509_400_999), "2025-11-30T13:30:00Z");
        assert_eq!(rfc3339(951_868_799_000), "2000-02-29T23:59:59Z");
    }
}
