//! Fetching a JWKS document over HTTPS.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use http::{StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::AuthError;

/// Time allowed for one JWKS fetch: connecting, TLS, the request and reading the body.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Maximum size of a JWKS document, from a URL or a file.
pub const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Hosts that may serve a JWKS over plain `http://`, for local runs and tests.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

/// HTTPS client for one JWKS URL.
pub(crate) struct JwksFetcher {
    uri: Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl JwksFetcher {
    /// Checks the URL and builds the client. Sends nothing.
    ///
    /// The URL must use `https://`, except that `http://` is allowed for the loopback hosts
    /// 127.0.0.1, localhost and [::1]. The client trusts the operating system's root
    /// certificates, does not follow redirects, and keeps no idle connection between fetches
    /// because a Lambda execution environment may stay frozen for a long time between them.
    pub(crate) fn new(url: &str) -> Result<Self, AuthError> {
        let uri = validate_url(url)?;
        let tls = tls_config(&uri)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Self { uri, client })
    }

    pub(crate) fn url(&self) -> String {
        self.uri.to_string()
    }

    /// Fetches the JWKS document with a GET request.
    ///
    /// # Errors
    ///
    /// [`AuthError::KeysUnavailable`] when the request fails, times out after
    /// [`JWKS_FETCH_TIMEOUT`], returns a status other than 200, or has a body larger than
    /// [`MAX_JWKS_BYTES`].
    pub(crate) async fn fetch(&self) -> Result<Bytes, AuthError> {
        match tokio::time::timeout(JWKS_FETCH_TIMEOUT, self.fetch_without_timeout()).await {
            Ok(result) => result.map_err(|reason| {
                AuthError::KeysUnavailable(format!(
                    "fetching the JWKS from {} failed: {reason}",
                    self.uri
                ))
            }),
            Err(_) => Err(AuthError::KeysUnavailable(format!(
                "fetching the JWKS from {} timed out after {} s",
                self.uri,
                JWKS_FETCH_TIMEOUT.as_secs()
            ))),
        }
    }

    async fn fetch_without_timeout(&self) -> Result<Bytes, String> {
        let request = http::Request::get(self.uri.clone())
            .header(header::ACCEPT, "application/json, application/jwk-set+json")
            .header(
                header::USER_AGENT,
                concat!("eksgate-auth/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|error| error.to_string())?;

        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| error_chain(&error))?;
        if response.status() != StatusCode::OK {
            return Err(format!("the server returned HTTP {}", response.status()));
        }

        let declared_length = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared_length.is_some_and(|length| length > MAX_JWKS_BYTES as u64) {
            return Err(too_large());
        }

        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    too_large()
                } else {
                    format!("reading the body failed: {}", error_chain(error.as_ref()))
                }
            })?;
        Ok(body.to_bytes())
    }
}

fn too_large() -> String {
    format!("the body is larger than {MAX_JWKS_BYTES} bytes")
}

fn validate_url(url: &str) -> Result<Uri, AuthError> {
    let invalid = |reason: &str| AuthError::InvalidConfig(format!("JWKS URL `{url}` {reason}"));

    let uri: Uri = url.parse().map_err(|_| invalid("is not a valid URL"))?;
    let Some(authority) = uri.authority() else {
        return Err(invalid("has no host"));
    };
    if authority.as_str().contains('@') {
        return Err(invalid("must not contain user credentials"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if LOOPBACK_HOSTS.contains(&authority.host()) => Ok(uri),
        Some("http") => Err(invalid(
            "must use https:// (http:// is allowed only for 127.0.0.1, localhost and [::1])",
        )),
        _ => Err(invalid("must use https://")),
    }
}

/// Builds the TLS configuration with aws-lc-rs and the operating system's root certificates.
///
/// A plain-http loopback URL needs no roots, so a machine without a CA bundle can still
/// fetch from one.
fn tls_config(uri: &Uri) -> Result<rustls::ClientConfig, AuthError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| AuthError::InvalidConfig(format!("TLS setup failed: {error}")))?;

    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        tracing::warn!(%error, "failed to load a root certificate from the system store");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (_, ignored) = roots.add_parsable_certificates(loaded.certs);
    if ignored > 0 {
        tracing::warn!(ignored, "ignored unparsable system root certificates");
    }
    if roots.is_empty() && uri.scheme_str() == Some("https") {
        return Err(AuthError::InvalidConfig(
            "no root certificates found in the system store, so the JWKS URL cannot be \
             fetched over https:// (install the ca-certificates package)"
                .to_owned(),
        ));
    }

    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// Formats an error with its sources, because hyper's top-level messages
/// (such as "client error (Connect)") hide the cause.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_url_schemes_and_hosts() {
        // Nothing here connects, so the public host name is safe to use.
        let accepted = [
            "https://idp.example.com/oauth2/default/v1/keys",
            "http://127.0.0.1:8080/keys",
            "http://localhost/keys",
            "http://[::1]:8080/keys",
        ];
        let rejected = [
            "http://idp.example.com/keys",
            "http://127.0.0.2/keys",
            "http://[::2]/keys",
            "https://user:secret@idp.example.com/keys",
            "file:///etc/jwks.json",
            "https:///keys",
        ];

        for url in accepted {
            assert!(validate_url(url).is_ok(), "{url}");
        }
        for url in rejected {
            let error = validate_url(url).unwrap_err();
            assert_eq!(error.http_status(), 500, "{url}");
        }
    }
}
