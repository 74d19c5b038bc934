//! `eksgate clusters` and `eksgate roles`: the catalog.

use serde_json::{Value, json};

use super::Client;
use crate::api::sanitize;
use crate::args::OutputFormat;
use crate::cluster::{self, find_by_name};
use crate::error::CliError;
use crate::output::{Table, cell, print, print_json};

pub async fn clusters(client: &Client) -> Result<(), CliError> {
    let document = client.api.get("/clusters").await?;
    if client.output == OutputFormat::Json {
        print_json(&document);
        return Ok(());
    }
    let clusters = list_of(&document, "clusters");
    if clusters.is_empty() {
        print("No clusters are in the catalog.\n");
        return Ok(());
    }
    let mut table = Table::new(&[
        "NAME", "ACCOUNT", "REGION", "STATUS", "VERSION", "ROLES", "ARN",
    ]);
    let mut problems = String::new();
    for cluster in clusters {
        let roles: Vec<&str> = list_of(cluster, "roles")
            .iter()
            .filter(|role| role["usable"].as_bool() != Some(false))
            .filter_map(|role| role["name"].as_str())
            .collect();
        table.row(vec![
            cell(&cluster["name"]),
            cell(&cluster["account"]),
            cell(&cluster["region"]),
            cell(&cluster["status"]),
            cell(&cluster["version"]),
            if roles.is_empty() {
                "-".into()
            } else {
                roles.join(",")
            },
            cell(&cluster["arn"]),
        ]);
        for problem in list_of(cluster, "problems") {
            problems.push_str(&format!(
                "  {}: {}\n",
                sanitize(&cell(&cluster["name"])),
                sanitize(&cell(problem))
            ));
        }
    }
    let mut text = table.render();
    if !problems.is_empty() {
        text.push_str("\nProblems that the cluster operators should fix:\n");
        text.push_str(&problems);
    }
    print(&text);
    Ok(())
}

pub async fn roles(client: &Client, cluster: Option<&str>) -> Result<(), CliError> {
    let document = client.api.get("/clusters").await?;
    let selected_arn = match cluster.map(str::trim) {
        None => None,
        Some(given) if cluster::is_arn(given) => Some(given.to_string()),
        Some(given) => Some(find_by_name(&document, given)?),
    };
    let mut roles = Vec::new();
    for entry in list_of(&document, "clusters") {
        if selected_arn
            .as_deref()
            .is_some_and(|arn| entry["arn"].as_str() != Some(arn))
        {
            continue;
        }
        for role in list_of(entry, "roles") {
            roles.push(json!({
                "cluster": entry["arn"],
                "cluster_name": entry["name"],
                "account": entry["account"],
                "region": entry["region"],
                "name": role["name"],
                "arn": role["arn"],
                "mapped_arn": role["mapped_arn"],
                "usable": role["usable"],
                "problems": role.get("problems").cloned().unwrap_or_else(|| json!([])),
            }));
        }
    }
    if let (Some(arn), true) = (&selected_arn, roles.is_empty()) {
        let known = list_of(&document, "clusters")
            .iter()
            .any(|entry| entry["arn"].as_str() == Some(arn.as_str()));
        if !known {
            return Err(CliError::Other(format!(
                "cluster {arn} is not in the catalog. Run 'eksgate clusters' to list the \
                 clusters you can request"
            )));
        }
    }

    if client.output == OutputFormat::Json {
        print_json(&json!({ "roles": roles }));
        return Ok(());
    }
    if roles.is_empty() {
        print("No roles are in the catalog.\n");
        return Ok(());
    }
    let mut table = Table::new(&["CLUSTER", "ACCOUNT", "REGION", "ROLE", "USABLE", "ROLE ARN"]);
    for role in &roles {
        table.row(vec![
            cell(&role["cluster_name"]),
            cell(&role["account"]),
            cell(&role["region"]),
            cell(&role["name"]),
            cell(&role["usable"]),
            cell(&role["arn"]),
        ]);
    }
    print(&table.render());
    Ok(())
}

/// Returns the list at `key`, or an empty one.
pub fn list_of<'a>(document: &'a Value, key: &str) -> &'a [Value] {
    document[key]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}
