//! Drives the session issuer with HTTP API events, as API Gateway would deliver them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use eksgate_session_issuer::{App, Config};
use serde_json::{Value, json};

use crate::aws::local_config;

/// A caller: the claims that the API Gateway JWT authorizer would pass for their token.
#[derive(Debug, Clone)]
pub struct User {
    pub email: String,
    /// Groups in the API Gateway rendering of a JSON array: `[a b]`.
    pub groups: String,
}

impl User {
    pub fn new(email: &str, groups: &[&str]) -> Self {
        Self {
            email: email.to_string(),
            groups: format!("[{}]", groups.join(" ")),
        }
    }

    /// Returns the authorizer claims of the user's token, all strings as API Gateway passes them.
    pub fn claims(&self) -> Value {
        json!({
            "sub": format!("sub-{}", self.email),
            "email": self.email,
            "groups": self.groups,
            "iss": "https://idp.example.com/oauth2/default",
            "aud": "eksgate",
            "exp": "4102444800",
            "iat": "1764508400",
        })
    }
}

/// Builds an HTTP API payload 2.0 event in the shape of the sample event. `claims` of `None`
/// gives an event without an authorizer, as a Lambda Function URL delivers.
pub fn http_event(
    method: &str,
    path_and_query: &str,
    claims: Option<Value>,
    body: Option<&Value>,
) -> Value {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.test-token.signature",
            "content-type": "application/json",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "eksgate-tests"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "eksgate-tests"
            },
            "requestId": request_id(),
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "timeEpoch": 1764509400000i64
        },
        "isBase64Encoded": false
    });
    if let Some(claims) = claims {
        event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    if let Some(body) = body {
        event["body"] = Value::String(body.to_string());
    }
    event
}

/// Returns a request ID that differs between calls, as API Gateway's do.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    format!("req-{nanos:09}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Reads the status and the parsed JSON body of a response event.
pub fn response_parts(response: &Value) -> (u16, Value) {
    let status = response["statusCode"].as_u64().expect("statusCode") as u16;
    let body = response["body"].as_str().expect("body is a string");
    (status, serde_json::from_str(body).expect("body is JSON"))
}

/// Builds the session issuer against moto, with the given settings over test defaults.
pub async fn local_session_issuer(endpoint: &str, table: &str, settings: &[(&str, &str)]) -> App {
    let mut values: HashMap<String, String> = HashMap::from([
        ("EKSGATE_TABLE_NAME".to_string(), table.to_string()),
        (
            "EKSGATE_APPROVER_GROUPS".to_string(),
            "platform".to_string(),
        ),
    ]);
    for (name, value) in settings {
        values.insert(name.to_string(), value.to_string());
    }
    let config = Config::from_lookup(|name| values.get(name).cloned()).expect("valid settings");
    App::new(config, &local_config(endpoint, "eu-west-1"))
        .await
        .expect("session issuer starts")
}
