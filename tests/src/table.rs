//! Creates the catalog table from its definition in `infra/template.yaml`, so tests, the demo
//! and the deployed stack use the same keys, indexes and TTL.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_yaml::Value;

use crate::repo_root;

/// The logical ID of the table in the template.
pub const TABLE_RESOURCE: &str = "CatalogTable";

/// Returns the `Properties` of the catalog table in `infra/template.yaml`.
pub fn table_properties() -> Value {
    let template = template();
    let resource = &template["Resources"][TABLE_RESOURCE];
    assert_eq!(
        resource["Type"].as_str(),
        Some("AWS::DynamoDB::Table"),
        "infra/template.yaml has no AWS::DynamoDB::Table named {TABLE_RESOURCE}"
    );
    resource["Properties"].clone()
}

/// Reads infra/template.yaml. CloudFormation tags such as `!Ref` become tagged YAML values.
pub fn template() -> Value {
    let path = repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("reading {} failed: {error}", path.display()));
    serde_yaml::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not valid YAML: {error}", path.display()))
}

fn text(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("template field {field} is missing or not a string"))
        .to_string()
}

fn key_schema(value: &Value) -> Vec<KeySchemaElement> {
    value
        .as_sequence()
        .expect("KeySchema is a list")
        .iter()
        .map(|element| {
            KeySchemaElement::builder()
                .attribute_name(text(element, "AttributeName"))
                .key_type(KeyType::from(text(element, "KeyType").as_str()))
                .build()
                .expect("key schema element")
        })
        .collect()
}

/// Creates the table `name` as the template defines it, and turns on its TTL.
pub async fn create_catalog_table(client: &Client, name: &str) {
    let properties = table_properties();
    let attributes = properties["AttributeDefinitions"]
        .as_sequence()
        .expect("AttributeDefinitions is a list")
        .iter()
        .map(|attribute| {
            AttributeDefinition::builder()
                .attribute_name(text(attribute, "AttributeName"))
                .attribute_type(ScalarAttributeType::from(
                    text(attribute, "AttributeType").as_str(),
                ))
                .build()
                .expect("attribute definition")
        })
        .collect();
    let indexes = properties["GlobalSecondaryIndexes"]
        .as_sequence()
        .map(|indexes| {
            indexes
                .iter()
                .map(|index| {
                    GlobalSecondaryIndex::builder()
                        .index_name(text(index, "IndexName"))
                        .set_key_schema(Some(key_schema(&index["KeySchema"])))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::from(
                                    text(&index["Projection"], "ProjectionType").as_str(),
                                ))
                                .build(),
                        )
                        .build()
                        .expect("global secondary index")
                })
                .collect()
        })
        .unwrap_or_default();

    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(text(&properties, "BillingMode").as_str()))
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&properties["KeySchema"])))
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .unwrap_or_else(|error| {
            panic!(
                "CreateTable {name} failed: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(error)
            )
        });

    let ttl = &properties["TimeToLiveSpecification"];
    if ttl["Enabled"].as_bool() == Some(true) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl, "AttributeName"))
                    .enabled(true)
                    .build()
                    .expect("TTL specification"),
            )
            .send()
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "UpdateTimeToLive {name} failed: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(error)
                )
            });
    }
}
