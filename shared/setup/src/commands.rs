//! AWS CLI commands, CloudFormation and Terraform snippets for the setup steps.

use std::collections::BTreeMap;

use eksgate_tags::{Namespace, parse_roles};
use serde_yaml::{Mapping, Value as Yaml};

use crate::SetupError;
use crate::arn::ClusterArn;
use crate::doctor::CatalogRole;
use crate::issuer::Issuer;
use crate::policy::{DESCRIBE_POLICY_NAME, describe_cluster_policy, trust_policy};
use crate::role::{AccessLevel, AccessRole, MAX_SESSION_DURATION_SECS, MIN_SESSION_DURATION_SECS};
use crate::shell;

/// The CloudFormation template of an access role, relative to the repository root.
const ACCESS_ROLE_TEMPLATE: &str = "infra/setup/access-role.yaml";

/// The value of the marker tag. Some Terraform versions cannot set an empty tag value, so the
/// kit uses `x` everywhere.
const MARKER_VALUE: &str = "x";

/// Builds the `aws iam create-role` and `aws iam put-role-policy` commands that create an
/// access role with its trust policy and its `eks:DescribeCluster` policy.
pub fn create_role_commands(
    role: &AccessRole,
    issuer: &Issuer,
    max_session_duration_secs: u32,
) -> Result<String, SetupError> {
    check_issuer_for(role.cluster(), issuer)?;
    check_session_duration(max_session_duration_secs)?;
    Ok(create_role_commands_unchecked(
        role.cluster(),
        role.name(),
        role.path(),
        Some(role.level()),
        issuer,
        max_session_duration_secs,
    ))
}

pub(crate) fn create_role_commands_unchecked(
    cluster: &ClusterArn,
    name: &str,
    path: &str,
    level: Option<AccessLevel>,
    issuer: &Issuer,
    max_session_duration_secs: u32,
) -> String {
    let description = match level {
        Some(level) => format!("eksgate {level} access to {cluster}"),
        None => format!("eksgate access to {cluster}"),
    };
    let trust = trust_policy(issuer).to_string();
    let duration = max_session_duration_secs.to_string();
    let create = shell::command(&[
        "aws",
        "iam",
        "create-role",
        "--role-name",
        name,
        "--path",
        path,
        "--max-session-duration",
        &duration,
        "--description",
        &description,
        "--assume-role-policy-document",
        &trust,
    ]);
    format!(
        "{create}\n{}",
        put_describe_cluster_policy_command(name, cluster)
    )
}

/// Builds the `aws iam update-assume-role-policy` command that replaces a role's trust policy
/// with the one for `issuer`.
pub fn update_trust_policy_command(role_name: &str, issuer: &Issuer) -> String {
    shell::command(&[
        "aws",
        "iam",
        "update-assume-role-policy",
        "--role-name",
        role_name,
        "--policy-document",
        &trust_policy(issuer).to_string(),
    ])
}

/// Builds the `aws iam put-role-policy` command that adds the `eks:DescribeCluster` policy.
pub fn put_describe_cluster_policy_command(role_name: &str, cluster: &ClusterArn) -> String {
    shell::command(&[
        "aws",
        "iam",
        "put-role-policy",
        "--role-name",
        role_name,
        "--policy-name",
        DESCRIBE_POLICY_NAME,
        "--policy-document",
        &describe_cluster_policy(cluster).to_string(),
    ])
}

/// Builds the `aws iam simulate-principal-policy` command that checks whether a role may call
/// `eks:DescribeCluster` on the cluster. The caller needs `iam:SimulatePrincipalPolicy`.
pub fn simulate_describe_cluster_command(role_arn: &str, cluster: &ClusterArn) -> String {
    shell::command(&[
        "aws",
        "iam",
        "simulate-principal-policy",
        "--policy-source-arn",
        role_arn,
        "--action-names",
        "eks:DescribeCluster",
        "--resource-arns",
        &cluster.to_string(),
        "--query",
        "EvaluationResults[].[EvalActionName,EvalDecision]",
    ])
}

/// Builds the `aws cloudformation deploy` command that creates the role from
/// `infra/setup/access-role.yaml`, run from the repository root. With `create_access_entry`
/// the stack also creates the EKS access entry with the level's access policy.
pub fn cloudformation_deploy_command(
    role: &AccessRole,
    issuer: &Issuer,
    max_session_duration_secs: u32,
    create_access_entry: bool,
) -> Result<String, SetupError> {
    check_issuer_for(role.cluster(), issuer)?;
    check_session_duration(max_session_duration_secs)?;
    let mut parameters = vec![
        format!("Mode={}", issuer.mode()),
        format!("ClusterArn={}", role.cluster()),
        format!("AccessLevel={}", role.level()),
        format!("RoleName={}", role.name()),
        format!("RolePath={}", role.path()),
        format!("MaxSessionDuration={max_session_duration_secs}"),
        format!("CreateAccessEntry={create_access_entry}"),
    ];
    match issuer {
        Issuer::Broker {
            role_arn,
            source_identity_pattern,
        } => {
            parameters.push(format!("IssuerRoleArn={role_arn}"));
            if let Some(pattern) = source_identity_pattern {
                parameters.push(format!("SourceIdentityPattern={pattern}"));
            }
        }
        Issuer::WebIdentity { provider, audience } => {
            parameters.push(format!("OidcProviderArn={}", provider.arn()));
            parameters.push(format!("OidcAudience={audience}"));
        }
    }
    let stack_name = stack_name(role.name());
    let mut words = vec![
        "aws",
        "cloudformation",
        "deploy",
        "--region",
        role.cluster().region(),
        "--stack-name",
        &stack_name,
        "--template-file",
        ACCESS_ROLE_TEMPLATE,
        "--capabilities",
        "CAPABILITY_NAMED_IAM",
        "--parameter-overrides",
    ];
    words.extend(parameters.iter().map(String::as_str));
    Ok(shell::command(&words))
}

/// Builds a Terraform `module` block that creates the role with the module in
/// `infra/terraform/eksgate-access-role`, found at `source` from the caller's configuration.
pub fn terraform_module_block(
    role: &AccessRole,
    issuer: &Issuer,
    max_session_duration_secs: u32,
    create_access_entry: bool,
    source: &str,
) -> Result<String, SetupError> {
    check_issuer_for(role.cluster(), issuer)?;
    check_session_duration(max_session_duration_secs)?;
    let mut arguments: Vec<(&str, String)> = vec![
        ("mode", hcl_string(issuer.mode().as_str())),
        ("cluster_arn", hcl_string(&role.cluster().to_string())),
        ("access_level", hcl_string(role.level().as_str())),
        ("role_name", hcl_string(role.name())),
        ("role_path", hcl_string(role.path())),
    ];
    match issuer {
        Issuer::Broker {
            role_arn,
            source_identity_pattern,
        } => {
            arguments.push(("issuer_role_arn", hcl_string(role_arn)));
            if let Some(pattern) = source_identity_pattern {
                arguments.push(("source_identity_pattern", hcl_string(pattern)));
            }
        }
        Issuer::WebIdentity { provider, audience } => {
            arguments.push(("oidc_provider_arn", hcl_string(provider.arn())));
            arguments.push(("oidc_audience", hcl_string(audience)));
        }
    }
    arguments.push((
        "max_session_duration",
        max_session_duration_secs.to_string(),
    ));
    arguments.push(("create_access_entry", create_access_entry.to_string()));

    // Aligned on `=` as `terraform fmt` aligns consecutive arguments.
    let width = arguments.iter().map(|(name, _)| name.len()).max();
    let width = width.unwrap_or(0);
    let mut block = format!(
        "module \"{}\" {{\n  source = {}\n\n",
        terraform_name(role.name()),
        hcl_string(source)
    );
    for (name, value) in &arguments {
        block.push_str(&format!("  {name:<width$} = {value}\n"));
    }
    block.push_str("}\n");
    Ok(block)
}

/// Builds the `aws eks tag-resource` command that marks the cluster for import and declares
/// the roles, one tag per role with the key suffix of its level (`admin`, `view`, then `admin-2`
/// and so on for more roles of one level).
///
/// The tags are parsed back with the importer's rules, so a command is only returned when the
/// importer will read exactly these roles from it.
pub fn tag_resource_command(
    cluster: &ClusterArn,
    namespace: &Namespace,
    roles: &[&AccessRole],
) -> Result<String, SetupError> {
    let mut tags = BTreeMap::from([(namespace.marker().to_string(), MARKER_VALUE.to_string())]);
    for (index, role) in roles.iter().enumerate() {
        if roles[..index]
            .iter()
            .any(|earlier| earlier.arn() == role.arn())
        {
            return Err(SetupError::InvalidValue {
                field: "role",
                value: role.arn().to_string(),
                reason: "the role is listed twice; one tag per role is enough".into(),
            });
        }
        if role.cluster() != cluster {
            return Err(SetupError::InvalidValue {
                field: "role",
                value: role.arn().to_string(),
                reason: format!(
                    "the role was built for {}, not for {cluster}",
                    role.cluster()
                ),
            });
        }
        let base = format!("{}{}", namespace.role_prefix(), role.level().tag_suffix());
        let mut key = base.clone();
        let mut count = 1;
        while tags.contains_key(&key) {
            count += 1;
            key = format!("{base}-{count}");
        }
        tags.insert(key, role.tag_value());
    }

    let parsed = parse_roles(namespace, &tags, cluster.account(), cluster.partition());
    if let Some(problem) = parsed.problems.first() {
        return Err(SetupError::InvalidValue {
            field: "role tags",
            value: format!("{}={}", problem.tag_key, problem.value),
            reason: problem.reason.clone(),
        });
    }
    let mut declared: Vec<&str> = parsed
        .roles
        .iter()
        .map(|role| role.assume_arn.as_str())
        .collect();
    let mut expected: Vec<&str> = roles.iter().map(|role| role.arn()).collect();
    declared.sort_unstable();
    expected.sort_unstable();
    expected.dedup();
    if declared != expected {
        return Err(SetupError::InvalidValue {
            field: "role tags",
            value: expected.join(", "),
            reason: format!(
                "the importer would read the roles {} from these tags",
                declared.join(", ")
            ),
        });
    }

    let tags_json = serde_json::to_string(&tags).expect("a string map serializes");
    Ok(shell::command(&[
        "aws",
        "eks",
        "tag-resource",
        "--region",
        cluster.region(),
        "--resource-arn",
        &cluster.to_string(),
        "--tags",
        &tags_json,
    ]))
}

/// Builds the `aws eks update-cluster-config` command that switches a cluster from
/// `CONFIG_MAP` to `API_AND_CONFIG_MAP`, so that access entries take effect while aws-auth
/// keeps working. EKS does not allow switching back to `CONFIG_MAP`.
pub fn enable_access_entries_command(cluster: &ClusterArn) -> String {
    shell::command(&[
        "aws",
        "eks",
        "update-cluster-config",
        "--region",
        cluster.region(),
        "--name",
        cluster.name(),
        "--access-config",
        "authenticationMode=API_AND_CONFIG_MAP",
    ])
}

/// Builds the `aws eks create-access-entry` and `aws eks associate-access-policy` commands
/// that map a role (its ARN with path) to the level's access policy for the whole cluster.
///
/// Without `username`, EKS names the user
/// `arn:<partition>:sts::<account>:assumed-role/<role>/{{SessionName}}`.
pub fn access_entry_commands(
    cluster: &ClusterArn,
    principal_arn: &str,
    level: AccessLevel,
    username: Option<&str>,
) -> String {
    let mut words = vec![
        "aws",
        "eks",
        "create-access-entry",
        "--region",
        cluster.region(),
        "--cluster-name",
        cluster.name(),
        "--principal-arn",
        principal_arn,
        "--type",
        "STANDARD",
    ];
    if let Some(username) = username {
        words.extend(["--username", username]);
    }
    format!(
        "{}\n{}",
        shell::command(&words),
        associate_access_policy_command(cluster, principal_arn, level)
    )
}

/// Builds the `aws eks associate-access-policy` command for an existing access entry.
pub fn associate_access_policy_command(
    cluster: &ClusterArn,
    principal_arn: &str,
    level: AccessLevel,
) -> String {
    shell::command(&[
        "aws",
        "eks",
        "associate-access-policy",
        "--region",
        cluster.region(),
        "--cluster-name",
        cluster.name(),
        "--principal-arn",
        principal_arn,
        "--policy-arn",
        &level.access_policy_arn(cluster.partition()),
        "--access-scope",
        "type=cluster",
    ])
}

/// Builds a CloudFormation `Resources` fragment with one `AWS::EKS::AccessEntry` that maps the
/// role to the level's access policy for the whole cluster.
pub fn access_entry_cloudformation(
    cluster: &ClusterArn,
    principal_arn: &str,
    level: AccessLevel,
    username: Option<&str>,
) -> String {
    let mut scope = Mapping::new();
    scope.insert("Type".into(), "cluster".into());
    let mut policy = Mapping::new();
    policy.insert(
        "PolicyArn".into(),
        level.access_policy_arn(cluster.partition()).into(),
    );
    policy.insert("AccessScope".into(), Yaml::Mapping(scope));

    let mut properties = Mapping::new();
    properties.insert("ClusterName".into(), cluster.name().into());
    properties.insert("PrincipalArn".into(), principal_arn.into());
    properties.insert("Type".into(), "STANDARD".into());
    if let Some(username) = username {
        properties.insert("Username".into(), username.into());
    }
    properties.insert(
        "AccessPolicies".into(),
        Yaml::Sequence(vec![Yaml::Mapping(policy)]),
    );

    let mut resource = Mapping::new();
    resource.insert("Type".into(), "AWS::EKS::AccessEntry".into());
    resource.insert("Properties".into(), Yaml::Mapping(properties));

    let role_name = principal_arn.rsplit('/').next().unwrap_or(principal_arn);
    let mut resources = Mapping::new();
    resources.insert(logical_id(role_name).into(), Yaml::Mapping(resource));
    serde_yaml::to_string(&resources).expect("a YAML mapping of strings serializes")
}

/// Builds the commands that remove eksgate from a cluster, in the order that cuts access
/// first: untag (no new sessions), delete the access entries (open sessions lose Kubernetes
/// access at once), then delete the roles. `tag_keys` are the marker and role tag keys that the
/// cluster carries.
pub fn teardown_commands(
    cluster: &ClusterArn,
    tag_keys: &[String],
    roles: &[CatalogRole],
) -> String {
    let mut script = String::from(
        "# 1. Remove the eksgate tags: the catalog drops the cluster, and no new session starts.\n",
    );
    if tag_keys.is_empty() {
        script.push_str("# (the cluster carries no eksgate tags)\n");
    } else {
        let mut words = vec![
            "aws",
            "eks",
            "untag-resource",
            "--region",
            cluster.region(),
            "--resource-arn",
        ];
        let arn = cluster.to_string();
        words.push(&arn);
        words.push("--tag-keys");
        words.extend(tag_keys.iter().map(String::as_str));
        script.push_str(&shell::command(&words));
        script.push('\n');
    }

    script.push_str(
        "\n# 2. Remove the Kubernetes mappings, which ends the access of sessions that are still\n\
         #    open. Access entries (clusters in API or API_AND_CONFIG_MAP mode):\n",
    );
    for role in roles {
        script.push_str(&shell::command(&[
            "aws",
            "eks",
            "delete-access-entry",
            "--region",
            cluster.region(),
            "--cluster-name",
            cluster.name(),
            "--principal-arn",
            &role.assume_arn,
        ]));
        script.push('\n');
    }
    script
        .push_str("#    aws-auth: remove the mapRoles entries with these role ARNs, then apply:\n");
    for role in roles {
        script.push_str(&format!("#      {}\n", role.mapped_arn));
    }

    script.push_str(
        "\n# 3. Delete the roles. delete-role fails while managed policies are attached: list them\n\
         #    with aws iam list-attached-role-policies and detach them first.\n",
    );
    for role in roles {
        script.push_str(&shell::command(&[
            "aws",
            "iam",
            "delete-role-policy",
            "--role-name",
            &role.name,
            "--policy-name",
            DESCRIBE_POLICY_NAME,
        ]));
        script.push('\n');
        script.push_str(&shell::command(&[
            "aws",
            "iam",
            "delete-role",
            "--role-name",
            &role.name,
        ]));
        script.push('\n');
    }
    script
}

/// Checks that the issuer can reach roles in the cluster's account: STS does not assume roles
/// across partitions, and `AssumeRoleWithWebIdentity` needs the OIDC provider in the role's
/// own account.
pub(crate) fn check_issuer_for(cluster: &ClusterArn, issuer: &Issuer) -> Result<(), SetupError> {
    match issuer {
        Issuer::Broker { role_arn, .. } => {
            let partition = role_arn.split(':').nth(1).unwrap_or_default();
            if partition != cluster.partition().as_str() {
                return Err(SetupError::InvalidRoleArn {
                    value: role_arn.clone(),
                    reason: format!(
                        "the issuer role is in partition {partition} but the cluster is in {}",
                        cluster.partition()
                    ),
                });
            }
        }
        Issuer::WebIdentity { provider, .. } => {
            if provider.partition() != cluster.partition()
                || provider.account() != cluster.account()
            {
                return Err(SetupError::InvalidOidcProvider {
                    value: provider.arn().to_string(),
                    reason: format!(
                        "the OIDC provider must be in the cluster's account {} and partition {}, \
                         because AssumeRoleWithWebIdentity uses the provider in the role's account",
                        cluster.account(),
                        cluster.partition()
                    ),
                });
            }
        }
    }
    Ok(())
}

fn check_session_duration(secs: u32) -> Result<(), SetupError> {
    if !(MIN_SESSION_DURATION_SECS..=MAX_SESSION_DURATION_SECS).contains(&secs) {
        return Err(SetupError::InvalidValue {
            field: "maximum session duration",
            value: secs.to_string(),
            reason: format!(
                "IAM accepts {MIN_SESSION_DURATION_SECS} to {MAX_SESSION_DURATION_SECS} seconds"
            ),
        });
    }
    Ok(())
}

/// Returns a stack name for a role: `eksgate-` and the role name with every character that
/// stack names do not allow replaced by `-`.
fn stack_name(role_name: &str) -> String {
    let cleaned: String = role_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("eksgate-{cleaned}")
}

/// Returns a CloudFormation logical ID for a role's access entry, such as
/// `ProdEksgateAdminAccessEntry` for `prod-eksgate-admin`.
fn logical_id(role_name: &str) -> String {
    let mut id = String::new();
    for part in role_name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            id.push(first.to_ascii_uppercase());
            id.extend(chars);
        }
    }
    if !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        id.insert_str(0, "Role");
    }
    id.push_str("AccessEntry");
    id
}

/// Returns a Terraform identifier for a role's module block, such as `prod_eksgate_admin`.
fn terraform_name(role_name: &str) -> String {
    let mut name: String = role_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name.insert_str(0, "role_");
    }
    name
}

/// Quotes a string for HCL, escaping quotes, backslashes and template sequences.
fn hcl_string(value: &str) -> String {
    let escaped = value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace("${", "$${")
        .replace("%{", "%%{");
    format!("\"{escaped}\"")
}
