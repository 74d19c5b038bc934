//! IAM checks of one role: it exists where the catalog lists it, its trust policy admits the
//! issuer, and it may call `eks:DescribeCluster` on the cluster.

use aws_sdk_iam::types::PolicyEvaluationDecisionType;

use super::{CatalogRole, error_code, is_access_denied, unchecked_after_error};
use crate::arn::{ClusterArn, parse_role_arn};
use crate::commands::{
    create_role_commands_unchecked, put_describe_cluster_policy_command,
    simulate_describe_cluster_command, update_trust_policy_command,
};
use crate::issuer::Issuer;
use crate::report::{Check, CheckKind, Status};
use crate::role::MIN_SESSION_DURATION_SECS;
use crate::shell;
use crate::trust::{assess_trust, decode_policy_document, parse_policy};

/// The action that every access role needs on its cluster.
const DESCRIBE_CLUSTER: &str = "eks:DescribeCluster";

/// Runs the IAM checks of one role and returns their results in order.
pub(super) async fn check_iam_role(
    iam: &aws_sdk_iam::Client,
    cluster: &ClusterArn,
    issuer: &Issuer,
    role: &CatalogRole,
) -> Vec<Check> {
    let declared = match parse_role_arn(&role.assume_arn) {
        Ok(declared) => declared,
        Err(error) => {
            return vec![Check::new(
                CheckKind::RoleExists,
                Status::Problem,
                error.to_string(),
            )];
        }
    };
    let mut fields = role.assume_arn.split(':');
    let partition = fields.nth(1).unwrap_or_default();
    let account = fields.nth(2).unwrap_or_default();
    let same_account = partition == cluster.partition().as_str() && account == cluster.account();
    if declared.mapped_arn != role.mapped_arn || !same_account {
        return vec![Check::new(
            CheckKind::RoleExists,
            Status::Problem,
            format!(
                "the catalog lists assume ARN {} and mapped ARN {}, which are not the same role \
                 in the cluster's account {}",
                role.assume_arn,
                role.mapped_arn,
                cluster.account()
            ),
        )];
    }

    let get_role = iam.get_role().role_name(&declared.name).send().await;
    let found = match get_role {
        Ok(output) => output.role().cloned(),
        Err(error) if error_code(&error) == Some("NoSuchEntity") => {
            let fix = create_role_commands_unchecked(
                cluster,
                &declared.name,
                &declared.path,
                role.level,
                issuer,
                MIN_SESSION_DURATION_SECS,
            );
            return vec![
                Check::new(
                    CheckKind::RoleExists,
                    Status::Problem,
                    format!("role {} does not exist", role.assume_arn),
                )
                .with_fix(fix),
            ];
        }
        Err(error) => {
            let get = shell::command(&["aws", "iam", "get-role", "--role-name", &declared.name]);
            return vec![
                unchecked_after_error(CheckKind::RoleExists, "GetRole failed", &error, &get),
                check_describe_permission(iam, cluster, &role.assume_arn, &declared.name).await,
            ];
        }
    };
    let Some(found) = found else {
        return vec![Check::new(
            CheckKind::RoleExists,
            Status::Unchecked,
            "GetRole returned no role",
        )];
    };

    let mut checks = vec![check_exists(cluster, role, &found, issuer)];
    checks.push(check_trust(&found, issuer));
    checks.push(check_describe_permission(iam, cluster, found.arn(), found.role_name()).await);
    checks
}

fn check_exists(
    cluster: &ClusterArn,
    role: &CatalogRole,
    found: &aws_sdk_iam::types::Role,
    issuer: &Issuer,
) -> Check {
    let max_session = found
        .max_session_duration()
        .unwrap_or(MIN_SESSION_DURATION_SECS as i32);
    let session_note = match issuer {
        Issuer::Broker { .. } => format!(
            "MaxSessionDuration {max_session} s, but broker-mode sessions last at most 1 h \
             because STS caps chained role sessions"
        ),
        Issuer::WebIdentity { .. } => {
            format!("MaxSessionDuration {max_session} s limits web-identity sessions")
        }
    };
    if found.arn() == role.assume_arn {
        return Check::new(
            CheckKind::RoleExists,
            Status::Ok,
            format!("role {} exists", found.arn()),
        )
        .with_details(vec![session_note]);
    }
    let tag_value = format!(
        "{}{}",
        found.path().trim_start_matches('/'),
        found.role_name()
    );
    Check::new(
        CheckKind::RoleExists,
        Status::Problem,
        format!(
            "the role exists as {}, but the cluster's tag names {}, so AssumeRole fails",
            found.arn(),
            role.assume_arn
        ),
    )
    .with_details(vec![session_note])
    .with_fix(format!(
        "# set the value of the role's tag on {cluster} to {tag_value}:\n{}",
        shell::command(&[
            "aws",
            "eks",
            "tag-resource",
            "--region",
            cluster.region(),
            "--resource-arn",
            &cluster.to_string(),
            "--tags",
            &format!("<role tag key>={tag_value}"),
        ])
    ))
}

fn check_trust(found: &aws_sdk_iam::types::Role, issuer: &Issuer) -> Check {
    let fix = update_trust_policy_command(found.role_name(), issuer);
    let raw = found.assume_role_policy_document().unwrap_or_default();
    let document = decode_policy_document(raw).and_then(|value| parse_policy(&value));
    let document = match document {
        Ok(document) => document,
        Err(reason) => {
            return Check::new(
                CheckKind::TrustPolicy,
                Status::Problem,
                format!("the trust policy cannot be read: {reason}"),
            )
            .with_fix(fix);
        }
    };
    let assessment = assess_trust(&document, issuer);
    let message = match assessment.status {
        Status::Ok => format!(
            "the trust policy lets the issuer call {}",
            issuer.required_actions().join(" and ")
        ),
        Status::Warning => "the trust policy admits the issuer only under conditions, or admits \
                            more than the issuer"
            .to_string(),
        _ => format!(
            "the trust policy does not let the issuer call {} in {} mode",
            issuer.required_actions().join(" and "),
            issuer.mode()
        ),
    };
    let mut details = assessment.problems;
    details.extend(assessment.warnings);
    details.extend(assessment.notes);
    let check =
        Check::new(CheckKind::TrustPolicy, assessment.status, message).with_details(details);
    match assessment.status {
        Status::Problem | Status::Warning => check.with_fix(fix),
        _ => check,
    }
}

/// Asks IAM's policy simulator whether the role may call `eks:DescribeCluster` on the cluster.
/// The simulation covers the role's identity policies and permissions boundary.
async fn check_describe_permission(
    iam: &aws_sdk_iam::Client,
    cluster: &ClusterArn,
    role_arn: &str,
    role_name: &str,
) -> Check {
    let result = iam
        .simulate_principal_policy()
        .policy_source_arn(role_arn)
        .action_names(DESCRIBE_CLUSTER)
        .resource_arns(cluster.to_string())
        .send()
        .await;
    let simulate = simulate_describe_cluster_command(role_arn, cluster);
    let output = match result {
        Ok(output) => output,
        Err(error) if is_access_denied(&error) => {
            return Check::new(
                CheckKind::DescribeCluster,
                Status::Unchecked,
                "could not check: the caller is not allowed to call iam:SimulatePrincipalPolicy",
            )
            .with_fix(format!(
                "# with credentials that allow iam:SimulatePrincipalPolicy:\n{simulate}"
            ));
        }
        Err(error) => {
            return unchecked_after_error(
                CheckKind::DescribeCluster,
                "the policy simulation failed",
                &error,
                &simulate,
            );
        }
    };
    let result = output
        .evaluation_results()
        .iter()
        .find(|result| result.eval_action_name() == DESCRIBE_CLUSTER);
    let Some(result) = result else {
        return Check::new(
            CheckKind::DescribeCluster,
            Status::Unchecked,
            "the policy simulation returned no result for eks:DescribeCluster",
        )
        .with_fix(simulate);
    };
    let put_policy = put_describe_cluster_policy_command(role_name, cluster);
    match result.eval_decision() {
        PolicyEvaluationDecisionType::Allowed => Check::new(
            CheckKind::DescribeCluster,
            Status::Ok,
            format!("the role may call eks:DescribeCluster on {cluster}"),
        ),
        PolicyEvaluationDecisionType::ExplicitDeny => {
            let sources: Vec<String> = result
                .matched_statements()
                .iter()
                .filter_map(|statement| statement.source_policy_id())
                .map(|id| format!("denied by policy {id}"))
                .collect();
            Check::new(
                CheckKind::DescribeCluster,
                Status::Problem,
                format!("a policy explicitly denies eks:DescribeCluster on {cluster}"),
            )
            .with_details(sources)
            .with_fix(format!(
                "# remove the Deny for eks:DescribeCluster from the policies listed above, then:\n\
                 {simulate}"
            ))
        }
        _ => {
            let mut details = Vec::new();
            if let Some(boundary) = result.permissions_boundary_decision_detail()
                && !boundary.allowed_by_permissions_boundary()
            {
                details.push("the role's permissions boundary does not allow it".to_string());
            }
            if let Some(organizations) = result.organizations_decision_detail()
                && !organizations.allowed_by_organizations()
            {
                details.push("a service control policy does not allow it".to_string());
            }
            Check::new(
                CheckKind::DescribeCluster,
                Status::Problem,
                format!("no policy of the role allows eks:DescribeCluster on {cluster}"),
            )
            .with_details(details)
            .with_fix(put_policy)
        }
    }
}
