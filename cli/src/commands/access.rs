//! The access workflow: requests, decisions, grants, sessions and the audit trail.

use serde_json::{Value, json};

use super::{Client, note_truncated};
use crate::api::{encode_component, list, sanitize};
use crate::args::OutputFormat;
use crate::cache::{CacheKey, CredentialCache};
use crate::cluster::{self, name_of};
use crate::error::CliError;
use crate::output::{Table, cell, details, print, print_json, text_cell};
use crate::time::format_duration;

pub async fn request(
    client: &Client,
    cluster: &str,
    role: &str,
    duration: Option<&str>,
    reason: &str,
) -> Result<(), CliError> {
    let cluster = cluster::resolve(&client.api, cluster).await?;
    let mut body = json!({
        "cluster": cluster.arn,
        "role": role.trim(),
        "reason": reason,
    });
    if let Some(duration) = duration {
        let duration = duration.trim();
        body["duration"] = match duration.parse::<u64>() {
            Ok(seconds) => json!(seconds),
            Err(_) => json!(duration),
        };
    }
    let document = client.api.post("/requests", &body).await?;
    report_request(client, &document, "Requested");
    Ok(())
}

/// The decisions on a request or grant that take a request ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
    Cancel,
    End,
    Revoke,
}

impl Decision {
    fn path(self, id: &str) -> String {
        let id = encode_component(id.trim());
        match self {
            Self::Approve => format!("/requests/{id}/approve"),
            Self::Deny => format!("/requests/{id}/deny"),
            Self::Cancel => format!("/requests/{id}/cancel"),
            Self::End => format!("/grants/{id}/end"),
            Self::Revoke => format!("/grants/{id}/revoke"),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Approve => "Approved",
            Self::Deny => "Denied",
            Self::Cancel => "Cancelled",
            Self::End => "Ended",
            Self::Revoke => "Revoked",
        }
    }
}

pub async fn decide(
    client: &Client,
    decision: Decision,
    id: &str,
    reason: Option<&str>,
) -> Result<(), CliError> {
    let body = match reason {
        Some(reason) => json!({ "reason": reason }),
        None => json!({}),
    };
    let document = client.api.post(&decision.path(id), &body).await?;
    if decision == Decision::End {
        forget_credentials(client, &document["request"]);
    }
    report_request(client, &document, decision.verb());
    Ok(())
}

/// Removes the cached credentials of an ended grant. They stay valid at AWS until they
/// expire, but nothing on this machine uses them any more.
fn forget_credentials(client: &Client, request: &Value) {
    let (Some(cluster), Some(role)) = (request["cluster"].as_str(), request["role"].as_str())
    else {
        return;
    };
    let key = CacheKey {
        api_url: client.api.base().to_string(),
        identity: client.identity.clone(),
        cluster: cluster.to_string(),
        role: role.to_string(),
    };
    let removed = CredentialCache::open_default().and_then(|cache| cache.remove(&key));
    if let Err(error) = removed {
        eprintln!("eksgate: warning: {error}");
    }
}

/// Prints a request after a change: the API's JSON, or a headline, its details and the next
/// step.
fn report_request(client: &Client, document: &Value, verb: &str) {
    if client.output == OutputFormat::Json {
        print_json(document);
        return;
    }

    let request = &document["request"];
    let id = cell(&request["id"]);
    let state = cell(&request["state"]);
    let role = cell(&request["role"]);
    let mut text = format!(
        "{verb} request {id}: {role} on {} for {}, now {state}.\n",
        cell(&request["cluster_name"]),
        cell(&request["requester"])
    );

    let pending_until = if state == "pending" {
        cell(&request["pending_until"])
    } else {
        "-".into()
    };
    text.push_str(&details(&[
        ("cluster", cell(&request["cluster"])),
        ("role", cell(&request["role_arn"])),
        ("duration", duration_text(request)),
        ("reason", cell(&request["reason"])),
        ("created", cell(&request["created_at"])),
        ("pending until", pending_until),
        ("starts", cell(&request["starts_at"])),
        ("ends", cell(&request["ends_at"])),
        ("decision", decision_text(&request["decision"], request)),
        ("closed", decision_text(&request["closed"], request)),
    ]));

    let cluster_arg = shell_word(&cell(&request["cluster"]));
    let role_arg = shell_word(&role);
    match state.as_str() {
        "pending" => text.push_str(&format!(
            "An approver can approve it with: eksgate approve {id}\n"
        )),
        "active" => text.push_str(&format!(
            "Connect with: eksgate connect --cluster {cluster_arg} --role {role_arg}\n"
        )),
        _ => {}
    }
    print(&sanitize_lines(&text));
}

/// Formats a request's `duration_seconds`, such as `2h`.
fn duration_text(request: &Value) -> String {
    request["duration_seconds"]
        .as_i64()
        .map(format_duration)
        .unwrap_or_else(|| "-".into())
}

fn decision_text(decision: &Value, request: &Value) -> String {
    if !decision.is_object() {
        return "-".into();
    }
    let mut text = format!("by {} at {}", cell(&decision["by"]), cell(&decision["at"]));
    if request["auto_approved"].as_bool() == Some(true) && decision == &request["decision"] {
        text.push_str(" (auto-approved)");
    }
    if let Some(reason) = decision["reason"]
        .as_str()
        .filter(|reason| !reason.is_empty())
    {
        text.push_str(&format!(": {reason}"));
    }
    text
}

/// Quotes a value for a command line that the user can copy.
pub fn shell_word(text: &str) -> String {
    shlex::try_quote(text)
        .map(|quoted| quoted.into_owned())
        .unwrap_or_else(|_| format!("'{}'", text.replace('\'', "")))
}

/// Replaces control characters other than newlines.
fn sanitize_lines(text: &str) -> String {
    text.split('\n')
        .map(sanitize)
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn requests(client: &Client, pending: bool, limit: usize) -> Result<(), CliError> {
    let scope = if pending { "pending" } else { "mine" };
    let (items, more) = list(
        &client.api,
        "/requests",
        "requests",
        &[("scope", Some(scope))],
        limit,
    )
    .await?;
    if client.output == OutputFormat::Json {
        print_json(&json!({ "requests": items }));
        note_truncated(more, limit);
        return Ok(());
    }

    if items.is_empty() {
        print(if pending {
            "No requests are pending.\n"
        } else {
            "You have no requests.\n"
        });
        return Ok(());
    }

    let mut headers = vec!["ID", "STATE"];
    if pending {
        headers.push("REQUESTER");
    }
    headers.extend(["CLUSTER", "ROLE", "DURATION", "CREATED", "UNTIL", "REASON"]);
    let mut table = Table::new(&headers);
    for request in &items {
        let state = cell(&request["state"]);
        let until = match state.as_str() {
            "pending" => cell(&request["pending_until"]),
            _ => cell(&request["ends_at"]),
        };
        let mut row = vec![cell(&request["id"]), state];
        if pending {
            row.push(cell(&request["requester"]));
        }
        row.extend([
            cell(&request["cluster_name"]),
            cell(&request["role"]),
            duration_text(request),
            cell(&request["created_at"]),
            until,
            text_cell(&request["reason"]),
        ]);
        table.row(row);
    }
    print(&table.render());
    note_truncated(more, limit);
    Ok(())
}

pub async fn grants(client: &Client, all: bool, limit: usize) -> Result<(), CliError> {
    let scope = if all { "all" } else { "mine" };
    let (items, more) = list(
        &client.api,
        "/grants",
        "grants",
        &[("scope", Some(scope))],
        limit,
    )
    .await?;
    if client.output == OutputFormat::Json {
        print_json(&json!({ "grants": items }));
        note_truncated(more, limit);
        return Ok(());
    }
    if items.is_empty() {
        print(if all {
            "No grants are active.\n"
        } else {
            "You have no active grants. Request one with: eksgate request --cluster <cluster> \
             --role <role> --reason <text>\n"
        });
        return Ok(());
    }
    let mut table = Table::new(&["ID", "USER", "CLUSTER", "ROLE", "STARTS", "ENDS", "REASON"]);
    for grant in &items {
        table.row(vec![
            cell(&grant["id"]),
            cell(&grant["requester"]),
            cell(&grant["cluster_name"]),
            cell(&grant["role"]),
            cell(&grant["starts_at"]),
            cell(&grant["ends_at"]),
            text_cell(&grant["reason"]),
        ]);
    }
    print(&table.render());
    note_truncated(more, limit);
    Ok(())
}

pub async fn sessions(client: &Client, all: bool, limit: usize) -> Result<(), CliError> {
    let scope = if all { "all" } else { "mine" };
    let (items, more) = list(
        &client.api,
        "/sessions",
        "sessions",
        &[("scope", Some(scope))],
        limit,
    )
    .await?;
    if client.output == OutputFormat::Json {
        print_json(&json!({ "sessions": items }));
        note_truncated(more, limit);
        return Ok(());
    }
    if items.is_empty() {
        print("No sessions.\n");
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID",
        "USER",
        "CLUSTER",
        "ROLE",
        "SESSION NAME",
        "ISSUED",
        "EXPIRES",
        "SOURCE IP",
    ]);
    for session in &items {
        let role = session["role_arn"]
            .as_str()
            .and_then(|arn| arn.rsplit('/').next())
            .unwrap_or("-");
        table.row(vec![
            cell(&session["id"]),
            cell(&session["user"]),
            name_of(&cell(&session["cluster"])).to_string(),
            role.to_string(),
            cell(&session["session_name"]),
            cell(&session["issued_at"]),
            cell(&session["expires_at"]),
            cell(&session["source_ip"]),
        ]);
    }
    print(&table.render());
    note_truncated(more, limit);
    Ok(())
}

pub async fn audit(
    client: &Client,
    date: Option<&str>,
    user: Option<&str>,
    limit: usize,
) -> Result<(), CliError> {
    if date.is_some() && user.is_some() {
        return Err(CliError::Usage(
            "give either --date or --user, not both".into(),
        ));
    }
    let (items, more) = list(
        &client.api,
        "/audit",
        "audit",
        &[("date", date), ("user", user)],
        limit,
    )
    .await?;
    if client.output == OutputFormat::Json {
        print_json(&json!({ "audit": items }));
        note_truncated(more, limit);
        return Ok(());
    }
    if items.is_empty() {
        print("No audit records.\n");
        return Ok(());
    }
    let mut table = Table::new(&[
        "AT", "ACTOR", "ACTION", "OUTCOME", "CLUSTER", "ROLE", "TARGET", "REASON",
    ]);
    for record in &items {
        table.row(vec![
            cell(&record["at"]),
            cell(&record["actor"]),
            cell(&record["action"]),
            cell(&record["outcome"]),
            name_of(&cell(&record["cluster"])).to_string(),
            cell(&record["role"]),
            cell(&record["target"]),
            text_cell(&record["reason"]),
        ]);
    }
    print(&table.render());
    note_truncated(more, limit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_paths_encode_ids() {
        assert_eq!(Decision::Approve.path("abc"), "/requests/abc/approve");
        assert_eq!(Decision::Revoke.path("a/b"), "/grants/a%2Fb/revoke");
        assert_eq!(Decision::End.path(" x "), "/grants/x/end");
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(shell_word("ClusterAdmin"), "ClusterAdmin");
        assert_eq!(shell_word("a b"), "'a b'");
    }

    #[test]
    fn decisions_read_as_text() {
        let request = json!({
            "auto_approved": true,
            "decision": {"by": "eksgate", "at": "2025-11-30T13:30:00Z", "reason": "read-only"},
        });
        assert_eq!(
            decision_text(&request["decision"], &request),
            "by eksgate at 2025-11-30T13:30:00Z (auto-approved): read-only"
        );
        assert_eq!(decision_text(&Value::Null, &request), "-");
    }
}
