//! The errors of the `eksgate` command. Each message names what failed and what to do next.

use std::path::PathBuf;
use std::time::Duration;

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Invalid command-line arguments. The process exits with status 2.
    #[error("{0}\nRun 'eksgate help' for the list of commands and options.")]
    Usage(String),

    /// Missing or invalid settings in the configuration file or the environment.
    #[error("{0}")]
    Config(String),

    /// The session API returned an error status.
    #[error("{}", api_message(.0))]
    Api(ApiFailure),

    /// The session API could not be reached.
    #[error(
        "could not reach the eksgate API at {url}: {reason}. Check the API URL (api_url in the \
         configuration file, EKSGATE_API_URL or --api-url) and your network connection"
    )]
    Network { url: String, reason: String },

    /// The session API took longer than the timeout.
    #[error(
        "the eksgate API at {url} did not respond within {} s. Try again, or raise the limit \
         with --timeout or timeout_seconds in the configuration file",
        .timeout.as_secs()
    )]
    Timeout { url: String, timeout: Duration },

    /// The session API returned something that is not the documented response.
    #[error(
        "the eksgate API at {url} returned an unexpected response: {reason}. Check that the API \
         URL points at the eksgate session API"
    )]
    Protocol { url: String, reason: String },

    /// A local file could not be read or written.
    #[error("{action} {} failed: {source}", .path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Any other failure, with a complete message.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// Returns the process exit status for this error.
    pub fn exit_status(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            _ => 1,
        }
    }

    pub fn file(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::File {
            action,
            path: path.into(),
            source,
        }
    }
}

/// An error response of the session API: `{"error": {"code", "message", "request_id"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    pub method: &'static str,
    /// The request path, without the query.
    pub path: String,
    pub status: u16,
    /// The API's error code, such as `forbidden`; empty when the body had none.
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

fn api_message(failure: &ApiFailure) -> String {
    let mut text = format!(
        "{} {} failed with HTTP {}",
        failure.method, failure.path, failure.status
    );
    if !failure.code.is_empty() {
        text.push_str(&format!(" ({})", failure.code));
    }
    text.push_str(": ");
    text.push_str(&failure.message);
    if let Some(id) = &failure.request_id {
        text.push_str(&format!(" [request ID {id}]"));
    }
    if let Some(hint) = next_step(failure.status) {
        text.push('\n');
        text.push_str(hint);
    }
    text
}

/// Returns what to do after an error status, for the statuses whose API message does not say it.
fn next_step(status: u16) -> Option<&'static str> {
    match status {
        401 => Some(
            "Your identity token is missing, invalid or expired: sign in to your identity \
             provider again, and check token_command in the configuration file or EKSGATE_TOKEN \
             and EKSGATE_TOKEN_COMMAND.",
        ),
        404 => Some(
            "Check the ID or name: 'eksgate clusters', 'eksgate requests' and 'eksgate grants' \
             list what you can see.",
        ),
        413 => Some("Shorten the request body, such as the reason, and try again."),
        429 | 500..=599 => Some(
            "Try again in a few seconds. If it keeps failing, give the request ID to the team \
             that runs eksgate.",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, request_id: Option<&str>) -> ApiFailure {
        ApiFailure {
            method: "POST",
            path: "/sessions".into(),
            status,
            code: "forbidden".into(),
            message: "you have no active grant".into(),
            request_id: request_id.map(str::to_string),
        }
    }

    #[test]
    fn api_error_names_request_and_status() {
        let text = CliError::Api(failure(403, Some("r-1"))).to_string();
        assert_eq!(
            text,
            "POST /sessions failed with HTTP 403 (forbidden): you have no active grant [request ID r-1]"
        );
    }

    #[test]
    fn api_error_adds_next_step() {
        let text = CliError::Api(failure(401, None)).to_string();
        assert!(text.contains("sign in to your identity provider"), "{text}");
        let text = CliError::Api(failure(503, None)).to_string();
        assert!(text.contains("Try again in a few seconds"), "{text}");
    }

    #[test]
    fn usage_errors_exit_with_two() {
        assert_eq!(CliError::Usage("x".into()).exit_status(), 2);
        assert_eq!(CliError::Other("x".into()).exit_status(), 1);
    }
}
