//! Sessions ("Connect"): role credentials, an EKS token and a kubeconfig for an active grant,
//! and the session and audit lists.

use std::time::{Duration, UNIX_EPOCH};

use eksgate_catalog::access::{AccessRequest, SessionRecord};
use eksgate_catalog::layout::utc_date;
use eksgate_kube::{ClusterKubeconfig, ExecPlugin, SigningCredentials, UserCredential, eks_token};
use eksgate_tags::Partition;
use serde::Deserialize;
use serde_json::json;
use tracing::{error, info, warn};

use crate::app::{App, Context, store_failure};
use crate::config::{AssumeMode, STS_MIN_SESSION_SECS};
use crate::duration::format_duration;
use crate::http::{ApiError, ApiResponse};
use crate::session_name::session_name;
use crate::sts::{AssumeErrorKind, AssumeRequest};
use crate::views::{AuditView, SessionView, rfc3339};

/// Cluster statuses in which the API server can take requests.
const CONNECTABLE_STATUSES: [&str; 2] = ["ACTIVE", "UPDATING"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSessionBody {
    cluster: String,
    role: String,
    /// `token` (default) writes the EKS token into the kubeconfig; `exec` writes an exec
    /// plugin entry that runs the eksgate CLI.
    #[serde(default)]
    kubeconfig_auth: Option<String>,
}

impl App {
    pub(crate) async fn create_session(&self, context: &Context) -> Result<ApiResponse, ApiError> {
        let body: CreateSessionBody = context.request.json()?;
        let cluster_arn = body.cluster.trim();
        let role_name = body.role.trim();
        let exec_auth = match body.kubeconfig_auth.as_deref().unwrap_or("token") {
            "token" => false,
            "exec" => true,
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid kubeconfig_auth {other:?}: use token or exec"
                )));
            }
        };

        let result = self.issue(context, cluster_arn, role_name, exec_auth).await;
        if let Err(error) = &result
            && matches!(error.status, 403 | 404 | 409)
        {
            let mut record = context.audit("session.create", "rejected");
            record.cluster_arn = Some(cluster_arn.to_string());
            record.role_name = Some(role_name.to_string());
            record.reason = Some(error.message.clone());
            self.record_completed(&record).await;
        }
        result
    }

    async fn issue(
        &self,
        context: &Context,
        cluster_arn: &str,
        role_name: &str,
        exec_auth: bool,
    ) -> Result<ApiResponse, ApiError> {
        let now = context.now_ms;
        let entry = self.catalog_entry(cluster_arn).await?;
        let role = Self::catalog_role(&entry, role_name)?;
        let cluster = &entry.cluster;
        if !CONNECTABLE_STATUSES.contains(&cluster.status.as_str()) {
            return Err(ApiError::conflict(format!(
                "cluster {} is {}; connect once it is ACTIVE",
                cluster.arn, cluster.status
            )));
        }
        let (Some(endpoint), Some(ca_data)) = (&cluster.endpoint, &cluster.ca_data) else {
            return Err(ApiError::conflict(format!(
                "cluster {} has no API endpoint or certificate yet; try again once it is ACTIVE",
                cluster.arn
            )));
        };
        let partition = Partition::parse(&cluster.partition)
            .unwrap_or_else(|| Partition::of_region(&cluster.region));

        let grant = self
            .active_grant(context, &cluster.arn, &role.name, &role.assume_arn)
            .await?;
        let ends_at = grant.ends_at.unwrap_or(now);
        let remaining_secs = (ends_at - now) / 1000;
        if remaining_secs < STS_MIN_SESSION_SECS {
            return Err(ApiError::conflict(format!(
                "your grant {} ends in {}, and STS issues credentials for at least 15m; request access again to keep working",
                grant.id,
                format_duration(remaining_secs.max(0))
            )));
        }
        let duration_secs = remaining_secs.min(self.config.max_session_secs);

        let name = session_name(context.user());
        let web_token = match self.config.assume_mode {
            AssumeMode::Broker => None,
            AssumeMode::WebIdentity => Some(context.caller.bearer.as_deref().ok_or_else(|| {
                ApiError::unauthorized(
                    "web identity mode needs your identity token: send Authorization: Bearer <token>",
                )
            })?),
        };
        let assume = AssumeRequest {
            mode: self.config.assume_mode,
            region: &cluster.region,
            role_arn: &role.assume_arn,
            session_name: &name,
            web_identity_token: web_token,
            duration_secs,
        };
        let credentials = self.sts.assume(&assume).await.map_err(|error| {
            error!(
                role_arn = %error.role_arn,
                code = %error.code,
                message = %error.message,
                operation = error.operation,
                "STS did not issue session credentials"
            );
            match error.kind {
                AssumeErrorKind::Denied => ApiError::forbidden(format!(
                    "AWS denied eksgate access to role {}: its trust policy must allow the eksgate issuer ({} mode); ask the cluster's operators to run the setup check",
                    role.assume_arn,
                    self.config.assume_mode.as_str()
                )),
                AssumeErrorKind::InvalidToken => ApiError::unauthorized(
                    "STS rejected your identity token for this role; sign in again and retry",
                ),
                AssumeErrorKind::Transient => ApiError::unavailable(),
                AssumeErrorKind::Other => ApiError::internal(),
            }
        })?;

        let signing = SigningCredentials {
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.clone(),
            session_token: Some(credentials.session_token.clone()),
            expires_at: Some(
                UNIX_EPOCH + Duration::from_millis(credentials.expires_at.max(0) as u64),
            ),
        };
        let signed_at = UNIX_EPOCH + Duration::from_millis(now.max(0) as u64);
        let token = eks_token(
            &signing,
            &cluster.name,
            &cluster.region,
            partition,
            signed_at,
        )
        .map_err(|error| {
            error!(%error, cluster_arn = %cluster.arn, "could not sign the EKS token");
            ApiError::internal()
        })?;
        let token_expires_ms = token
            .expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();

        let credential = if exec_auth {
            UserCredential::Exec(ExecPlugin {
                command: self.config.exec_command.clone(),
                args: vec![
                    "credential".into(),
                    "--cluster".into(),
                    cluster.arn.clone(),
                    "--role".into(),
                    role.name.clone(),
                ],
                env: Vec::new(),
            })
        } else {
            UserCredential::Token(token.token.clone())
        };
        let context_name = format!("eksgate-{}-{}", cluster.name, role.name);
        let kubeconfig =
            ClusterKubeconfig::new(context_name, endpoint, ca_data, credential).to_yaml();

        let record = SessionRecord {
            id: uuid::Uuid::new_v4().to_string(),
            user: context.user().to_string(),
            grant_id: grant.id.clone(),
            cluster_arn: cluster.arn.clone(),
            role_arn: role.assume_arn.clone(),
            session_name: name.clone(),
            mode: self.config.assume_mode.as_str().into(),
            issued_at: now,
            expires_at: credentials.expires_at,
            source_ip: context.request.source_ip.clone(),
            user_agent: context.request.user_agent.clone(),
        };
        // Credentials leave the function only once the session is on record.
        self.store
            .put_session(&record)
            .await
            .map_err(|e| store_failure(&e))?;
        let mut audit = context.audit("session.create", "succeeded");
        audit.target = Some(record.id.clone());
        audit.cluster_arn = Some(cluster.arn.clone());
        audit.role_name = Some(role.name.clone());
        audit.reason = Some(format!("grant {}", grant.id));
        self.record(&audit).await?;
        info!(
            session_id = %record.id,
            grant_id = %grant.id,
            session_name = %name,
            credentials_expire_at = %rfc3339(credentials.expires_at),
            "issued a session"
        );

        Ok(ApiResponse::json(
            201,
            json!({
                "session": SessionView::new(&record),
                "grant": { "id": grant.id, "ends_at": rfc3339(ends_at) },
                "credentials": {
                    "access_key_id": credentials.access_key_id,
                    "secret_access_key": credentials.secret_access_key,
                    "session_token": credentials.session_token,
                    "expiration": rfc3339(credentials.expires_at),
                },
                "token": {
                    "token": token.token,
                    "expiration": rfc3339(token_expires_ms),
                },
                "kubeconfig": kubeconfig,
            }),
        ))
    }

    /// Finds the caller's active grant for a role on a cluster: of several overlapping ones, the
    /// one that ends last. Each candidate from the eventually consistent index is read again
    /// with a consistent read, so a grant revoked moments ago is never used. A grant covers
    /// only the role ARN it was approved for: if the cluster's tag now points the role name at
    /// another role, the grant does not apply to it.
    async fn active_grant(
        &self,
        context: &Context,
        cluster_arn: &str,
        role_name: &str,
        role_arn: &str,
    ) -> Result<AccessRequest, ApiError> {
        let now = context.now_ms;
        let mut candidates: Vec<AccessRequest> = self
            .store
            .user_grants(context.user(), context.oldest_possible_grant(&self.config))
            .await
            .map_err(|e| store_failure(&e))?
            .into_iter()
            .filter(|grant| {
                grant.cluster_arn == cluster_arn
                    && grant.role_name == role_name
                    && grant.is_active_grant(now)
            })
            .collect();
        candidates.sort_by_key(|grant| std::cmp::Reverse(grant.ends_at));
        let (matching, other_role): (Vec<AccessRequest>, Vec<AccessRequest>) = candidates
            .into_iter()
            .partition(|grant| grant.role_arn == role_arn);
        if matching.is_empty()
            && let Some(stale) = other_role.first()
        {
            warn!(grant_id = %stale.id, granted_role = %stale.role_arn, current_role = %role_arn, "the role behind a grant changed");
            return Err(ApiError::conflict(format!(
                "role {role_name:?} on cluster {cluster_arn} is now {role_arn}, but your grant {} approved {}; request access again",
                stale.id, stale.role_arn
            )));
        }
        for candidate in matching {
            let current = self
                .store
                .request(&candidate.id)
                .await
                .map_err(|e| store_failure(&e))?;
            match current {
                Some(grant)
                    if grant.requester == context.user()
                        && grant.role_arn == role_arn
                        && grant.is_active_grant(now) =>
                {
                    return Ok(grant);
                }
                _ => {
                    warn!(grant_id = %candidate.id, "index listed a grant that is no longer active")
                }
            }
        }
        Err(ApiError::forbidden(format!(
            "you have no active grant for role {role_name:?} on cluster {cluster_arn}: request access with POST /requests"
        )))
    }

    pub(crate) async fn list_sessions(&self, context: &Context) -> Result<ApiResponse, ApiError> {
        let page = context.page()?;
        let paged = match context.request.query("scope").unwrap_or("mine") {
            "mine" => self.store.user_sessions(context.user(), &page).await,
            "all" => {
                context.require_approver("list other users' sessions")?;
                self.store.all_sessions(&page).await
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "invalid scope {other:?}: use mine or all"
                )));
            }
        }
        .map_err(|e| store_failure(&e))?;
        let sessions: Vec<SessionView<'_>> = paged.items.iter().map(SessionView::new).collect();
        Ok(ApiResponse::ok(
            json!({ "sessions": sessions, "next": paged.next }),
        ))
    }

    pub(crate) async fn list_audit(&self, context: &Context) -> Result<ApiResponse, ApiError> {
        context.require_approver("read the audit trail")?;
        let page = context.page()?;
        let paged = match (context.request.query("user"), context.request.query("date")) {
            (Some(user), None) => self.store.user_audit(user, &page).await,
            (None, date) => {
                let date = date
                    .map(str::to_string)
                    .unwrap_or_else(|| utc_date(context.now_ms));
                if !is_date(&date) {
                    return Err(ApiError::bad_request(format!(
                        "invalid date {date:?}: use yyyy-mm-dd (UTC)"
                    )));
                }
                self.store.audit_day(&date, &page).await
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_request("give either user or date, not both"));
            }
        }
        .map_err(|e| store_failure(&e))?;
        let records: Vec<AuditView<'_>> = paged.items.iter().map(AuditView::new).collect();
        Ok(ApiResponse::ok(
            json!({ "audit": records, "next": paged.next }),
        ))
    }
}

fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}
