//! Observing EKS clusters and turning observations into catalog state.
//!
//! The importer and the tag-change handler share this crate, so both apply the same rules: a
//! cluster is in the catalog exactly when DescribeCluster shows it with the namespace tag, and
//! every write goes through [`eksgate_catalog::Catalog::reconcile`].

mod calls;
mod clients;
mod error;
mod observe;

pub use calls::{CallCounter, CallCounts};
pub use clients::{AwsScopeClients, Scope, ScopeClients, parse_member_role_arn};
pub use error::{AwsError, ScopeError};
pub use observe::{ClusterArn, describe_cluster, desired_state, list_cluster_names, now_millis};
