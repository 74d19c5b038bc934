//! The HTTP client of the session API.
//!
//! It speaks HTTP/1.1 over TLS (rustls with aws-lc-rs, trusting the operating system's root
//! certificates), or plain HTTP to a loopback address for local runs. Every call has a time
//! limit, the response body has a size limit, and redirects are not followed.
//!
//! NOTE: the client connects directly. It ignores HTTPS_PROXY and NO_PROXY, so it cannot reach
//! an API that is only reachable through a proxy.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::config::Secret;
use crate::error::{ApiFailure, CliError};

/// Maximum size of a response body. The largest documented response is a page of 200 items.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Time limit for opening the TCP connection, within the limit of the whole call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Hosts that may be reached over plain `http://`.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// The base URL of the session API, such as `https://abc123.execute-api.eu-west-1.amazonaws.com`
/// or one with a stage path. Stored without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl(String);

impl ApiUrl {
    /// Checks a base URL: `https://`, or `http://` to 127.0.0.1, localhost or [::1]; no user
    /// name, query or fragment.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let uri: Uri = text
            .parse()
            .map_err(|_| format!("{text:?} is not a valid URL"))?;
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{text:?} has no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!("{text:?} must not contain a user name or password"));
        }
        if uri.query().is_some() || text.contains('#') {
            return Err(format!("{text:?} must not have a query or fragment"));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if LOOPBACK_HOSTS.contains(&authority.host()) => {}
            Some("http") => {
                return Err(format!(
                    "{text:?} uses http://, which would send your identity token unencrypted: \
                     use https:// (http:// is allowed only for 127.0.0.1, localhost and [::1])"
                ));
            }
            _ => return Err(format!("{text:?} must start with https://")),
        }
        Ok(Self(text.trim_end_matches('/').to_string()))
    }

    fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// Joins the base URL and a path that starts with `/`.
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.0)
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client of one session API, authenticated with one identity token.
pub struct ApiClient {
    base: ApiUrl,
    token: Secret,
    timeout: Duration,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl ApiClient {
    /// Builds the client. Sends nothing.
    pub fn new(base: ApiUrl, token: Secret, timeout: Duration) -> Result<Self, CliError> {
        let tls = tls_config(base.is_https())?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT.min(timeout)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            base,
            token,
            timeout,
            client,
        })
    }

    pub fn base(&self) -> &ApiUrl {
        &self.base
    }

    /// Sends a GET request and returns the JSON body of a successful response.
    pub async fn get(&self, path_and_query: &str) -> Result<Value, CliError> {
        self.send(Method::GET, path_and_query, None).await
    }

    /// Sends a POST request with a JSON body and returns the JSON body of a successful response.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, CliError> {
        self.send(Method::POST, path, Some(body.to_string().into_bytes()))
            .await
    }

    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, CliError> {
        let url = self.base.join(path_and_query);
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(path, _)| path)
            .to_string();
        let method_name = if method == Method::POST {
            "POST"
        } else {
            "GET"
        };
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("eksgate-cli/", env!("CARGO_PKG_VERSION")),
            )
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", self.token.expose()),
            );
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|error| CliError::Protocol {
                url: url.clone(),
                reason: format!("the request could not be built: {error}"),
            })?;

        let exchange = async {
            let response =
                self.client
                    .request(request)
                    .await
                    .map_err(|error| CliError::Network {
                        url: url.clone(),
                        reason: error_chain(&error),
                    })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|error| {
                    if error.is::<http_body_util::LengthLimitError>() {
                        CliError::Protocol {
                            url: url.clone(),
                            reason: format!("the body is larger than {MAX_RESPONSE_BYTES} bytes"),
                        }
                    } else {
                        CliError::Network {
                            url: url.clone(),
                            reason: format!(
                                "reading the response failed: {}",
                                error_chain(error.as_ref())
                            ),
                        }
                    }
                })?
                .to_bytes();
            Ok::<_, CliError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| CliError::Timeout {
                url: url.clone(),
                timeout: self.timeout,
            })??;

        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|_| CliError::Protocol {
                url,
                reason: format!("HTTP {status} with a body that is not JSON"),
            });
        }
        Err(CliError::Api(failure_from_response(
            method_name,
            path,
            status,
            &body,
        )))
    }
}

/// Reads an error response: the API's `{"error": {...}}`, API Gateway's `{"message": ...}`, or
/// anything else.
fn failure_from_response(
    method: &'static str,
    path: String,
    status: StatusCode,
    body: &[u8],
) -> ApiFailure {
    let document: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let error = &document["error"];
    let text = |value: &Value| value.as_str().map(sanitize);
    let message = text(&error["message"])
        .or_else(|| text(&document["message"]))
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no error message")
                .to_string()
        });
    ApiFailure {
        method,
        path,
        status: status.as_u16(),
        code: text(&error["code"]).unwrap_or_default(),
        message,
        request_id: text(&error["request_id"]),
    }
}

/// Replaces control characters, so that text from the server cannot move the terminal's
/// cursor or change its colours.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|ch| if ch.is_control() { ' ' } else { ch })
        .collect()
}

/// Builds the TLS configuration with aws-lc-rs and the operating system's root certificates.
/// A plain-http loopback URL needs no roots.
fn tls_config(https: bool) -> Result<rustls::ClientConfig, CliError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| CliError::Other(format!("TLS setup failed: {error}")))?;
    let mut roots = rustls::RootCertStore::empty();
    if https {
        let loaded = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(loaded.certs);
        if roots.is_empty() {
            return Err(CliError::Config(
                "no root certificates found in the system store, so the eksgate API cannot be \
                 reached over https:// (install the ca-certificates package, or set \
                 SSL_CERT_FILE)"
                    .into(),
            ));
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Formats an error with its sources, because hyper's top-level messages (such as "client error
/// (Connect)") hide the cause.
fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Percent-encodes a path segment or query value: every byte except the RFC 3986 unreserved
/// characters.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Builds a query string such as `?scope=all&limit=50` from the pairs that have a value.
pub fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(name, value)| {
            value.map(|value| format!("{name}={}", encode_component(value)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Fetches the pages of a list route until `limit` items are collected. Returns the items and
/// whether more exist.
pub async fn list(
    api: &ApiClient,
    path: &str,
    key: &str,
    pairs: &[(&str, Option<&str>)],
    limit: usize,
) -> Result<(Vec<Value>, bool), CliError> {
    /// The API's maximum page size.
    const MAX_PAGE: usize = 200;
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_size = (limit - items.len()).min(MAX_PAGE).to_string();
        let mut all_pairs = pairs.to_vec();
        all_pairs.push(("limit", Some(&page_size)));
        all_pairs.push(("cursor", cursor.as_deref()));
        let document = api.get(&format!("{path}{}", query(&all_pairs))).await?;
        let page = document[key].as_array().ok_or_else(|| CliError::Protocol {
            url: api.base().join(path),
            reason: format!("the response has no {key:?} list"),
        })?;
        items.extend(page.iter().cloned());
        let next = document["next"]
            .as_str()
            .filter(|next| !next.is_empty())
            .map(str::to_string);
        match next {
            None => return Ok((items, false)),
            Some(_) if items.len() >= limit => return Ok((items, true)),
            Some(next) if page.is_empty() && cursor.as_deref() == Some(next.as_str()) => {
                return Err(CliError::Protocol {
                    url: api.base().join(path),
                    reason: "the API returned the same cursor twice".into(),
                });
            }
            Some(next) => cursor = Some(next),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_schemes_and_hosts() {
        // Nothing here connects, so public host names are safe to use.
        let accepted = [
            (
                "https://abc123.execute-api.eu-west-1.amazonaws.com/",
                "https://abc123.execute-api.eu-west-1.amazonaws.com",
            ),
            (
                "https://api.example.com/prod",
                "https://api.example.com/prod",
            ),
            (
                "http://127.0.0.1:9000/lambda-url/session-issuer",
                "http://127.0.0.1:9000/lambda-url/session-issuer",
            ),
            ("http://localhost:9000", "http://localhost:9000"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ];
        for (text, expected) in accepted {
            let url = ApiUrl::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
            assert_eq!(url.to_string(), expected);
        }
        let rejected = [
            ("http://api.example.com", "unencrypted"),
            ("http://127.0.0.2:9000", "unencrypted"),
            ("https://user:pass@api.example.com", "user name"),
            ("https://api.example.com/?a=b", "query"),
            ("ftp://api.example.com", "https://"),
            ("api.example.com", "https://"),
            ("not a url", "not a valid URL"),
        ];
        for (text, reason) in rejected {
            let error = ApiUrl::parse(text).expect_err(text);
            assert!(error.contains(reason), "{text}: {error}");
        }
    }

    #[test]
    fn join_keeps_stage_path() {
        let url = ApiUrl::parse("https://api.example.com/prod/").expect("valid");
        assert_eq!(
            url.join("/clusters"),
            "https://api.example.com/prod/clusters"
        );
    }

    #[test]
    fn query_encodes_values() {
        assert_eq!(
            query(&[
                ("scope", Some("all")),
                ("cursor", Some("a+b/c=")),
                ("x", None)
            ]),
            "?scope=all&cursor=a%2Bb%2Fc%3D"
        );
        assert_eq!(query(&[("x", None)]), "");
        assert_eq!(
            encode_component("dev.one@example.com"),
            "dev.one%40example.com"
        );
    }

    #[test]
    fn error_bodies_of_each_shape() {
        let api =
            br#"{"error":{"code":"not_found","message":"request x not found","request_id":"r1"}}"#;
        let failure =
            failure_from_response("GET", "/requests/x".into(), StatusCode::NOT_FOUND, api);
        assert_eq!(failure.code, "not_found");
        assert_eq!(failure.message, "request x not found");
        assert_eq!(failure.request_id.as_deref(), Some("r1"));

        let gateway = br#"{"message":"Unauthorized"}"#;
        let failure =
            failure_from_response("GET", "/clusters".into(), StatusCode::UNAUTHORIZED, gateway);
        assert_eq!(failure.message, "Unauthorized");
        assert_eq!(failure.code, "");

        let html = b"<html>bad gateway</html>";
        let failure =
            failure_from_response("GET", "/clusters".into(), StatusCode::BAD_GATEWAY, html);
        assert_eq!(failure.message, "Bad Gateway");
    }

    #[test]
    fn sanitize_removes_terminal_controls() {
        assert_eq!(sanitize("ok\u{1b}[31mred\n"), "ok [31mred ");
    }
}
