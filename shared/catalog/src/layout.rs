//! Item layout of the eksgate table.
//!
//! One table holds the catalog and, later, the access workflow. Every item has a string
//! partition key `pk` and sort key `sk`; two overloaded global secondary indexes (`gsi1`, `gsi2`,
//! keys `gsi1pk`/`gsi1sk` and `gsi2pk`/`gsi2sk`, all attributes projected) serve the list
//! queries, and the number attribute `expires_at` (epoch seconds) is the table's TTL attribute.
//! `entity` names the kind of every item.
//!
//! | entity    | pk                   | sk            | gsi1pk / gsi1sk                     | gsi2pk / gsi2sk                        | expires_at |
//! |-----------|----------------------|---------------|-------------------------------------|----------------------------------------|------------|
//! | `cluster` | `CLUSTER#<arn>`      | `CLUSTER`     | `CATALOG` / `<account>#<region>#<arn>` | -                                   | -          |
//! | `removed` | `CLUSTER#<arn>`      | `CLUSTER`     | -                                   | -                                      | a day on   |
//! | `request` | `REQUEST#<id>`       | `REQUEST`     | `USER#<user>` / `REQUEST#<created>#<id>` | `PENDING` / `<created>#<id>` while pending; `GRANTS` / `<ends>#<id>` while approved | retention after the pending period or grant |
//! | `session` | `SESSION#<id>`       | `SESSION`     | `USER#<user>` / `SESSION#<issued>#<id>` | `SESSIONS` / `<issued>#<id>`         | retention after expiry |
//! | `audit`   | `AUDIT#<yyyy-mm-dd>` | `<at>#<id>`   | `USER#<actor>` / `AUDIT#<at>#<id>`  | -                                      | retention  |
//!
//! Times in sort keys are epoch milliseconds written as 15 zero-padded digits, so that string
//! order is time order. An approved request is the grant: its approval, end and revocation
//! are conditional updates of that one item, so no two writes have to succeed together.
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
/// First index: the catalog, and each user's requests, sessions and audit records.
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
/// Second index: pending requests, grants by end time and sessions by issue time.
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

/// The `gsi2pk` of pending requests.
pub const PENDING_PARTITION: &str = "PENDING";
/// The `gsi2pk` of approved requests, until they are ended or revoked.
pub const GRANTS_PARTITION: &str = "GRANTS";
/// The `gsi2pk` of session records.
pub const SESSIONS_PARTITION: &str = "SESSIONS";
/// The sort key of a request item.
pub const REQUEST_SK: &str = "REQUEST";
/// The sort key of a session item.
pub const SESSION_SK: &str = "SESSION";

pub fn request_pk(id: &str) -> String {
    format!("REQUEST#{id}")
}

pub fn session_pk(id: &str) -> String {
    format!("SESSION#{id}")
}

/// Returns the partition key of the audit records of the UTC day that `at_ms` falls in.
pub fn audit_pk(at_ms: i64) -> String {
    format!("AUDIT#{}", utc_date(at_ms))
}

/// Returns the `gsi1pk` of a user's items.
pub fn user_partition(user: &str) -> String {
    format!("USER#{user}")
}

/// Returns a sort key that orders by time, then by ID.
pub fn time_sk(at_ms: i64, id: &str) -> String {
    format!("{at_ms:015}#{id}")
}

pub fn user_request_sk(created_ms: i64, id: &str) -> String {
    format!("REQUEST#{}", time_sk(created_ms, id))
}

pub fn user_session_sk(issued_ms: i64, id: &str) -> String {
    format!("SESSION#{}", time_sk(issued_ms, id))
}

pub fn user_audit_sk(at_ms: i64, id: &str) -> String {
    format!("AUDIT#{}", time_sk(at_ms, id))
}

/// Formats the UTC date of epoch milliseconds as `yyyy-mm-dd`.
pub fn utc_date(at_ms: i64) -> String {
    let (year, month, day) = civil_from_days(at_ms.div_euclid(86_400_000));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Converts days since 1970-01-01 to a (year, month, day) date of the proleptic Gregorian
/// calendar, after Howard Hinnant's `civil_from_days` algorithm.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_date_of_known_instants() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_764_509_400_000), "2025-11-30");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(-1), "1969-12-31");
    }

    #[test]
    fn time_sort_keys_sort_by_time() {
        let early = time_sk(999, "b");
        let late = time_sk(1_000, "a");
        assert!(early < late, "{early} should sort before {late}");
    }
}
