use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde::Serialize;
use tracing::warn;

/// Counts of AWS requests, keyed by `Service.Operation`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallCounts {
    /// HTTP attempts per operation, retries included.
    pub attempts: BTreeMap<String, u64>,
    /// Attempts after the first, per operation.
    pub retries: BTreeMap<String, u64>,
}

impl CallCounts {
    pub fn total_attempts(&self) -> u64 {
        self.attempts.values().sum()
    }

    pub fn total_retries(&self) -> u64 {
        self.retries.values().sum()
    }
}

/// An SDK interceptor that counts every request attempt and logs each retry.
///
/// Add one to each client's configuration with `.interceptor(counter.clone())`; clones share
/// their counts.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<CallCounts>>,
}

impl CallCounter {
    /// Returns the counts so far and resets them.
    pub fn take(&self) -> CallCounts {
        std::mem::take(&mut *self.counts.lock().expect("call counter lock"))
    }

    /// Returns the counts so far.
    pub fn snapshot(&self) -> CallCounts {
        self.counts.lock().expect("call counter lock").clone()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "eksgate::CallCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = match cfg.load::<Metadata>() {
            Some(metadata) => format!("{}.{}", metadata.service(), metadata.name()),
            None => "unknown".to_string(),
        };
        let attempt = cfg
            .load::<RequestAttempts>()
            .map(RequestAttempts::attempts)
            .unwrap_or(1);
        if attempt > 1 {
            warn!(operation = %operation, attempt, "retrying AWS request");
        }

        let mut counts = self.counts.lock().expect("call counter lock");
        *counts.attempts.entry(operation.clone()).or_default() += 1;
        if attempt > 1 {
            *counts.retries.entry(operation).or_default() += 1;
        }
        Ok(())
    }
}
