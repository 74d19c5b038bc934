//! Reading an EventBridge event into the clusters it concerns.
//!
//! Events are only triggers, so the parser takes from them just the cluster ARN and whether the
//! call they record succeeded. It reads `serde_json::Value` instead of fixed structs because
//! emitters add, omit and retype fields: `detail.version` of a tag-change event may be an integer
//! or a float, `responseElements` may be null, and `userIdentity` has a different shape for each
//! identity type. None of those fields is read.

use eksgate_estate::ClusterArn;
use serde::Serialize;
use serde_json::Value;

/// The `detail-type` of the events that the Resource Groups Tagging service (`aws.tag`) sends.
pub const TAG_CHANGE: &str = "Tag Change on Resource";
/// The `detail-type` of the CloudTrail management events that EventBridge forwards.
pub const CLOUDTRAIL_CALL: &str = "AWS API Call via CloudTrail";
/// The CloudTrail `eventSource` of EKS API calls.
pub const EKS_EVENT_SOURCE: &str = "eks.amazonaws.com";

/// An event as the handler reads it: its identity, for the log, and what it calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedEvent {
    /// The EventBridge event ID.
    pub id: Option<String>,
    pub detail_type: Option<String>,
    /// The CloudTrail `eventName`, such as `TagResource`, for CloudTrail events.
    pub event_name: Option<String>,
    pub trigger: Trigger,
}

/// The action that an event calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Read these clusters again and reconcile their catalog entries.
    Refresh(Vec<ClusterArn>),
    /// Change nothing.
    Ignore(Ignored),
}

/// The reason an event changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Ignored {
    /// CloudTrail recorded a call that failed, so the cluster did not change.
    FailedCall { error_code: String },
    /// The event concerns EKS resources other than clusters, such as node groups or add-ons.
    NotACluster { resources: Vec<String> },
    /// The handler does not understand the event.
    Unsupported { message: String },
}

/// Parses one event as EventBridge delivers it to the function. A shape the handler does not
/// understand becomes [`Ignored::Unsupported`], so parsing has no error case.
pub fn parse_event(event: &Value) -> ParsedEvent {
    let detail_type = text(event, "detail-type");
    let trigger = match detail_type.as_deref() {
        Some(TAG_CHANGE) => tag_change_trigger(event),
        Some(CLOUDTRAIL_CALL) => cloudtrail_trigger(event),
        Some(other) => unsupported(format!(
            "detail-type {other:?} is not handled: expected {TAG_CHANGE:?} or {CLOUDTRAIL_CALL:?}"
        )),
        None => unsupported("detail-type is missing: expected an EventBridge event".into()),
    };
    let event_name = match detail_type.as_deref() {
        Some(CLOUDTRAIL_CALL) => event.get("detail").and_then(|d| text(d, "eventName")),
        _ => None,
    };
    ParsedEvent {
        id: text(event, "id"),
        detail_type,
        event_name,
        trigger,
    }
}

/// Reads the clusters of an `aws.tag` event from its `resources`, which hold the ARNs of the
/// tagged resources.
fn tag_change_trigger(event: &Value) -> Trigger {
    let Some(resources) = event.get("resources").and_then(Value::as_array) else {
        return unsupported("resources is missing or not a list".into());
    };
    let resources = resources
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    refresh_clusters(resources)
}

fn cloudtrail_trigger(event: &Value) -> Trigger {
    let Some(detail) = event.get("detail").filter(|detail| detail.is_object()) else {
        return unsupported("detail is missing or not an object".into());
    };

    // CloudTrail records always carry eventSource, and the event's `source` is only a fallback.
    match text(detail, "eventSource") {
        Some(source) if source == EKS_EVENT_SOURCE => {}
        Some(source) => {
            return unsupported(format!(
                "detail.eventSource {source:?} is not {EKS_EVENT_SOURCE}"
            ));
        }
        None if text(event, "source").as_deref() == Some("aws.eks") => {}
        None => {
            return unsupported("detail.eventSource is missing and source is not aws.eks".into());
        }
    }

    if let Some(error_code) = error_code(detail) {
        return Trigger::Ignore(Ignored::FailedCall { error_code });
    }

    let Some(event_name) = text(detail, "eventName") else {
        return unsupported("detail.eventName is missing".into());
    };
    match event_name.as_str() {
        "CreateCluster" | "DeleteCluster" => named_cluster_trigger(event, detail, &event_name),
        "TagResource" | "UntagResource" => {
            let parameters = detail.get("requestParameters").unwrap_or(&Value::Null);
            match text(parameters, "resourceArn") {
                Some(arn) => refresh_clusters(vec![arn]),
                None => unsupported(format!(
                    "{event_name} event has no detail.requestParameters.resourceArn"
                )),
            }
        }
        other => unsupported(format!(
            "eventName {other:?} is not handled: expected CreateCluster, DeleteCluster, \
             TagResource or UntagResource"
        )),
    }
}

/// Returns the `errorCode` of a CloudTrail record of a failed call. A null or empty value means
/// that the call succeeded.
fn error_code(detail: &Value) -> Option<String> {
    match detail.get("errorCode") {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) if code.trim().is_empty() => None,
        Some(Value::String(code)) => Some(code.trim().to_string()),
        Some(other) => Some(other.to_string()),
    }
}

/// Builds the ARN of the cluster that a CreateCluster or DeleteCluster call names, from the
/// cluster name, the call's region and the account that received the call.
fn named_cluster_trigger(event: &Value, detail: &Value, event_name: &str) -> Trigger {
    let parameters = detail.get("requestParameters").unwrap_or(&Value::Null);
    let name = text(parameters, "name").or_else(|| {
        detail
            .pointer("/responseElements/cluster")
            .and_then(|cluster| text(cluster, "name"))
    });
    let Some(name) = name else {
        return unsupported(format!(
            "{event_name} event has no detail.requestParameters.name"
        ));
    };
    let Some(region) = text(detail, "awsRegion").or_else(|| text(event, "region")) else {
        return unsupported(format!(
            "{event_name} event has neither detail.awsRegion nor region"
        ));
    };
    let Some(account) = text(detail, "recipientAccountId").or_else(|| text(event, "account"))
    else {
        return unsupported(format!(
            "{event_name} event has neither detail.recipientAccountId nor account"
        ));
    };

    // ClusterArn::new checks nothing, so parsing its text validates the account ID and name.
    let built = ClusterArn::new(&account, &region, &name).to_string();
    match ClusterArn::parse(&built) {
        Some(arn) => Trigger::Refresh(vec![arn]),
        None => unsupported(format!(
            "{event_name} event names no valid cluster: {built:?}"
        )),
    }
}

/// Returns a refresh of the clusters among `resources`, each once, or the reason to ignore the
/// event when none of them is a cluster.
fn refresh_clusters(resources: Vec<String>) -> Trigger {
    if resources.is_empty() {
        return unsupported("the event names no resource".into());
    }
    let mut clusters: Vec<ClusterArn> = resources
        .iter()
        .filter_map(|arn| ClusterArn::parse(arn))
        .collect();
    clusters.sort();
    clusters.dedup();
    if clusters.is_empty() {
        return Trigger::Ignore(Ignored::NotACluster { resources });
    }
    Trigger::Refresh(clusters)
}

fn unsupported(message: String) -> Trigger {
    Trigger::Ignore(Ignored::Unsupported { message })
}

/// Returns a string field, trimmed, when it is present and not empty.
fn text(value: &Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    const TAG_CHANGE_SAMPLE: &str =
        include_str!("../../../tests/fixtures/events/tag-change-on-resource.json");
    const TAG_SAMPLE: &str =
        include_str!("../../../tests/fixtures/events/cloudtrail-tag-resource.json");
    const UNTAG_SAMPLE: &str =
        include_str!("../../../tests/fixtures/events/cloudtrail-untag-resource.json");
    const DELETE_SAMPLE: &str =
        include_str!("../../../tests/fixtures/events/cloudtrail-delete-cluster.json");
    const SCHEDULED_SAMPLE: &str = include_str!("../../../tests/fixtures/events/scheduled.json");

    const PAYMENTS: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod";
    const STAGING: &str = "arn:aws:eks:us-east-1:111122223333:cluster/staging";
    const NODEGROUP: &str = "arn:aws:eks:us-east-1:111122223333:nodegroup/staging/workers/4ec7a3b2-1c2d-3e4f-5a6b-7c8d9e0f1a2b";
    const ADDON: &str = "arn:aws:eks:us-east-1:111122223333:addon/staging/vpc-cni/0ac7a3b2-1c2d-3e4f-5a6b-7c8d9e0f1a2b";

    /// The result that a case expects from the parser.
    enum Expected {
        Refresh(&'static [&'static str]),
        FailedCall(&'static str),
        NotACluster,
        /// An unsupported event whose message contains the text.
        Unsupported(&'static str),
    }

    fn sample(text: &str) -> Value {
        serde_json::from_str(text).expect("sample events are valid JSON")
    }

    fn variant(text: &str, edit: impl FnOnce(&mut Value)) -> Value {
        let mut event = sample(text);
        edit(&mut event);
        event
    }

    /// Returns the object that contains the field at `pointer`, and the field's key.
    fn parent<'a>(event: &'a mut Value, pointer: &'a str) -> (&'a mut Map<String, Value>, &'a str) {
        let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
        let object = event
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{parent:?} is not an object"));
        (object, key)
    }

    fn remove(event: &mut Value, pointer: &str) {
        let (object, key) = parent(event, pointer);
        object.remove(key);
    }

    /// Sets the field at `pointer`, adding it when it is missing.
    fn set(event: &mut Value, pointer: &str, value: Value) {
        let (object, key) = parent(event, pointer);
        object.insert(key.to_string(), value);
    }

    /// Returns a CreateCluster record built from the DeleteCluster sample, with its envelope and
    /// identity.
    fn create_event(edit: impl FnOnce(&mut Value)) -> Value {
        variant(DELETE_SAMPLE, |event| {
            set(event, "/detail/eventName", json!("CreateCluster"));
            set(
                event,
                "/detail/requestParameters",
                json!({"name": "staging", "version": "1.31", "roleArn": "arn:aws:iam::111122223333:role/eks"}),
            );
            set(event, "/detail/responseElements", Value::Null);
            edit(event);
        })
    }

    fn cases() -> Vec<(&'static str, Value, Expected)> {
        use Expected::*;
        vec![
            (
                "tag change sample",
                sample(TAG_CHANGE_SAMPLE),
                Refresh(&[PAYMENTS]),
            ),
            (
                "tag change, float version",
                variant(TAG_CHANGE_SAMPLE, |e| set(e, "/detail/version", json!(4.0))),
                Refresh(&[PAYMENTS]),
            ),
            (
                "tag change, optional fields missing",
                variant(TAG_CHANGE_SAMPLE, |e| {
                    remove(e, "/detail/version");
                    remove(e, "/detail/changed-tag-keys");
                    remove(e, "/detail/tags");
                    remove(e, "/version");
                    remove(e, "/time");
                }),
                Refresh(&[PAYMENTS]),
            ),
            (
                "tag change, resource listed twice",
                variant(TAG_CHANGE_SAMPLE, |e| {
                    set(e, "/resources", json!([PAYMENTS, PAYMENTS]))
                }),
                Refresh(&[PAYMENTS]),
            ),
            (
                "tag change, cross-account",
                variant(TAG_CHANGE_SAMPLE, |e| {
                    set(e, "/account", json!("222233334444"));
                    set(
                        e,
                        "/resources",
                        json!(["arn:aws:eks:eu-west-1:222233334444:cluster/analytics"]),
                    );
                }),
                Refresh(&["arn:aws:eks:eu-west-1:222233334444:cluster/analytics"]),
            ),
            (
                "tag change, node group",
                variant(TAG_CHANGE_SAMPLE, |e| {
                    set(e, "/detail/resource-type", json!("nodegroup"));
                    set(e, "/resources", json!([NODEGROUP]));
                }),
                NotACluster,
            ),
            (
                "tag change, no resources",
                variant(TAG_CHANGE_SAMPLE, |e| set(e, "/resources", json!([]))),
                Unsupported("names no resource"),
            ),
            (
                "tag change, resources missing",
                variant(TAG_CHANGE_SAMPLE, |e| remove(e, "/resources")),
                Unsupported("resources is missing"),
            ),
            (
                "TagResource sample",
                sample(TAG_SAMPLE),
                Refresh(&[STAGING]),
            ),
            (
                "TagResource, failed call",
                variant(TAG_SAMPLE, |e| {
                    set(e, "/detail/errorCode", json!("AccessDeniedException"));
                    set(e, "/detail/errorMessage", json!("not authorized"));
                }),
                FailedCall("AccessDeniedException"),
            ),
            (
                "TagResource, null errorCode",
                variant(TAG_SAMPLE, |e| set(e, "/detail/errorCode", Value::Null)),
                Refresh(&[STAGING]),
            ),
            (
                "TagResource, node group",
                variant(TAG_SAMPLE, |e| {
                    set(e, "/detail/requestParameters/resourceArn", json!(NODEGROUP))
                }),
                NotACluster,
            ),
            (
                "TagResource, add-on",
                variant(TAG_SAMPLE, |e| {
                    set(e, "/detail/requestParameters/resourceArn", json!(ADDON))
                }),
                NotACluster,
            ),
            (
                "TagResource, no resourceArn",
                variant(TAG_SAMPLE, |e| {
                    remove(e, "/detail/requestParameters/resourceArn")
                }),
                Unsupported("requestParameters.resourceArn"),
            ),
            (
                "TagResource, requestParameters null",
                variant(TAG_SAMPLE, |e| {
                    set(e, "/detail/requestParameters", Value::Null)
                }),
                Unsupported("requestParameters.resourceArn"),
            ),
            (
                "TagResource, IAM user identity",
                variant(TAG_SAMPLE, |e| {
                    set(
                        e,
                        "/detail/userIdentity",
                        json!({"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops", "userName": "ops"}),
                    )
                }),
                Refresh(&[STAGING]),
            ),
            (
                "UntagResource sample",
                sample(UNTAG_SAMPLE),
                Refresh(&[STAGING]),
            ),
            (
                "UntagResource, optional fields missing",
                variant(UNTAG_SAMPLE, |e| {
                    remove(e, "/detail/responseElements");
                    remove(e, "/detail/userIdentity");
                    remove(e, "/detail/eventVersion");
                    remove(e, "/detail/recipientAccountId");
                }),
                Refresh(&[STAGING]),
            ),
            (
                "DeleteCluster sample",
                sample(DELETE_SAMPLE),
                Refresh(&[STAGING]),
            ),
            (
                "DeleteCluster, failed call",
                variant(DELETE_SAMPLE, |e| {
                    set(e, "/detail/errorCode", json!("ResourceInUseException"));
                    set(e, "/detail/responseElements", Value::Null);
                }),
                FailedCall("ResourceInUseException"),
            ),
            (
                "DeleteCluster, region and account from the envelope",
                variant(DELETE_SAMPLE, |e| {
                    remove(e, "/detail/awsRegion");
                    remove(e, "/detail/recipientAccountId");
                }),
                Refresh(&[STAGING]),
            ),
            (
                "DeleteCluster, name only in responseElements",
                variant(DELETE_SAMPLE, |e| {
                    set(e, "/detail/requestParameters", json!({}))
                }),
                Refresh(&[STAGING]),
            ),
            (
                "DeleteCluster, no name",
                variant(DELETE_SAMPLE, |e| {
                    set(e, "/detail/requestParameters", json!({}));
                    set(e, "/detail/responseElements", Value::Null);
                }),
                Unsupported("requestParameters.name"),
            ),
            (
                "DeleteCluster, no account",
                variant(DELETE_SAMPLE, |e| {
                    remove(e, "/detail/recipientAccountId");
                    remove(e, "/account");
                }),
                Unsupported("recipientAccountId"),
            ),
            ("CreateCluster", create_event(|_| {}), Refresh(&[STAGING])),
            (
                "CreateCluster, root identity",
                create_event(|e| {
                    set(
                        e,
                        "/detail/userIdentity",
                        json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root"}),
                    )
                }),
                Refresh(&[STAGING]),
            ),
            (
                "CreateCluster, AWS service identity",
                create_event(|e| {
                    set(
                        e,
                        "/detail/userIdentity",
                        json!({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}),
                    )
                }),
                Refresh(&[STAGING]),
            ),
            (
                "CreateCluster, cross-account",
                create_event(|e| {
                    set(e, "/account", json!("222233334444"));
                    set(e, "/detail/recipientAccountId", json!("222233334444"));
                    set(e, "/detail/awsRegion", json!("eu-west-1"));
                }),
                Refresh(&["arn:aws:eks:eu-west-1:222233334444:cluster/staging"]),
            ),
            (
                "CreateCluster, China region",
                create_event(|e| set(e, "/detail/awsRegion", json!("cn-north-1"))),
                Refresh(&["arn:aws-cn:eks:cn-north-1:111122223333:cluster/staging"]),
            ),
            (
                "CreateCluster, invalid name",
                create_event(|e| {
                    set(
                        e,
                        "/detail/requestParameters/name",
                        json!("staging cluster"),
                    )
                }),
                Unsupported("names no valid cluster"),
            ),
            (
                "CreateCluster, failed call",
                create_event(|e| set(e, "/detail/errorCode", json!("ResourceInUseException"))),
                FailedCall("ResourceInUseException"),
            ),
            (
                "unknown eventName",
                variant(TAG_SAMPLE, |e| {
                    set(e, "/detail/eventName", json!("UpdateClusterConfig"))
                }),
                Unsupported("\"UpdateClusterConfig\" is not handled"),
            ),
            (
                "eventName missing",
                variant(TAG_SAMPLE, |e| remove(e, "/detail/eventName")),
                Unsupported("eventName is missing"),
            ),
            (
                "call to another service",
                variant(TAG_SAMPLE, |e| {
                    set(e, "/detail/eventSource", json!("ec2.amazonaws.com"))
                }),
                Unsupported("\"ec2.amazonaws.com\""),
            ),
            (
                "eventSource missing, source aws.eks",
                variant(TAG_SAMPLE, |e| remove(e, "/detail/eventSource")),
                Refresh(&[STAGING]),
            ),
            (
                "eventSource and source missing",
                variant(TAG_SAMPLE, |e| {
                    remove(e, "/detail/eventSource");
                    remove(e, "/source");
                }),
                Unsupported("eventSource is missing"),
            ),
            (
                "CloudTrail without detail",
                variant(TAG_SAMPLE, |e| remove(e, "/detail")),
                Unsupported("detail is missing"),
            ),
            (
                "unknown detail-type",
                sample(SCHEDULED_SAMPLE),
                Unsupported("\"Scheduled Event\" is not handled"),
            ),
            (
                "not an EventBridge event",
                json!({"hello": "world"}),
                Unsupported("detail-type is missing"),
            ),
            (
                "not an object",
                json!(["Tag Change on Resource"]),
                Unsupported("detail-type is missing"),
            ),
        ]
    }

    #[test]
    fn parse_event_table() {
        for (name, event, expected) in cases() {
            let trigger = parse_event(&event).trigger;
            match (&trigger, expected) {
                (Trigger::Refresh(clusters), Expected::Refresh(arns)) => {
                    let clusters: Vec<String> = clusters.iter().map(ToString::to_string).collect();
                    assert_eq!(clusters, arns.to_vec(), "case {name}");
                }
                (
                    Trigger::Ignore(Ignored::FailedCall { error_code }),
                    Expected::FailedCall(code),
                ) => assert_eq!(error_code, code, "case {name}"),
                (Trigger::Ignore(Ignored::NotACluster { resources }), Expected::NotACluster) => {
                    assert_eq!(resources.len(), 1, "case {name}")
                }
                (
                    Trigger::Ignore(Ignored::Unsupported { message }),
                    Expected::Unsupported(part),
                ) => {
                    assert!(message.contains(part), "case {name}: message {message:?}")
                }
                (trigger, _) => panic!("case {name}: unexpected trigger {trigger:?}"),
            }
        }
    }

    #[test]
    fn event_identity_read() {
        let parsed = parse_event(&sample(TAG_SAMPLE));
        assert_eq!(
            parsed.id.as_deref(),
            Some("2f1e0d9c-1111-4a2b-9c3d-4e5f6a7b8c9d")
        );
        assert_eq!(parsed.detail_type.as_deref(), Some(CLOUDTRAIL_CALL));
        assert_eq!(parsed.event_name.as_deref(), Some("TagResource"));

        let parsed = parse_event(&sample(TAG_CHANGE_SAMPLE));
        assert_eq!(parsed.detail_type.as_deref(), Some(TAG_CHANGE));
        assert_eq!(parsed.event_name, None);

        let parsed = parse_event(&json!("text"));
        assert_eq!(parsed.id, None);
        assert_eq!(parsed.detail_type, None);
    }

    #[test]
    fn ignored_reason_serialized() {
        let ignored = Ignored::FailedCall {
            error_code: "AccessDeniedException".into(),
        };
        assert_eq!(
            serde_json::to_value(&ignored).unwrap(),
            json!({"reason": "failed_call", "error_code": "AccessDeniedException"})
        );
    }
}
