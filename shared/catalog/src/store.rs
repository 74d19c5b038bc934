use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use tracing::{debug, warn};

use crate::layout::{self, GSI1, GSI1_PK, GSI1_SK, PK, SK};
use crate::model::{
    CatalogEntry, ENTITY_CLUSTER, ENTITY_REMOVED, ENTITY_ROLE, Item, ItemReader, Malformed, Stored,
    cluster_item, removed_item, role_item,
};
use crate::plan::{Desired, Plan, WritePolicy, plan};

/// How many times a write is planned again after another writer changed the entry first.
const MAX_ATTEMPTS: u32 = 8;
/// The most items one DynamoDB transaction takes.
const MAX_TRANSACTION_ITEMS: usize = 100;

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
    #[error(
        "{arn} needs {items} item writes, more than one transaction takes ({MAX_TRANSACTION_ITEMS})"
    )]
    TooLarge { arn: String, items: usize },
}

impl CatalogError {
    /// Tells whether trying the same work again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            CatalogError::Dynamo { transient, .. } => *transient,
            CatalogError::Contended { .. } => true,
            CatalogError::Malformed { .. } | CatalogError::TooLarge { .. } => false,
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
        let mut items = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(layout::cluster_pk(arn)))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(|error| self.dynamo_error("Query", error))?);
        }

        let Some(head) = items
            .iter()
            .find(|item| sort_key(item) == Some(layout::CLUSTER_SK))
        else {
            return Ok(None);
        };
        let reader = ItemReader::new(head);
        let entity = reader
            .string(layout::ENTITY)
            .map_err(|m| self.malformed(m))?;
        if entity == ENTITY_REMOVED {
            let observed_at = reader
                .number("observed_at")
                .map_err(|m| self.malformed(m))?;
            return Ok(Some(Stored::Removed { observed_at }));
        }
        let mut entries = self.entries_from_items(items)?;
        Ok(entries.remove(arn).map(Stored::Live))
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
        let (head, extra) = match plan {
            Plan::Unchanged | Plan::Superseded { .. } => return Ok(()),
            Plan::Touch { arn, observed_at } => {
                return self.touch(arn, *observed_at, expected).await;
            }
            Plan::Import { entry } => (
                cluster_item(entry),
                entry
                    .roles
                    .iter()
                    .map(|role| self.put(role_item(&entry.cluster, role)))
                    .collect::<Vec<_>>(),
            ),
            Plan::Update {
                entry,
                put_roles,
                delete_roles,
            } => {
                let mut extra: Vec<TransactWriteItem> = put_roles
                    .iter()
                    .map(|role| self.put(role_item(&entry.cluster, role)))
                    .collect();
                extra.extend(
                    delete_roles
                        .iter()
                        .map(|name| self.delete_role(&entry.cluster.arn, name)),
                );
                (cluster_item(entry), extra)
            }
            Plan::Remove {
                arn,
                observed_at,
                delete_roles,
            } => (
                removed_item(arn, *observed_at),
                delete_roles
                    .iter()
                    .map(|name| self.delete_role(arn, name))
                    .collect(),
            ),
            Plan::MarkAbsent { arn, observed_at } => (removed_item(arn, *observed_at), Vec::new()),
        };

        if extra.is_empty() {
            return self.put_head(head, expected).await;
        }
        if extra.len() + 1 > MAX_TRANSACTION_ITEMS {
            let arn = string_attribute(&head, "arn").unwrap_or_default();
            return Err(WriteError::Failed(CatalogError::TooLarge {
                arn,
                items: extra.len() + 1,
            }));
        }

        let (condition, names, values) = head_condition(expected);
        let head_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(head))
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(values)
            .build()
            .expect("table, item and condition are set");
        let mut items = vec![TransactWriteItem::builder().put(head_put).build()];
        items.extend(extra);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
                    error.as_service_error()
                {
                    let raced = cancelled.cancellation_reasons().iter().any(|reason| {
                        matches!(
                            reason.code(),
                            Some("ConditionalCheckFailed" | "TransactionConflict")
                        )
                    });
                    if raced {
                        return Err(WriteError::Raced);
                    }
                }
                Err(WriteError::Failed(
                    self.dynamo_error("TransactWriteItems", error),
                ))
            }
        }
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

    fn put(&self, item: Item) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn delete_role(&self, arn: &str, role_name: &str) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(PK, AttributeValue::S(layout::cluster_pk(arn)))
            .key(SK, AttributeValue::S(layout::role_sk(role_name)))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
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
        let mut roles = Vec::new();
        for item in &items {
            let reader = ItemReader::new(item);
            match reader
                .string(layout::ENTITY)
                .map_err(|m| self.malformed(m))?
                .as_str()
            {
                ENTITY_CLUSTER => {
                    let (cluster, observed_at) = reader.cluster().map_err(|m| self.malformed(m))?;
                    entries.insert(
                        cluster.arn.clone(),
                        CatalogEntry {
                            cluster,
                            roles: Vec::new(),
                            observed_at,
                        },
                    );
                }
                ENTITY_ROLE => {
                    let cluster_arn = reader
                        .string("cluster_arn")
                        .map_err(|m| self.malformed(m))?;
                    roles.push((cluster_arn, reader.role().map_err(|m| self.malformed(m))?));
                }
                _ => {}
            }
        }
        // A role without its cluster item is left over from an interrupted write that the next
        // write of the cluster replaces, so it is not part of any entry.
        for (cluster_arn, role) in roles {
            if let Some(entry) = entries.get_mut(&cluster_arn) {
                entry.roles.push(role);
            }
        }
        for entry in entries.values_mut() {
            entry.roles.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(entries)
    }

    fn malformed(&self, malformed: Malformed) -> CatalogError {
        CatalogError::Malformed {
            table: self.table.clone(),
            key: malformed.key,
            reason: malformed.reason,
        }
    }

    fn dynamo_error<E, R>(&self, operation: &'static str, error: SdkError<E, R>) -> CatalogError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let transient = match &error {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(service) => is_transient_code(service.err().code()),
            _ => false,
        };
        let message = match error.code() {
            Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
            None => DisplayErrorContext(&error).to_string(),
        };
        CatalogError::Dynamo {
            operation,
            table: self.table.clone(),
            message,
            transient,
            source: Box::new(error),
        }
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

fn sort_key(item: &Item) -> Option<&str> {
    match item.get(SK) {
        Some(AttributeValue::S(value)) => Some(value),
        _ => None,
    }
}

fn string_attribute(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

/// Waits a little before another attempt, longer after each conflict, so racing writers spread out.
async fn backoff(attempt: u32) {
    let millis = 10u64 << attempt.min(6);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}
