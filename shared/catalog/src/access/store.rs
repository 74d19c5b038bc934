use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::model::{
    AccessRequest, AuditRecord, ENTITY_REQUEST, RequestStatus, SessionRecord, audit_item,
    request_item, session_item,
};
use crate::layout::{self, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK};
use crate::model::{Item, ItemReader, Malformed};
use crate::store::{CatalogError, dynamo_error};

/// The largest page a list query returns.
pub const MAX_PAGE_SIZE: i32 = 200;

/// A page of a list: at most `limit` items, after the position that `cursor` encodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub limit: Option<i32>,
    /// An opaque cursor from an earlier [`Paged::next`].
    pub cursor: Option<String>,
}

/// One page of a list, and the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// A cursor that is not one this store produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid page cursor: pass the `next` value of the previous page unchanged")]
pub struct InvalidCursor;

/// The outcome of a conditional change of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Applied,
    /// The stored request no longer has the status the change was planned from, or its time
    /// ran out: another writer or the clock got there first.
    Conflict,
}

/// The access workflow (requests and the grants they become, sessions and audit records) in
/// the eksgate table.
#[derive(Debug, Clone)]
pub struct AccessStore {
    client: Client,
    table: String,
    retention_secs: i64,
}

impl AccessStore {
    /// Creates a store that keeps records for `retention_secs` after they stop mattering.
    pub fn new(client: Client, table: impl Into<String>, retention_secs: i64) -> Self {
        Self {
            client,
            table: table.into(),
            retention_secs,
        }
    }

    /// Stores a new request. IDs are random, so an existing item means a bug, not a race.
    pub async fn create_request(&self, request: &AccessRequest) -> Result<Change, CatalogError> {
        let item = request_item(request, self.retention_secs);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        self.change_result(result)
    }

    /// Reads one request with a strongly consistent read.
    pub async fn request(&self, id: &str) -> Result<Option<AccessRequest>, CatalogError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(PK, AttributeValue::S(layout::request_pk(id)))
            .key(SK, AttributeValue::S(layout::REQUEST_SK.into()))
            .send()
            .await
            .map_err(|error| dynamo_error(&self.table, "GetItem", error))?;
        match output.item() {
            None => Ok(None),
            Some(item) => self.read_request(item).map(Some),
        }
    }

    /// Replaces a request with `updated` if the stored one still has status `expected` and, when
    /// `deadline` is given as (attribute, epoch ms), if that attribute is still later than the
    /// deadline's time.
    pub async fn update_request(
        &self,
        updated: &AccessRequest,
        expected: RequestStatus,
        deadline: Option<(&str, i64)>,
    ) -> Result<Change, CatalogError> {
        let item = request_item(updated, self.retention_secs);
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", AttributeValue::S(expected.as_str().into()));
        request = match deadline {
            Some((attribute, at_ms)) => request
                .condition_expression("#status = :status AND #deadline > :now")
                .expression_attribute_names("#deadline", attribute)
                .expression_attribute_values(":now", AttributeValue::N(at_ms.to_string())),
            None => request.condition_expression("#status = :status"),
        };
        self.change_result(request.send().await)
    }

    /// Lists a user's requests and grants, newest first.
    pub async fn user_requests(
        &self,
        user: &str,
        page: &Page,
    ) -> Result<Paged<AccessRequest>, CatalogError> {
        let query = self.user_query(user, "REQUEST#");
        self.page(query, page, false, |reader| reader.request())
            .await
    }

    /// Reads the approved requests of a user that were created at or after `since_ms` (the
    /// grants, whether active, elapsed or not), newest first. The index is eventually
    /// consistent: confirm a grant with [`Self::request`] before relying on it.
    pub async fn user_grants(
        &self,
        user: &str,
        since_ms: i64,
    ) -> Result<Vec<AccessRequest>, CatalogError> {
        let query = self
            .partition_query(GSI1, GSI1_PK, &layout::user_partition(user))
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#sk", GSI1_SK)
            .expression_attribute_values(
                ":from",
                AttributeValue::S(layout::user_request_sk(since_ms.max(0), "")),
            )
            // `~` sorts after every digit, so this bound covers every later request.
            .expression_attribute_values(":to", AttributeValue::S("REQUEST#~".into()))
            .filter_expression("#status = :approved")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":approved",
                AttributeValue::S(RequestStatus::Approved.as_str().into()),
            )
            .scan_index_forward(false);
        let mut grants = Vec::new();
        let mut pages = query.into_paginator().items().send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|error| dynamo_error(&self.table, "Query", error))?;
            let request = ItemReader::new(&item)
                .request()
                .map_err(|m| self.malformed(m))?;
            grants.push(request);
        }
        Ok(grants)
    }

    /// Lists every pending request, oldest first, including ones whose pending period ran out
    /// but that the table's TTL has not removed yet.
    pub async fn pending_requests(
        &self,
        page: &Page,
    ) -> Result<Paged<AccessRequest>, CatalogError> {
        let query = self.partition_query(GSI2, GSI2_PK, layout::PENDING_PARTITION);
        self.page(query, page, true, |reader| reader.request())
            .await
    }

    /// Lists the grants that neither ended nor were revoked and that end after `now_ms`, soonest
    /// end first.
    pub async fn open_grants(
        &self,
        now_ms: i64,
        page: &Page,
    ) -> Result<Paged<AccessRequest>, CatalogError> {
        let query = self
            .partition_query(GSI2, GSI2_PK, layout::GRANTS_PARTITION)
            .key_condition_expression("#pk = :pk AND #sk > :after")
            .expression_attribute_names("#sk", GSI2_SK)
            .expression_attribute_values(":after", AttributeValue::S(layout::time_sk(now_ms, "")));
        self.page(query, page, true, |reader| reader.request())
            .await
    }

    /// Stores the record of an issued session.
    pub async fn put_session(&self, record: &SessionRecord) -> Result<(), CatalogError> {
        let item = session_item(record, self.retention_secs);
        self.put(item).await
    }

    /// Lists a user's sessions, newest first.
    pub async fn user_sessions(
        &self,
        user: &str,
        page: &Page,
    ) -> Result<Paged<SessionRecord>, CatalogError> {
        let query = self.user_query(user, "SESSION#");
        self.page(query, page, false, |reader| reader.session())
            .await
    }

    /// Lists every user's sessions, newest first.
    pub async fn all_sessions(&self, page: &Page) -> Result<Paged<SessionRecord>, CatalogError> {
        let query = self.partition_query(GSI2, GSI2_PK, layout::SESSIONS_PARTITION);
        self.page(query, page, false, |reader| reader.session())
            .await
    }

    /// Stores an audit record.
    pub async fn put_audit(&self, record: &AuditRecord) -> Result<(), CatalogError> {
        let item = audit_item(record, self.retention_secs);
        self.put(item).await
    }

    /// Lists the audit records of one UTC day (`yyyy-mm-dd`), newest first.
    pub async fn audit_day(
        &self,
        date: &str,
        page: &Page,
    ) -> Result<Paged<AuditRecord>, CatalogError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(format!("AUDIT#{date}")));
        self.page(query, page, false, |reader| reader.audit()).await
    }

    /// Lists the audit records of actions a user took, newest first.
    pub async fn user_audit(
        &self,
        user: &str,
        page: &Page,
    ) -> Result<Paged<AuditRecord>, CatalogError> {
        let query = self.user_query(user, "AUDIT#");
        self.page(query, page, false, |reader| reader.audit()).await
    }

    async fn put(&self, item: Item) -> Result<(), CatalogError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|error| dynamo_error(&self.table, "PutItem", error))?;
        Ok(())
    }

    fn change_result<R>(
        &self,
        result: Result<
            R,
            aws_sdk_dynamodb::error::SdkError<
                PutItemError,
                aws_sdk_dynamodb::config::http::HttpResponse,
            >,
        >,
    ) -> Result<Change, CatalogError> {
        match result {
            Ok(_) => Ok(Change::Applied),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Ok(Change::Conflict),
                _ => Err(dynamo_error(&self.table, "PutItem", error)),
            },
        }
    }

    fn partition_query(&self, index: &str, key: &str, value: &str) -> QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", key)
            .expression_attribute_values(":pk", AttributeValue::S(value.into()))
    }

    fn user_query(&self, user: &str, prefix: &str) -> QueryFluentBuilder {
        self.partition_query(GSI1, GSI1_PK, &layout::user_partition(user))
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#sk", GSI1_SK)
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
    }

    /// Runs one page of `query` and converts its items with `convert`.
    async fn page<T>(
        &self,
        query: QueryFluentBuilder,
        page: &Page,
        ascending: bool,
        convert: impl Fn(&ItemReader<'_>) -> Result<T, Malformed>,
    ) -> Result<Paged<T>, CatalogError> {
        let limit = page.limit.unwrap_or(50).clamp(1, MAX_PAGE_SIZE);
        let start = match &page.cursor {
            Some(cursor) => {
                Some(
                    decode_cursor(cursor).map_err(|_| CatalogError::InvalidInput {
                        message: InvalidCursor.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let output = query
            .scan_index_forward(ascending)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|error| dynamo_error(&self.table, "Query", error))?;
        let items = output
            .items()
            .iter()
            .map(|item| convert(&ItemReader::new(item)).map_err(|m| self.malformed(m)))
            .collect::<Result<Vec<_>, _>>()?;
        let next = output.last_evaluated_key().map(encode_cursor);
        Ok(Paged { items, next })
    }

    fn read_request(&self, item: &Item) -> Result<AccessRequest, CatalogError> {
        let reader = ItemReader::new(item);
        let entity = reader
            .string(layout::ENTITY)
            .map_err(|m| self.malformed(m))?;
        if entity != ENTITY_REQUEST {
            return Err(self.malformed(Malformed {
                key: layout::request_pk("?"),
                reason: format!("entity is {entity:?}, expected {ENTITY_REQUEST:?}"),
            }));
        }
        reader.request().map_err(|m| self.malformed(m))
    }

    fn malformed(&self, malformed: Malformed) -> CatalogError {
        CatalogError::Malformed {
            table: self.table.clone(),
            key: malformed.key,
            reason: malformed.reason,
        }
    }
}

/// Names of the key attributes a cursor may carry.
const CURSOR_ATTRIBUTES: [&str; 6] = [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK];

fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    // Key attributes are all strings. Each is written as `name=value` on its own line after
    // base64 of the value, so no value can forge another attribute.
    let mut lines: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in key {
        if let AttributeValue::S(text) = value {
            lines.insert(name, URL_SAFE_NO_PAD.encode(text));
        }
    }
    let joined = lines
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("\n");
    URL_SAFE_NO_PAD.encode(joined)
}

fn decode_cursor(cursor: &str) -> Result<HashMap<String, AttributeValue>, InvalidCursor> {
    if cursor.len() > 2048 {
        return Err(InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| InvalidCursor)?;
    let mut key = HashMap::new();
    for line in text.lines() {
        let (name, encoded) = line.split_once('=').ok_or(InvalidCursor)?;
        if !CURSOR_ATTRIBUTES.contains(&name) {
            return Err(InvalidCursor);
        }
        let value = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| InvalidCursor)?;
        let value = String::from_utf8(value).map_err(|_| InvalidCursor)?;
        key.insert(name.to_string(), AttributeValue::S(value));
    }
    if !key.contains_key(PK) || !key.contains_key(SK) {
        return Err(InvalidCursor);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let key = HashMap::from([
            (PK.to_string(), AttributeValue::S("REQUEST#a=b\nc".into())),
            (SK.to_string(), AttributeValue::S("REQUEST".into())),
            (
                GSI1_PK.to_string(),
                AttributeValue::S("USER#dev@example.com".into()),
            ),
        ]);
        let cursor = encode_cursor(&key);
        assert_eq!(decode_cursor(&cursor), Ok(key));
    }

    #[test]
    fn cursor_rejects_foreign_input() {
        assert_eq!(decode_cursor("not base64!"), Err(InvalidCursor));
        let unknown = URL_SAFE_NO_PAD.encode("pk=YQ\nsk=YQ\nsecret=YQ");
        assert_eq!(decode_cursor(&unknown), Err(InvalidCursor));
        let without_sort_key = URL_SAFE_NO_PAD.encode("pk=YQ");
        assert_eq!(decode_cursor(&without_sort_key), Err(InvalidCursor));
    }
}
