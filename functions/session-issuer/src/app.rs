use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use eksgate_auth::{AuthError, Identity, bearer_token, identity_from_claims};
use eksgate_catalog::access::{AccessStore, AuditRecord, Page};
use eksgate_catalog::{Catalog, CatalogError};
use serde_json::Value;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::http::{ApiError, ApiRequest, ApiResponse};
use crate::routes::{Route, route};
use crate::sts::StsClients;
use crate::verify::Verifier;

/// The session issuer: its settings and the clients of everything it calls.
#[derive(Debug)]
pub struct App {
    pub(crate) config: Config,
    pub(crate) catalog: Catalog,
    pub(crate) store: AccessStore,
    pub(crate) sts: StsClients,
    pub(crate) verifier: Option<Verifier>,
}

/// The authenticated caller of one API request, and where the request came from.
#[derive(Debug)]
pub(crate) struct Caller {
    pub identity: Identity,
    pub is_approver: bool,
    /// The caller's bearer token, needed for web identity mode. Never logged or stored.
    pub bearer: Option<String>,
}

/// One request in flight: the caller, the parsed request and the time it is handled at.
#[derive(Debug)]
pub(crate) struct Context {
    pub caller: Caller,
    pub request: ApiRequest,
    /// Epoch milliseconds.
    pub now_ms: i64,
}

impl Context {
    pub fn user(&self) -> &str {
        &self.caller.identity.user
    }

    /// Returns a 403 unless the caller is an approver.
    pub fn require_approver(&self, action: &str) -> Result<(), ApiError> {
        if self.caller.is_approver {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "only approvers may {action}; ask a member of an approver group"
            )))
        }
    }

    /// Reads the `limit` and `cursor` query parameters.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.request.query("limit") {
            None => None,
            Some(text) => Some(text.parse::<i32>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "invalid limit {text:?}: use a whole number from 1 to {}",
                    eksgate_catalog::access::MAX_PAGE_SIZE
                ))
            })?),
        };
        Ok(Page {
            limit,
            cursor: self.request.query("cursor").map(str::to_string),
        })
    }

    /// Returns the earliest creation time (epoch ms) of a request whose grant can still be
    /// active: it waited at most the pending period and lasts at most the longest grant.
    pub fn oldest_possible_grant(&self, config: &Config) -> i64 {
        self.now_ms - (config.pending_secs + config.max_grant_secs) * 1000
    }

    /// Builds an audit record of an action by the caller.
    pub fn audit(&self, action: &str, outcome: &str) -> AuditRecord {
        AuditRecord {
            id: uuid::Uuid::new_v4().to_string(),
            at: self.now_ms,
            actor: self.user().to_string(),
            action: action.to_string(),
            outcome: outcome.to_string(),
            target: None,
            cluster_arn: None,
            role_name: None,
            reason: None,
            source_ip: self.request.source_ip.clone(),
            user_agent: self.request.user_agent.clone(),
            request_id: self.request.request_id.clone(),
        }
    }
}

/// Returns the current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}

impl App {
    /// Creates the issuer from its settings and the AWS configuration of its clients.
    pub async fn new(config: Config, sdk: &SdkConfig) -> Result<Self, AuthError> {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let verifier = match &config.jwt {
            Some(settings) => Some(Verifier::new(settings).await?),
            None => None,
        };
        Ok(Self {
            catalog: Catalog::new(dynamodb.clone(), &config.table_name),
            store: AccessStore::new(dynamodb, &config.table_name, config.retention_secs),
            sts: StsClients::new(sdk.clone()),
            verifier,
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one HTTP API event and returns the response event. Every failure becomes an
    /// error response, so the function's invocation itself never returns an error.
    pub async fn handle(&self, event: &Value) -> Value {
        self.handle_at(event, now_ms()).await
    }

    /// Handles one event as if the time were `now_ms` (epoch milliseconds).
    pub async fn handle_at(&self, event: &Value, now_ms: i64) -> Value {
        let request_id = event["requestContext"]["requestId"]
            .as_str()
            .map(str::to_string);
        // Boxed: the routes' futures nest deeply, and a boxed future keeps them off the stack.
        let response = match Box::pin(self.serve(event, now_ms)).await {
            Ok(response) => response,
            Err(error) => ApiResponse::error(&error, request_id.as_deref()),
        };
        response.into_event()
    }

    async fn serve(&self, event: &Value, now_ms: i64) -> Result<ApiResponse, ApiError> {
        let request = ApiRequest::from_event(event)?;
        let route = route(&request.method, &request.path)?;
        let caller = self.identify(&request).await?;
        info!(
            method = %request.method,
            path = %request.path,
            user = %caller.identity.user,
            approver = caller.is_approver,
            request_id = request.request_id.as_deref().unwrap_or("-"),
            "handling request"
        );
        let context = Context {
            caller,
            request,
            now_ms,
        };
        self.dispatch(route, &context).await
    }

    async fn dispatch(&self, route: Route, context: &Context) -> Result<ApiResponse, ApiError> {
        match route {
            Route::ListClusters => self.list_clusters(context).await,
            Route::GetCluster {
                account,
                region,
                name,
            } => self.get_cluster(context, &account, &region, &name).await,
            Route::CreateRequest => self.create_request(context).await,
            Route::ListRequests => self.list_requests(context).await,
            Route::GetRequest { id } => self.get_request(context, &id).await,
            Route::ApproveRequest { id } => self.approve_request(context, &id).await,
            Route::DenyRequest { id } => self.deny_request(context, &id).await,
            Route::CancelRequest { id } => self.cancel_request(context, &id).await,
            Route::ListGrants => self.list_grants(context).await,
            Route::EndGrant { id } => self.end_grant(context, &id).await,
            Route::RevokeGrant { id } => self.revoke_grant(context, &id).await,
            Route::CreateSession => self.create_session(context).await,
            Route::ListSessions => self.list_sessions(context).await,
            Route::ListAudit => self.list_audit(context).await,
        }
    }

    /// Establishes the caller from verified claims: the ones the API Gateway JWT authorizer
    /// passed, or, in self-verifying mode, the ones of the bearer token this function verified.
    async fn identify(&self, request: &ApiRequest) -> Result<Caller, ApiError> {
        let bearer = bearer_token(&request.headers).map(str::to_string);
        let verified;
        let claims = match &self.verifier {
            Some(verifier) => {
                let token = bearer.as_deref().ok_or_else(|| {
                    ApiError::unauthorized(
                        "missing bearer token: send Authorization: Bearer <your identity token>",
                    )
                })?;
                verified = verifier.verify(token).await.map_err(|error| {
                    if error.http_status() == 401 {
                        warn!(reason = error.kind().as_str(), "rejected a bearer token");
                        ApiError::unauthorized(error.to_string())
                    } else {
                        error!(%error, "could not verify a bearer token");
                        ApiError::unavailable()
                    }
                })?;
                &verified
            }
            None => request.authorizer_claims.as_ref().ok_or_else(|| {
                ApiError::unauthorized(
                    "the request carries no verified identity claims: call the API through its JWT authorizer with a valid token",
                )
            })?,
        };
        // An address the identity provider has not verified could be anyone's, so it never
        // names a user. Claims from API Gateway are strings, so `"false"` counts too.
        let unverified = match &claims["email_verified"] {
            Value::Bool(verified) => !verified,
            Value::String(text) => text == "false",
            _ => false,
        };
        if self.config.claims.user_claim == "email" && unverified {
            warn!("rejected claims whose email is not verified");
            return Err(ApiError::unauthorized(
                "your identity provider has not verified your email address: verify it, then sign in again",
            ));
        }
        let identity = identity_from_claims(claims, &self.config.claims).map_err(|error| {
            warn!(reason = error.kind().as_str(), "rejected identity claims");
            ApiError::unauthorized(error.to_string())
        })?;
        if identity.user == crate::workflow::AUTO_APPROVER {
            warn!(user = %identity.user, "rejected a caller whose user name is reserved");
            return Err(ApiError::unauthorized(format!(
                "the user name {:?} is reserved for auto-approval rules; sign in as a person",
                identity.user
            )));
        }
        let is_approver = identity
            .groups
            .iter()
            .any(|group| self.config.approver_groups.contains(group));
        Ok(Caller {
            identity,
            is_approver,
            bearer,
        })
    }

    /// Logs an audit record and stores it. A failed write is logged with the whole record, so
    /// the log keeps the event, and is returned to the caller to decide.
    pub(crate) async fn record(&self, record: &AuditRecord) -> Result<(), ApiError> {
        let record = &bounded(record);
        info!(
            audit = true,
            audit_id = %record.id,
            actor = %record.actor,
            action = %record.action,
            outcome = %record.outcome,
            target = record.target.as_deref().unwrap_or("-"),
            cluster_arn = record.cluster_arn.as_deref().unwrap_or("-"),
            role = record.role_name.as_deref().unwrap_or("-"),
            reason = record.reason.as_deref().unwrap_or("-"),
            source_ip = record.source_ip.as_deref().unwrap_or("-"),
            request_id = record.request_id.as_deref().unwrap_or("-"),
            "audit"
        );
        self.store.put_audit(record).await.map_err(|error| {
            error!(audit_id = %record.id, error = %eksgate_telemetry::error_chain(&error), "failed to store an audit record");
            store_failure(&error)
        })
    }

    /// Stores an audit record of a completed change. The change is kept even if the record
    /// cannot be stored, because its log line already contains the event.
    pub(crate) async fn record_completed(&self, record: &AuditRecord) {
        let _ = self.record(record).await;
    }
}

/// Returns a copy of an audit record whose fields fit their limits, so that no request can
/// store or log arbitrarily long text. Fields are cut at a character boundary.
fn bounded(record: &AuditRecord) -> AuditRecord {
    fn clip(value: &Option<String>, max_chars: usize) -> Option<String> {
        value
            .as_ref()
            .map(|text| text.chars().take(max_chars).collect())
    }
    AuditRecord {
        target: clip(&record.target, 128),
        cluster_arn: clip(&record.cluster_arn, 256),
        role_name: clip(&record.role_name, 256),
        reason: clip(&record.reason, 1000),
        source_ip: clip(&record.source_ip, 64),
        user_agent: clip(&record.user_agent, 256),
        request_id: clip(&record.request_id, 128),
        ..record.clone()
    }
}

/// Maps a failed catalog call to a response, logging the details that the response omits.
pub(crate) fn store_failure(error: &CatalogError) -> ApiError {
    error!(error = %eksgate_telemetry::error_chain(error), "catalog call failed");
    match error {
        CatalogError::InvalidInput { message } => ApiError::bad_request(message.clone()),
        _ if error.is_transient() => ApiError::unavailable(),
        _ => ApiError::internal(),
    }
}
