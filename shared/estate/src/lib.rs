//! Observing EKS clusters and turning observations into catalog state.
//!
//! The importer and the tag-change handler share this crate, so both apply the same rules. A
//! cluster is in the catalog exactly when DescribeCluster shows it with the namespace tag and not
//! in status `DELETING`. Every write goes through [`eksgate_catalog::Catalog::reconcile`].

mod calls;
mod clients;
mod error;
mod observe;

pub use calls::{CallCounter, CallCounts};
pub use clients::{
    AwsScopeClients, Scope, ScopeClients, caller_account, parse_member_role_arn,
    parse_member_role_arns,
};
pub use error::{AwsError, ScopeError};
pub use observe::{ClusterArn, describe_cluster, desired_state, list_cluster_names, now_millis};
