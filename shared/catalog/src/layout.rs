//! Item layout of the eksgate table.
//!
//! One table holds the catalog and, later, the access workflow. Every item has a string
//! partition key `pk` and sort key `sk`; two overloaded global secondary indexes (`gsi1`, `gsi2`,
//! keys `gsi1pk`/`gsi1sk` and `gsi2pk`/`gsi2sk`, all attributes projected) serve the list
//! queries, and the number attribute `expires_at` (epoch seconds) is the table's TTL attribute.
//! `entity` names the kind of every item.
//!
//! | entity      | pk                 | sk            | gsi1pk       | gsi1sk                                         | expires_at |
//! |-------------|--------------------|---------------|--------------|------------------------------------------------|------------|
//! | `cluster`   | `CLUSTER#<arn>`    | `CLUSTER`     | `CATALOG`    | `<account>#<region>#<arn>`                     | -          |
//! | `removed`   | `CLUSTER#<arn>`    | `CLUSTER`     | -            | -                                              | a day on   |
//! | `request`   | `REQUEST#<id>`     | `REQUEST`     | `USER#<sub>` | `REQUEST#<created>`; gsi2pk `PENDING` while pending | when pending ends |
//! | `grant`     | `GRANT#<id>`       | `GRANT`       | `USER#<sub>` | `GRANT#<ends>`; gsi2pk `GRANTS`, gsi2sk `<ends>` | retention after end |
//! | `audit`     | `AUDIT#<yyyy-mm-dd>` | `<time>#<id>` | `USER#<sub>` | `AUDIT#<time>`                               | retention  |
//!
//! A cluster item holds its roles in the list attribute `roles`, so one conditional write changes
//! a cluster and its roles together, and one consistent read returns a whole entry. A removed
//! cluster leaves a `removed` marker (no index keys, so list queries skip it) that keeps
//! its `observed_at` for a day: an observation that predates the removal and arrives late then
//! fails its condition instead of bringing the cluster back.

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// First index: the catalog, and later a user's requests, grants and audit records.
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// Second index: pending requests and grants by end time.
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
/// TTL attribute, in epoch seconds.
pub const EXPIRES_AT: &str = "expires_at";
/// Kind of item.
pub const ENTITY: &str = "entity";

/// The `gsi1pk` value shared by all catalog items.
pub const CATALOG_PARTITION: &str = "CATALOG";
/// The sort key of a cluster item and of its removal marker.
pub const CLUSTER_SK: &str = "CLUSTER";

/// How long a removal marker outlives the removal, in seconds. It must exceed the longest time
/// an observation can wait before it is written (the 15-minute Lambda limit) by a wide margin.
pub const REMOVED_MARKER_TTL_SECS: i64 = 24 * 60 * 60;

/// Returns the partition key of a cluster's items.
pub fn cluster_pk(arn: &str) -> String {
    format!("CLUSTER#{arn}")
}

/// Returns the `gsi1sk` prefix shared by every catalog item of one (account, region) scope.
pub fn scope_prefix(account: &str, region: &str) -> String {
    format!("{account}#{region}#")
}

/// Returns the `gsi1sk` of a cluster item.
pub fn cluster_gsi1_sk(account: &str, region: &str, arn: &str) -> String {
    format!("{}{arn}", scope_prefix(account, region))
}
