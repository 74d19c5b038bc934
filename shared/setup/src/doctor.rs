//! The setup check ("doctor") of one cluster: reads IAM and EKS and reports, for each role the
//! catalog lists, what stops a session from working, each problem with its fix.

mod mapping;
mod role;

use std::error::Error;
use std::fmt::Debug;

use aws_sdk_eks::types::AuthenticationMode;
use aws_sdk_iam::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use eksgate_tags::DeclaredRole;
use serde::{Deserialize, Serialize};

use crate::SetupError;
use crate::arn::ClusterArn;
use crate::aws_auth::SessionNameTemplate;
use crate::commands::check_issuer_for;
use crate::issuer::Issuer;
use crate::report::{Check, CheckKind, DoctorReport, RoleReport, Status};
use crate::role::AccessLevel;
use crate::shell;

/// A role of the cluster as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogRole {
    pub name: String,
    /// The role ARN with its path, which the issuer assumes and access entries name.
    pub assume_arn: String,
    /// The role ARN without path, which aws-auth `mapRoles` names.
    pub mapped_arn: String,
    /// The intended access level, when known. It selects the expected access policy and the
    /// aws-auth groups in fixes; without it the fixes use the read-only level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<AccessLevel>,
}

impl From<&DeclaredRole> for CatalogRole {
    fn from(role: &DeclaredRole) -> Self {
        Self {
            name: role.name.clone(),
            assume_arn: role.assume_arn.clone(),
            mapped_arn: role.mapped_arn.clone(),
            level: None,
        }
    }
}

/// The input of the setup check, besides the clients.
#[derive(Debug, Clone)]
pub struct DoctorInput {
    pub cluster_arn: String,
    pub roles: Vec<CatalogRole>,
    pub issuer: Issuer,
    /// The username prefix of aws-auth entries in fixes, such as `eksgate`.
    pub username_prefix: String,
    pub session_name_template: SessionNameTemplate,
}

impl DoctorInput {
    /// Builds an input with the username prefix `eksgate` and `{{SessionName}}` usernames.
    pub fn new(cluster_arn: &str, roles: Vec<CatalogRole>, issuer: Issuer) -> Self {
        Self {
            cluster_arn: cluster_arn.to_string(),
            roles,
            issuer,
            username_prefix: "eksgate".to_string(),
            session_name_template: SessionNameTemplate::SessionName,
        }
    }
}

/// The cluster's authentication mode, as far as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthMode {
    /// Only aws-auth maps IAM principals (`CONFIG_MAP`).
    ConfigMap,
    /// Access entries, and aws-auth too when `config_map` is set.
    Api { config_map: bool },
    /// DescribeCluster failed or returned no authentication mode.
    Unknown,
}

impl AuthMode {
    fn from_sdk(mode: Option<&AuthenticationMode>) -> Self {
        match mode {
            Some(AuthenticationMode::ConfigMap) => Self::ConfigMap,
            Some(AuthenticationMode::ApiAndConfigMap) => Self::Api { config_map: true },
            Some(AuthenticationMode::Api) => Self::Api { config_map: false },
            _ => Self::Unknown,
        }
    }
}

/// Checks the setup of one cluster with IAM and EKS clients for the cluster's account and
/// region.
///
/// Only invalid input is an error. Failed AWS calls become checks with status
/// [`Status::Unchecked`] (or [`Status::Problem`] when the failure is the finding, such as a
/// missing role), each with the command to check or fix by hand. The caller needs
/// `eks:DescribeCluster`, `eks:ListAccessEntries`, `eks:DescribeAccessEntry`,
/// `eks:ListAssociatedAccessPolicies`, `iam:GetRole`, `iam:SimulatePrincipalPolicy` and, in
/// web-identity mode, `iam:GetOpenIDConnectProvider`.
pub async fn check_cluster(
    iam: &aws_sdk_iam::Client,
    eks: &aws_sdk_eks::Client,
    input: &DoctorInput,
) -> Result<DoctorReport, SetupError> {
    let cluster = ClusterArn::parse(&input.cluster_arn)?;
    let mut checks = vec![check_issuer(iam, &cluster, &input.issuer).await];
    let (cluster_check, auth_mode, auth_mode_name) =
        check_cluster_access_config(eks, &cluster).await;
    checks.push(cluster_check);

    let entries = match auth_mode {
        AuthMode::Api { .. } => Some(mapping::list_access_entries(eks, &cluster).await),
        _ => None,
    };
    let mut roles = Vec::new();
    for role in &input.roles {
        let mut role_checks = role::check_iam_role(iam, &cluster, &input.issuer, role).await;
        role_checks.push(
            mapping::check_mapping(eks, &cluster, role, &auth_mode, entries.as_ref(), input).await,
        );
        roles.push(RoleReport {
            name: role.name.clone(),
            assume_arn: role.assume_arn.clone(),
            mapped_arn: role.mapped_arn.clone(),
            checks: role_checks,
        });
    }
    Ok(DoctorReport::new(
        cluster.to_string(),
        input.issuer.mode(),
        auth_mode_name,
        checks,
        roles,
    ))
}

/// Reads the cluster's authentication mode with DescribeCluster.
async fn check_cluster_access_config(
    eks: &aws_sdk_eks::Client,
    cluster: &ClusterArn,
) -> (Check, AuthMode, Option<String>) {
    let result = eks.describe_cluster().name(cluster.name()).send().await;
    let described = match result {
        Ok(output) => output,
        Err(error) => {
            let check = match error_code(&error) {
                Some("ResourceNotFoundException") => Check::new(
                    CheckKind::Cluster,
                    Status::Problem,
                    format!(
                        "cluster {} not found in {} of account {}",
                        cluster.name(),
                        cluster.region(),
                        cluster.account()
                    ),
                )
                .with_fix(
                    "Check the cluster ARN, and run the check with credentials for the \
                     cluster's account and region.",
                ),
                _ => unchecked_after_error(
                    CheckKind::Cluster,
                    "DescribeCluster failed, so the Kubernetes mappings were not checked",
                    &error,
                    &shell::command(&[
                        "aws",
                        "eks",
                        "describe-cluster",
                        "--region",
                        cluster.region(),
                        "--name",
                        cluster.name(),
                        "--query",
                        "cluster.accessConfig",
                    ]),
                ),
            };
            return (check, AuthMode::Unknown, None);
        }
    };
    let mode = described
        .cluster()
        .and_then(|c| c.access_config())
        .and_then(|access| access.authentication_mode());
    let name = mode.map(|mode| mode.as_str().to_string());
    let auth_mode = AuthMode::from_sdk(mode);
    let check = match &auth_mode {
        AuthMode::Unknown => Check::new(
            CheckKind::Cluster,
            Status::Warning,
            "DescribeCluster returned no authentication mode",
        )
        .with_details(vec![
            "clusters created before access entries existed use CONFIG_MAP (aws-auth only) \
             until the mode is changed"
                .into(),
        ]),
        AuthMode::ConfigMap => Check::new(
            CheckKind::Cluster,
            Status::Ok,
            "authentication mode CONFIG_MAP: roles are mapped in the aws-auth ConfigMap",
        ),
        AuthMode::Api { config_map } => Check::new(
            CheckKind::Cluster,
            Status::Ok,
            if *config_map {
                "authentication mode API_AND_CONFIG_MAP: roles are mapped by access entries or \
                 in aws-auth"
            } else {
                "authentication mode API: roles are mapped by access entries"
            },
        ),
    };
    (check, auth_mode, name)
}

/// Checks the issuer identity as far as the cluster's account shows it.
async fn check_issuer(iam: &aws_sdk_iam::Client, cluster: &ClusterArn, issuer: &Issuer) -> Check {
    if let Err(error) = check_issuer_for(cluster, issuer) {
        return Check::new(CheckKind::Issuer, Status::Problem, error.to_string());
    }
    match issuer {
        Issuer::Broker { role_arn, .. } => check_broker_issuer(iam, cluster, role_arn).await,
        Issuer::WebIdentity { provider, audience } => {
            let result = iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(provider.arn())
                .send()
                .await;
            let create = shell::command(&[
                "aws",
                "iam",
                "create-open-id-connect-provider",
                "--url",
                &format!("https://{}", provider.issuer()),
                "--client-id-list",
                audience,
            ]);
            match result {
                Ok(output) => {
                    if output.client_id_list().iter().any(|id| id == audience) {
                        Check::new(
                            CheckKind::Issuer,
                            Status::Ok,
                            format!(
                                "OIDC provider {} exists and accepts the client ID {audience}",
                                provider.arn()
                            ),
                        )
                    } else {
                        Check::new(
                            CheckKind::Issuer,
                            Status::Problem,
                            format!(
                                "OIDC provider {} does not list the client ID {audience}, so \
                                 STS rejects the users' tokens",
                                provider.arn()
                            ),
                        )
                        .with_details(vec![format!(
                            "the provider's client IDs: {}",
                            output.client_id_list().join(", ")
                        )])
                        .with_fix(shell::command(&[
                            "aws",
                            "iam",
                            "add-client-id-to-open-id-connect-provider",
                            "--open-id-connect-provider-arn",
                            provider.arn(),
                            "--client-id",
                            audience,
                        ]))
                    }
                }
                Err(error) if error_code(&error) == Some("NoSuchEntity") => Check::new(
                    CheckKind::Issuer,
                    Status::Problem,
                    format!("OIDC provider {} does not exist", provider.arn()),
                )
                .with_fix(create),
                Err(error) => unchecked_after_error(
                    CheckKind::Issuer,
                    "the OIDC provider could not be read",
                    &error,
                    &shell::command(&[
                        "aws",
                        "iam",
                        "get-open-id-connect-provider",
                        "--open-id-connect-provider-arn",
                        provider.arn(),
                    ]),
                ),
            }
        }
    }
}

async fn check_broker_issuer(
    iam: &aws_sdk_iam::Client,
    cluster: &ClusterArn,
    role_arn: &str,
) -> Check {
    let account = role_arn.split(':').nth(4).unwrap_or_default();
    let name = role_arn.rsplit('/').next().unwrap_or_default();
    let get_role = shell::command(&["aws", "iam", "get-role", "--role-name", name]);
    if account != cluster.account() {
        return Check::new(
            CheckKind::Issuer,
            Status::Unchecked,
            format!(
                "the issuer role is in account {account}, and this check reads only the \
                 cluster's account {}",
                cluster.account()
            ),
        )
        .with_fix(format!(
            "# with credentials for account {account}:\n{get_role}"
        ));
    }
    match iam.get_role().role_name(name).send().await {
        Ok(output) => {
            let actual = output.role().map(|role| role.arn()).unwrap_or_default();
            if actual == role_arn {
                Check::new(
                    CheckKind::Issuer,
                    Status::Ok,
                    format!("issuer role {role_arn} exists"),
                )
            } else {
                Check::new(
                    CheckKind::Issuer,
                    Status::Problem,
                    format!(
                        "the issuer role is {actual}, not {role_arn}: use the stack output \
                         SessionIssuerRoleArn as the issuer"
                    ),
                )
            }
        }
        Err(error) if error_code(&error) == Some("NoSuchEntity") => Check::new(
            CheckKind::Issuer,
            Status::Problem,
            format!(
                "issuer role {role_arn} does not exist: use the stack output SessionIssuerRoleArn \
                 of the deployed eksgate stack"
            ),
        ),
        Err(error) => unchecked_after_error(
            CheckKind::Issuer,
            "the issuer role could not be read",
            &error,
            &get_role,
        ),
    }
}

/// Returns the service error code of a failed call, such as `NoSuchEntity`.
pub(crate) fn error_code<E, R>(error: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
}

/// Tells whether a failed call was refused for lack of permission.
pub(crate) fn is_access_denied<E, R>(error: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(
        error_code(error),
        Some("AccessDenied" | "AccessDeniedException")
    )
}

/// Builds an unchecked result for a failed call, with the error and the command to run with
/// other credentials.
pub(crate) fn unchecked_after_error<E, R>(
    kind: CheckKind,
    message: &str,
    error: &SdkError<E, R>,
    command: &str,
) -> Check
where
    E: ProvideErrorMetadata + Error + 'static,
    R: Debug,
{
    let reason = if is_access_denied(error) {
        "the caller is not allowed to make this call (access denied)".to_string()
    } else {
        DisplayErrorContext(error).to_string()
    };
    Check::new(kind, Status::Unchecked, format!("{message}: {reason}"))
        .with_fix(format!("# with credentials that allow it:\n{command}"))
}
