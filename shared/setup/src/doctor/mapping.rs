//! The Kubernetes mapping of a role: an EKS access entry with an access policy, or an aws-auth
//! `mapRoles` entry, which only Kubernetes access can read.

use aws_sdk_iam::error::DisplayErrorContext;

use super::{AuthMode, CatalogRole, DoctorInput, error_code, is_access_denied};
use crate::arn::ClusterArn;
use crate::aws_auth::MapRole;
use crate::commands::{access_entry_commands, associate_access_policy_command};
use crate::report::{Check, CheckKind, Status};
use crate::role::AccessLevel;
use crate::shell;

/// An upper bound on ListAccessEntries and ListAssociatedAccessPolicies pages, so that a
/// misbehaving endpoint that repeats a token cannot loop forever. At the default page size of
/// 100 it allows 100,000 entries.
const MAX_PAGES: usize = 1000;

/// Lists the principal ARNs of the cluster's access entries, or the reason it failed.
pub(super) async fn list_access_entries(
    eks: &aws_sdk_eks::Client,
    cluster: &ClusterArn,
) -> Result<Vec<String>, String> {
    let mut principals = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let output = eks
            .list_access_entries()
            .cluster_name(cluster.name())
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|error| {
                if is_access_denied(&error) {
                    "the caller is not allowed to call eks:ListAccessEntries (access denied)"
                        .to_string()
                } else {
                    format!("ListAccessEntries failed: {}", DisplayErrorContext(&error))
                }
            })?;
        principals.extend(output.access_entries().iter().cloned());
        match output.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(principals),
        }
    }
    Err(format!(
        "ListAccessEntries returned more than {MAX_PAGES} pages"
    ))
}

/// Checks how the role is mapped into Kubernetes, given the cluster's authentication mode and,
/// for modes with access entries, the listed entries.
pub(super) async fn check_mapping(
    eks: &aws_sdk_eks::Client,
    cluster: &ClusterArn,
    role: &CatalogRole,
    auth_mode: &AuthMode,
    entries: Option<&Result<Vec<String>, String>>,
    input: &DoctorInput,
) -> Check {
    let level = role.level.unwrap_or(AccessLevel::ReadOnly);
    let config_map_fix = aws_auth_fix(role, level, input);
    let config_map_only = match auth_mode {
        AuthMode::ConfigMap => Some(
            "the cluster maps roles only in the aws-auth ConfigMap (authentication mode \
             CONFIG_MAP), which cannot be checked without Kubernetes access",
        ),
        AuthMode::Unknown => Some(
            "the authentication mode is unknown, so the mapping was not checked, and aws-auth \
             cannot be checked without Kubernetes access",
        ),
        AuthMode::Api { .. } => None,
    };
    if let Some(message) = config_map_only {
        return Check::new(CheckKind::KubernetesMapping, Status::Unchecked, message)
            .with_fix(config_map_fix);
    }
    let AuthMode::Api { config_map } = *auth_mode else {
        unreachable!("the other modes returned above");
    };

    let principals = match entries {
        Some(Ok(principals)) => principals,
        Some(Err(reason)) => {
            return Check::new(
                CheckKind::KubernetesMapping,
                Status::Unchecked,
                format!("access entries could not be listed: {reason}"),
            )
            .with_fix(format!(
                "# with credentials that allow it:\n{}",
                shell::command(&[
                    "aws",
                    "eks",
                    "list-access-entries",
                    "--region",
                    cluster.region(),
                    "--cluster-name",
                    cluster.name(),
                ])
            ));
        }
        None => {
            return Check::new(
                CheckKind::KubernetesMapping,
                Status::Unchecked,
                "access entries were not listed",
            );
        }
    };

    if principals.contains(&role.assume_arn) {
        return check_access_entry(eks, cluster, role).await;
    }

    let create = access_entry_commands(cluster, &role.assume_arn, level, None);
    let create = annotate_level(role, create);
    if role.mapped_arn != role.assume_arn && principals.contains(&role.mapped_arn) {
        let delete = shell::command(&[
            "aws",
            "eks",
            "delete-access-entry",
            "--region",
            cluster.region(),
            "--cluster-name",
            cluster.name(),
            "--principal-arn",
            &role.mapped_arn,
        ]);
        return Check::new(
            CheckKind::KubernetesMapping,
            Status::Problem,
            format!(
                "the access entry names {} without the role's IAM path, but access entries need \
                 the ARN with path, {}",
                role.mapped_arn, role.assume_arn
            ),
        )
        .with_fix(format!("{delete}\n{create}"));
    }
    if config_map {
        return Check::new(
            CheckKind::KubernetesMapping,
            Status::Warning,
            "the role has no access entry, and aws-auth, which may map it instead, cannot be \
             checked without Kubernetes access",
        )
        .with_fix(format!(
            "# either create an access entry:\n{create}\n# or make sure aws-auth mapRoles has \
             this entry:\n{config_map_fix}"
        ));
    }
    Check::new(
        CheckKind::KubernetesMapping,
        Status::Problem,
        "the role has no access entry, and the cluster's authentication mode API ignores \
         aws-auth",
    )
    .with_fix(create)
}

/// Checks an existing access entry: its type and its access policies.
async fn check_access_entry(
    eks: &aws_sdk_eks::Client,
    cluster: &ClusterArn,
    role: &CatalogRole,
) -> Check {
    let level = role.level.unwrap_or(AccessLevel::ReadOnly);
    let describe = eks
        .describe_access_entry()
        .cluster_name(cluster.name())
        .principal_arn(&role.assume_arn)
        .send()
        .await;
    let entry = match describe {
        Ok(output) => output.access_entry().cloned(),
        Err(error) => {
            let not_found = error_code(&error) == Some("ResourceNotFoundException");
            let message = if not_found {
                "the access entry was listed but is not found now".to_string()
            } else {
                format!(
                    "DescribeAccessEntry failed: {}",
                    if is_access_denied(&error) {
                        "access denied".to_string()
                    } else {
                        DisplayErrorContext(&error).to_string()
                    }
                )
            };
            return Check::new(
                CheckKind::KubernetesMapping,
                if not_found {
                    Status::Problem
                } else {
                    Status::Unchecked
                },
                message,
            )
            .with_fix(annotate_level(
                role,
                access_entry_commands(cluster, &role.assume_arn, level, None),
            ));
        }
    };
    let entry_type = entry
        .as_ref()
        .and_then(|entry| entry.r#type())
        .unwrap_or("STANDARD")
        .to_string();
    let groups: Vec<String> = entry
        .as_ref()
        .map(|entry| entry.kubernetes_groups().to_vec())
        .unwrap_or_default();
    let username = entry
        .as_ref()
        .and_then(|entry| entry.username())
        .map(str::to_string);
    if entry_type != "STANDARD" {
        return Check::new(
            CheckKind::KubernetesMapping,
            Status::Problem,
            format!(
                "the access entry has type {entry_type}, which is for nodes; user roles need \
                 type STANDARD"
            ),
        );
    }

    let policies = match list_associated_policies(eks, cluster, &role.assume_arn).await {
        Ok(policies) => policies,
        Err(reason) => {
            return Check::new(
                CheckKind::KubernetesMapping,
                Status::Unchecked,
                format!(
                    "the access entry exists, but its access policies could not be listed: {reason}"
                ),
            )
            .with_fix(shell::command(&[
                "aws",
                "eks",
                "list-associated-access-policies",
                "--region",
                cluster.region(),
                "--cluster-name",
                cluster.name(),
                "--principal-arn",
                &role.assume_arn,
            ]));
        }
    };
    let mut details: Vec<String> = policies
        .iter()
        .map(|(arn, scope)| format!("access policy {arn} ({scope})"))
        .collect();
    if let Some(username) = &username {
        details.push(format!("Kubernetes username {username}"));
    }
    if !groups.is_empty() {
        details.push(format!("Kubernetes groups {}", groups.join(", ")));
    }

    if policies.is_empty() {
        let associate = annotate_level(
            role,
            associate_access_policy_command(cluster, &role.assume_arn, level),
        );
        if groups.is_empty() {
            return Check::new(
                CheckKind::KubernetesMapping,
                Status::Problem,
                "the access entry has no access policy and no Kubernetes groups, so it grants \
                 nothing",
            )
            .with_details(details)
            .with_fix(associate);
        }
        return Check::new(
            CheckKind::KubernetesMapping,
            Status::Warning,
            "the access entry has no access policy; its Kubernetes groups grant only what RBAC \
             bindings give them, which cannot be checked without Kubernetes access",
        )
        .with_details(details)
        .with_fix(associate);
    }

    if let Some(expected) = role.level {
        let expected_arn = expected.access_policy_arn(cluster.partition());
        if !policies.iter().any(|(arn, _)| *arn == expected_arn) {
            return Check::new(
                CheckKind::KubernetesMapping,
                Status::Warning,
                format!(
                    "the access entry has access policies, but not {} of the {expected} level",
                    expected.access_policy_name()
                ),
            )
            .with_details(details)
            .with_fix(associate_access_policy_command(
                cluster,
                &role.assume_arn,
                expected,
            ));
        }
    }
    Check::new(
        CheckKind::KubernetesMapping,
        Status::Ok,
        "the role has an access entry with an access policy",
    )
    .with_details(details)
}

/// Lists the access policies of an entry as (policy ARN, scope description) pairs.
async fn list_associated_policies(
    eks: &aws_sdk_eks::Client,
    cluster: &ClusterArn,
    principal_arn: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut policies = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let output = eks
            .list_associated_access_policies()
            .cluster_name(cluster.name())
            .principal_arn(principal_arn)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|error| {
                if is_access_denied(&error) {
                    "access denied".to_string()
                } else {
                    DisplayErrorContext(&error).to_string()
                }
            })?;
        for policy in output.associated_access_policies() {
            let scope = match policy.access_scope() {
                Some(scope) if !scope.namespaces().is_empty() => {
                    format!("namespaces {}", scope.namespaces().join(", "))
                }
                Some(scope) => scope
                    .r#type()
                    .map_or("cluster".to_string(), |kind| kind.as_str().to_string()),
                None => "cluster".to_string(),
            };
            policies.push((policy.policy_arn().unwrap_or_default().to_string(), scope));
        }
        match output.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_string()),
            _ => return Ok(policies),
        }
    }
    Err(format!(
        "ListAssociatedAccessPolicies returned more than {MAX_PAGES} pages"
    ))
}

/// Builds the aws-auth fix: the `mapRoles` entry to merge into the ConfigMap.
fn aws_auth_fix(role: &CatalogRole, level: AccessLevel, input: &DoctorInput) -> String {
    let entry = MapRole::new(
        &role.mapped_arn,
        &input.username_prefix,
        input.session_name_template,
        level.default_groups(),
    );
    let yaml = match entry {
        Ok(entry) => entry.to_yaml(),
        Err(error) => return format!("# the mapRoles entry cannot be built: {error}"),
    };
    let mut fix = String::from(
        "# merge this entry into data.mapRoles of the aws-auth ConfigMap in kube-system\n\
         # (read it with: kubectl get configmap aws-auth -n kube-system -o yaml):\n",
    );
    if role.level.is_none() {
        fix.push_str("# the groups are the read-only level's; an admin role uses system:masters\n");
    }
    if level == AccessLevel::ReadOnly {
        fix.push_str(
            "# the group eksgate:view needs a ClusterRoleBinding to the view ClusterRole\n",
        );
    }
    fix.push_str(&yaml);
    fix
}

/// Adds a comment to access-entry commands when the role's level is unknown and the commands
/// therefore use the read-only policy.
fn annotate_level(role: &CatalogRole, commands: String) -> String {
    if role.level.is_some() {
        return commands;
    }
    format!(
        "# the role's level is unknown, so this uses AmazonEKSViewPolicy; an admin role uses \
         AmazonEKSClusterAdminPolicy\n{commands}"
    )
}
