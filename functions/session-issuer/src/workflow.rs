//! Routes of the catalog and of the access workflow: requests, decisions and grants.

use eksgate_catalog::access::{AccessRequest, Change, Decision, RequestState, RequestStatus};
use eksgate_catalog::{CatalogEntry, RoleRecord, Stored};
use serde::Deserialize;
use serde_json::json;

use crate::app::{App, Context, store_failure};
use crate::duration::{format_duration, parse_duration};
use crate::http::{ApiError, ApiResponse};
use crate::views::{ClusterView, RequestView, rfc3339};

/// Maximum length of a reason, in characters.
const MAX_REASON_CHARS: usize = 1000;
/// The decider recorded for requests that an auto-approval rule approved.
pub const AUTO_APPROVER: &str = "auto-approval";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequestBody {
    cluster: String,
    role: String,
    #[serde(default)]
    duration: Option<DurationValue>,
    reason: String,
}

/// A duration written as seconds or as text such as `1h30m`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Seconds(i64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

/// The change that a decision or grant route makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Approve,
    Deny,
    Cancel,
    End,
    Revoke,
}

impl Action {
    fn audit_name(self) -> &'static str {
        match self {
            Self::Approve => "request.approve",
            Self::Deny => "request.deny",
            Self::Cancel => "request.cancel",
            Self::End => "grant.end",
            Self::Revoke => "grant.revoke",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Deny => "deny",
            Self::Cancel => "cancel",
            Self::End => "end",
            Self::Revoke => "revoke",
        }
    }
}

/// Checks a free-text reason: trimmed, not too long, and free of control characters other than
/// line breaks and tabs.
fn clean_reason(
    reason: Option<&str>,
    required: bool,
    action: &str,
) -> Result<Option<String>, ApiError> {
    let reason = reason.map(str::trim).filter(|text| !text.is_empty());
    let Some(reason) = reason else {
        return if required {
            Err(ApiError::bad_request(format!(
                "missing reason: say why you {action}, in the field \"reason\""
            )))
        } else {
            Ok(None)
        };
    };
    let length = reason.chars().count();
    if length > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(format!(
            "the reason has {length} characters; the limit is {MAX_REASON_CHARS}"
        )));
    }
    if reason
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ApiError::bad_request(
            "the reason contains control characters; use plain text",
        ));
    }
    Ok(Some(reason.to_string()))
}

/// Checks that a cluster ARN has the shape `arn:<partition>:eks:<region>:<account>:cluster/<name>`.
pub(crate) fn check_cluster_arn(arn: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && eksgate_tags::Partition::parse(parts[1]).is_some()
        && parts[2] == "eks"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("cluster/")
            .is_some_and(|name| !name.is_empty() && !name.contains('/'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid cluster {arn:?}: give the cluster ARN, such as \
             arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod (see GET /clusters)"
        )))
    }
}

impl App {
    /// Reads a live catalog entry, or a 404 naming the cluster.
    pub(crate) async fn catalog_entry(&self, arn: &str) -> Result<CatalogEntry, ApiError> {
        check_cluster_arn(arn)?;
        match self.catalog.get(arn).await.map_err(|e| store_failure(&e))? {
            Some(Stored::Live(entry)) => Ok(entry),
            Some(Stored::Removed { .. }) | None => Err(ApiError::not_found(format!(
                "cluster {arn} is not in the catalog: see GET /clusters for the clusters eksgate manages"
            ))),
        }
    }

    /// Finds a role that the catalog lists on a cluster, by name.
    pub(crate) fn catalog_role<'a>(
        entry: &'a CatalogEntry,
        role: &str,
    ) -> Result<&'a RoleRecord, ApiError> {
        let found = entry.roles.iter().find(|candidate| candidate.name == role);
        let Some(found) = found else {
            let names: Vec<&str> = entry.roles.iter().map(|r| r.name.as_str()).collect();
            let listed = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            };
            return Err(ApiError::not_found(format!(
                "role {role:?} is not listed on cluster {}; its roles are: {listed}",
                entry.cluster.arn
            )));
        };
        if !found.problems.is_empty() {
            return Err(ApiError::conflict(format!(
                "role {role:?} on cluster {} is declared with problems ({}); ask the cluster's operators to fix its tag {}",
                entry.cluster.arn,
                found.problems.join("; "),
                found.tag_key
            )));
        }
        Ok(found)
    }

    pub(crate) async fn list_clusters(&self, _context: &Context) -> Result<ApiResponse, ApiError> {
        let entries = self.catalog.all().await.map_err(|e| store_failure(&e))?;
        let clusters: Vec<ClusterView<'_>> = entries.values().map(ClusterView::new).collect();
        Ok(ApiResponse::ok(json!({ "clusters": clusters })))
    }

    pub(crate) async fn get_cluster(
        &self,
        _context: &Context,
        account: &str,
        region: &str,
        name: &str,
    ) -> Result<ApiResponse, ApiError> {
        let partition = eksgate_tags::Partition::of_region(region);
        let arn = format!("arn:{partition}:eks:{region}:{account}:cluster/{name}");
        let entry = self.catalog_entry(&arn).await?;
        Ok(ApiResponse::ok(
            json!({ "cluster": ClusterView::new(&entry) }),
        ))
    }

    pub(crate) async fn create_request(&self, context: &Context) -> Result<ApiResponse, ApiError> {
        let body: CreateRequestBody = context.request.json()?;
        let reason = clean_reason(Some(&body.reason), true, "need access")?.unwrap_or_default();
        let duration_secs = match &body.duration {
            None => self.config.default_grant_secs,
            Some(DurationValue::Seconds(seconds)) => *seconds,
            Some(DurationValue::Text(text)) => {
                parse_duration(text).map_err(ApiError::bad_request)?
            }
        };
        if !(self.config.min_grant_secs..=self.config.max_grant_secs).contains(&duration_secs) {
            return Err(ApiError::bad_request(format!(
                "invalid duration {}: request between {} and {}",
                format_duration(duration_secs),
                format_duration(self.config.min_grant_secs),
                format_duration(self.config.max_grant_secs)
            )));
        }
        let entry = self.catalog_entry(body.cluster.trim()).await?;
        let role = Self::catalog_role(&entry, body.role.trim())?;

        let now = context.now_ms;
        let mut request = AccessRequest {
            id: uuid::Uuid::new_v4().to_string(),
            requester: context.user().to_string(),
            cluster_arn: entry.cluster.arn.clone(),
            cluster_name: entry.cluster.name.clone(),
            role_name: role.name.clone(),
            role_arn: role.assume_arn.clone(),
            duration_secs,
            reason: reason.clone(),
            status: RequestStatus::Pending,
            created_at: now,
            pending_until: now + self.config.pending_secs * 1000,
            decision: None,
            auto_approved: false,
            starts_at: None,
            ends_at: None,
            closed: None,
        };
        let rule = self.config.auto_approve.iter().find(|rule| {
            rule.matches(
                &entry.cluster.arn,
                &entry.cluster.name,
                &role.name,
                &context.caller.identity.groups,
                duration_secs,
            )
        });
        if let Some(rule) = rule {
            request.status = RequestStatus::Approved;
            request.auto_approved = true;
            request.decision = Some(Decision {
                by: AUTO_APPROVER.into(),
                at: now,
                reason: Some(format!("auto-approval rule {:?}", rule.name)),
            });
            request.starts_at = Some(now);
            request.ends_at = Some(now + duration_secs * 1000);
        }

        match self
            .store
            .create_request(&request)
            .await
            .map_err(|e| store_failure(&e))?
        {
            Change::Applied => {}
            Change::Conflict => return Err(ApiError::internal()),
        }
        let mut record = context.audit("request.create", "succeeded");
        record.target = Some(request.id.clone());
        record.cluster_arn = Some(request.cluster_arn.clone());
        record.role_name = Some(request.role_name.clone());
        record.reason = Some(reason);
        self.record_completed(&record).await;
        if let Some(decision) = &request.decision {
            let mut approval = context.audit("request.approve", "succeeded");
            approval.actor = AUTO_APPROVER.into();
            approval.target = Some(request.id.clone());
            approval.cluster_arn = Some(request.cluster_arn.clone());
            approval.role_name = Some(request.role_name.clone());
            approval.reason = decision.reason.clone();
            self.record_completed(&approval).await;
        }
        Ok(ApiResponse::json(
            201,
            json!({ "request": RequestView::new(&request, now) }),
        ))
    }

    pub(crate) async fn list_requests(&self, context: &Context) -> Result<ApiResponse, ApiError> {
        let page = context.page()?;
        let now = context.now_ms;
        let scope = context.request.query("scope").unwrap_or("mine");
        let paged = match scope {
            "mine" => self.store.user_requests(context.user(), &page).await,
            "pending" => {
                context.require_approver("list other users' pending requests")?;
                self.store.pending_requests(&page).await
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid scope {other:?}: use mine or pending"
                )));
            }
        }
        .map_err(|e| store_failure(&e))?;
        let requests: Vec<RequestView<'_>> = paged
            .items
            .iter()
            .filter(|request| scope != "pending" || request.state(now) == RequestState::Pending)
            .map(|request| RequestView::new(request, now))
            .collect();
        Ok(ApiResponse::ok(
            json!({ "requests": requests, "next": paged.next }),
        ))
    }

    /// Reads a request that the caller may see: their own, or any for approvers. Others get the
    /// same 404 as a missing request, so IDs cannot be probed.
    async fn visible_request(
        &self,
        context: &Context,
        id: &str,
    ) -> Result<AccessRequest, ApiError> {
        let not_found = || ApiError::not_found(format!("request {id} not found"));
        if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(not_found());
        }
        let request = self
            .store
            .request(id)
            .await
            .map_err(|e| store_failure(&e))?
            .ok_or_else(not_found)?;
        if request.requester != context.user() && !context.caller.is_approver {
            return Err(not_found());
        }
        Ok(request)
    }

    pub(crate) async fn get_request(
        &self,
        context: &Context,
        id: &str,
    ) -> Result<ApiResponse, ApiError> {
        let request = self.visible_request(context, id).await?;
        Ok(ApiResponse::ok(
            json!({ "request": RequestView::new(&request, context.now_ms) }),
        ))
    }

    pub(crate) async fn approve_request(
        &self,
        context: &Context,
        id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.change_request(context, id, Action::Approve).await
    }

    pub(crate) async fn deny_request(
        &self,
        context: &Context,
        id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.change_request(context, id, Action::Deny).await
    }

    pub(crate) async fn cancel_request(
        &self,
        context: &Context,
        id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.change_request(context, id, Action::Cancel).await
    }

    pub(crate) async fn end_grant(
        &self,
        context: &Context,
        id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.change_request(context, id, Action::End).await
    }

    pub(crate) async fn revoke_grant(
        &self,
        context: &Context,
        id: &str,
    ) -> Result<ApiResponse, ApiError> {
        self.change_request(context, id, Action::Revoke).await
    }

    /// Applies a decision or grant change, after checking who may make it and that the request
    /// is in the state it applies to. Rejected attempts are audited too.
    async fn change_request(
        &self,
        context: &Context,
        id: &str,
        action: Action,
    ) -> Result<ApiResponse, ApiError> {
        let body: ReasonBody = context.request.json()?;
        let required = matches!(action, Action::Deny | Action::Revoke);
        let reason = clean_reason(body.reason.as_deref(), required, action.verb())?;

        let result = self.try_change(context, id, action, reason.clone()).await;
        let (outcome, request) = match &result {
            Ok(request) => ("succeeded", Some(request)),
            Err((_, request)) => ("rejected", request.as_ref()),
        };
        let mut record = context.audit(action.audit_name(), outcome);
        record.target = Some(id.to_string());
        record.reason = reason;
        if let Some(request) = request {
            record.cluster_arn = Some(request.cluster_arn.clone());
            record.role_name = Some(request.role_name.clone());
        }
        match result {
            Ok(updated) => {
                self.record_completed(&record).await;
                Ok(ApiResponse::ok(
                    json!({ "request": RequestView::new(&updated, context.now_ms) }),
                ))
            }
            Err((error, _)) => {
                if error.status == 403 || error.status == 409 {
                    record.reason = Some(error.message.clone());
                    self.record_completed(&record).await;
                }
                Err(error)
            }
        }
    }

    async fn try_change(
        &self,
        context: &Context,
        id: &str,
        action: Action,
        reason: Option<String>,
    ) -> Result<AccessRequest, (ApiError, Option<AccessRequest>)> {
        let user = context.user();
        let now = context.now_ms;
        if matches!(action, Action::Approve | Action::Deny | Action::Revoke) {
            let what = match action {
                Action::Revoke => "revoke grants",
                _ => "decide requests",
            };
            context.require_approver(what).map_err(|e| (e, None))?;
        }
        let request = self
            .visible_request(context, id)
            .await
            .map_err(|e| (e, None))?;
        let reject = |error: ApiError| (error, Some(request.clone()));

        let own = request.requester == user;
        match action {
            Action::Approve | Action::Deny if own => {
                return Err(reject(ApiError::forbidden(format!(
                    "you cannot {} your own request {id}; another approver must decide it",
                    action.verb()
                ))));
            }
            Action::Cancel | Action::End if !own => {
                let hint = if action == Action::End {
                    "; approvers revoke other users' grants with POST /grants/{id}/revoke"
                } else {
                    "; approvers deny other users' requests"
                };
                return Err(reject(ApiError::forbidden(format!(
                    "only the requester may {} {id}{hint}",
                    action.verb()
                ))));
            }
            _ => {}
        }

        let state = request.state(now);
        let expected_state = match action {
            Action::Approve | Action::Deny | Action::Cancel => RequestState::Pending,
            Action::End | Action::Revoke => RequestState::Active,
        };
        if state != expected_state {
            return Err(reject(ApiError::conflict(state_conflict(
                &request, state, action,
            ))));
        }

        let decision = Decision {
            by: user.to_string(),
            at: now,
            reason,
        };
        let mut updated = request.clone();
        let (expected_status, deadline) = match action {
            Action::Approve => {
                updated.status = RequestStatus::Approved;
                updated.decision = Some(decision);
                updated.starts_at = Some(now);
                updated.ends_at = Some(now + request.duration_secs * 1000);
                (RequestStatus::Pending, ("pending_until", now))
            }
            Action::Deny => {
                updated.status = RequestStatus::Denied;
                updated.decision = Some(decision);
                (RequestStatus::Pending, ("pending_until", now))
            }
            Action::Cancel => {
                updated.status = RequestStatus::Cancelled;
                updated.closed = Some(decision);
                (RequestStatus::Pending, ("pending_until", now))
            }
            Action::End | Action::Revoke => {
                updated.status = if action == Action::End {
                    RequestStatus::Ended
                } else {
                    RequestStatus::Revoked
                };
                updated.closed = Some(decision);
                (RequestStatus::Approved, ("ends_at", now))
            }
        };
        let change = self
            .store
            .update_request(&updated, expected_status, Some(deadline))
            .await
            .map_err(|e| reject(store_failure(&e)))?;
        match change {
            Change::Applied => Ok(updated),
            Change::Conflict => {
                // Another writer or the clock changed the request since it was read.
                let current = self
                    .store
                    .request(id)
                    .await
                    .map_err(|e| reject(store_failure(&e)))?
                    .unwrap_or(request.clone());
                let message = state_conflict(&current, current.state(now), action);
                Err((ApiError::conflict(message), Some(current)))
            }
        }
    }

    pub(crate) async fn list_grants(&self, context: &Context) -> Result<ApiResponse, ApiError> {
        let now = context.now_ms;
        let scope = context.request.query("scope").unwrap_or("mine");
        let (grants, next) = match scope {
            "mine" => {
                let grants = self
                    .store
                    .user_grants(context.user(), context.oldest_possible_grant(&self.config))
                    .await
                    .map_err(|e| store_failure(&e))?;
                (grants, None)
            }
            "all" => {
                context.require_approver("list other users' grants")?;
                let page = context.page()?;
                let paged = self
                    .store
                    .open_grants(now, &page)
                    .await
                    .map_err(|e| store_failure(&e))?;
                (paged.items, paged.next)
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid scope {other:?}: use mine or all"
                )));
            }
        };
        let views: Vec<RequestView<'_>> = grants
            .iter()
            .filter(|grant| grant.is_active_grant(now))
            .map(|grant| RequestView::new(grant, now))
            .collect();
        Ok(ApiResponse::ok(json!({ "grants": views, "next": next })))
    }
}

/// Explains why `action` does not apply to a request in `state`.
fn state_conflict(request: &AccessRequest, state: RequestState, action: Action) -> String {
    let id = &request.id;
    let verb = action.verb();
    match state {
        RequestState::Expired => format!(
            "request {id} expired at {} without a decision; the requester can request access again",
            rfc3339(request.pending_until)
        ),
        RequestState::Elapsed => format!(
            "the grant of request {id} already ended at {}",
            request.ends_at.map(rfc3339).unwrap_or_default()
        ),
        RequestState::Active
            if matches!(action, Action::Approve | Action::Deny | Action::Cancel) =>
        {
            format!("request {id} is already approved; to take access away, revoke the grant")
        }
        RequestState::Pending => {
            format!("request {id} is pending, not a grant; approvers approve or deny it")
        }
        other => format!(
            "cannot {verb} request {id}: it is {}",
            serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    }
}
