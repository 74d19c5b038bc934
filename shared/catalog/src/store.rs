use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use tracing::{debug, warn};

use crate::layout::{self, GSI1, GSI1_PK, GSI1_SK, PK, SK};
use crate::model::{
    CatalogEntry, ENTITY_CLUSTER, ENTITY_REMOVED, Item, ItemReader, Malformed, Stored,
    cluster_item, removed_item,
};
use crate::plan::{Desired, Plan, WritePolicy, plan};

/// How many times a write is planned again after another writer changed the entry first.
const MAX_ATTEMPTS: u32 = 8;

/// An error reading or writing the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("DynamoDB {operation} on table {table} failed: {message}")]
    Dynamo {
        operation: &'static str,
        table: String,
        message: String,
        /// Whether the call may succeed if tried again later: throttling, 5xx, time-outs and
        /// connection failures.
        transient: bool,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("item {key} in table {table} is malformed: {reason}")]
    Malformed {
        table: String,
        key: String,
        reason: String,
    },
    #[error(
        "gave up writing {arn} after {attempts} attempts because other writers kept changing it"
    )]
    Contended { arn: String, attempts: u32 },
    /// A caller-supplied value, such as a page cursor, that the store cannot use.
    #[error("{message}")]
    InvalidInput { message: String },
}

impl CatalogError {
    /// Tells whether trying the same work again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CatalogError::Dynamo { transient, .. } => *transient,
            CatalogError::Contended { .. } => true,
            CatalogError::Malformed { .. } | CatalogError::InvalidInput { .. } => false,
        }
    }
}

/// The result of reconciling one cluster: the plan that was carried out and how many tries it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    pub plan: Plan,
    pub attempts: u32,
}

/// The catalog in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct Catalog {
    client: Client,
    table: String,
}

enum WriteError {
    /// The stored entry is not the one the plan was made from.
    Raced,
    Failed(CatalogError),
}

impl Catalog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Reads the live entries of one (account, region) scope, keyed by cluster ARN.
    ///
    /// The index is eventually consistent, so a write made moments ago may be missing. Writers
    /// still stay correct: their conditions fail and they read the entry again.
    pub async fn scope(
        &self,
        account: &str,
        region: &str,
    ) -> Result<BTreeMap<String, CatalogEntry>, CatalogError> {
        let prefix = layout::scope_prefix(account, region);
        let items = self.query_catalog_index(Some(&prefix)).await?;
        self.entries_from_items(items)
    }

    /// Reads every live entry, keyed by cluster ARN.
    pub async fn all(&self) -> Result<BTreeMap<String, CatalogEntry>, CatalogError> {
        let items = self.query_catalog_index(None).await?;
        self.entries_from_items(items)
    }

    /// Reads what the table holds for one cluster, with a strongly consistent read.
    pub async fn get(&self, arn: &str) -> Result<Option<Stored>, CatalogError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(PK, AttributeValue::S(layout::cluster_pk(arn)))
            .key(SK, AttributeValue::S(layout::CLUSTER_SK.into()))
            .send()
            .await
            .map_err(|error| self.dynamo_error("GetItem", error))?;
        let Some(item) = output.item() else {
            return Ok(None);
        };
        let reader = ItemReader::new(item);
        let entity = reader
            .string(layout::ENTITY)
            .map_err(|m| self.malformed(m))?;
        if entity == ENTITY_REMOVED {
            let observed_at = reader
                .number("observed_at")
                .map_err(|m| self.malformed(m))?;
            return Ok(Some(Stored::Removed { observed_at }));
        }
        self.entry_from_item(item)
            .map(|entry| Some(Stored::Live(entry)))
    }

    /// Brings the stored entry of one cluster to `desired`, planning again whenever another
    /// writer got there first.
    ///
    /// `stored_hint` is what the caller last read for the cluster; without it the entry is read
    /// first.
    pub async fn reconcile(
        &self,
        stored_hint: Option<Option<&Stored>>,
        desired: &Desired,
        policy: WritePolicy,
    ) -> Result<ApplyOutcome, CatalogError> {
        let arn = desired.arn();
        let mut stored = match stored_hint {
            Some(hint) => hint.cloned(),
            None => self.get(arn).await?,
        };
        for attempt in 1..=MAX_ATTEMPTS {
            let plan = plan(stored.as_ref(), desired, policy);
            let expected = stored.as_ref().map(Stored::observed_at);
            match self.execute(&plan, expected).await {
                Ok(()) => {
                    return Ok(ApplyOutcome {
                        plan,
                        attempts: attempt,
                    });
                }
                Err(WriteError::Failed(error)) => return Err(error),
                Err(WriteError::Raced) => {
                    debug!(cluster_arn = %arn, attempt, "catalog entry changed under the write, reading it again");
                    if attempt > 1 {
                        backoff(attempt).await;
                    }
                    stored = self.get(arn).await?;
                    // When DynamoDB applied the write but its response was lost (a 5xx or a
                    // dropped connection), the SDK's retry fails its condition against this very
                    // write. Report the plan as carried out instead of planning it again.
                    if plan_stored(&plan, stored.as_ref()) {
                        return Ok(ApplyOutcome {
                            plan,
                            attempts: attempt,
                        });
                    }
                }
            }
        }
        warn!(cluster_arn = %arn, attempts = MAX_ATTEMPTS, "gave up a contended catalog write");
        Err(CatalogError::Contended {
            arn: arn.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }

    async fn execute(&self, plan: &Plan, expected: Option<i64>) -> Result<(), WriteError> {
        let item = match plan {
            Plan::Unchanged | Plan::Superseded { .. } => return Ok(()),
            Plan::Touch { arn, observed_at } => {
                return self.touch(arn, *observed_at, expected).await;
            }
            Plan::Import { entry } | Plan::Update { entry } => cluster_item(entry),
            Plan::Remove { arn, observed_at } | Plan::MarkAbsent { arn, observed_at } => {
                removed_item(arn, *observed_at)
            }
        };
        self.put_head(item, expected).await
    }

    async fn put_head(&self, item: Item, expected: Option<i64>) -> Result<(), WriteError> {
        let (condition, names, values) = head_condition(expected);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Err(WriteError::Raced),
                _ => Err(WriteError::Failed(self.dynamo_error("PutItem", error))),
            },
        }
    }

    async fn touch(
        &self,
        arn: &str,
        observed_at: i64,
        expected: Option<i64>,
    ) -> Result<(), WriteError> {
        let Some(expected) = expected else {
            return Err(WriteError::Raced);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(layout::cluster_pk(arn)))
            .key(SK, AttributeValue::S(layout::CLUSTER_SK.into()))
            .update_expression("SET #observed = :observed")
            .condition_expression("#observed = :expected")
            .expression_attribute_names("#observed", "observed_at")
            .expression_attribute_values(":observed", AttributeValue::N(observed_at.to_string()))
            .expression_attribute_values(":expected", AttributeValue::N(expected.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(_)) => Err(WriteError::Raced),
                _ => Err(WriteError::Failed(self.dynamo_error("UpdateItem", error))),
            },
        }
    }

    async fn query_catalog_index(&self, prefix: Option<&str>) -> Result<Vec<Item>, CatalogError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(layout::CATALOG_PARTITION.into()),
            );
        request = match prefix {
            Some(prefix) => request
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", GSI1_SK)
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.into())),
            None => request.key_condition_expression("#pk = :pk"),
        };
        let mut items = Vec::new();
        let mut pages = request.into_paginator().items().send();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(|error| self.dynamo_error("Query", error))?);
        }
        Ok(items)
    }

    fn entries_from_items(
        &self,
        items: Vec<Item>,
    ) -> Result<BTreeMap<String, CatalogEntry>, CatalogError> {
        let mut entries = BTreeMap::new();
        for item in &items {
            let entity = ItemReader::new(item)
                .string(layout::ENTITY)
                .map_err(|m| self.malformed(m))?;
            if entity == ENTITY_CLUSTER {
                let entry = self.entry_from_item(item)?;
                entries.insert(entry.cluster.arn.clone(), entry);
            }
        }
        Ok(entries)
    }

    fn entry_from_item(&self, item: &Item) -> Result<CatalogEntry, CatalogError> {
        let reader = ItemReader::new(item);
        let (cluster, observed_at) = reader.cluster().map_err(|m| self.malformed(m))?;
        let roles = reader.roles().map_err(|m| self.malformed(m))?;
        Ok(CatalogEntry {
            cluster,
            roles,
            observed_at,
        })
    }

    fn malformed(&self, malformed: Malformed) -> CatalogError {
        CatalogError::Malformed {
            table: self.table.clone(),
            key: malformed.key,
            reason: malformed.reason,
        }
    }

    fn dynamo_error<E>(
        &self,
        operation: &'static str,
        error: SdkError<E, HttpResponse>,
    ) -> CatalogError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        dynamo_error(&self.table, operation, error)
    }
}

/// Wraps a failed DynamoDB call on `table` as a [`CatalogError`].
pub(crate) fn dynamo_error<E>(
    table: &str,
    operation: &'static str,
    error: SdkError<E, HttpResponse>,
) -> CatalogError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let (message, transient) = describe_sdk_error(&error);
    CatalogError::Dynamo {
        operation,
        table: table.to_string(),
        message,
        transient,
        source: Box::new(error),
    }
}

/// Returns a one-line description of an SDK error, and whether it may succeed if tried again:
/// throttling, 5xx, time-outs and connection failures.
fn describe_sdk_error<E: ProvideErrorMetadata>(
    error: &SdkError<E, HttpResponse>,
) -> (String, bool) {
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let transient = status >= 500 || is_transient_code(service.err().code());
            let message = match service.err().code() {
                Some(code) => format!(
                    "{code}: {}",
                    service.err().message().unwrap_or("no message")
                ),
                None => format!("HTTP {status} without an error code"),
            };
            (message, transient)
        }
        SdkError::TimeoutError(_) => ("timed out".into(), true),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_io() {
                "connection failed"
            } else if failure.is_timeout() {
                "timed out"
            } else {
                "request not sent"
            };
            (kind.into(), true)
        }
        SdkError::ResponseError(_) => ("invalid response".into(), true),
        _ => ("request could not be built".into(), false),
    }
}

/// Tells whether a DynamoDB error code means "try again later".
fn is_transient_code(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ThrottlingException"
                | "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionInProgressException"
        )
    )
}

fn head_condition(
    expected: Option<i64>,
) -> (
    String,
    std::collections::HashMap<String, String>,
    Option<std::collections::HashMap<String, AttributeValue>>,
) {
    match expected {
        None => (
            "attribute_not_exists(#pk)".into(),
            [("#pk".to_string(), PK.to_string())].into(),
            None,
        ),
        Some(observed_at) => (
            "#observed = :expected".into(),
            [("#observed".to_string(), "observed_at".to_string())].into(),
            Some(
                [(
                    ":expected".to_string(),
                    AttributeValue::N(observed_at.to_string()),
                )]
                .into(),
            ),
        ),
    }
}

/// Tells whether `stored` is exactly the state that `plan` writes, observation time included.
fn plan_stored(plan: &Plan, stored: Option<&Stored>) -> bool {
    match (plan, stored) {
        (Plan::Import { entry } | Plan::Update { entry }, Some(Stored::Live(current))) => {
            current.same_content(entry) && current.observed_at == entry.observed_at
        }
        (Plan::Touch { observed_at, .. }, Some(Stored::Live(current))) => {
            current.observed_at == *observed_at
        }
        (
            Plan::Remove { observed_at, .. } | Plan::MarkAbsent { observed_at, .. },
            Some(Stored::Removed {
                observed_at: stored_at,
            }),
        ) => stored_at == observed_at,
        _ => false,
    }
}

/// Waits a little before another attempt, longer after each conflict, so racing writers spread out.
async fn backoff(attempt: u32) {
    let millis = 10u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
