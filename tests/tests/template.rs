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
