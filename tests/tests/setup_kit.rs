//! The cluster setup kit against local tools. The doctor runs against moto's IAM and EKS, and
//! the fixes it prints are applied to moto. The CloudFormation templates go through cfn-lint and
//! a small evaluator of their intrinsic functions. The Terraform module's structure is checked
//! as text and, where `infra/terraform/check.sh` installed Terraform, with `terraform fmt` and an
//! offline evaluation of its policy documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use eksgate_setup::{
    AccessLevel, AccessRole, CatalogRole, Check, CheckKind, ClusterArn, DoctorInput, DoctorReport,
    Issuer, Status, access_entry_cloudformation, check_cluster, describe_cluster_policy,
    terraform_module_block, trust_policy,
};
use eksgate_tags::{Namespace, Partition, parse_roles};
use eksgate_tests::aws::{OWN_ACCOUNT, local_config};
use eksgate_tests::estate::{ClusterSpec, create_cluster};
use eksgate_tests::moto::Moto;
use eksgate_tests::repo_root;
use serde_json::{Value as Json, json};
use serde_yaml::Value as Yaml;

const REGION: &str = "eu-west-1";
const ISSUER_NAME: &str = "eksgate-SessionIssuerRole";
const AUDIENCE: &str = "0oa1b2c3d4e5f6g7h8i9";
const OIDC_ISSUER: &str = "idp.example.com/oauth2/default";

fn issuer_arn() -> String {
    format!("arn:aws:iam::{OWN_ACCOUNT}:role/{ISSUER_NAME}")
}

// ---------------------------------------------------------------------------------------------
// The doctor against moto
// ---------------------------------------------------------------------------------------------

struct Local {
    _moto: Moto,
    iam: aws_sdk_iam::Client,
    eks: aws_sdk_eks::Client,
    cluster: ClusterArn,
}

async fn local_cluster() -> Local {
    let moto = Moto::start();
    let config = local_config(&moto.endpoint(), REGION);
    let arn = create_cluster(&config, &ClusterSpec::new(REGION, "prod", &[("opal", "x")])).await;
    Local {
        iam: aws_sdk_iam::Client::new(&config),
        eks: aws_sdk_eks::Client::new(&config),
        cluster: ClusterArn::parse(&arn).expect("moto returns a valid cluster ARN"),
        _moto: moto,
    }
}

async fn create_role(iam: &aws_sdk_iam::Client, name: &str, path: &str, trust: &Json) {
    iam.create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap_or_else(|error| panic!("CreateRole {name}: {error:?}"));
}

fn catalog_role(role: &AccessRole) -> CatalogRole {
    CatalogRole {
        name: role.name().to_string(),
        assume_arn: role.arn().to_string(),
        mapped_arn: role.mapped_arn().to_string(),
        level: Some(role.level()),
    }
}

fn check_of<'a>(report: &'a DoctorReport, role: &str, kind: CheckKind) -> &'a Check {
    report
        .roles
        .iter()
        .find(|r| r.name == role)
        .and_then(|r| r.checks.iter().find(|c| c.kind == kind))
        .unwrap_or_else(|| panic!("no {kind:?} check of {role} in\n{}", report.render()))
}

fn issuer_check(report: &DoctorReport) -> &Check {
    report
        .checks
        .iter()
        .find(|c| c.kind == CheckKind::Issuer)
        .expect("an issuer check")
}

/// Splits printed text into commands and each command into its words, through /bin/sh.
fn commands(text: &str) -> Vec<Vec<String>> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if current.is_empty() && line.starts_with('#') {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if !line.ends_with('\\') {
            joined.push(std::mem::take(&mut current));
        }
    }
    joined
        .iter()
        .map(|command| {
            let output = Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s\\0' {command}"))
                .output()
                .expect("running sh");
            assert!(output.status.success(), "sh rejected {command}");
            String::from_utf8(output.stdout)
                .unwrap()
                .split('\0')
                .filter(|word| !word.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn option<'a>(words: &'a [String], name: &str) -> &'a str {
    let index = words
        .iter()
        .position(|word| word == name)
        .unwrap_or_else(|| panic!("{name} missing from {words:?}"));
    &words[index + 1]
}

/// Applies the IAM commands of a fix to moto through the SDK, as an operator would run them.
async fn apply_iam_fix(iam: &aws_sdk_iam::Client, fix: &str) {
    for words in commands(fix) {
        assert_eq!(words[..2], ["aws", "iam"], "{words:?}");
        match words[2].as_str() {
            "create-role" => {
                iam.create_role()
                    .role_name(option(&words, "--role-name"))
                    .path(option(&words, "--path"))
                    .max_session_duration(option(&words, "--max-session-duration").parse().unwrap())
                    .description(option(&words, "--description"))
                    .assume_role_policy_document(option(&words, "--assume-role-policy-document"))
                    .send()
                    .await
                    .expect("create-role from the fix");
            }
            "put-role-policy" => {
                iam.put_role_policy()
                    .role_name(option(&words, "--role-name"))
                    .policy_name(option(&words, "--policy-name"))
                    .policy_document(option(&words, "--policy-document"))
                    .send()
                    .await
                    .expect("put-role-policy from the fix");
            }
            "update-assume-role-policy" => {
                iam.update_assume_role_policy()
                    .role_name(option(&words, "--role-name"))
                    .policy_document(option(&words, "--policy-document"))
                    .send()
                    .await
                    .expect("update-assume-role-policy from the fix");
            }
            other => panic!("unexpected IAM command {other}"),
        }
    }
}

#[tokio::test]
async fn doctor_broker_fixes_apply() {
    let local = local_cluster().await;
    let issuer = Issuer::broker(&issuer_arn()).unwrap();
    create_role(&local.iam, ISSUER_NAME, "/", &json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"
    }]}))
    .await;

    let good = AccessRole::new(
        &local.cluster,
        AccessLevel::Admin,
        "prod-admin",
        "/eksgate/",
    )
    .unwrap();
    create_role(&local.iam, good.name(), good.path(), &trust_policy(&issuer)).await;

    let wrong_trust = AccessRole::new(
        &local.cluster,
        AccessLevel::ReadOnly,
        "prod-view",
        "/eksgate/",
    )
    .unwrap();
    let other = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{OWN_ACCOUNT}:role/someone-else")},
        "Action": "sts:AssumeRole"
    }]});
    create_role(&local.iam, wrong_trust.name(), wrong_trust.path(), &other).await;

    let missing = AccessRole::new(
        &local.cluster,
        AccessLevel::ReadOnly,
        "prod-missing",
        "/eksgate/",
    )
    .unwrap();

    // moto stores and returns the trust policy; GetRole returns it URL-encoded as IAM does, or
    // as plain JSON, and the doctor reads both.
    let stored = local
        .iam
        .get_role()
        .role_name(good.name())
        .send()
        .await
        .unwrap();
    let document = stored
        .role()
        .unwrap()
        .assume_role_policy_document()
        .unwrap();
    assert!(
        document.starts_with("%7B") || document.starts_with('{'),
        "{document}"
    );

    let input = DoctorInput::new(
        &local.cluster.to_string(),
        vec![
            catalog_role(&good),
            catalog_role(&wrong_trust),
            catalog_role(&missing),
        ],
        issuer.clone(),
    );
    let report = check_cluster(&local.iam, &local.eks, &input).await.unwrap();
    let text = report.render();

    assert_eq!(issuer_check(&report).status, Status::Ok, "{text}");
    assert_eq!(
        check_of(&report, "prod-admin", CheckKind::RoleExists).status,
        Status::Ok,
        "{text}"
    );
    assert_eq!(
        check_of(&report, "prod-admin", CheckKind::TrustPolicy).status,
        Status::Ok,
        "{text}"
    );
    // moto 5.2 does not implement SimulatePrincipalPolicy, so this check reports that it could
    // not run, with the command to run by hand.
    let describe = check_of(&report, "prod-admin", CheckKind::DescribeCluster);
    assert_eq!(describe.status, Status::Unchecked, "{text}");
    assert!(
        describe
            .fix
            .as_deref()
            .unwrap()
            .contains("simulate-principal-policy"),
        "{text}"
    );
    // moto's DescribeCluster reports no authentication mode, so the mapping is not checked.
    let mapping = check_of(&report, "prod-admin", CheckKind::KubernetesMapping);
    assert_eq!(mapping.status, Status::Unchecked, "{text}");
    assert!(
        mapping
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("rolearn: {}", good.mapped_arn())),
        "{text}"
    );

    let trust = check_of(&report, "prod-view", CheckKind::TrustPolicy);
    assert_eq!(trust.status, Status::Problem, "{text}");
    let exists = check_of(&report, "prod-missing", CheckKind::RoleExists);
    assert_eq!(exists.status, Status::Problem, "{text}");
    assert_eq!(report.status, Status::Problem);

    apply_iam_fix(&local.iam, trust.fix.as_deref().unwrap()).await;
    apply_iam_fix(&local.iam, exists.fix.as_deref().unwrap()).await;

    let report = check_cluster(&local.iam, &local.eks, &input).await.unwrap();
    let text = report.render();
    for role in ["prod-admin", "prod-view", "prod-missing"] {
        for kind in [CheckKind::RoleExists, CheckKind::TrustPolicy] {
            assert_eq!(
                check_of(&report, role, kind).status,
                Status::Ok,
                "{role} {kind:?}: {text}"
            );
        }
    }
    assert_eq!(report.counts.problem, 0, "{text}");

    let created = local
        .iam
        .get_role()
        .role_name("prod-missing")
        .send()
        .await
        .unwrap();
    let created = created.role().unwrap();
    assert_eq!(created.arn(), missing.arn());
    assert_eq!(created.max_session_duration(), Some(3600));
    let policy = local
        .iam
        .get_role_policy()
        .role_name("prod-missing")
        .policy_name("eksgate-describe-cluster")
        .send()
        .await
        .unwrap();
    let document = percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8()
        .unwrap();
    let document: Json = serde_json::from_str(&document).unwrap();
    assert_eq!(document, describe_cluster_policy(&local.cluster));
}

#[tokio::test]
async fn doctor_web_identity_provider() {
    let local = local_cluster().await;
    let provider = local
        .iam
        .create_open_id_connect_provider()
        .url(format!("https://{OIDC_ISSUER}"))
        .client_id_list("another-client")
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .unwrap();
    let provider_arn = provider.open_id_connect_provider_arn().unwrap().to_string();
    assert_eq!(
        provider_arn,
        format!("arn:aws:iam::{OWN_ACCOUNT}:oidc-provider/{OIDC_ISSUER}")
    );
    let issuer = Issuer::web_identity(&provider_arn, AUDIENCE).unwrap();
    let role = AccessRole::new(
        &local.cluster,
        AccessLevel::Admin,
        "prod-admin",
        "/eksgate/",
    )
    .unwrap();
    create_role(&local.iam, role.name(), role.path(), &trust_policy(&issuer)).await;

    let input = DoctorInput::new(
        &local.cluster.to_string(),
        vec![catalog_role(&role)],
        issuer,
    );
    let report = check_cluster(&local.iam, &local.eks, &input).await.unwrap();
    let check = issuer_check(&report);
    assert_eq!(check.status, Status::Problem, "{}", report.render());
    assert_eq!(
        check_of(&report, "prod-admin", CheckKind::TrustPolicy).status,
        Status::Ok,
        "{}",
        report.render()
    );

    let fix = commands(check.fix.as_deref().unwrap());
    assert_eq!(fix.len(), 1, "{fix:?}");
    assert_eq!(
        fix[0][..3],
        ["aws", "iam", "add-client-id-to-open-id-connect-provider"]
    );
    assert_eq!(
        option(&fix[0], "--open-id-connect-provider-arn"),
        provider_arn
    );
    assert_eq!(option(&fix[0], "--client-id"), AUDIENCE);

    // moto 5.2 returns an internal error for AddClientIDToOpenIDConnectProvider, so the test
    // reaches the fixed state by creating the provider again with both client IDs.
    local
        .iam
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .send()
        .await
        .unwrap();
    local
        .iam
        .create_open_id_connect_provider()
        .url(format!("https://{OIDC_ISSUER}"))
        .client_id_list("another-client")
        .client_id_list(AUDIENCE)
        .thumbprint_list("9e99a48a9960b14926bb7f3b02e22da2b0ab7280")
        .send()
        .await
        .unwrap();
    let report = check_cluster(&local.iam, &local.eks, &input).await.unwrap();
    assert_eq!(
        issuer_check(&report).status,
        Status::Ok,
        "{}",
        report.render()
    );
}

// ---------------------------------------------------------------------------------------------
// CloudFormation
// ---------------------------------------------------------------------------------------------

fn cfn_lint() -> PathBuf {
    let path = repo_root().join(".venv/bin/cfn-lint");
    assert!(
        path.exists(),
        "cfn-lint is not installed: {} is missing. Run scripts/bootstrap.sh.",
        path.display()
    );
    path
}

/// Runs cfn-lint on a template and returns its exit status and output.
fn lint(template: &Path) -> (bool, String) {
    let output = Command::new(cfn_lint())
        .arg(template)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("running cfn-lint");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn setup_templates_pass_cfn_lint() {
    for name in ["access-role.yaml", "member-read-role.yaml"] {
        let path = repo_root().join("infra/setup").join(name);
        let (ok, output) = lint(&path);
        assert!(ok, "cfn-lint {name}:\n{output}");
    }
}

#[test]
fn access_entry_snippet_passes_cfn_lint() {
    let cluster = ClusterArn::parse("arn:aws:eks:eu-west-1:111122223333:cluster/prod").unwrap();
    let dir = tempdir("snippet");
    for level in AccessLevel::ALL {
        let role = AccessRole::new(&cluster, level, "prod-role", "/eksgate/").unwrap();
        let snippet = access_entry_cloudformation(
            &cluster,
            role.arn(),
            level,
            Some("eksgate:{{SessionName}}"),
        );
        let indented: String = snippet.lines().map(|line| format!("  {line}\n")).collect();
        let template = format!("AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n{indented}");
        let path = dir.join(format!("{level}.yaml"));
        std::fs::write(&path, &template).unwrap();
        let (ok, output) = lint(&path);
        assert!(ok, "cfn-lint on\n{template}\n{output}");
    }

    // cfn-lint rejects a broken access entry, so the passes above mean something.
    let broken = "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Entry:\n    \
                  Type: AWS::EKS::AccessEntry\n    Properties:\n      ClusterName: prod\n      \
                  AccessPolicies:\n        - PolicyArn: x\n          AccessScope: {Type: planet}\n";
    let path = dir.join("broken.yaml");
    std::fs::write(&path, broken).unwrap();
    let (ok, output) = lint(&path);
    assert!(!ok, "cfn-lint accepted a broken template:\n{output}");
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("eksgate-setup-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_template(name: &str) -> Yaml {
    let path = repo_root().join("infra/setup").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|error| panic!("{name} is not YAML: {error}"))
}

/// Evaluates the intrinsic functions of a template that the setup templates use, with
/// parameter values, so that tests can compare the resulting documents with the library's.
struct Evaluator {
    parameters: BTreeMap<String, Json>,
    conditions: BTreeMap<String, bool>,
    /// What `Ref` of a resource returns, by logical ID.
    resources: BTreeMap<String, String>,
}

impl Evaluator {
    fn new(template: &Yaml, values: &[(&str, Json)], resources: &[(&str, &str)]) -> Self {
        let mut parameters = BTreeMap::new();
        for (name, definition) in template["Parameters"].as_mapping().unwrap() {
            let name = name.as_str().unwrap().to_string();
            if let Some(default) = definition.get("Default") {
                let default = default
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| serde_yaml::to_string(default).unwrap().trim().to_string());
                let value = if definition["Type"].as_str() == Some("CommaDelimitedList") {
                    json!(
                        default
                            .split(',')
                            .filter(|v| !v.is_empty())
                            .collect::<Vec<_>>()
                    )
                } else {
                    json!(default)
                };
                parameters.insert(name, value);
            }
        }
        for (name, value) in values {
            parameters.insert(name.to_string(), value.clone());
        }
        let mut evaluator = Self {
            parameters,
            conditions: BTreeMap::new(),
            resources: resources
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        if let Some(conditions) = template.get("Conditions").and_then(Yaml::as_mapping) {
            for (name, expression) in conditions {
                let value = evaluator.condition(expression);
                evaluator
                    .conditions
                    .insert(name.as_str().unwrap().to_string(), value);
            }
        }
        evaluator
    }

    fn condition(&self, expression: &Yaml) -> bool {
        let (name, argument) = intrinsic(expression).expect("a condition is an intrinsic");
        match name.as_str() {
            "Equals" => {
                let items = argument.as_sequence().unwrap();
                self.eval(&items[0]) == self.eval(&items[1])
            }
            "Not" => !self.condition(&argument.as_sequence().unwrap()[0]),
            "And" => argument
                .as_sequence()
                .unwrap()
                .iter()
                .all(|c| self.condition(c)),
            "Or" => argument
                .as_sequence()
                .unwrap()
                .iter()
                .any(|c| self.condition(c)),
            "Condition" => self.conditions[argument.as_str().unwrap()],
            other => panic!("unsupported condition function {other}"),
        }
    }

    /// Evaluates a value. `None` stands for `AWS::NoValue`.
    fn eval(&self, value: &Yaml) -> Option<Json> {
        if let Some((name, argument)) = intrinsic(value) {
            return self.function(&name, argument);
        }
        match value {
            Yaml::Mapping(mapping) => {
                let mut object = serde_json::Map::new();
                for (key, item) in mapping {
                    if let Some(item) = self.eval(item) {
                        object.insert(key.as_str().unwrap().to_string(), item);
                    }
                }
                Some(Json::Object(object))
            }
            Yaml::Sequence(items) => Some(Json::Array(
                items.iter().filter_map(|i| self.eval(i)).collect(),
            )),
            Yaml::String(text) => Some(json!(text)),
            Yaml::Number(number) => Some(serde_json::to_value(number).unwrap()),
            Yaml::Bool(flag) => Some(json!(flag)),
            Yaml::Null => Some(Json::Null),
            Yaml::Tagged(_) => unreachable!("tags are intrinsics"),
        }
    }

    fn reference(&self, name: &str) -> Option<Json> {
        match name {
            "AWS::NoValue" => None,
            "AWS::Partition" => Some(json!("aws")),
            "AWS::AccountId" => Some(json!(OWN_ACCOUNT)),
            _ => Some(
                self.parameters
                    .get(name)
                    .cloned()
                    .or_else(|| self.resources.get(name).map(|v| json!(v)))
                    .unwrap_or_else(|| panic!("no value for Ref {name}")),
            ),
        }
    }

    fn function(&self, name: &str, argument: &Yaml) -> Option<Json> {
        let text = |value: Json| value.as_str().unwrap().to_string();
        match name {
            "Ref" => self.reference(argument.as_str().unwrap()),
            "If" => {
                let items = argument.as_sequence().unwrap();
                let chosen = if self.conditions[items[0].as_str().unwrap()] {
                    &items[1]
                } else {
                    &items[2]
                };
                self.eval(chosen)
            }
            "Sub" => {
                let (template, variables) = match argument {
                    Yaml::String(template) => (template.clone(), BTreeMap::new()),
                    Yaml::Sequence(items) => {
                        let variables = items[1]
                            .as_mapping()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().unwrap().to_string(), text(self.eval(v).unwrap()))
                            })
                            .collect();
                        (items[0].as_str().unwrap().to_string(), variables)
                    }
                    other => panic!("unsupported Sub {other:?}"),
                };
                let mut output = String::new();
                let mut rest = template.as_str();
                while let Some(start) = rest.find("${") {
                    output.push_str(&rest[..start]);
                    let end = rest[start..].find('}').unwrap() + start;
                    let variable = &rest[start + 2..end];
                    let value = variables
                        .get(variable)
                        .cloned()
                        .unwrap_or_else(|| text(self.reference(variable).unwrap()));
                    output.push_str(&value);
                    rest = &rest[end + 1..];
                }
                output.push_str(rest);
                Some(json!(output))
            }
            "Select" => {
                let items = argument.as_sequence().unwrap();
                let index = items[0].as_u64().unwrap() as usize;
                let list = self.eval(&items[1]).unwrap();
                Some(
                    list.as_array()
                        .unwrap()
                        .get(index)
                        .expect("Select index in range")
                        .clone(),
                )
            }
            "Split" => {
                let items = argument.as_sequence().unwrap();
                let delimiter = items[0].as_str().unwrap();
                let source = text(self.eval(&items[1]).unwrap());
                Some(json!(source.split(delimiter).collect::<Vec<_>>()))
            }
            "GetAtt" => Some(json!(format!(
                "GetAtt:{}",
                argument.as_str().unwrap_or_default()
            ))),
            other => panic!("unsupported function {other}"),
        }
    }
}

/// Returns the function name and argument of an intrinsic in short (`!Ref`) or long
/// (`Ref:`, `Fn::If:`) form.
fn intrinsic(value: &Yaml) -> Option<(String, &Yaml)> {
    match value {
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            Some((tag.trim_start_matches('!').to_string(), &tagged.value))
        }
        Yaml::Mapping(mapping) if mapping.len() == 1 => {
            let (key, argument) = mapping.iter().next().unwrap();
            let key = key.as_str()?;
            if key == "Ref" || key == "Condition" {
                Some((key.to_string(), argument))
            } else {
                key.strip_prefix("Fn::")
                    .map(|name| (name.to_string(), argument))
            }
        }
        _ => None,
    }
}

fn as_json_document(value: Json) -> Json {
    match value {
        Json::String(text) => serde_json::from_str(&text).expect("the policy string is JSON"),
        other => other,
    }
}

const CLUSTER_ARN_LOCAL: &str = "arn:aws:eks:eu-west-1:123456789012:cluster/prod";

fn access_role_properties(values: &[(&str, Json)]) -> (Evaluator, Json) {
    let template = read_template("access-role.yaml");
    let evaluator = Evaluator::new(&template, values, &[("AccessRole", "prod-admin")]);
    let properties = evaluator
        .eval(&template["Resources"]["AccessRole"]["Properties"])
        .unwrap();
    (evaluator, properties)
}

#[test]
fn access_role_template_broker() {
    let issuer = Issuer::broker(&issuer_arn()).unwrap();
    let values = [
        ("Mode", json!("broker")),
        ("ClusterArn", json!(CLUSTER_ARN_LOCAL)),
        ("AccessLevel", json!("admin")),
        ("RoleName", json!("prod-admin")),
        ("IssuerRoleArn", json!(issuer_arn())),
    ];
    let (evaluator, properties) = access_role_properties(&values);
    assert_eq!(
        as_json_document(properties["AssumeRolePolicyDocument"].clone()),
        trust_policy(&issuer)
    );
    let cluster = ClusterArn::parse(CLUSTER_ARN_LOCAL).unwrap();
    assert_eq!(
        properties["Policies"][0]["PolicyName"],
        "eksgate-describe-cluster"
    );
    assert_eq!(
        properties["Policies"][0]["PolicyDocument"],
        describe_cluster_policy(&cluster)
    );
    assert_eq!(properties["Path"], "/eksgate/");
    assert_eq!(properties["MaxSessionDuration"], "3600");
    assert!(!evaluator.conditions["CreateEntry"]);

    // The outputs name the same ARNs and tag value as the library.
    let role = AccessRole::new(&cluster, AccessLevel::Admin, "prod-admin", "/eksgate/").unwrap();
    let template = read_template("access-role.yaml");
    let outputs = evaluator.eval(&template["Outputs"]).unwrap();
    assert_eq!(outputs["MappedRoleArn"]["Value"], role.mapped_arn());
    let tag_value = outputs["RoleTagValue"]["Value"].as_str().unwrap();
    let tags = BTreeMap::from([("opal:eks:role:admin".to_string(), tag_value.to_string())]);
    let parsed = parse_roles(&Namespace::default(), &tags, OWN_ACCOUNT, Partition::Aws);
    assert_eq!(parsed.roles.len(), 1, "{tag_value}: {:?}", parsed.problems);
    assert_eq!(parsed.roles[0].assume_arn, role.arn());
}

#[test]
fn access_role_template_source_identity() {
    let issuer = Issuer::broker_with_source_identity(&issuer_arn(), "*@example.com").unwrap();
    let values = [
        ("Mode", json!("broker")),
        ("ClusterArn", json!(CLUSTER_ARN_LOCAL)),
        ("RoleName", json!("prod-admin")),
        ("IssuerRoleArn", json!(issuer_arn())),
        ("SourceIdentityPattern", json!("*@example.com")),
    ];
    let (_, properties) = access_role_properties(&values);
    assert_eq!(
        as_json_document(properties["AssumeRolePolicyDocument"].clone()),
        trust_policy(&issuer)
    );
}

#[test]
fn access_role_template_web_identity() {
    let provider_arn = format!("arn:aws:iam::{OWN_ACCOUNT}:oidc-provider/{OIDC_ISSUER}");
    let issuer = Issuer::web_identity(&provider_arn, AUDIENCE).unwrap();
    let values = [
        ("Mode", json!("web-identity")),
        ("ClusterArn", json!(CLUSTER_ARN_LOCAL)),
        ("AccessLevel", json!("read-only")),
        ("RoleName", json!("prod-view")),
        ("OidcProviderArn", json!(provider_arn)),
        ("OidcAudience", json!(AUDIENCE)),
        ("MaxSessionDuration", json!("43200")),
        ("CreateAccessEntry", json!("true")),
    ];
    let (evaluator, properties) = access_role_properties(&values);
    let document = properties["AssumeRolePolicyDocument"].clone();
    assert!(
        document.is_string(),
        "the web-identity trust policy is a JSON string"
    );
    assert_eq!(as_json_document(document), trust_policy(&issuer));
    assert_eq!(properties["MaxSessionDuration"], "43200");

    let template = read_template("access-role.yaml");
    assert!(evaluator.conditions["CreateEntry"]);
    let entry = evaluator
        .eval(&template["Resources"]["AccessEntry"])
        .unwrap();
    assert_eq!(entry["Condition"], "CreateEntry");
    let entry = &entry["Properties"];
    assert_eq!(entry["ClusterName"], "prod");
    assert_eq!(entry["PrincipalArn"], "GetAtt:AccessRole.Arn");
    assert_eq!(entry["Type"], "STANDARD");
    assert!(entry.get("Username").is_none());
    assert_eq!(
        entry["AccessPolicies"][0]["PolicyArn"],
        AccessLevel::ReadOnly.access_policy_arn(Partition::Aws)
    );
    assert_eq!(entry["AccessPolicies"][0]["AccessScope"]["Type"], "cluster");

    let mut with_admin = values.to_vec();
    with_admin.push(("AccessLevel", json!("admin")));
    with_admin.push(("AccessEntryUsername", json!("eksgate:{{SessionName}}")));
    let (evaluator, _) = access_role_properties(&with_admin);
    let entry = evaluator
        .eval(&template["Resources"]["AccessEntry"])
        .unwrap();
    assert_eq!(
        entry["Properties"]["AccessPolicies"][0]["PolicyArn"],
        AccessLevel::Admin.access_policy_arn(Partition::Aws)
    );
    assert_eq!(entry["Properties"]["Username"], "eksgate:{{SessionName}}");
}

#[test]
fn member_read_role_template() {
    let template = read_template("member-read-role.yaml");
    let trusted = [
        "arn:aws:iam::444455556666:role/eksgate-ImporterFunctionRole-*",
        "arn:aws:iam::444455556666:role/eksgate-TagEventsFunctionRole-*",
    ];
    let evaluator = Evaluator::new(
        &template,
        &[
            ("EksgateAccountId", json!("444455556666")),
            ("TrustedRoleArns", json!(trusted)),
        ],
        &[],
    );
    let properties = evaluator
        .eval(&template["Resources"]["MemberReadRole"]["Properties"])
        .unwrap();
    assert_eq!(properties["RoleName"], "eksgate-member-read");
    assert_eq!(properties["Path"], "/eksgate/");

    let trust = &properties["AssumeRolePolicyDocument"];
    assert_eq!(trust["Version"], "2012-10-17");
    let statements = trust["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(
        statements[0]["Principal"],
        json!({"AWS": "arn:aws:iam::444455556666:root"})
    );
    assert_eq!(statements[0]["Action"], "sts:AssumeRole");
    assert_eq!(
        statements[0]["Condition"],
        json!({"ArnLike": {"aws:PrincipalArn": trusted}})
    );

    let policy = &properties["Policies"][0]["PolicyDocument"];
    assert_eq!(policy["Version"], "2012-10-17");
    let grants: Vec<(String, String)> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|statement| {
            assert_eq!(statement["Effect"], "Allow");
            (
                statement["Action"].as_str().unwrap().to_string(),
                statement["Resource"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        grants,
        [
            ("eks:ListClusters".to_string(), "*".to_string()),
            (
                "eks:DescribeCluster".to_string(),
                format!("arn:aws:eks:*:{OWN_ACCOUNT}:cluster/*")
            ),
        ]
    );

    // A StackSet deploys the same template to every account: no account ID may be written into
    // the resources.
    let resources = serde_yaml::to_string(&template["Resources"]).unwrap();
    let digits = resources
        .as_bytes()
        .windows(12)
        .any(|window| window.iter().all(u8::is_ascii_digit));
    assert!(!digits, "an account ID is hard-coded in\n{resources}");

    // The importer accepts the role's ARN as a member role.
    let arn = "arn:aws:iam::777788889999:role/eksgate/eksgate-member-read";
    assert_eq!(
        eksgate_estate::parse_member_role_arn(arn).as_deref(),
        Ok("777788889999")
    );
}

// ---------------------------------------------------------------------------------------------
// Terraform
// ---------------------------------------------------------------------------------------------

fn module_dir() -> PathBuf {
    repo_root().join("infra/terraform/eksgate-access-role")
}

fn read_tf(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "tf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .tf files in {}", dir.display());
    files
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Returns the names after `<keyword> "` at the start of top-level blocks, with their bodies.
fn blocks(text: &str, keyword: &str) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let prefix = format!("{keyword} \"");
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        if let Some(rest) = lines[index].strip_prefix(&prefix) {
            let name = rest.split('"').next().unwrap().to_string();
            let mut depth = 0i32;
            let mut body = String::new();
            loop {
                let line = lines[index];
                depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
                body.push_str(line);
                body.push('\n');
                index += 1;
                if depth == 0 || index == lines.len() {
                    break;
                }
            }
            found.insert(name, body);
        } else {
            index += 1;
        }
    }
    found
}

/// Returns the identifiers after `prefix` in `text`, such as the `x` of each `var.x`.
fn references(text: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(prefix) {
        let before = rest[..start].chars().last();
        let after = &rest[start + prefix.len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let standalone = before.is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
        if standalone && !name.is_empty() {
            names.push(name);
        }
        rest = after;
    }
    names.sort();
    names.dedup();
    names
}

/// Returns the argument names of a block body, `name = ...` at its first nesting level.
fn arguments(body: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0i32;
    for line in body.lines() {
        if depth == 1
            && let Some((name, _)) = line.split_once(" = ")
            && !name.trim().is_empty()
            && name
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            names.push(name.trim().to_string());
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
    }
    names
}

/// Checks the layout rules that `terraform fmt` also enforces and that text can show: two-space
/// indentation, no tabs or trailing white space, balanced brackets, one final newline.
fn check_layout(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "tf") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display();
        assert!(
            text.ends_with('\n') && !text.ends_with("\n\n"),
            "{name}: one final newline"
        );
        let mut depth = 0i32;
        for (number, line) in text.lines().enumerate() {
            let number = number + 1;
            assert!(!line.contains('\t'), "{name}:{number}: tab");
            assert_eq!(
                line.trim_end(),
                line,
                "{name}:{number}: trailing white space"
            );
            let indent = line.len() - line.trim_start().len();
            assert_eq!(indent % 2, 0, "{name}:{number}: odd indentation");
            if depth == 0 && !line.trim().is_empty() {
                assert_eq!(indent, 0, "{name}:{number}: a top-level line is indented");
            }
            for c in line.chars() {
                match c {
                    '{' | '[' | '(' => depth += 1,
                    '}' | ']' | ')' => depth -= 1,
                    _ => {}
                }
            }
            assert!(
                depth >= 0,
                "{name}:{number}: a bracket closes that never opened"
            );
        }
        assert_eq!(depth, 0, "{name}: unbalanced brackets");
    }
}

#[test]
fn terraform_module_structure() {
    let main = module_dir();
    let policies = main.join("policies");
    for dir in [&main, &policies] {
        let text = read_tf(dir);
        let declared: Vec<String> = blocks(&text, "variable").into_keys().collect();
        let used = references(&text, "var.");
        assert_eq!(
            used,
            declared,
            "{}: variables used and declared",
            dir.display()
        );
        let locals_used = references(&text, "local.");
        for local in &locals_used {
            assert!(
                text.contains(&format!("  {local} ")) || text.contains(&format!("  {local}=")),
                "{}: local.{local} is not defined",
                dir.display()
            );
        }
        for block in blocks(&text, "variable").values() {
            assert!(
                block.contains("description = "),
                "variable without description:\n{block}"
            );
            assert!(block.contains("type "), "variable without type:\n{block}");
        }
        check_layout(dir);
    }

    let text = read_tf(&main);
    let outputs: Vec<String> = blocks(&text, "output").into_keys().collect();
    assert_eq!(
        outputs,
        [
            "access_entry_policy_arn",
            "mapped_role_arn",
            "role_arn",
            "role_name",
            "role_tag_value"
        ]
    );

    // The call of the policies module passes exactly its variables, all of which are required.
    let policy_variables: Vec<String> = blocks(&read_tf(&policies), "variable")
        .into_keys()
        .collect();
    let modules = blocks(&text, "module");
    let mut passed = arguments(&modules["policies"]);
    passed.retain(|name| name != "source");
    passed.sort();
    assert_eq!(passed, policy_variables);
    let policy_outputs: Vec<String> = blocks(&read_tf(&policies), "output").into_keys().collect();
    for output in references(&text, "module.policies.") {
        assert!(
            policy_outputs.contains(&output),
            "module.policies.{output} is not an output"
        );
    }

    // The library's module block sets only declared variables, and every variable without a
    // default.
    let variables = blocks(&text, "variable");
    let cluster = ClusterArn::parse(CLUSTER_ARN_LOCAL).unwrap();
    let role = AccessRole::new(&cluster, AccessLevel::Admin, "prod-admin", "/eksgate/").unwrap();
    let issuers = [
        Issuer::broker_with_source_identity(&issuer_arn(), "*@example.com").unwrap(),
        Issuer::web_identity(
            &format!("arn:aws:iam::{OWN_ACCOUNT}:oidc-provider/{OIDC_ISSUER}"),
            AUDIENCE,
        )
        .unwrap(),
    ];
    for issuer in issuers {
        let block =
            terraform_module_block(&role, &issuer, 3600, true, "./eksgate-access-role").unwrap();
        let body = blocks(&block, "module").into_values().next().unwrap();
        let set = arguments(&body);
        for name in &set {
            assert!(
                name == "source" || variables.contains_key(name),
                "{name} is not a variable"
            );
        }
        for (name, definition) in &variables {
            if !definition.contains("default ") {
                assert!(
                    set.contains(name),
                    "required variable {name} is not set:\n{block}"
                );
            }
        }
    }
}

fn terraform_binary() -> Option<PathBuf> {
    let path = repo_root().join(".local/terraform/bin/terraform");
    path.exists().then_some(path)
}

/// Runs Terraform without network where a network namespace can be made, and without the
/// update check.
fn terraform(binary: &Path, dir: &Path, args: &[&str]) -> (bool, String) {
    let isolated = Command::new("unshare")
        .args(["--net", "true"])
        .output()
        .is_ok_and(|output| output.status.success());
    let mut command = if isolated {
        let mut command = Command::new("unshare");
        command.arg("--net").arg(binary);
        command
    } else {
        Command::new(binary)
    };
    let output = command
        .args(args)
        .current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .expect("running terraform");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn terraform_fmt_and_policies() {
    let Some(binary) = terraform_binary() else {
        eprintln!(
            "NOTE: Terraform is not installed, so terraform fmt and the policy evaluation were \
             skipped; infra/terraform/check.sh installs it into .local/terraform"
        );
        return;
    };
    let (ok, output) = terraform(
        &binary,
        &repo_root(),
        &["fmt", "-check", "-diff", "-recursive", "infra/terraform"],
    );
    assert!(ok, "terraform fmt -check:\n{output}");

    // Evaluate the provider-free policies module for each mode and compare its documents with
    // the library's.
    let provider_arn = format!("arn:aws-cn:iam::{OWN_ACCOUNT}:oidc-provider/{OIDC_ISSUER}");
    let china_cluster = format!("arn:aws-cn:eks:cn-north-1:{OWN_ACCOUNT}:cluster/prod");
    let cases = [
        (
            "broker",
            "broker",
            CLUSTER_ARN_LOCAL.to_string(),
            "admin",
            issuer_arn(),
            "",
            "",
            "",
        ),
        (
            "pattern",
            "broker",
            CLUSTER_ARN_LOCAL.to_string(),
            "read-only",
            issuer_arn(),
            "*@example.com",
            "",
            "",
        ),
        (
            "web",
            "web-identity",
            china_cluster.clone(),
            "read-only",
            String::new(),
            "",
            provider_arn.as_str(),
            AUDIENCE,
        ),
    ];
    let source = module_dir().join("policies");
    let mut config = String::new();
    for (name, mode, cluster, level, issuer, pattern, provider, audience) in &cases {
        config.push_str(&format!(
            "module \"{name}\" {{\n  source = \"{}\"\n  mode = \"{mode}\"\n  cluster_arn = \"{cluster}\"\n  \
             access_level = \"{level}\"\n  issuer_role_arn = \"{issuer}\"\n  \
             source_identity_pattern = \"{pattern}\"\n  oidc_provider_arn = \"{provider}\"\n  \
             oidc_audience = \"{audience}\"\n}}\noutput \"{name}\" {{\n  value = module.{name}\n}}\n",
            source.display()
        ));
    }
    let dir = tempdir("terraform");
    std::fs::write(dir.join("main.tf"), config).unwrap();
    for args in [
        &["init", "-input=false", "-no-color"][..],
        &["validate", "-no-color"],
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    ] {
        let (ok, output) = terraform(&binary, &dir, args);
        assert!(ok, "terraform {args:?}:\n{output}");
    }
    let (ok, output) = terraform(&binary, &dir, &["output", "-json"]);
    assert!(ok, "terraform output:\n{output}");
    std::fs::remove_dir_all(&dir).unwrap();
    let outputs: Json = serde_json::from_str(&output).unwrap();

    let trust = |name: &str| -> Json {
        serde_json::from_str(outputs[name]["value"]["trust_policy"].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        trust("broker"),
        trust_policy(&Issuer::broker(&issuer_arn()).unwrap())
    );
    assert_eq!(
        trust("pattern"),
        trust_policy(&Issuer::broker_with_source_identity(&issuer_arn(), "*@example.com").unwrap())
    );
    assert_eq!(
        trust("web"),
        trust_policy(&Issuer::web_identity(&provider_arn, AUDIENCE).unwrap())
    );
    for (name, _, cluster, level, ..) in &cases {
        let values = &outputs[*name]["value"];
        let cluster = ClusterArn::parse(cluster).unwrap();
        let describe: Json =
            serde_json::from_str(values["describe_cluster_policy"].as_str().unwrap()).unwrap();
        assert_eq!(describe, describe_cluster_policy(&cluster), "{name}");
        let level = AccessLevel::parse(level).unwrap();
        assert_eq!(
            values["access_policy_arn"],
            level.access_policy_arn(cluster.partition()),
            "{name}"
        );
        assert_eq!(values["cluster_name"], "prod", "{name}");
        assert_eq!(values["partition"], cluster.partition().as_str(), "{name}");
        assert_eq!(values["account"], OWN_ACCOUNT, "{name}");
    }
}
