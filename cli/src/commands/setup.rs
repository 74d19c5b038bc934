//! `eksgate setup`: prints the artefacts of the cluster setup steps. These commands call no API
//! and change nothing; the operator reviews the output and runs it.

use std::io::Read;

use eksgate_setup::{
    AccessLevel, AccessRole, AwsAuthChange, ClusterArn, DEFAULT_ROLE_PATH, MapRole, SetupError,
    access_entry_cloudformation, access_entry_commands, cloudformation_deploy_command,
    create_role_commands, describe_cluster_policy, merge_aws_auth, suggested_role_name,
    tag_resource_command, terraform_module_block, trust_policy,
};
use eksgate_tags::Namespace;
use serde_json::json;

use crate::args::{EntryFormat, RoleFormat, SetupAwsAuthOptions, SetupRoleOptions};
use crate::error::CliError;
use crate::output::print;

/// Turns an input that the setup kit rejected into a usage error.
fn invalid(error: SetupError) -> CliError {
    CliError::Usage(error.to_string())
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("a JSON value serializes")
}

/// Builds the access role that `options` describe, with the default name and path where they
/// are omitted.
fn access_role(options: &SetupRoleOptions) -> Result<AccessRole, CliError> {
    let name = options
        .role_name
        .clone()
        .unwrap_or_else(|| suggested_role_name(options.cluster.name(), options.level));
    let path = options.path.as_deref().unwrap_or(DEFAULT_ROLE_PATH);
    AccessRole::new(&options.cluster, options.level, name.trim(), path.trim()).map_err(invalid)
}

/// Renders the output of `eksgate setup role`.
pub fn role_text(options: &SetupRoleOptions) -> Result<String, CliError> {
    let role = access_role(options)?;
    let issuer = &options.issuer;
    let duration = options.max_session_duration_secs;
    let text = match options.format {
        RoleFormat::Commands => {
            let commands = create_role_commands(&role, issuer, duration).map_err(invalid)?;
            format!(
                "# Role {} ({} access)\n\n# Trust policy\n{}\n\n# Inline policy {}\n{}\n\n\
                 # Commands that create the role\n{commands}\n",
                role.arn(),
                role.level(),
                pretty(&trust_policy(issuer)),
                "eksgate-describe-cluster",
                pretty(&describe_cluster_policy(role.cluster())),
            )
        }
        RoleFormat::CloudFormation => {
            let command =
                cloudformation_deploy_command(&role, issuer, duration, options.create_access_entry)
                    .map_err(invalid)?;
            format!("{command}\n")
        }
        RoleFormat::Terraform => terraform_module_block(
            &role,
            issuer,
            duration,
            options.create_access_entry,
            &options.terraform_source,
        )
        .map_err(invalid)?,
        RoleFormat::Json => {
            let commands = create_role_commands(&role, issuer, duration).map_err(invalid)?;
            let document = json!({
                "role_name": role.name(),
                "path": role.path(),
                "level": role.level(),
                "arn": role.arn(),
                "mapped_arn": role.mapped_arn(),
                "max_session_duration": duration,
                "trust_policy": trust_policy(issuer),
                "describe_cluster_policy": describe_cluster_policy(role.cluster()),
                "commands": commands,
            });
            format!("{}\n", pretty(&document))
        }
    };
    Ok(text)
}

pub fn role(options: &SetupRoleOptions) -> Result<(), CliError> {
    print(&role_text(options)?);
    Ok(())
}

/// Builds the mapRoles entry, with the level's default groups when no --group is given.
fn map_role(options: &SetupAwsAuthOptions) -> Result<MapRole, CliError> {
    let groups = if options.groups.is_empty() {
        options.level.default_groups()
    } else {
        options.groups.clone()
    };
    MapRole::new(
        options.role_arn.trim(),
        &options.username_prefix,
        options.template,
        groups,
    )
    .map_err(invalid)
}

/// Renders the output of `eksgate setup aws-auth`: the entry alone without a ConfigMap, or the
/// merged ConfigMap and the change that the merge made.
pub fn aws_auth_text(
    options: &SetupAwsAuthOptions,
    configmap: Option<&str>,
) -> Result<(String, Option<AwsAuthChange>), CliError> {
    let entry = map_role(options)?;
    let Some(configmap) = configmap else {
        return Ok((entry.to_yaml(), None));
    };
    let update = merge_aws_auth(configmap, &entry).map_err(|error| {
        CliError::Other(format!("cannot merge into the aws-auth ConfigMap: {error}"))
    })?;
    Ok((update.yaml, Some(update.change)))
}

fn read_configmap(source: &str) -> Result<String, CliError> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| CliError::file("reading", "standard input", error))?;
    } else {
        text = std::fs::read_to_string(source)
            .map_err(|error| CliError::file("reading", source, error))?;
    }
    Ok(text)
}

pub fn aws_auth(options: &SetupAwsAuthOptions) -> Result<(), CliError> {
    let configmap = options
        .configmap
        .as_deref()
        .map(read_configmap)
        .transpose()?;
    let (text, change) = aws_auth_text(options, configmap.as_deref())?;
    print(&text);
    let role = options.role_arn.trim();
    match change {
        Some(AwsAuthChange::Added) => eprintln!("eksgate: added the mapRoles entry of {role}"),
        Some(AwsAuthChange::Replaced) => {
            eprintln!("eksgate: replaced the mapRoles entry of {role}")
        }
        Some(AwsAuthChange::Unchanged) => {
            eprintln!("eksgate: the mapRoles entry of {role} is already present and unchanged")
        }
        // A merge only adds, replaces or leaves the entry unchanged.
        Some(AwsAuthChange::Removed | AwsAuthChange::Absent) | None => {}
    }
    Ok(())
}

/// Renders the output of `eksgate setup access-entry`.
pub fn access_entry_text(
    cluster: &ClusterArn,
    role_arn: &str,
    level: AccessLevel,
    format: EntryFormat,
) -> String {
    let mut text = match format {
        EntryFormat::Commands => access_entry_commands(cluster, role_arn, level, None),
        EntryFormat::CloudFormation => access_entry_cloudformation(cluster, role_arn, level, None),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

pub fn access_entry(
    cluster: &ClusterArn,
    role_arn: &str,
    level: AccessLevel,
    format: EntryFormat,
) -> Result<(), CliError> {
    let role_arn = role_arn.trim();
    check_role_arn_in_account(cluster, role_arn)?;
    print(&access_entry_text(cluster, role_arn, level, format));
    Ok(())
}

/// Rejects a principal that is not an IAM role of the cluster's account, because an access
/// entry maps principals of the cluster's own account.
fn check_role_arn_in_account(cluster: &ClusterArn, role_arn: &str) -> Result<(), CliError> {
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let valid = matches!(
        parts[..],
        ["arn", _, "iam", "", account, resource]
            if account == cluster.account() && resource.starts_with("role/")
    );
    if valid {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "invalid --role-arn {role_arn:?}: expected an IAM role in account {}, such as \
         arn:{}:iam::{}:role/eksgate/{}",
        cluster.account(),
        cluster.partition().as_str(),
        cluster.account(),
        suggested_role_name(cluster.name(), AccessLevel::Admin),
    )))
}

/// Splits `path/name` into the role name and its IAM path.
fn role_from_tag_value(
    cluster: &ClusterArn,
    level: AccessLevel,
    value: &str,
) -> Result<AccessRole, CliError> {
    let value = value.trim().trim_start_matches('/');
    let (path, name) = value.rsplit_once('/').unwrap_or(("", value));
    AccessRole::new(cluster, level, name, path).map_err(invalid)
}

/// Renders the output of `eksgate setup tags`.
pub fn tags_text(
    cluster: &ClusterArn,
    admin_roles: &[String],
    read_only_roles: &[String],
) -> Result<String, CliError> {
    let mut roles = Vec::new();
    for value in admin_roles {
        roles.push(role_from_tag_value(cluster, AccessLevel::Admin, value)?);
    }
    for value in read_only_roles {
        roles.push(role_from_tag_value(cluster, AccessLevel::ReadOnly, value)?);
    }
    let references: Vec<&AccessRole> = roles.iter().collect();
    // NOTE: the tag namespace is always the default one; a deployment with another namespace
    // has to rename the keys in the printed command.
    let command =
        tag_resource_command(cluster, &Namespace::default(), &references).map_err(invalid)?;
    Ok(format!("{command}\n"))
}

pub fn tags(
    cluster: &ClusterArn,
    admin_roles: &[String],
    read_only_roles: &[String],
) -> Result<(), CliError> {
    print(&tags_text(cluster, admin_roles, read_only_roles)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use eksgate_setup::{Issuer, SessionNameTemplate};
    use serde_json::Value;

    use super::*;

    const CLUSTER: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod";
    const ISSUER_ROLE: &str = "arn:aws:iam::111122223333:role/eksgate-session-issuer";
    const NODE_ROLE: &str = "arn:aws:iam::111122223333:role/node";

    fn cluster() -> ClusterArn {
        ClusterArn::parse(CLUSTER).expect("valid ARN")
    }

    fn role_options(format: RoleFormat) -> SetupRoleOptions {
        SetupRoleOptions {
            cluster: cluster(),
            level: AccessLevel::Admin,
            issuer: Issuer::broker(ISSUER_ROLE).expect("valid"),
            role_name: None,
            path: None,
            max_session_duration_secs: 3600,
            create_access_entry: false,
            terraform_source: "./infra/terraform/eksgate-access-role".into(),
            format,
        }
    }

    fn aws_auth_options() -> SetupAwsAuthOptions {
        SetupAwsAuthOptions {
            role_arn: "arn:aws:iam::111122223333:role/prod-eksgate-admin".into(),
            username_prefix: "eksgate".into(),
            template: SessionNameTemplate::SessionName,
            groups: Vec::new(),
            level: AccessLevel::Admin,
            configmap: None,
        }
    }

    fn configmap() -> String {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: \
             kube-system\ndata:\n  mapRoles: |\n    - rolearn: {NODE_ROLE}\n      username: \
             system:node:{{{{EC2PrivateDNSName}}}}\n      groups: [system:nodes]\n"
        )
    }

    #[test]
    fn role_json_policies_parse() {
        let text = role_text(&role_options(RoleFormat::Json)).expect("output");
        let document: Value = serde_json::from_str(&text).expect("JSON output");
        assert_eq!(document["role_name"], "prod-eksgate-admin");
        assert_eq!(
            document["arn"],
            "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin"
        );
        assert_eq!(
            document["trust_policy"]["Statement"][0]["Principal"]["AWS"],
            ISSUER_ROLE
        );
        assert_eq!(
            document["describe_cluster_policy"]["Statement"][0]["Resource"],
            CLUSTER
        );
        let commands = document["commands"].as_str().expect("commands");
        assert!(commands.contains("aws iam create-role"), "{commands}");
    }

    #[test]
    fn role_commands_show_policies() {
        let text = role_text(&role_options(RoleFormat::Commands)).expect("output");
        let trust = text
            .split("# Trust policy\n")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .expect("trust policy section");
        let trust: Value = serde_json::from_str(trust).expect("trust policy is JSON");
        assert_eq!(trust["Version"], "2012-10-17");
        assert!(text.contains("aws iam put-role-policy"), "{text}");
    }

    #[test]
    fn role_other_formats() {
        let mut options = role_options(RoleFormat::CloudFormation);
        options.role_name = Some("ops-admin".into());
        options.path = Some("/".into());
        let text = role_text(&options).expect("cloudformation");
        assert!(text.starts_with("aws cloudformation deploy"), "{text}");
        assert!(text.contains("RoleName=ops-admin"), "{text}");
        assert!(text.contains("RolePath=/"), "{text}");

        options.format = RoleFormat::Terraform;
        let text = role_text(&options).expect("terraform");
        assert!(text.starts_with("module \"ops_admin\""), "{text}");
    }

    #[test]
    fn role_rejects_other_partition() {
        let mut options = role_options(RoleFormat::Commands);
        options.issuer = Issuer::broker("arn:aws-cn:iam::111122223333:role/issuer").expect("ARN");
        let error = role_text(&options).expect_err("other partition");
        assert_eq!(error.exit_status(), 2);
    }

    #[test]
    fn aws_auth_entry_alone() {
        let (text, change) = aws_auth_text(&aws_auth_options(), None).expect("entry");
        assert_eq!(change, None);
        assert!(
            text.contains("rolearn: arn:aws:iam::111122223333:role/prod-eksgate-admin"),
            "{text}"
        );
        assert!(text.contains("system:masters"), "{text}");
    }

    #[test]
    fn aws_auth_merge_keeps_others() {
        let mut options = aws_auth_options();
        options.groups = vec!["team-a".into()];
        let (merged, change) = aws_auth_text(&options, Some(&configmap())).expect("merge");
        assert_eq!(change, Some(AwsAuthChange::Added));
        assert!(merged.contains(NODE_ROLE), "{merged}");
        assert!(merged.contains("team-a"), "{merged}");
        assert!(!merged.contains("system:masters"), "{merged}");

        let (again, change) = aws_auth_text(&options, Some(&merged)).expect("merge again");
        assert_eq!(change, Some(AwsAuthChange::Unchanged));
        assert_eq!(again, merged);

        options.groups = vec!["team-b".into()];
        let (replaced, change) = aws_auth_text(&options, Some(&merged)).expect("replace");
        assert_eq!(change, Some(AwsAuthChange::Replaced));
        assert!(replaced.contains(NODE_ROLE), "{replaced}");
        assert!(!replaced.contains("team-a"), "{replaced}");
    }

    #[test]
    fn aws_auth_rejects_bad_input() {
        let mut options = aws_auth_options();
        options.role_arn = "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin".into();
        let error = aws_auth_text(&options, None).expect_err("ARN with path");
        assert!(
            error.to_string().contains("without the IAM path"),
            "{error}"
        );

        let error = aws_auth_text(&aws_auth_options(), Some("kind: Secret\n"))
            .expect_err("not a ConfigMap");
        assert!(error.to_string().contains("not ConfigMap"), "{error}");
    }

    #[test]
    fn access_entry_formats() {
        let role = "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin";
        let text = access_entry_text(&cluster(), role, AccessLevel::Admin, EntryFormat::Commands);
        assert!(text.contains("aws eks create-access-entry"), "{text}");
        assert!(text.contains("associate-access-policy"), "{text}");
        let text = access_entry_text(
            &cluster(),
            role,
            AccessLevel::ReadOnly,
            EntryFormat::CloudFormation,
        );
        assert!(text.contains("AWS::EKS::AccessEntry"), "{text}");

        assert!(check_role_arn_in_account(&cluster(), role).is_ok());
        let other = "arn:aws:iam::999999999999:role/prod";
        assert!(check_role_arn_in_account(&cluster(), other).is_err());
    }

    #[test]
    fn tags_command_declares_roles() {
        let text = tags_text(
            &cluster(),
            &["eksgate/prod-admin".into()],
            &["prod-view".into(), "/teams/dev/prod-view-2".into()],
        )
        .expect("tags");
        assert!(text.starts_with("aws eks tag-resource"), "{text}");
        assert!(text.contains("\"eksgate/prod-admin\""), "{text}");
        assert!(text.contains("\"teams/dev/prod-view-2\""), "{text}");

        let error = tags_text(&cluster(), &["a".into(), "a".into()], &[]).expect_err("twice");
        assert!(error.to_string().contains("listed twice"), "{error}");
    }
}
