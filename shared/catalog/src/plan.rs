use crate::model::{CatalogEntry, Stored};

/// The state that one observation of a cluster calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived values, one per cluster"
)]
pub enum Desired {
    /// The cluster exists and carries the namespace tag.
    Present(CatalogEntry),
    /// The cluster does not exist, or lacks the namespace tag, as observed at `observed_at`.
    Absent { arn: String, observed_at: i64 },
}

impl Desired {
    pub fn arn(&self) -> &str {
        match self {
            Desired::Present(entry) => &entry.cluster.arn,
            Desired::Absent { arn, .. } => arn,
        }
    }

    pub fn observed_at(&self) -> i64 {
        match self {
            Desired::Present(entry) => entry.observed_at,
            Desired::Absent { observed_at, .. } => *observed_at,
        }
    }
}

/// How much of an observation is written when it changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePolicy {
    /// Write only changes. The hourly importer uses this, so an unchanged estate costs no writes.
    ChangesOnly,
    /// Also record the observation time of an unchanged entry, and mark an absent cluster as
    /// removed even when nothing is stored. The event handler uses this, so an older observation
    /// still in flight from the importer cannot overwrite what the event showed.
    RecordObservation,
}

/// The writes that bring the stored state of one cluster to the desired one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "short-lived values, one per cluster"
)]
pub enum Plan {
    /// Nothing to write.
    Unchanged,
    /// The stored state comes from a newer observation, so this one is dropped.
    Superseded { stored_observed_at: i64 },
    /// Write a new entry.
    Import { entry: CatalogEntry },
    /// Replace a changed entry.
    Update { entry: CatalogEntry },
    /// Replace a live entry with a removal marker.
    Remove { arn: String, observed_at: i64 },
    /// Record a newer observation time on an unchanged entry.
    Touch { arn: String, observed_at: i64 },
    /// Write or refresh a removal marker where no live entry is stored.
    MarkAbsent { arn: String, observed_at: i64 },
}

impl Plan {
    /// Returns the number of items the plan writes: an entry is one item, roles included.
    pub fn item_count(&self) -> usize {
        match self {
            Plan::Unchanged | Plan::Superseded { .. } => 0,
            Plan::Import { .. }
            | Plan::Update { .. }
            | Plan::Remove { .. }
            | Plan::Touch { .. }
            | Plan::MarkAbsent { .. } => 1,
        }
    }
}

/// Plans the writes that take `stored` to `desired`.
///
/// Content that already matches is never rewritten under [`WritePolicy::ChangesOnly`]. Otherwise
/// an observation that is not newer than the stored one is [`Plan::Superseded`].
pub fn plan(stored: Option<&Stored>, desired: &Desired, policy: WritePolicy) -> Plan {
    let observed_at = desired.observed_at();
    let stored_observed_at = stored.map(Stored::observed_at);
    let newer = stored_observed_at.is_none_or(|stored_at| stored_at < observed_at);
    let superseded = || Plan::Superseded {
        stored_observed_at: stored_observed_at.unwrap_or_default(),
    };
    let record = policy == WritePolicy::RecordObservation;

    match (stored, desired) {
        (Some(Stored::Live(current)), Desired::Present(wanted)) if current.same_content(wanted) => {
            if record && newer {
                Plan::Touch {
                    arn: wanted.cluster.arn.clone(),
                    observed_at,
                }
            } else {
                Plan::Unchanged
            }
        }
        (None | Some(Stored::Removed { .. }), Desired::Absent { arn, .. }) => {
            if record && newer {
                Plan::MarkAbsent {
                    arn: arn.clone(),
                    observed_at,
                }
            } else {
                Plan::Unchanged
            }
        }
        _ if !newer => superseded(),
        (None | Some(Stored::Removed { .. }), Desired::Present(wanted)) => Plan::Import {
            entry: wanted.clone(),
        },
        (Some(Stored::Live(_)), Desired::Present(wanted)) => Plan::Update {
            entry: wanted.clone(),
        },
        (Some(Stored::Live(_)), Desired::Absent { arn, .. }) => Plan::Remove {
            arn: arn.clone(),
            observed_at,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{ClusterRecord, RoleRecord};

    const ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/payments";

    fn role(name: &str) -> RoleRecord {
        RoleRecord {
            name: name.into(),
            path: "/".into(),
            assume_arn: format!("arn:aws:iam::111122223333:role/{name}"),
            mapped_arn: format!("arn:aws:iam::111122223333:role/{name}"),
            tag_key: format!("opal:eks:role:{name}"),
            problems: vec![],
        }
    }

    fn entry(observed_at: i64, version: &str, roles: &[&str]) -> CatalogEntry {
        CatalogEntry {
            cluster: ClusterRecord {
                arn: ARN.into(),
                name: "payments".into(),
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                partition: "aws".into(),
                endpoint: Some("https://example.eks.amazonaws.com".into()),
                ca_data: Some("Y2E=".into()),
                version: Some(version.into()),
                status: "ACTIVE".into(),
                tags: BTreeMap::from([("opal".into(), String::new())]),
                problems: vec![],
            },
            roles: roles.iter().map(|name| role(name)).collect(),
            observed_at,
        }
    }

    fn absent(observed_at: i64) -> Desired {
        Desired::Absent {
            arn: ARN.into(),
            observed_at,
        }
    }

    use WritePolicy::{ChangesOnly, RecordObservation};

    #[test]
    fn plan_table() {
        let live = |at, version, roles: &[&str]| Some(Stored::Live(entry(at, version, roles)));
        let removed = |at| Some(Stored::Removed { observed_at: at });
        let present = |at, version, roles: &[&str]| Desired::Present(entry(at, version, roles));

        let cases: Vec<(&str, Option<Stored>, Desired, WritePolicy, Plan)> = vec![
            (
                "new cluster",
                None,
                present(10, "1.30", &["A"]),
                ChangesOnly,
                Plan::Import {
                    entry: entry(10, "1.30", &["A"]),
                },
            ),
            (
                "same content",
                live(5, "1.30", &["A"]),
                present(10, "1.30", &["A"]),
                ChangesOnly,
                Plan::Unchanged,
            ),
            (
                "same content, older observation",
                live(50, "1.30", &["A"]),
                present(10, "1.30", &["A"]),
                ChangesOnly,
                Plan::Unchanged,
            ),
            (
                "touch when recording",
                live(5, "1.30", &["A"]),
                present(10, "1.30", &["A"]),
                RecordObservation,
                Plan::Touch {
                    arn: ARN.into(),
                    observed_at: 10,
                },
            ),
            (
                "no touch when older",
                live(50, "1.30", &["A"]),
                present(10, "1.30", &["A"]),
                RecordObservation,
                Plan::Unchanged,
            ),
            (
                "older change superseded",
                live(50, "1.30", &["A"]),
                present(10, "1.31", &["A"]),
                ChangesOnly,
                Plan::Superseded {
                    stored_observed_at: 50,
                },
            ),
            (
                "equal time superseded",
                live(10, "1.30", &["A"]),
                present(10, "1.31", &["A"]),
                ChangesOnly,
                Plan::Superseded {
                    stored_observed_at: 10,
                },
            ),
            (
                "roles changed",
                live(5, "1.30", &["A", "B"]),
                present(10, "1.30", &["B", "C"]),
                ChangesOnly,
                Plan::Update {
                    entry: entry(10, "1.30", &["B", "C"]),
                },
            ),
            (
                "cluster field changed",
                live(5, "1.30", &["A"]),
                present(10, "1.31", &["A"]),
                ChangesOnly,
                Plan::Update {
                    entry: entry(10, "1.31", &["A"]),
                },
            ),
            (
                "removed",
                live(5, "1.30", &["A", "B"]),
                absent(10),
                ChangesOnly,
                Plan::Remove {
                    arn: ARN.into(),
                    observed_at: 10,
                },
            ),
            (
                "removal superseded",
                live(50, "1.30", &["A"]),
                absent(10),
                ChangesOnly,
                Plan::Superseded {
                    stored_observed_at: 50,
                },
            ),
            (
                "absent and nothing stored",
                None,
                absent(10),
                ChangesOnly,
                Plan::Unchanged,
            ),
            (
                "absent, marker when recording",
                None,
                absent(10),
                RecordObservation,
                Plan::MarkAbsent {
                    arn: ARN.into(),
                    observed_at: 10,
                },
            ),
            (
                "absent, marker refreshed",
                removed(5),
                absent(10),
                RecordObservation,
                Plan::MarkAbsent {
                    arn: ARN.into(),
                    observed_at: 10,
                },
            ),
            (
                "absent, newer marker kept",
                removed(50),
                absent(10),
                RecordObservation,
                Plan::Unchanged,
            ),
            (
                "reimport after removal",
                removed(5),
                present(10, "1.30", &["A"]),
                ChangesOnly,
                Plan::Import {
                    entry: entry(10, "1.30", &["A"]),
                },
            ),
            (
                "late observation after removal",
                removed(50),
                present(10, "1.30", &["A"]),
                ChangesOnly,
                Plan::Superseded {
                    stored_observed_at: 50,
                },
            ),
        ];

        for (name, stored, desired, policy, expected) in cases {
            assert_eq!(
                plan(stored.as_ref(), &desired, policy),
                expected,
                "case {name}"
            );
        }
    }

    #[test]
    fn item_counts() {
        let import = Plan::Import {
            entry: entry(1, "1.30", &["A", "B"]),
        };
        assert_eq!(import.item_count(), 1, "roles live in the cluster item");
        assert_eq!(Plan::Unchanged.item_count(), 0);
        assert_eq!(
            Plan::Superseded {
                stored_observed_at: 3
            }
            .item_count(),
            0
        );
    }
}
