//! API Gateway HTTP API (payload format 2.0) requests and responses, read leniently from JSON
//! so that no event shape can crash the function.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};

/// Largest request body the API accepts, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The parts of an HTTP API event that the routes use.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    /// The request path, without the stage prefix.
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names in lower case.
    pub headers: Value,
    pub body: Option<Vec<u8>>,
    /// The verified JWT claims from the API Gateway authorizer, if any.
    pub authorizer_claims: Option<Value>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl ApiRequest {
    /// Reads a request from an event. Errors are responses: the event is not one the API sends.
    pub fn from_event(event: &Value) -> Result<Self, ApiError> {
        let context = &event["requestContext"];
        let method = context["http"]["method"]
            .as_str()
            .or_else(|| event["httpMethod"].as_str())
            .ok_or_else(|| ApiError::bad_request("the event has no HTTP method"))?
            .to_ascii_uppercase();
        let raw_path = event["rawPath"]
            .as_str()
            .or_else(|| context["http"]["path"].as_str())
            .unwrap_or("/");
        let stage = context["stage"].as_str().unwrap_or("$default");
        let path = strip_stage(raw_path, stage);

        let mut query = BTreeMap::new();
        if let Some(raw) = event["rawQueryString"].as_str() {
            for pair in raw.split('&').filter(|pair| !pair.is_empty()) {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                query.insert(percent_decode(name), percent_decode(value));
            }
        } else if let Some(params) = event["queryStringParameters"].as_object() {
            for (name, value) in params {
                if let Some(value) = value.as_str() {
                    query.insert(name.clone(), value.to_string());
                }
            }
        }

        let mut headers = serde_json::Map::new();
        if let Some(map) = event["headers"].as_object() {
            for (name, value) in map {
                headers.insert(name.to_ascii_lowercase(), value.clone());
            }
        }

        let body = match event["body"].as_str() {
            None => None,
            Some(text) => {
                let bytes = if event["isBase64Encoded"].as_bool() == Some(true) {
                    STANDARD
                        .decode(text)
                        .map_err(|_| ApiError::bad_request("the body is not valid base64"))?
                } else {
                    text.as_bytes().to_vec()
                };
                if bytes.len() > MAX_BODY_BYTES {
                    return Err(ApiError::new(
                        413,
                        "payload_too_large",
                        format!(
                            "the body has {} bytes; the limit is {MAX_BODY_BYTES}",
                            bytes.len()
                        ),
                    ));
                }
                Some(bytes)
            }
        };

        let claims = &context["authorizer"]["jwt"]["claims"];
        Ok(Self {
            method,
            path,
            query,
            authorizer_claims: claims.is_object().then(|| claims.clone()),
            source_ip: context["http"]["sourceIp"].as_str().map(str::to_string),
            user_agent: context["http"]["userAgent"]
                .as_str()
                .or_else(|| headers.get("user-agent").and_then(Value::as_str))
                .map(|agent| agent.chars().take(256).collect()),
            request_id: context["requestId"].as_str().map(str::to_string),
            headers: Value::Object(headers),
            body,
        })
    }

    /// Parses the JSON body into `T`, with a 400 that names the problem.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body = self.body.as_deref().unwrap_or(b"{}");
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}".as_slice()
        } else {
            body
        };
        serde_json::from_slice(body)
            .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))
    }

    /// Returns a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

fn strip_stage(path: &str, stage: &str) -> String {
    if stage == "$default" {
        return path.to_string();
    }
    match path.strip_prefix(&format!("/{stage}")) {
        Some("") => "/".into(),
        Some(rest) if rest.starts_with('/') => rest.into(),
        _ => path.to_string(),
    }
}

/// Decodes `%XX` escapes and `+` in a query component. Invalid escapes stay as written.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%' {
            let hex = text
                .get(index + 1..index + 3)
                .and_then(|digits| u8::from_str_radix(digits, 16).ok());
            if let Some(value) = hex {
                out.push(value);
                index += 3;
                continue;
            }
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An error response: status, a stable code and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }

    /// Returns the 500 error for a failure of eksgate or of AWS, whose message carries no internal error text.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "eksgate could not complete the request; try again, and report the request ID if it keeps failing",
        )
    }

    /// Returns the 503 error for a dependency that is throttling or unavailable for a moment.
    pub fn unavailable() -> Self {
        Self::new(
            503,
            "unavailable",
            "a backing AWS service is busy or unavailable; try again in a few seconds",
        )
    }
}

/// A response with a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    pub fn json(status: u16, body: impl Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_value(body).unwrap_or(Value::Null),
            headers: Vec::new(),
        }
    }

    pub fn ok(body: impl Serialize) -> Self {
        Self::json(200, body)
    }

    pub fn error(error: &ApiError, request_id: Option<&str>) -> Self {
        let mut body = json!({"error": {"code": error.code, "message": error.message}});
        if let Some(id) = request_id {
            body["error"]["request_id"] = Value::String(id.to_string());
        }
        Self::json(error.status, body)
    }

    /// Converts the response to the payload format 2.0 shape that API Gateway expects.
    pub fn into_event(self) -> Value {
        let mut headers = serde_json::Map::new();
        headers.insert("content-type".into(), "application/json".into());
        // Responses may carry credentials: no cache may keep them.
        headers.insert("cache-control".into(), "no-store".into());
        headers.insert("x-content-type-options".into(), "nosniff".into());
        for (name, value) in self.headers {
            headers.insert(name.into(), Value::String(value));
        }
        json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.body.to_string(),
            "isBase64Encoded": false,
            // API Gateway treats a missing `cookies` as empty, but cargo-lambda 1.9's Function URL
            // emulation rejects a response without it (HTTP 500), so it is always sent.
            "cookies": [],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(body: &str) -> Value {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/events/http-api-connect.json"
        ))
        .expect("fixture");
        let mut event: Value = serde_json::from_str(&text).expect("json");
        event["body"] = Value::String(body.into());
        event
    }

    #[test]
    fn reads_the_sample_event() {
        let request = ApiRequest::from_event(&event("{}")).expect("valid");
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/sessions");
        assert_eq!(request.source_ip.as_deref(), Some("203.0.113.10"));
        assert_eq!(request.user_agent.as_deref(), Some("curl/8.5.0"));
        assert_eq!(request.request_id.as_deref(), Some("Kx1abcDEFgh="));
        let claims = request.authorizer_claims.expect("claims");
        assert_eq!(claims["email"], "dev.one@example.com");
    }

    #[test]
    fn decodes_query_and_base64_body() {
        let mut event = event("");
        event["rawQueryString"] = "scope=all&limit=5&cursor=a%2Bb%3D&flag".into();
        event["body"] = STANDARD.encode(b"{\"a\":1}").into();
        event["isBase64Encoded"] = true.into();
        let request = ApiRequest::from_event(&event).expect("valid");
        assert_eq!(request.query("scope"), Some("all"));
        assert_eq!(request.query("limit"), Some("5"));
        assert_eq!(request.query("cursor"), Some("a+b="));
        assert_eq!(request.query("flag"), Some(""));
        assert_eq!(request.body.as_deref(), Some(b"{\"a\":1}".as_slice()));
    }

    #[test]
    fn rejects_oversized_and_undecodable_bodies() {
        let large = "x".repeat(MAX_BODY_BYTES + 1);
        let error = ApiRequest::from_event(&event(&large)).expect_err("too large");
        assert_eq!(error.status, 413);
        let mut bad = event("!!!");
        bad["isBase64Encoded"] = true.into();
        let error = ApiRequest::from_event(&bad).expect_err("bad base64");
        assert_eq!(error.status, 400);
    }

    #[test]
    fn survives_events_of_any_shape() {
        for event in [
            json!(null),
            json!([]),
            json!("text"),
            json!({"requestContext": 5}),
        ] {
            let error = ApiRequest::from_event(&event).expect_err("no method");
            assert_eq!(error.status, 400);
        }
    }

    #[test]
    fn strips_a_named_stage() {
        assert_eq!(strip_stage("/prod/sessions", "prod"), "/sessions");
        assert_eq!(strip_stage("/prod", "prod"), "/");
        assert_eq!(strip_stage("/production/x", "prod"), "/production/x");
        assert_eq!(strip_stage("/sessions", "$default"), "/sessions");
    }

    #[test]
    fn error_responses_are_json() {
        let response = ApiResponse::error(&ApiError::not_found("cluster x not found"), Some("r1"))
            .into_event();
        assert_eq!(response["statusCode"], 404);
        let body: Value =
            serde_json::from_str(response["body"].as_str().expect("body")).expect("json");
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], "cluster x not found");
        assert_eq!(response["headers"]["cache-control"], "no-store");
    }
}
