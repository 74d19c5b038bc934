use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::layout::{self, ENTITY, EXPIRES_AT, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, PK, SK};
use crate::model::{Item, ItemReader, Malformed};

pub(crate) const ENTITY_REQUEST: &str = "request";
pub(crate) const ENTITY_SESSION: &str = "session";
pub(crate) const ENTITY_AUDIT: &str = "audit";

/// The stored state of an access request. A request that was approved is a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for a decision until `pending_until`.
    Pending,
    /// Approved: a grant, active from `starts_at` until `ends_at`.
    Approved,
    Denied,
    /// Withdrawn by the requester before a decision.
    Cancelled,
    /// A grant that its holder ended early.
    Ended,
    /// A grant that an approver revoked.
    Revoked,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Cancelled => "cancelled",
            Self::Ended => "ended",
            Self::Revoked => "revoked",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "cancelled" => Self::Cancelled,
            "ended" => Self::Ended,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }
}

/// The state of a request at a given time, with the time-based transitions applied: a pending
/// request past `pending_until` has expired, and an approved one past `ends_at` is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    /// Expired while pending, because no decision came in time.
    Expired,
    /// An approved request whose grant is active.
    Active,
    /// An approved request whose grant ran to its end.
    Elapsed,
    Denied,
    Cancelled,
    Ended,
    Revoked,
}

/// A decision or grant change recorded on a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The user who decided, or `auto-approval` for a matching rule.
    pub by: String,
    /// Epoch milliseconds.
    pub at: i64,
    pub reason: Option<String>,
}

/// An access request for one role on one cluster and, once approved, the grant it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessRequest {
    pub id: String,
    /// The requesting user, as the configured user claim names them.
    pub requester: String,
    pub cluster_arn: String,
    pub cluster_name: String,
    pub role_name: String,
    /// The role ARN, path included, that the catalog listed when the request was made.
    pub role_arn: String,
    /// Requested length of the grant, in seconds.
    pub duration_secs: i64,
    pub reason: String,
    pub status: RequestStatus,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds after which a pending request has expired.
    pub pending_until: i64,
    /// The approval or denial.
    pub decision: Option<Decision>,
    /// Whether an auto-approval rule approved the request.
    pub auto_approved: bool,
    /// Grant start, epoch milliseconds: the approval time.
    pub starts_at: Option<i64>,
    /// Grant end, epoch milliseconds.
    pub ends_at: Option<i64>,
    /// The user who ended or revoked the grant, with the time and reason.
    pub closed: Option<Decision>,
}

impl AccessRequest {
    /// Returns the state at `now` (epoch milliseconds).
    pub fn state(&self, now: i64) -> RequestState {
        match self.status {
            RequestStatus::Pending if now >= self.pending_until => RequestState::Expired,
            RequestStatus::Pending => RequestState::Pending,
            RequestStatus::Approved => match self.ends_at {
                Some(ends_at) if now < ends_at => RequestState::Active,
                _ => RequestState::Elapsed,
            },
            RequestStatus::Denied => RequestState::Denied,
            RequestStatus::Cancelled => RequestState::Cancelled,
            RequestStatus::Ended => RequestState::Ended,
            RequestStatus::Revoked => RequestState::Revoked,
        }
    }

    /// Tells whether the request is a grant that is active at `now`.
    pub fn is_active_grant(&self, now: i64) -> bool {
        self.state(now) == RequestState::Active
    }
}

/// A record of one issued session: who connected to which role, when, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRecord {
    pub id: String,
    pub user: String,
    /// The grant (approved request) that allowed the session.
    pub grant_id: String,
    pub cluster_arn: String,
    pub role_arn: String,
    /// The role session name that CloudTrail and Kubernetes show for the session.
    pub session_name: String,
    /// `broker` or `web-identity`.
    pub mode: String,
    /// Epoch milliseconds.
    pub issued_at: i64,
    /// Expiry of the issued credentials, epoch milliseconds.
    pub expires_at: i64,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// One audit event: who did what to which object, when, why and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub id: String,
    /// Epoch milliseconds.
    pub at: i64,
    pub actor: String,
    /// Dotted action name such as `request.create` or `grant.revoke`.
    pub action: String,
    /// `succeeded`, or `rejected` for an attempt that the rules refused.
    pub outcome: String,
    /// The request, grant or session the action applied to.
    pub target: Option<String>,
    pub cluster_arn: Option<String>,
    pub role_name: Option<String>,
    pub reason: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The API Gateway request ID.
    pub request_id: Option<String>,
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn put_optional(item: &mut Item, name: &str, value: Option<&str>) {
    if let Some(value) = value {
        item.insert(name.to_string(), s(value));
    }
}

/// Converts epoch milliseconds to the TTL attribute's epoch seconds, `retention_secs` later.
pub(crate) fn ttl_after(at_ms: i64, retention_secs: i64) -> AttributeValue {
    n(at_ms.div_euclid(1000) + retention_secs)
}

fn decision_value(decision: &Decision) -> AttributeValue {
    let mut map = HashMap::from([
        ("by".to_string(), s(&decision.by)),
        ("at".into(), n(decision.at)),
    ]);
    put_optional(&mut map, "reason", decision.reason.as_deref());
    AttributeValue::M(map)
}

/// Builds the item of a request. `retention_secs` is how long the record outlives the end of
/// its relevance: the pending period, the grant, or the decision.
pub(crate) fn request_item(request: &AccessRequest, retention_secs: i64) -> Item {
    let mut item = Item::from([
        (PK.to_string(), s(&layout::request_pk(&request.id))),
        (SK.to_string(), s(layout::REQUEST_SK)),
        (ENTITY.to_string(), s(ENTITY_REQUEST)),
        (
            GSI1_PK.to_string(),
            s(&layout::user_partition(&request.requester)),
        ),
        (
            GSI1_SK.to_string(),
            s(&layout::user_request_sk(request.created_at, &request.id)),
        ),
        ("id".into(), s(&request.id)),
        ("requester".into(), s(&request.requester)),
        ("cluster_arn".into(), s(&request.cluster_arn)),
        ("cluster_name".into(), s(&request.cluster_name)),
        ("role_name".into(), s(&request.role_name)),
        ("role_arn".into(), s(&request.role_arn)),
        ("duration_secs".into(), n(request.duration_secs)),
        ("reason".into(), s(&request.reason)),
        ("status".into(), s(request.status.as_str())),
        ("created_at".into(), n(request.created_at)),
        ("pending_until".into(), n(request.pending_until)),
        (
            "auto_approved".into(),
            AttributeValue::Bool(request.auto_approved),
        ),
    ]);
    if let Some(decision) = &request.decision {
        item.insert("decision".into(), decision_value(decision));
    }
    if let Some(closed) = &request.closed {
        item.insert("closed".into(), decision_value(closed));
    }
    if let Some(starts_at) = request.starts_at {
        item.insert("starts_at".into(), n(starts_at));
    }
    if let Some(ends_at) = request.ends_at {
        item.insert("ends_at".into(), n(ends_at));
    }
    match (request.status, request.ends_at) {
        (RequestStatus::Pending, _) => {
            item.insert(GSI2_PK.into(), s(layout::PENDING_PARTITION));
            item.insert(
                GSI2_SK.into(),
                s(&layout::time_sk(request.created_at, &request.id)),
            );
        }
        (RequestStatus::Approved, Some(ends_at)) => {
            item.insert(GSI2_PK.into(), s(layout::GRANTS_PARTITION));
            item.insert(GSI2_SK.into(), s(&layout::time_sk(ends_at, &request.id)));
        }
        _ => {}
    }
    let relevant_until = request
        .ends_at
        .unwrap_or(request.pending_until)
        .max(request.pending_until);
    item.insert(EXPIRES_AT.into(), ttl_after(relevant_until, retention_secs));
    item
}

pub(crate) fn session_item(record: &SessionRecord, retention_secs: i64) -> Item {
    let mut item = Item::from([
        (PK.to_string(), s(&layout::session_pk(&record.id))),
        (SK.to_string(), s(layout::SESSION_SK)),
        (ENTITY.to_string(), s(ENTITY_SESSION)),
        (
            GSI1_PK.to_string(),
            s(&layout::user_partition(&record.user)),
        ),
        (
            GSI1_SK.to_string(),
            s(&layout::user_session_sk(record.issued_at, &record.id)),
        ),
        (GSI2_PK.to_string(), s(layout::SESSIONS_PARTITION)),
        (
            GSI2_SK.to_string(),
            s(&layout::time_sk(record.issued_at, &record.id)),
        ),
        ("id".into(), s(&record.id)),
        ("user".into(), s(&record.user)),
        ("grant_id".into(), s(&record.grant_id)),
        ("cluster_arn".into(), s(&record.cluster_arn)),
        ("role_arn".into(), s(&record.role_arn)),
        ("session_name".into(), s(&record.session_name)),
        ("mode".into(), s(&record.mode)),
        ("issued_at".into(), n(record.issued_at)),
        ("credentials_expire_at".into(), n(record.expires_at)),
        (
            EXPIRES_AT.into(),
            ttl_after(record.expires_at, retention_secs),
        ),
    ]);
    put_optional(&mut item, "source_ip", record.source_ip.as_deref());
    put_optional(&mut item, "user_agent", record.user_agent.as_deref());
    item
}

pub(crate) fn audit_item(record: &AuditRecord, retention_secs: i64) -> Item {
    let mut item = Item::from([
        (PK.to_string(), s(&layout::audit_pk(record.at))),
        (SK.to_string(), s(&layout::time_sk(record.at, &record.id))),
        (ENTITY.to_string(), s(ENTITY_AUDIT)),
        (
            GSI1_PK.to_string(),
            s(&layout::user_partition(&record.actor)),
        ),
        (
            GSI1_SK.to_string(),
            s(&layout::user_audit_sk(record.at, &record.id)),
        ),
        ("id".into(), s(&record.id)),
        ("at".into(), n(record.at)),
        ("actor".into(), s(&record.actor)),
        ("action".into(), s(&record.action)),
        ("outcome".into(), s(&record.outcome)),
        (EXPIRES_AT.into(), ttl_after(record.at, retention_secs)),
    ]);
    put_optional(&mut item, "target", record.target.as_deref());
    put_optional(&mut item, "cluster_arn", record.cluster_arn.as_deref());
    put_optional(&mut item, "role_name", record.role_name.as_deref());
    put_optional(&mut item, "reason", record.reason.as_deref());
    put_optional(&mut item, "source_ip", record.source_ip.as_deref());
    put_optional(&mut item, "user_agent", record.user_agent.as_deref());
    put_optional(&mut item, "request_id", record.request_id.as_deref());
    item
}

impl ItemReader<'_> {
    fn decision(&self, name: &str) -> Result<Option<Decision>, Malformed> {
        let map = match self.attribute(name) {
            None | Some(AttributeValue::Null(_)) => return Ok(None),
            Some(AttributeValue::M(map)) => map,
            Some(_) => return Err(self.malformed_attribute(name, "is not a map")),
        };
        let nested = ItemReader::new(map);
        let decision = Decision {
            by: nested.string("by").map_err(|m| self.nested(name, m))?,
            at: nested.number("at").map_err(|m| self.nested(name, m))?,
            reason: nested
                .optional_string("reason")
                .map_err(|m| self.nested(name, m))?,
        };
        Ok(Some(decision))
    }

    fn optional_number(&self, name: &str) -> Result<Option<i64>, Malformed> {
        match self.attribute(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(_) => self.number(name).map(Some),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, Malformed> {
        match self.attribute(name) {
            None => Ok(false),
            Some(AttributeValue::Bool(value)) => Ok(*value),
            Some(_) => Err(self.malformed_attribute(name, "is not a boolean")),
        }
    }

    pub(crate) fn request(&self) -> Result<AccessRequest, Malformed> {
        let status_text = self.string("status")?;
        let status = RequestStatus::parse(&status_text).ok_or_else(|| {
            self.malformed_attribute("status", &format!("has unknown value {status_text:?}"))
        })?;
        Ok(AccessRequest {
            id: self.string("id")?,
            requester: self.string("requester")?,
            cluster_arn: self.string("cluster_arn")?,
            cluster_name: self.string("cluster_name")?,
            role_name: self.string("role_name")?,
            role_arn: self.string("role_arn")?,
            duration_secs: self.number("duration_secs")?,
            reason: self.string("reason")?,
            status,
            created_at: self.number("created_at")?,
            pending_until: self.number("pending_until")?,
            decision: self.decision("decision")?,
            auto_approved: self.boolean("auto_approved")?,
            starts_at: self.optional_number("starts_at")?,
            ends_at: self.optional_number("ends_at")?,
            closed: self.decision("closed")?,
        })
    }

    pub(crate) fn session(&self) -> Result<SessionRecord, Malformed> {
        Ok(SessionRecord {
            id: self.string("id")?,
            user: self.string("user")?,
            grant_id: self.string("grant_id")?,
            cluster_arn: self.string("cluster_arn")?,
            role_arn: self.string("role_arn")?,
            session_name: self.string("session_name")?,
            mode: self.string("mode")?,
            issued_at: self.number("issued_at")?,
            expires_at: self.number("credentials_expire_at")?,
            source_ip: self.optional_string("source_ip")?,
            user_agent: self.optional_string("user_agent")?,
        })
    }

    pub(crate) fn audit(&self) -> Result<AuditRecord, Malformed> {
        Ok(AuditRecord {
            id: self.string("id")?,
            at: self.number("at")?,
            actor: self.string("actor")?,
            action: self.string("action")?,
            outcome: self.string("outcome")?,
            target: self.optional_string("target")?,
            cluster_arn: self.optional_string("cluster_arn")?,
            role_name: self.optional_string("role_name")?,
            reason: self.optional_string("reason")?,
            source_ip: self.optional_string("source_ip")?,
            user_agent: self.optional_string("user_agent")?,
            request_id: self.optional_string("request_id")?,
        })
    }
}
