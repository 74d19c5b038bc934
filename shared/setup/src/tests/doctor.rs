//! The setup check against mocked IAM and EKS responses, for the paths that moto lacks:
//! SimulatePrincipalPolicy, access entries and denied calls.

use aws_sdk_eks::operation::describe_access_entry::DescribeAccessEntryOutput;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterOutput;
use aws_sdk_eks::operation::list_access_entries::ListAccessEntriesOutput;
use aws_sdk_eks::operation::list_associated_access_policies::ListAssociatedAccessPoliciesOutput;
use aws_sdk_eks::types::{
    AccessConfigResponse, AccessEntry, AccessScope, AccessScopeType, AssociatedAccessPolicy,
    AuthenticationMode, Cluster,
};
use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput;
use aws_sdk_iam::operation::get_role::GetRoleOutput;
use aws_sdk_iam::operation::simulate_principal_policy::SimulatePrincipalPolicyOutput;
use aws_sdk_iam::types::{
    EvaluationResult, PolicyEvaluationDecisionType, Role, Statement as MatchedStatement,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use super::*;
use crate::*;

const ROLE_NAME: &str = "prod-eksgate-admin";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin";
const MAPPED_ARN: &str = "arn:aws:iam::111122223333:role/prod-eksgate-admin";
/// A broker issuer in the cluster's account, so that the issuer check can read it.
const LOCAL_ISSUER_ARN: &str = "arn:aws:iam::111122223333:role/eksgate-SessionIssuerRole";
const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

fn broker() -> Issuer {
    Issuer::broker(LOCAL_ISSUER_ARN).unwrap()
}

fn catalog_role(level: Option<AccessLevel>) -> CatalogRole {
    CatalogRole {
        name: ROLE_NAME.into(),
        assume_arn: ROLE_ARN.into(),
        mapped_arn: MAPPED_ARN.into(),
        level,
    }
}

fn input(issuer: Issuer, level: Option<AccessLevel>) -> DoctorInput {
    DoctorInput::new(CLUSTER_ARN, vec![catalog_role(level)], issuer)
}

fn role(name: &str, path: &str, trust: &Value) -> Role {
    Role::builder()
        .path(path)
        .role_name(name)
        .role_id("AROAEXAMPLE123456789")
        .arn(format!("arn:aws:iam::{ACCOUNT}:role{path}{name}"))
        .create_date(DateTime::from_secs(1_700_000_000))
        .assume_role_policy_document(
            utf8_percent_encode(&trust.to_string(), NON_ALPHANUMERIC).to_string(),
        )
        .max_session_duration(3600)
        .build()
        .expect("all required role fields are set")
}

fn get_role(name: &'static str, path: &'static str, trust: Value) -> Rule {
    mock!(aws_sdk_iam::Client::get_role)
        .match_requests(move |request| request.role_name() == Some(name))
        .then_output(move || {
            GetRoleOutput::builder()
                .role(role(name, path, &trust))
                .build()
        })
}

fn issuer_role_exists() -> Rule {
    get_role(
        "eksgate-SessionIssuerRole",
        "/",
        json!({"Version": "2012-10-17", "Statement": []}),
    )
}

fn simulate(decision: PolicyEvaluationDecisionType) -> Rule {
    mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(|request| {
            request.action_names() == ["eks:DescribeCluster"]
                && request.resource_arns() == [CLUSTER_ARN]
                && request.policy_source_arn() == Some(ROLE_ARN)
        })
        .then_output(move || {
            let mut result = EvaluationResult::builder()
                .eval_action_name("eks:DescribeCluster")
                .eval_resource_name(CLUSTER_ARN)
                .eval_decision(decision.clone());
            if decision == PolicyEvaluationDecisionType::ExplicitDeny {
                result = result.matched_statements(
                    MatchedStatement::builder()
                        .source_policy_id("guardrail-deny")
                        .build(),
                );
            }
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(result.build().expect("required fields are set"))
                .build()
        })
}

/// Builds an IAM (query protocol) error response.
fn iam_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>\
         <Type>Sender</Type><Code>{code}</Code><Message>{code} for tests</Message></Error>\
         <RequestId>4d5e6f70-0000-4e5f-8a9b-0c1d2e3f4a5b</RequestId></ErrorResponse>"
    );
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response.headers_mut().insert("content-type", "text/xml");
    response
}

/// Builds an EKS (REST-JSON protocol) error response.
fn eks_error(status: u16, code: &str) -> HttpResponse {
    let body = format!(r#"{{"message":"{code} for tests"}}"#);
    let mut response =
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
    response
        .headers_mut()
        .insert("x-amzn-errortype", code.to_string());
    response
        .headers_mut()
        .insert("content-type", "application/json");
    response
}

fn describe_cluster(mode: Option<AuthenticationMode>) -> Rule {
    mock!(aws_sdk_eks::Client::describe_cluster)
        .match_requests(|request| request.name() == Some("prod"))
        .then_output(move || {
            let mut cluster = Cluster::builder().name("prod").arn(CLUSTER_ARN);
            if let Some(mode) = &mode {
                cluster = cluster.access_config(
                    AccessConfigResponse::builder()
                        .authentication_mode(mode.clone())
                        .build(),
                );
            }
            DescribeClusterOutput::builder()
                .cluster(cluster.build())
                .build()
        })
}

fn list_entries(principals: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_eks::Client::list_access_entries)
        .match_requests(|request| request.cluster_name() == Some("prod"))
        .then_output(move || {
            let mut output = ListAccessEntriesOutput::builder();
            for principal in principals {
                output = output.access_entries(*principal);
            }
            output.build()
        })
}

fn describe_entry(entry_type: &'static str, groups: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_eks::Client::describe_access_entry)
        .match_requests(|request| request.principal_arn() == Some(ROLE_ARN))
        .then_output(move || {
            let mut entry = AccessEntry::builder()
                .cluster_name("prod")
                .principal_arn(ROLE_ARN)
                .r#type(entry_type)
                .username(
                    "arn:aws:sts::111122223333:assumed-role/prod-eksgate-admin/{{SessionName}}",
                );
            for group in groups {
                entry = entry.kubernetes_groups(*group);
            }
            DescribeAccessEntryOutput::builder()
                .access_entry(entry.build())
                .build()
        })
}

fn list_policies(policies: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_eks::Client::list_associated_access_policies)
        .match_requests(|request| request.principal_arn() == Some(ROLE_ARN))
        .then_output(move || {
            let mut output = ListAssociatedAccessPoliciesOutput::builder()
                .cluster_name("prod")
                .principal_arn(ROLE_ARN);
            for policy in policies {
                output = output.associated_access_policies(
                    AssociatedAccessPolicy::builder()
                        .policy_arn(*policy)
                        .access_scope(
                            AccessScope::builder()
                                .r#type(AccessScopeType::Cluster)
                                .build(),
                        )
                        .build(),
                );
            }
            output.build()
        })
}

fn iam_client(rules: &[&Rule]) -> aws_sdk_iam::Client {
    mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules.iter().copied())
}

fn eks_client(rules: &[&Rule]) -> aws_sdk_eks::Client {
    mock_client!(aws_sdk_eks, RuleMode::MatchAny, rules.iter().copied())
}

/// The rules of a cluster whose admin role is set up right in `mode`.
struct Healthy {
    issuer: Rule,
    role: Rule,
    simulate: Rule,
    cluster: Rule,
    entries: Rule,
    entry: Rule,
    policies: Rule,
}

impl Healthy {
    fn new(mode: AuthenticationMode) -> Self {
        Self {
            issuer: issuer_role_exists(),
            role: get_role(ROLE_NAME, "/eksgate/", trust_policy(&broker())),
            simulate: simulate(PolicyEvaluationDecisionType::Allowed),
            cluster: describe_cluster(Some(mode)),
            entries: list_entries(&["arn:aws:iam::111122223333:role/prod-node-group", ROLE_ARN]),
            entry: describe_entry("STANDARD", &[]),
            policies: list_policies(&[ADMIN_POLICY]),
        }
    }

    fn iam(&self) -> aws_sdk_iam::Client {
        iam_client(&[&self.issuer, &self.role, &self.simulate])
    }

    fn eks(&self) -> aws_sdk_eks::Client {
        eks_client(&[&self.cluster, &self.entries, &self.entry, &self.policies])
    }
}

async fn run(
    iam: &aws_sdk_iam::Client,
    eks: &aws_sdk_eks::Client,
    input: &DoctorInput,
) -> DoctorReport {
    check_cluster(iam, eks, input).await.expect("valid input")
}

fn role_check(report: &DoctorReport, kind: CheckKind) -> &Check {
    report.roles[0]
        .checks
        .iter()
        .find(|check| check.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} check in {report:#?}"))
}

fn cluster_check(report: &DoctorReport, kind: CheckKind) -> &Check {
    report
        .checks
        .iter()
        .find(|check| check.kind == kind)
        .unwrap_or_else(|| panic!("no {kind:?} check in {report:#?}"))
}

fn fix_of(check: &Check) -> &str {
    check
        .fix
        .as_deref()
        .unwrap_or_else(|| panic!("no fix in {check:#?}"))
}

#[tokio::test]
async fn healthy_broker_cluster() {
    let rules = Healthy::new(AuthenticationMode::ApiAndConfigMap);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    assert_eq!(report.status, Status::Ok, "{}", report.render());
    assert_eq!(
        report.authentication_mode.as_deref(),
        Some("API_AND_CONFIG_MAP")
    );
    assert_eq!(report.counts.ok, 6);
    let kinds: Vec<CheckKind> = report.all_checks().map(|check| check.kind).collect();
    assert_eq!(
        kinds,
        [
            CheckKind::Issuer,
            CheckKind::Cluster,
            CheckKind::RoleExists,
            CheckKind::TrustPolicy,
            CheckKind::DescribeCluster,
            CheckKind::KubernetesMapping,
        ]
    );
    let mapping = role_check(&report, CheckKind::KubernetesMapping);
    assert!(
        mapping.details.iter().any(|d| d.contains(ADMIN_POLICY)),
        "{mapping:?}"
    );
    let text = report.render();
    assert!(
        text.contains("Result: ok: 0 problem(s), 0 warning(s), 0 unchecked, 6 ok"),
        "{text}"
    );
    assert_eq!(rules.simulate.num_calls(), 1);
    assert_eq!(rules.entries.num_calls(), 1);
}

#[tokio::test]
async fn simulation_denied_is_unchecked() {
    let rules = Healthy::new(AuthenticationMode::Api);
    let denied = mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .then_http_response(|| iam_error(403, "AccessDenied"));
    let iam = iam_client(&[&rules.issuer, &rules.role, &denied]);
    let report = run(
        &iam,
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    let check = role_check(&report, CheckKind::DescribeCluster);
    assert_eq!(check.status, Status::Unchecked);
    assert!(
        check.message.contains("could not check"),
        "{}",
        check.message
    );
    let fix = fix_of(check);
    let words = shell_words(&commands_of(fix)[0]);
    assert_eq!(&words[..3], ["aws", "iam", "simulate-principal-policy"]);
    assert_eq!(option_value(&words, "--policy-source-arn"), ROLE_ARN);
    assert_eq!(
        option_value(&words, "--action-names"),
        "eks:DescribeCluster"
    );
    assert_eq!(option_value(&words, "--resource-arns"), CLUSTER_ARN);
    assert_eq!(report.status, Status::Unchecked);
    assert!(report.render().contains("check by hand:"));
}

#[tokio::test]
async fn implicit_deny_needs_policy() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.simulate = simulate(PolicyEvaluationDecisionType::ImplicitDeny);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    let check = role_check(&report, CheckKind::DescribeCluster);
    assert_eq!(check.status, Status::Problem);
    let words = shell_words(&commands_of(fix_of(check))[0]);
    assert_eq!(&words[..3], ["aws", "iam", "put-role-policy"]);
    assert_eq!(option_value(&words, "--role-name"), ROLE_NAME);
    let policy: Value = serde_json::from_str(option_value(&words, "--policy-document")).unwrap();
    assert_eq!(policy["Statement"][0]["Resource"], CLUSTER_ARN);
    assert_eq!(report.status, Status::Problem);
    assert_eq!(report.counts.problem, 1);
}

#[tokio::test]
async fn explicit_deny_names_policy() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.simulate = simulate(PolicyEvaluationDecisionType::ExplicitDeny);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    let check = role_check(&report, CheckKind::DescribeCluster);
    assert_eq!(check.status, Status::Problem);
    assert!(
        check.message.contains("explicitly denies"),
        "{}",
        check.message
    );
    assert_eq!(check.details, ["denied by policy guardrail-deny"]);
}

#[tokio::test]
async fn simulation_error_is_unchecked() {
    let rules = Healthy::new(AuthenticationMode::Api);
    let invalid = mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .then_http_response(|| iam_error(400, "InvalidInput"));
    let iam = iam_client(&[&rules.issuer, &rules.role, &invalid]);
    let report = run(
        &iam,
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::DescribeCluster);
    assert_eq!(check.status, Status::Unchecked);
    assert!(check.message.contains("InvalidInput"), "{}", check.message);
}

#[tokio::test]
async fn missing_role_gets_create_commands() {
    let rules = Healthy::new(AuthenticationMode::Api);
    let missing = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|request| request.role_name() == Some(ROLE_NAME))
        .then_http_response(|| iam_error(404, "NoSuchEntity"));
    let iam = iam_client(&[&rules.issuer, &missing, &rules.simulate]);
    let report = run(
        &iam,
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    let checks = &report.roles[0].checks;
    let kinds: Vec<CheckKind> = checks.iter().map(|check| check.kind).collect();
    assert_eq!(kinds, [CheckKind::RoleExists, CheckKind::KubernetesMapping]);
    assert_eq!(checks[0].status, Status::Problem);
    let commands = commands_of(fix_of(&checks[0]));
    let create = shell_words(&commands[0]);
    assert_eq!(&create[..3], ["aws", "iam", "create-role"]);
    assert_eq!(option_value(&create, "--role-name"), ROLE_NAME);
    assert_eq!(option_value(&create, "--path"), "/eksgate/");
    let trust: Value =
        serde_json::from_str(option_value(&create, "--assume-role-policy-document")).unwrap();
    assert_eq!(trust, trust_policy(&broker()));
    let put = shell_words(&commands[1]);
    assert_eq!(&put[..3], ["aws", "iam", "put-role-policy"]);
    assert_eq!(rules.simulate.num_calls(), 0);
}

#[tokio::test]
async fn get_role_denied_still_simulates() {
    let rules = Healthy::new(AuthenticationMode::Api);
    let denied = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|request| request.role_name() == Some(ROLE_NAME))
        .then_http_response(|| iam_error(403, "AccessDenied"));
    let iam = iam_client(&[&rules.issuer, &denied, &rules.simulate]);
    let report = run(
        &iam,
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    let exists = role_check(&report, CheckKind::RoleExists);
    assert_eq!(exists.status, Status::Unchecked);
    assert!(
        exists.message.contains("access denied"),
        "{}",
        exists.message
    );
    assert!(fix_of(exists).contains("aws iam get-role"));
    assert_eq!(
        role_check(&report, CheckKind::DescribeCluster).status,
        Status::Ok
    );
}

#[tokio::test]
async fn wrong_trust_gets_update_command() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    let other = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:role/someone-else"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]
    }]});
    rules.role = get_role(ROLE_NAME, "/eksgate/", other);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    let check = role_check(&report, CheckKind::TrustPolicy);
    assert_eq!(check.status, Status::Problem);
    assert!(
        check.details[0].contains(LOCAL_ISSUER_ARN),
        "{:?}",
        check.details
    );
    let words = shell_words(&commands_of(fix_of(check))[0]);
    assert_eq!(&words[..3], ["aws", "iam", "update-assume-role-policy"]);
    let policy: Value = serde_json::from_str(option_value(&words, "--policy-document")).unwrap();
    assert_eq!(policy, trust_policy(&broker()));
}

#[tokio::test]
async fn web_identity_trust_for_broker() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    let web = Issuer::web_identity(PROVIDER_ARN, AUDIENCE).unwrap();
    rules.role = get_role(ROLE_NAME, "/eksgate/", trust_policy(&web));
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::TrustPolicy);
    assert_eq!(check.status, Status::Problem);
    assert!(check.message.contains("broker mode"), "{}", check.message);
}

#[tokio::test]
async fn path_mismatch_reported() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.role = get_role(ROLE_NAME, "/", trust_policy(&broker()));
    // The simulation runs for the role that exists, whose ARN has no path.
    rules.simulate = mock!(aws_sdk_iam::Client::simulate_principal_policy)
        .match_requests(|request| request.policy_source_arn() == Some(MAPPED_ARN))
        .then_output(|| {
            let result = EvaluationResult::builder()
                .eval_action_name("eks:DescribeCluster")
                .eval_decision(PolicyEvaluationDecisionType::Allowed)
                .build()
                .expect("required fields are set");
            SimulatePrincipalPolicyOutput::builder()
                .evaluation_results(result)
                .build()
        });
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::RoleExists);
    assert_eq!(check.status, Status::Problem);
    assert!(check.message.contains(MAPPED_ARN), "{}", check.message);
    assert!(
        fix_of(check).contains("to prod-eksgate-admin"),
        "{:?}",
        check.fix
    );
}

#[tokio::test]
async fn api_mode_missing_entry() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.entries = list_entries(&["arn:aws:iam::111122223333:role/prod-node-group"]);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;

    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Problem);
    let commands = commands_of(fix_of(check));
    assert_eq!(commands.len(), 2);
    let create = shell_words(&commands[0]);
    assert_eq!(&create[..3], ["aws", "eks", "create-access-entry"]);
    assert_eq!(option_value(&create, "--principal-arn"), ROLE_ARN);
    let associate = shell_words(&commands[1]);
    assert_eq!(option_value(&associate, "--policy-arn"), ADMIN_POLICY);
    assert_eq!(rules.entry.num_calls(), 0);
}

#[tokio::test]
async fn mixed_mode_missing_entry_warns() {
    let mut rules = Healthy::new(AuthenticationMode::ApiAndConfigMap);
    rules.entries = list_entries(&[]);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::ReadOnly)),
    )
    .await;

    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Warning);
    let fix = fix_of(check);
    assert!(fix.contains("create-access-entry"), "{fix}");
    assert!(fix.contains(VIEW_POLICY), "{fix}");
    assert!(fix.contains(&format!("rolearn: {MAPPED_ARN}")), "{fix}");
    assert!(fix.contains("eksgate:{{SessionName}}"), "{fix}");
    assert!(fix.contains("- eksgate:view"), "{fix}");
}

#[tokio::test]
async fn config_map_mode_prints_entry() {
    let mut rules = Healthy::new(AuthenticationMode::ConfigMap);
    let mut input = input(broker(), Some(AccessLevel::Admin));
    input.session_name_template = SessionNameTemplate::SessionNameRaw;
    input.username_prefix = "dev".into();
    rules.cluster = describe_cluster(Some(AuthenticationMode::ConfigMap));
    let report = run(&rules.iam(), &rules.eks(), &input).await;

    assert_eq!(report.authentication_mode.as_deref(), Some("CONFIG_MAP"));
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Unchecked);
    assert!(
        check
            .message
            .contains("cannot be checked without Kubernetes access")
    );
    let fix = fix_of(check);
    let yaml: String = fix
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let entries: Vec<MapRole> = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].rolearn, MAPPED_ARN);
    assert_eq!(entries[0].username, "dev:{{SessionNameRaw}}");
    assert_eq!(entries[0].groups, ["system:masters"]);
    assert_eq!(
        rules.entries.num_calls(),
        0,
        "CONFIG_MAP clusters have no access entries"
    );
}

#[tokio::test]
async fn entry_without_policy() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.policies = list_policies(&[]);
    let report = run(&rules.iam(), &rules.eks(), &input(broker(), None)).await;
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Problem);
    assert!(
        check.message.contains("grants nothing"),
        "{}",
        check.message
    );
    let fix = fix_of(check);
    assert!(fix.contains("level is unknown"), "{fix}");
    let words = shell_words(&commands_of(fix)[0]);
    assert_eq!(&words[..3], ["aws", "eks", "associate-access-policy"]);
    assert_eq!(option_value(&words, "--policy-arn"), VIEW_POLICY);

    rules.entry = describe_entry("STANDARD", &["platform-admins"]);
    let report = run(&rules.iam(), &rules.eks(), &input(broker(), None)).await;
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Warning);
    assert!(
        check.details.iter().any(|d| d.contains("platform-admins")),
        "{:?}",
        check.details
    );
}

#[tokio::test]
async fn entry_with_other_level() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.policies = list_policies(&[VIEW_POLICY]);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Warning);
    assert!(
        check.message.contains("AmazonEKSClusterAdminPolicy"),
        "{}",
        check.message
    );
    assert!(fix_of(check).contains(ADMIN_POLICY));

    // Without a known level, any access policy counts.
    let report = run(&rules.iam(), &rules.eks(), &input(broker(), None)).await;
    assert_eq!(
        role_check(&report, CheckKind::KubernetesMapping).status,
        Status::Ok
    );
}

#[tokio::test]
async fn node_type_entry_rejected() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.entry = describe_entry("EC2_LINUX", &[]);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Problem);
    assert!(check.message.contains("EC2_LINUX"), "{}", check.message);
}

#[tokio::test]
async fn pathless_entry_reported() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.entries = list_entries(&[MAPPED_ARN]);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Problem);
    let commands = commands_of(fix_of(check));
    let delete = shell_words(&commands[0]);
    assert_eq!(&delete[..3], ["aws", "eks", "delete-access-entry"]);
    assert_eq!(option_value(&delete, "--principal-arn"), MAPPED_ARN);
    let create = shell_words(&commands[1]);
    assert_eq!(option_value(&create, "--principal-arn"), ROLE_ARN);
}

#[tokio::test]
async fn entries_listing_denied() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.entries = mock!(aws_sdk_eks::Client::list_access_entries)
        .then_http_response(|| eks_error(403, "AccessDeniedException"));
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Unchecked);
    assert!(
        check.message.contains("eks:ListAccessEntries"),
        "{}",
        check.message
    );
    assert!(fix_of(check).contains("aws eks list-access-entries"));
}

#[tokio::test]
async fn entries_read_across_pages() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    let first = mock!(aws_sdk_eks::Client::list_access_entries)
        .match_requests(|request| request.next_token().is_none())
        .then_output(|| {
            ListAccessEntriesOutput::builder()
                .access_entries("arn:aws:iam::111122223333:role/prod-node-group")
                .next_token("page-2")
                .build()
        });
    rules.entries = mock!(aws_sdk_eks::Client::list_access_entries)
        .match_requests(|request| request.next_token() == Some("page-2"))
        .then_output(|| {
            ListAccessEntriesOutput::builder()
                .access_entries(ROLE_ARN)
                .build()
        });
    let eks = eks_client(&[
        &rules.cluster,
        &first,
        &rules.entries,
        &rules.entry,
        &rules.policies,
    ]);
    let report = run(
        &rules.iam(),
        &eks,
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    assert_eq!(
        role_check(&report, CheckKind::KubernetesMapping).status,
        Status::Ok
    );
    assert_eq!(first.num_calls(), 1);
    assert_eq!(rules.entries.num_calls(), 1);
}

#[tokio::test]
async fn describe_entry_denied() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.entry = mock!(aws_sdk_eks::Client::describe_access_entry)
        .then_http_response(|| eks_error(403, "AccessDeniedException"));
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(check.status, Status::Unchecked);
    assert!(check.message.contains("access denied"), "{}", check.message);
}

#[tokio::test]
async fn cluster_not_found() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.cluster = mock!(aws_sdk_eks::Client::describe_cluster)
        .then_http_response(|| eks_error(404, "ResourceNotFoundException"));
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = cluster_check(&report, CheckKind::Cluster);
    assert_eq!(check.status, Status::Problem);
    assert!(check.message.contains("not found"), "{}", check.message);
    assert_eq!(report.authentication_mode, None);
    assert_eq!(
        role_check(&report, CheckKind::KubernetesMapping).status,
        Status::Unchecked
    );
    assert_eq!(rules.entries.num_calls(), 0);
}

#[tokio::test]
async fn cluster_without_auth_mode() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.cluster = describe_cluster(None);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    assert_eq!(
        cluster_check(&report, CheckKind::Cluster).status,
        Status::Warning
    );
    let mapping = role_check(&report, CheckKind::KubernetesMapping);
    assert_eq!(mapping.status, Status::Unchecked);
    assert!(fix_of(mapping).contains(&format!("rolearn: {MAPPED_ARN}")));
}

#[tokio::test]
async fn cross_account_issuer_unchecked() {
    let rules = Healthy::new(AuthenticationMode::Api);
    let issuer = Issuer::broker(ISSUER_ROLE_ARN).unwrap();
    let role = get_role(ROLE_NAME, "/eksgate/", trust_policy(&issuer));
    let iam = iam_client(&[&role, &rules.simulate]);
    let report = run(&iam, &rules.eks(), &input(issuer, Some(AccessLevel::Admin))).await;
    let check = cluster_check(&report, CheckKind::Issuer);
    assert_eq!(check.status, Status::Unchecked);
    assert!(check.message.contains("444455556666"), "{}", check.message);
    assert_eq!(
        role_check(&report, CheckKind::TrustPolicy).status,
        Status::Ok
    );
}

#[tokio::test]
async fn missing_issuer_role() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.issuer = mock!(aws_sdk_iam::Client::get_role)
        .match_requests(|request| request.role_name() == Some("eksgate-SessionIssuerRole"))
        .then_http_response(|| iam_error(404, "NoSuchEntity"));
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = cluster_check(&report, CheckKind::Issuer);
    assert_eq!(check.status, Status::Problem);
    assert!(
        check.message.contains("SessionIssuerRoleArn"),
        "{}",
        check.message
    );
}

fn oidc_provider(client_ids: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_iam::Client::get_open_id_connect_provider)
        .match_requests(|request| request.open_id_connect_provider_arn() == Some(PROVIDER_ARN))
        .then_output(move || {
            let mut output =
                GetOpenIdConnectProviderOutput::builder().url("idp.example.com/oauth2/default");
            for id in client_ids {
                output = output.client_id_list(*id);
            }
            output.build()
        })
}

#[tokio::test]
async fn web_identity_provider_checks() {
    let issuer = Issuer::web_identity(PROVIDER_ARN, AUDIENCE).unwrap();
    let rules = Healthy::new(AuthenticationMode::Api);
    let role = get_role(ROLE_NAME, "/eksgate/", trust_policy(&issuer));

    let provider = oidc_provider(&[AUDIENCE]);
    let iam = iam_client(&[&provider, &role, &rules.simulate]);
    let report = run(
        &iam,
        &rules.eks(),
        &input(issuer.clone(), Some(AccessLevel::Admin)),
    )
    .await;
    assert_eq!(report.status, Status::Ok, "{}", report.render());
    assert_eq!(report.mode, AssumeMode::WebIdentity);
    let exists = role_check(&report, CheckKind::RoleExists);
    assert!(
        exists.details[0].contains("web-identity sessions"),
        "{:?}",
        exists.details
    );

    let provider = oidc_provider(&["another-client"]);
    let iam = iam_client(&[&provider, &role, &rules.simulate]);
    let report = run(
        &iam,
        &rules.eks(),
        &input(issuer.clone(), Some(AccessLevel::Admin)),
    )
    .await;
    let check = cluster_check(&report, CheckKind::Issuer);
    assert_eq!(check.status, Status::Problem);
    let words = shell_words(&commands_of(fix_of(check))[0]);
    assert_eq!(
        &words[..3],
        ["aws", "iam", "add-client-id-to-open-id-connect-provider"]
    );
    assert_eq!(option_value(&words, "--client-id"), AUDIENCE);

    let missing = mock!(aws_sdk_iam::Client::get_open_id_connect_provider)
        .then_http_response(|| iam_error(404, "NoSuchEntity"));
    let iam = iam_client(&[&missing, &role, &rules.simulate]);
    let report = run(&iam, &rules.eks(), &input(issuer, Some(AccessLevel::Admin))).await;
    let check = cluster_check(&report, CheckKind::Issuer);
    assert_eq!(check.status, Status::Problem);
    let words = shell_words(&commands_of(fix_of(check))[0]);
    assert_eq!(
        &words[..3],
        ["aws", "iam", "create-open-id-connect-provider"]
    );
    assert_eq!(
        option_value(&words, "--url"),
        "https://idp.example.com/oauth2/default"
    );
}

#[tokio::test]
async fn provider_in_other_account() {
    let issuer = Issuer::web_identity(
        "arn:aws:iam::999988887777:oidc-provider/idp.example.com",
        AUDIENCE,
    )
    .unwrap();
    let rules = Healthy::new(AuthenticationMode::Api);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(issuer, Some(AccessLevel::Admin)),
    )
    .await;
    let check = cluster_check(&report, CheckKind::Issuer);
    assert_eq!(check.status, Status::Problem);
    assert!(
        check.message.contains("cluster's account"),
        "{}",
        check.message
    );
}

#[tokio::test]
async fn inconsistent_catalog_role() {
    let rules = Healthy::new(AuthenticationMode::Api);
    let mut input = input(broker(), Some(AccessLevel::Admin));
    input.roles[0].mapped_arn = "arn:aws:iam::111122223333:role/other".into();
    let report = run(&rules.iam(), &rules.eks(), &input).await;
    let check = role_check(&report, CheckKind::RoleExists);
    assert_eq!(check.status, Status::Problem);
    assert!(
        check.message.contains("not the same role"),
        "{}",
        check.message
    );

    input.roles[0] = CatalogRole {
        name: "x".into(),
        assume_arn: "arn:aws:iam::999988887777:role/x".into(),
        mapped_arn: "arn:aws:iam::999988887777:role/x".into(),
        level: None,
    };
    let report = run(&rules.iam(), &rules.eks(), &input).await;
    assert_eq!(
        role_check(&report, CheckKind::RoleExists).status,
        Status::Problem
    );
}

#[tokio::test]
async fn invalid_cluster_is_an_error() {
    let rules = Healthy::new(AuthenticationMode::Api);
    let mut input = input(broker(), None);
    input.cluster_arn = "prod".into();
    let error = check_cluster(&rules.iam(), &rules.eks(), &input)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("invalid cluster ARN"), "{error}");
}

#[tokio::test]
async fn report_serializes() {
    let mut rules = Healthy::new(AuthenticationMode::Api);
    rules.simulate = simulate(PolicyEvaluationDecisionType::ImplicitDeny);
    let report = run(
        &rules.iam(),
        &rules.eks(),
        &input(broker(), Some(AccessLevel::Admin)),
    )
    .await;
    let value = serde_json::to_value(&report).unwrap();

    assert_eq!(value["status"], "problem");
    assert_eq!(value["mode"], "broker");
    assert_eq!(value["authentication_mode"], "API");
    assert_eq!(
        value["counts"],
        json!({"ok": 5, "unchecked": 0, "warning": 0, "problem": 1})
    );

    let checks = value["roles"][0]["checks"].as_array().unwrap();
    let describe = checks
        .iter()
        .find(|check| check["kind"] == "describe_cluster")
        .unwrap();
    assert_eq!(describe["status"], "problem");
    assert!(
        describe["fix"]
            .as_str()
            .unwrap()
            .contains("put-role-policy")
    );
    let exists = checks
        .iter()
        .find(|check| check["kind"] == "role_exists")
        .unwrap();
    assert!(exists.get("fix").is_none(), "{exists}");
}
