use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use crate::layout::{self, ENTITY, EXPIRES_AT, GSI1_PK, GSI1_SK, PK, SK};

/// An EKS cluster as the catalog stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterRecord {
    pub arn: String,
    pub name: String,
    pub account: String,
    pub region: String,
    pub partition: String,
    /// The API server endpoint, exactly as DescribeCluster returns it.
    pub endpoint: Option<String>,
    /// The base64 certificate authority data, exactly as DescribeCluster returns it.
    pub ca_data: Option<String>,
    /// The Kubernetes version, such as `1.31`.
    pub version: Option<String>,
    /// The cluster status, such as `ACTIVE` or `UPDATING`.
    pub status: String,
    /// All tags of the cluster.
    pub tags: BTreeMap<String, String>,
    /// Role tags that declare no usable role, one sentence each.
    pub problems: Vec<String>,
}

/// An IAM role that a cluster's tags declare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleRecord {
    pub name: String,
    /// The IAM path, `/` when none.
    pub path: String,
    /// The ARN to assume, path included.
    pub assume_arn: String,
    /// The path-less ARN that aws-auth `mapRoles` names.
    pub mapped_arn: String,
    /// The tag key that declared the role.
    pub tag_key: String,
    /// Problems found with the declaration, one sentence each.
    pub problems: Vec<String>,
}

/// A cluster with its roles (sorted by name) and the time of the observation they came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    pub cluster: ClusterRecord,
    pub roles: Vec<RoleRecord>,
    /// Epoch milliseconds of the observation that last changed the entry.
    pub observed_at: i64,
}

impl CatalogEntry {
    /// Tells whether two entries hold the same cluster and roles, whenever each was observed.
    pub fn same_content(&self, other: &CatalogEntry) -> bool {
        self.cluster == other.cluster && self.roles == other.roles
    }
}

/// The stored state of one cluster ARN: a live entry or a removal marker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived values, one per cluster"
)]
pub enum Stored {
    Live(CatalogEntry),
    /// The cluster was removed by an observation made at `observed_at`.
    Removed {
        observed_at: i64,
    },
}

impl Stored {
    pub fn observed_at(&self) -> i64 {
        match self {
            Stored::Live(entry) => entry.observed_at,
            Stored::Removed { observed_at } => *observed_at,
        }
    }
}

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) const ENTITY_CLUSTER: &str = "cluster";
pub(crate) const ENTITY_REMOVED: &str = "removed";

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn string_list(values: &[String]) -> AttributeValue {
    AttributeValue::L(values.iter().map(|v| s(v)).collect())
}

pub(crate) fn cluster_item(entry: &CatalogEntry) -> Item {
    let cluster = &entry.cluster;
    let mut item = Item::from([
        (PK.into(), s(&layout::cluster_pk(&cluster.arn))),
        (SK.into(), s(layout::CLUSTER_SK)),
        (GSI1_PK.into(), s(layout::CATALOG_PARTITION)),
        (
            GSI1_SK.into(),
            s(&layout::cluster_gsi1_sk(
                &cluster.account,
                &cluster.region,
                &cluster.arn,
            )),
        ),
        (ENTITY.into(), s(ENTITY_CLUSTER)),
        ("arn".into(), s(&cluster.arn)),
        ("name".into(), s(&cluster.name)),
        ("account".into(), s(&cluster.account)),
        ("region".into(), s(&cluster.region)),
        ("partition".into(), s(&cluster.partition)),
        ("status".into(), s(&cluster.status)),
        (
            "tags".into(),
            AttributeValue::M(
                cluster
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), s(v)))
                    .collect(),
            ),
        ),
        ("problems".into(), string_list(&cluster.problems)),
        (
            "roles".into(),
            AttributeValue::L(entry.roles.iter().map(role_value).collect()),
        ),
        (
            "observed_at".into(),
            AttributeValue::N(entry.observed_at.to_string()),
        ),
    ]);
    for (name, value) in [
        ("endpoint", &cluster.endpoint),
        ("ca_data", &cluster.ca_data),
        ("version", &cluster.version),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item
}

fn role_value(role: &RoleRecord) -> AttributeValue {
    AttributeValue::M(Item::from([
        ("name".into(), s(&role.name)),
        ("path".into(), s(&role.path)),
        ("assume_arn".into(), s(&role.assume_arn)),
        ("mapped_arn".into(), s(&role.mapped_arn)),
        ("tag_key".into(), s(&role.tag_key)),
        ("problems".into(), string_list(&role.problems)),
    ]))
}

pub(crate) fn removed_item(arn: &str, observed_at: i64) -> Item {
    let expires_at = observed_at / 1000 + layout::REMOVED_MARKER_TTL_SECS;
    Item::from([
        (PK.into(), s(&layout::cluster_pk(arn))),
        (SK.into(), s(layout::CLUSTER_SK)),
        (ENTITY.into(), s(ENTITY_REMOVED)),
        ("arn".into(), s(arn)),
        (
            "observed_at".into(),
            AttributeValue::N(observed_at.to_string()),
        ),
        (EXPIRES_AT.into(), AttributeValue::N(expires_at.to_string())),
    ])
}

/// A stored item that does not have the shape the catalog writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub key: String,
    pub reason: String,
}

pub(crate) struct ItemReader<'a> {
    item: &'a Item,
}

impl<'a> ItemReader<'a> {
    pub(crate) fn new(item: &'a Item) -> Self {
        Self { item }
    }

    fn key(&self) -> String {
        let part = |name| match self.item.get(name) {
            Some(AttributeValue::S(value)) => value.as_str(),
            _ => "?",
        };
        format!("{}/{}", part(PK), part(SK))
    }

    fn malformed(&self, reason: String) -> Malformed {
        Malformed {
            key: self.key(),
            reason,
        }
    }

    pub(crate) fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        self.item.get(name)
    }

    pub(crate) fn malformed_attribute(&self, name: &str, problem: &str) -> Malformed {
        self.malformed(format!("attribute {name} {problem}"))
    }

    /// Re-states a problem found inside the map attribute `name` as a problem of this item.
    pub(crate) fn nested(&self, name: &str, inner: Malformed) -> Malformed {
        self.malformed(format!("in {name}: {}", inner.reason))
    }

    pub(crate) fn string(&self, name: &str) -> Result<String, Malformed> {
        match self.item.get(name) {
            Some(AttributeValue::S(value)) => Ok(value.clone()),
            Some(_) => Err(self.malformed(format!("attribute {name} is not a string"))),
            None => Err(self.malformed(format!("attribute {name} is missing"))),
        }
    }

    pub(crate) fn optional_string(&self, name: &str) -> Result<Option<String>, Malformed> {
        match self.item.get(name) {
            None | Some(AttributeValue::Null(_)) => Ok(None),
            Some(_) => self.string(name).map(Some),
        }
    }

    pub(crate) fn number(&self, name: &str) -> Result<i64, Malformed> {
        match self.item.get(name) {
            Some(AttributeValue::N(value)) => value.parse().map_err(|_| {
                self.malformed(format!("attribute {name}={value:?} is not an integer"))
            }),
            Some(_) => Err(self.malformed(format!("attribute {name} is not a number"))),
            None => Err(self.malformed(format!("attribute {name} is missing"))),
        }
    }

    fn string_list(&self, name: &str) -> Result<Vec<String>, Malformed> {
        match self.item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::L(values)) => values
                .iter()
                .map(|value| match value {
                    AttributeValue::S(text) => Ok(text.clone()),
                    _ => Err(self.malformed(format!("attribute {name} holds a non-string"))),
                })
                .collect(),
            Some(_) => Err(self.malformed(format!("attribute {name} is not a list"))),
        }
    }

    fn string_map(&self, name: &str) -> Result<BTreeMap<String, String>, Malformed> {
        match self.item.get(name) {
            None => Ok(BTreeMap::new()),
            Some(AttributeValue::M(values)) => values
                .iter()
                .map(|(key, value)| match value {
                    AttributeValue::S(text) => Ok((key.clone(), text.clone())),
                    _ => Err(self.malformed(format!("attribute {name}.{key} is not a string"))),
                })
                .collect(),
            Some(_) => Err(self.malformed(format!("attribute {name} is not a map"))),
        }
    }

    pub(crate) fn cluster(&self) -> Result<(ClusterRecord, i64), Malformed> {
        let record = ClusterRecord {
            arn: self.string("arn")?,
            name: self.string("name")?,
            account: self.string("account")?,
            region: self.string("region")?,
            partition: self.string("partition")?,
            endpoint: self.optional_string("endpoint")?,
            ca_data: self.optional_string("ca_data")?,
            version: self.optional_string("version")?,
            status: self.string("status")?,
            tags: self.string_map("tags")?,
            problems: self.string_list("problems")?,
        };
        Ok((record, self.number("observed_at")?))
    }

    /// Reads the `roles` list of a cluster item.
    pub(crate) fn roles(&self) -> Result<Vec<RoleRecord>, Malformed> {
        let values = match self.item.get("roles") {
            None => return Ok(Vec::new()),
            Some(AttributeValue::L(values)) => values,
            Some(_) => return Err(self.malformed("attribute roles is not a list".into())),
        };
        values
            .iter()
            .map(|value| {
                let AttributeValue::M(map) = value else {
                    return Err(self.malformed("attribute roles holds a non-map".into()));
                };
                let role = ItemReader::new(map);
                let field = |name: &str| {
                    role.string(name).map_err(|_| {
                        self.malformed(format!("a role in attribute roles lacks the string {name}"))
                    })
                };
                Ok(RoleRecord {
                    name: field("name")?,
                    path: field("path")?,
                    assume_arn: field("assume_arn")?,
                    mapped_arn: field("mapped_arn")?,
                    tag_key: field("tag_key")?,
                    problems: role.string_list("problems")?,
                })
            })
            .collect()
    }
}
