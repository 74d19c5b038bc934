//! The catalog table in infra/template.yaml matches the item layout that the code writes.

use eksgate_catalog::layout;
use eksgate_tests::table::{table_properties, template};

fn key_names(schema: &serde_yaml::Value) -> Vec<(String, String)> {
    schema
        .as_sequence()
        .expect("KeySchema is a list")
        .iter()
        .map(|key| {
            (
                key["AttributeName"].as_str().unwrap().to_string(),
                key["KeyType"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(name: &str, kind: &str) -> (String, String) {
    (name.to_string(), kind.to_string())
}

#[test]
fn table_keys_match_layout() {
    let properties = table_properties();
    assert_eq!(
        key_names(&properties["KeySchema"]),
        vec![pair(layout::PK, "HASH"), pair(layout::SK, "RANGE")]
    );
}

#[test]
fn indexes_match_layout() {
    let properties = table_properties();
    let indexes = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("GlobalSecondaryIndexes is a list");
    let expected = [
        (layout::GSI1, layout::GSI1_PK, layout::GSI1_SK),
        (layout::GSI2, layout::GSI2_PK, layout::GSI2_SK),
    ];
    assert_eq!(indexes.len(), expected.len());
    for (index, (name, pk, sk)) in indexes.iter().zip(expected) {
        assert_eq!(index["IndexName"].as_str(), Some(name));
        assert_eq!(
            key_names(&index["KeySchema"]),
            vec![pair(pk, "HASH"), pair(sk, "RANGE")],
            "index {name}"
        );
        assert_eq!(
            index["Projection"]["ProjectionType"].as_str(),
            Some("ALL"),
            "index {name}"
        );
    }
}

#[test]
fn every_key_attribute_is_a_string() {
    let properties = table_properties();
    let definitions = properties["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions is a list");
    let mut names: Vec<&str> = definitions
        .iter()
        .map(|d| d["AttributeName"].as_str().unwrap())
        .collect();
    names.sort();
    let mut expected = vec![
        layout::PK,
        layout::SK,
        layout::GSI1_PK,
        layout::GSI1_SK,
        layout::GSI2_PK,
        layout::GSI2_SK,
    ];
    expected.sort();
    assert_eq!(names, expected);
    assert!(
        definitions
            .iter()
            .all(|d| d["AttributeType"].as_str() == Some("S"))
    );
}

#[test]
fn ttl_and_protection_settings() {
    let properties = table_properties();
    assert_eq!(
        properties["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(layout::EXPIRES_AT)
    );
    assert_eq!(
        properties["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
    assert_eq!(properties["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        properties["SSESpecification"]["SSEEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        properties["DeletionProtectionEnabled"].as_bool(),
        Some(true)
    );
}

#[test]
fn http_api_routes_match_the_issuer() {
    let template = template();
    let events = template["Resources"]["SessionIssuerFunction"]["Properties"]["Events"]
        .as_mapping()
        .expect("SessionIssuerFunction has events");
    let mut routes: Vec<(String, String)> = Vec::new();
    for (name, event) in events {
        assert_eq!(event["Type"].as_str(), Some("HttpApi"), "event {name:?}");
        let properties = &event["Properties"];
        assert!(
            !properties["ApiId"].is_null(),
            "event {name:?} names no ApiId"
        );
        routes.push((
            properties["Method"].as_str().expect("Method").to_string(),
            properties["Path"].as_str().expect("Path").to_string(),
        ));
    }
    routes.sort();
    let mut served: Vec<(String, String)> = eksgate_session_issuer::ROUTES
        .iter()
        .map(|(method, path, _)| (method.to_string(), path.to_string()))
        .collect();
    served.sort();
    assert_eq!(routes, served);
}

/// Actions that support no resource-level permissions, so `Resource: "*"` is the only way to
/// grant them (IAM service authorization reference for EKS and STS).
const UNSCOPABLE_ACTIONS: [&str; 2] = ["eks:ListClusters", "sts:GetCallerIdentity"];

/// Returns every policy statement of a function, looking through `!If` branches.
fn statements(function: &serde_yaml::Value) -> Vec<serde_yaml::Value> {
    let mut found = Vec::new();
    for policy in function["Properties"]["Policies"]
        .as_sequence()
        .expect("every function has a Policies list")
    {
        assert!(
            policy.is_mapping(),
            "a function uses a managed or SAM policy template ({policy:?}); write its statements out"
        );
        for statement in policy["Statement"].as_sequence().expect("Statement list") {
            collect_statements(statement, &mut found);
        }
    }
    found
}

fn collect_statements(node: &serde_yaml::Value, found: &mut Vec<serde_yaml::Value>) {
    if let serde_yaml::Value::Tagged(tagged) = node {
        // `!If [condition, statement, AWS::NoValue]`: check both branches.
        for branch in tagged.value.as_sequence().into_iter().flatten().skip(1) {
            collect_statements(branch, found);
        }
    } else if node.is_mapping() {
        found.push(node.clone());
    }
}

fn as_list(value: &serde_yaml::Value) -> Vec<String> {
    match value {
        serde_yaml::Value::String(text) => vec![text.clone()],
        serde_yaml::Value::Sequence(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{item:?}"))
            })
            .collect(),
        other => vec![format!("{other:?}")],
    }
}

fn functions(template: &serde_yaml::Value) -> Vec<(String, serde_yaml::Value)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, resource)| {
            (
                name.as_str().unwrap_or_default().to_string(),
                resource.clone(),
            )
        })
        .collect()
}

#[test]
fn policies_name_no_wildcard_actions() {
    let template = template();
    let functions = functions(&template);
    assert_eq!(
        functions.len(),
        3,
        "importer, tag-change handler and session issuer"
    );
    for (name, function) in functions {
        for statement in statements(&function) {
            assert_eq!(
                statement["Effect"].as_str(),
                Some("Allow"),
                "{name}: {statement:?}"
            );
            assert!(
                statement.get("NotAction").is_none(),
                "{name} uses NotAction"
            );
            assert!(
                statement.get("NotResource").is_none(),
                "{name} uses NotResource"
            );
            for action in as_list(&statement["Action"]) {
                assert!(
                    !action.contains('*'),
                    "{name} grants the wildcard action {action}"
                );
                assert!(
                    action
                        .split_once(':')
                        .is_some_and(|(service, verb)| !service.is_empty() && !verb.is_empty()),
                    "{name} grants the malformed action {action}"
                );
            }
        }
    }
}

#[test]
fn policies_scope_resources() {
    let template = template();
    for (name, function) in functions(&template) {
        for statement in statements(&function) {
            let actions = as_list(&statement["Action"]);
            let resources = as_list(&statement["Resource"]);
            if resources.iter().any(|resource| resource == "*") {
                for action in &actions {
                    assert!(
                        UNSCOPABLE_ACTIONS.contains(&action.as_str()),
                        "{name} grants {action} on every resource; scope it to what the function touches"
                    );
                }
            }
        }
    }
}

#[test]
fn functions_log_json_and_keep_logs() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (name, function) in functions(&template) {
        assert_eq!(
            function["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name} builds with cargo-lambda"
        );
        let log_group = format!("{}LogGroup", name.trim_end_matches("Function"));
        let group = resources
            .get(log_group.as_str())
            .unwrap_or_else(|| panic!("{name} has no log group {log_group} with a retention"));
        assert!(
            !group["Properties"]["RetentionInDays"].is_null(),
            "{log_group} keeps logs forever"
        );
    }
}
