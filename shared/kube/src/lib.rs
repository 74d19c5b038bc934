//! EKS bearer tokens, kubeconfig files and exec credentials.
//!
//! - [`token`] presigns the STS `GetCallerIdentity` URL that the EKS API server accepts as a
//!   bearer token.
//! - [`kubeconfig`] writes a kubeconfig for one cluster, standalone or merged into an existing
//!   file.
//! - [`exec`] produces the `ExecCredential` that a kubectl exec plugin prints and parses the
//!   `KUBERNETES_EXEC_INFO` that kubectl passes to it.

pub mod exec;
pub mod kubeconfig;
pub mod token;

pub use exec::{ExecApiVersion, ExecCredential, ExecInfo, ExecInfoError, parse_exec_info};
pub use kubeconfig::{ClusterKubeconfig, ExecEnvVar, ExecPlugin, KubeconfigError, UserCredential};
pub use token::{EksToken, SigningCredentials, TokenError, eks_token, sts_host};
