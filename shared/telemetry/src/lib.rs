//! Logging set-up and CloudWatch metrics shared by the eksgate functions.
//!
//! Logs are JSON lines when running in Lambda (or when `EKSGATE_LOG_FORMAT=json`) and readable
//! text elsewhere. Metrics are written as CloudWatch Embedded Metric Format (EMF) lines on
//! standard output, which CloudWatch Logs turns into metrics without any API call.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tracing_subscriber::EnvFilter;

/// Installs the global tracing subscriber. Call once, at the start of `main`.
///
/// The level comes from `RUST_LOG`, else from Lambda's `AWS_LAMBDA_LOG_LEVEL`, else `info`.
pub fn init_tracing() {
    let lambda_level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            lambda_level
                .as_deref()
                .unwrap_or("info")
                .to_ascii_lowercase(),
        )
    });
    let json = std::env::var("EKSGATE_LOG_FORMAT")
        .is_ok_and(|format| format.eq_ignore_ascii_case("json"))
        || std::env::var("AWS_LAMBDA_LOG_FORMAT")
            .is_ok_and(|format| format.eq_ignore_ascii_case("json"))
        || std::env::var_os("AWS_LAMBDA_FUNCTION_NAME")
            .is_some_and(|_| std::env::var_os("EKSGATE_LOG_FORMAT").is_none());

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(true)
            .init();
    } else {
        builder.with_ansi(false).compact().init();
    }
}

/// The unit of a metric value, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Builds one EMF line: metric values under `namespace`, with the given dimensions.
pub fn emf_line(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, Unit)],
) -> String {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or_default();
    let dimension_names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();

    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimension_names],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        line.insert((*name).into(), Value::from(*value));
    }
    for (name, value, _) in metrics {
        line.insert((*name).into(), Value::from(*value));
    }
    Value::Object(line).to_string()
}

/// Writes one EMF line to standard output, where the Lambda runtime forwards it to CloudWatch.
pub fn emit_metrics(namespace: &str, dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)]) {
    let line = emf_line(namespace, dimensions, metrics);
    let mut stdout = std::io::stdout().lock();
    // A metrics line that cannot be written is not worth failing the invocation for.
    let _ = writeln!(stdout, "{line}");
}

/// Formats an error with its sources, so a log line shows the underlying cause, such as the AWS
/// error code. A source whose text the message already contains is left out.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Layer>>,
    }

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.text)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source
                .as_deref()
                .map(|layer| layer as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn error_chain_skips_repeated_sources() {
        let error = Layer {
            text: "reading cluster c failed",
            source: Some(Box::new(Layer {
                text: "eks:DescribeCluster failed: AccessDeniedException: denied",
                source: Some(Box::new(Layer {
                    text: "AccessDeniedException: denied",
                    source: None,
                })),
            })),
        };
        assert_eq!(
            error_chain(&error),
            "reading cluster c failed: eks:DescribeCluster failed: AccessDeniedException: denied"
        );
    }

    #[test]
    fn emf_line_shape() {
        let line = emf_line(
            "eksgate",
            &[("Function", "importer")],
            &[
                ("ClustersSeen", 12.0, Unit::Count),
                ("Duration", 340.0, Unit::Milliseconds),
            ],
        );
        let value: Value = serde_json::from_str(&line).unwrap();
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "eksgate");
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "ClustersSeen", "Unit": "Count"})
        );
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "Duration", "Unit": "Milliseconds"})
        );
        assert_eq!(value["Function"], "importer");
        assert_eq!(value["ClustersSeen"], 12.0);
        assert_eq!(value["Duration"], 340.0);
        assert!(value["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    }
}
