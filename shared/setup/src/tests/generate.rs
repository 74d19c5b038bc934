//! Generated policies, commands and snippets.

use std::collections::BTreeMap;

use eksgate_tags::{Namespace, Partition, parse_roles};
use serde_json::{Value, json};

use super::*;
use crate::trust::{assess_trust, parse_policy};
use crate::*;

fn cluster() -> ClusterArn {
    ClusterArn::parse(CLUSTER_ARN).unwrap()
}

fn broker() -> Issuer {
    Issuer::broker(ISSUER_ROLE_ARN).unwrap()
}

fn web_identity() -> Issuer {
    Issuer::web_identity(PROVIDER_ARN, AUDIENCE).unwrap()
}

fn admin_role() -> AccessRole {
    AccessRole::new(
        &cluster(),
        AccessLevel::Admin,
        "prod-eksgate-admin",
        DEFAULT_ROLE_PATH,
    )
    .unwrap()
}

fn view_role() -> AccessRole {
    AccessRole::new(&cluster(), AccessLevel::ReadOnly, "prod-eksgate-view", "/").unwrap()
}

#[test]
fn cluster_arn_table() {
    let valid = [
        "arn:aws:eks:eu-west-1:111122223333:cluster/prod",
        "arn:aws-cn:eks:cn-north-1:111122223333:cluster/a_b-1",
        "arn:aws-us-gov:eks:us-gov-west-1:111122223333:cluster/x",
    ];
    for arn in valid {
        let parsed = ClusterArn::parse(arn).unwrap_or_else(|error| panic!("{arn}: {error}"));
        assert_eq!(parsed.to_string(), arn);
    }
    let parsed = cluster();
    assert_eq!(parsed.partition(), Partition::Aws);
    assert_eq!(parsed.region(), "eu-west-1");
    assert_eq!(parsed.account(), ACCOUNT);
    assert_eq!(parsed.name(), "prod");

    let invalid = [
        ("", "expected arn:"),
        (
            "arn:aws:eks:eu-west-1:111122223333:nodegroup/prod/x",
            "cluster/<name>",
        ),
        ("arn:aws:iam::111122223333:role/prod", "not an EKS ARN"),
        (
            "arn:aws-iso:eks:us-iso-east-1:111122223333:cluster/p",
            "unknown partition",
        ),
        (
            "arn:aws:eks:cn-north-1:111122223333:cluster/p",
            "not in partition aws",
        ),
        ("arn:aws:eks:eu-west-1:11112222333:cluster/p", "12 digits"),
        ("arn:aws:eks::111122223333:cluster/p", "region"),
        (
            "arn:aws:eks:eu-west-1:111122223333:cluster/-p",
            "invalid cluster name",
        ),
        (
            "arn:aws:eks:eu-west-1:111122223333:cluster/",
            "invalid cluster name",
        ),
    ];
    for (arn, reason) in invalid {
        let error = ClusterArn::parse(arn).unwrap_err().to_string();
        assert!(error.contains(reason), "{arn}: {error}");
    }
}

#[test]
fn issuer_validation() {
    assert!(Issuer::broker("arn:aws:iam::444455556666:role/a/b/Issuer").is_ok());
    let bad_roles = [
        "",
        "Issuer",
        "arn:aws:iam::444455556666:user/bob",
        "arn:aws:sts::444455556666:assumed-role/Issuer/x",
        "arn:aws:iam::4444:role/Issuer",
    ];
    for arn in bad_roles {
        assert!(Issuer::broker(arn).is_err(), "{arn}");
    }
    assert!(Issuer::broker_with_source_identity(ISSUER_ROLE_ARN, "*@example.com").is_ok());
    assert!(Issuer::broker_with_source_identity(ISSUER_ROLE_ARN, "").is_err());
    assert!(Issuer::broker_with_source_identity(ISSUER_ROLE_ARN, "a b").is_err());

    assert!(Issuer::web_identity(PROVIDER_ARN, "").is_err());
    assert!(Issuer::web_identity(PROVIDER_ARN, "two words").is_err());
    let bad_providers = [
        "arn:aws:iam::111122223333:oidc-provider/https://idp.example.com",
        "arn:aws:iam::111122223333:oidc-provider/",
        "arn:aws:iam::111122223333:oidc-provider/idp.example.com/",
        "arn:aws:iam::111122223333:role/idp.example.com",
    ];
    for arn in bad_providers {
        assert!(Issuer::web_identity(arn, AUDIENCE).is_err(), "{arn}");
    }
    let from_url = OidcProvider::from_issuer_url(
        Partition::Aws,
        ACCOUNT,
        "https://idp.example.com/oauth2/default/",
    )
    .unwrap();
    assert_eq!(from_url.arn(), PROVIDER_ARN);
    assert_eq!(
        from_url.audience_key(),
        "idp.example.com/oauth2/default:aud"
    );
    assert!(OidcProvider::from_issuer_url(Partition::Aws, ACCOUNT, "idp.example.com").is_err());
}

#[test]
fn broker_trust_policy_shape() {
    let policy = trust_policy(&broker());
    assert_iam_policy(&policy, true);
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Principal"], json!({"AWS": ISSUER_ROLE_ARN}));
    assert_eq!(
        statement["Action"],
        json!(["sts:AssumeRole", "sts:SetSourceIdentity"])
    );
    assert!(statement.get("Condition").is_none());
}

#[test]
fn broker_trust_policy_condition() {
    let issuer = Issuer::broker_with_source_identity(ISSUER_ROLE_ARN, "*@example.com").unwrap();
    let policy = trust_policy(&issuer);
    assert_iam_policy(&policy, true);
    assert_eq!(
        policy["Statement"][0]["Condition"],
        json!({"StringLike": {"sts:SourceIdentity": "*@example.com"}})
    );
}

#[test]
fn web_identity_trust_policy_shape() {
    let policy = trust_policy(&web_identity());
    assert_iam_policy(&policy, true);
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Principal"], json!({"Federated": PROVIDER_ARN}));
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        statement["Condition"],
        json!({"StringEquals": {"idp.example.com/oauth2/default:aud": AUDIENCE}})
    );
}

#[test]
fn generated_trust_passes_check() {
    let issuers = [
        broker(),
        web_identity(),
        Issuer::broker_with_source_identity(ISSUER_ROLE_ARN, "*@example.com").unwrap(),
    ];
    for issuer in issuers {
        let document = parse_policy(&trust_policy(&issuer)).unwrap();
        let assessment = assess_trust(&document, &issuer);
        assert_eq!(assessment.status, Status::Ok, "{issuer:?}: {assessment:?}");
    }
}

#[test]
fn describe_policy_shape() {
    let policy = describe_cluster_policy(&cluster());
    assert_iam_policy(&policy, false);
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
    let statement = &policy["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], "eks:DescribeCluster");
    assert_eq!(statement["Resource"], CLUSTER_ARN);
}

#[test]
fn access_role_arns_and_tag_value() {
    let role = admin_role();
    assert_eq!(role.path(), "/eksgate/");
    assert_eq!(
        role.arn(),
        "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin"
    );
    assert_eq!(
        role.mapped_arn(),
        "arn:aws:iam::111122223333:role/prod-eksgate-admin"
    );
    assert_eq!(role.tag_value(), "eksgate/prod-eksgate-admin");

    let plain = view_role();
    assert_eq!(plain.path(), "/");
    assert_eq!(plain.arn(), plain.mapped_arn());
    assert_eq!(plain.tag_value(), "prod-eksgate-view");

    for path in ["eksgate", "/eksgate", "eksgate/", "/eksgate/"] {
        let role = AccessRole::new(&cluster(), AccessLevel::Admin, "r", path).unwrap();
        assert_eq!(role.path(), "/eksgate/", "path {path:?}");
    }
    let nested = AccessRole::new(&cluster(), AccessLevel::Admin, "r", "teams/dev").unwrap();
    assert_eq!(nested.path(), "/teams/dev/");

    for (name, path) in [("", "/"), ("a/b", "/"), ("bad name", "/"), ("r", "a//b")] {
        assert!(
            AccessRole::new(&cluster(), AccessLevel::Admin, name, path).is_err(),
            "{name:?} {path:?}"
        );
    }
    let too_long = "r".repeat(65);
    assert!(AccessRole::new(&cluster(), AccessLevel::Admin, &too_long, "/").is_err());
}

#[test]
fn suggested_name_fits_iam() {
    assert_eq!(
        suggested_role_name("prod", AccessLevel::Admin),
        "prod-eksgate-admin"
    );
    assert_eq!(
        suggested_role_name("prod", AccessLevel::ReadOnly),
        "prod-eksgate-view"
    );
    let long = "c".repeat(100);
    for level in AccessLevel::ALL {
        let name = suggested_role_name(&long, level);
        assert_eq!(name.len(), 64, "{name}");
        let role = AccessRole::new(&cluster(), level, &name, "/");
        assert!(role.is_ok(), "{name}");
    }
}

#[test]
fn access_levels() {
    let cn = Partition::AwsCn;
    assert_eq!(
        AccessLevel::Admin.access_policy_arn(Partition::Aws),
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    );
    assert_eq!(
        AccessLevel::ReadOnly.access_policy_arn(cn),
        "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
    );
    assert_eq!(AccessLevel::parse("admin"), Ok(AccessLevel::Admin));
    assert_eq!(AccessLevel::parse("read-only"), Ok(AccessLevel::ReadOnly));
    assert!(AccessLevel::parse("Admin").is_err());
    assert_eq!(
        serde_json::to_value(AccessLevel::ReadOnly).unwrap(),
        json!("read-only")
    );
    assert_eq!(
        AssumeMode::parse("web-identity"),
        Ok(AssumeMode::WebIdentity)
    );
    assert!(AssumeMode::parse("broker ").is_err());
}

#[test]
fn create_role_commands_parse() {
    let role = admin_role();
    let text = create_role_commands(&role, &broker(), 3600).unwrap();
    let commands = commands_of(&text);
    assert_eq!(commands.len(), 2, "{text}");

    let create = shell_words(&commands[0]);
    assert_eq!(&create[..3], ["aws", "iam", "create-role"]);
    assert_eq!(option_value(&create, "--role-name"), "prod-eksgate-admin");
    assert_eq!(option_value(&create, "--path"), "/eksgate/");
    assert_eq!(option_value(&create, "--max-session-duration"), "3600");
    let trust: Value =
        serde_json::from_str(option_value(&create, "--assume-role-policy-document")).unwrap();
    assert_eq!(trust, trust_policy(&broker()));

    let put = shell_words(&commands[1]);
    assert_eq!(&put[..3], ["aws", "iam", "put-role-policy"]);
    assert_eq!(
        option_value(&put, "--policy-name"),
        "eksgate-describe-cluster"
    );
    let permissions: Value = serde_json::from_str(option_value(&put, "--policy-document")).unwrap();
    assert_eq!(permissions, describe_cluster_policy(&cluster()));
}

#[test]
fn create_role_rejects_bad_input() {
    let role = admin_role();
    assert!(create_role_commands(&role, &broker(), 3599).is_err());
    assert!(create_role_commands(&role, &broker(), 43_201).is_err());
    assert!(create_role_commands(&role, &broker(), 43_200).is_ok());

    let other_account = Issuer::web_identity(
        "arn:aws:iam::999988887777:oidc-provider/idp.example.com",
        AUDIENCE,
    )
    .unwrap();
    let error = create_role_commands(&role, &other_account, 3600).unwrap_err();
    assert!(error.to_string().contains("cluster's account"), "{error}");

    let china = Issuer::broker("arn:aws-cn:iam::444455556666:role/Issuer").unwrap();
    let error = create_role_commands(&role, &china, 3600).unwrap_err();
    assert!(error.to_string().contains("partition aws-cn"), "{error}");
}

#[test]
fn quoting_survives_odd_values() {
    let words = shell_words(&crate::shell::command(&[
        "echo",
        "it's",
        "a b",
        "{\"k\": \"v\"}",
        "$HOME",
        "",
    ]));
    assert_eq!(words, ["echo", "it's", "a b", "{\"k\": \"v\"}", "$HOME"]);
}

#[test]
fn tag_command_round_trips() {
    let cluster = cluster();
    let admin = admin_role();
    let view = view_role();
    let command = tag_resource_command(&cluster, &Namespace::default(), &[&admin, &view]).unwrap();
    let words = shell_words(&command);
    assert_eq!(&words[..3], ["aws", "eks", "tag-resource"]);
    assert_eq!(option_value(&words, "--resource-arn"), CLUSTER_ARN);
    assert_eq!(option_value(&words, "--region"), "eu-west-1");
    let tags: BTreeMap<String, String> =
        serde_json::from_str(option_value(&words, "--tags")).unwrap();
    assert_eq!(
        tags,
        BTreeMap::from([
            ("opal".to_string(), "x".to_string()),
            (
                "opal:eks:role:admin".to_string(),
                "eksgate/prod-eksgate-admin".to_string()
            ),
            (
                "opal:eks:role:view".to_string(),
                "prod-eksgate-view".to_string()
            ),
        ])
    );
    let parsed = parse_roles(&Namespace::default(), &tags, ACCOUNT, Partition::Aws);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let arns: Vec<&str> = parsed.roles.iter().map(|r| r.assume_arn.as_str()).collect();
    assert_eq!(arns, [admin.arn(), view.arn()]);
}

#[test]
fn tag_command_numbers_same_level() {
    let cluster = cluster();
    let first = admin_role();
    let second =
        AccessRole::new(&cluster, AccessLevel::Admin, "prod-breakglass", "/eksgate/").unwrap();
    let namespace = Namespace::new("acme").unwrap();
    let command = tag_resource_command(&cluster, &namespace, &[&first, &second]).unwrap();
    let words = shell_words(&command);
    let tags: BTreeMap<String, String> =
        serde_json::from_str(option_value(&words, "--tags")).unwrap();
    let keys: Vec<&str> = tags.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["acme", "acme:eks:role:admin", "acme:eks:role:admin-2"]
    );
}

#[test]
fn tag_command_rejects_conflicts() {
    let cluster = cluster();
    let other = ClusterArn::parse("arn:aws:eks:eu-west-1:111122223333:cluster/other").unwrap();
    let foreign = AccessRole::new(&other, AccessLevel::Admin, "r", "/").unwrap();
    let error = tag_resource_command(&cluster, &Namespace::default(), &[&foreign]).unwrap_err();
    assert!(error.to_string().contains("built for"), "{error}");

    // One role name under two paths names two different roles, which the importer rejects.
    let a = AccessRole::new(&cluster, AccessLevel::Admin, "dup", "/a/").unwrap();
    let b = AccessRole::new(&cluster, AccessLevel::ReadOnly, "dup", "/b/").unwrap();
    let error = tag_resource_command(&cluster, &Namespace::default(), &[&a, &b]).unwrap_err();
    assert!(error.to_string().contains("conflicting"), "{error}");

    let error = tag_resource_command(&cluster, &Namespace::default(), &[&a, &a]).unwrap_err();
    assert!(error.to_string().contains("listed twice"), "{error}");
}

#[test]
fn access_entry_commands_parse() {
    let cluster = cluster();
    let role = admin_role();
    let text = access_entry_commands(&cluster, role.arn(), AccessLevel::Admin, None);
    let commands = commands_of(&text);
    assert_eq!(commands.len(), 2);
    let create = shell_words(&commands[0]);
    assert_eq!(&create[..3], ["aws", "eks", "create-access-entry"]);
    assert_eq!(option_value(&create, "--cluster-name"), "prod");
    assert_eq!(option_value(&create, "--principal-arn"), role.arn());
    assert_eq!(option_value(&create, "--type"), "STANDARD");
    assert!(!create.contains(&"--username".to_string()));
    let associate = shell_words(&commands[1]);
    assert_eq!(&associate[..3], ["aws", "eks", "associate-access-policy"]);
    assert_eq!(
        option_value(&associate, "--policy-arn"),
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    );
    assert_eq!(option_value(&associate, "--access-scope"), "type=cluster");

    let text = access_entry_commands(
        &cluster,
        role.arn(),
        AccessLevel::ReadOnly,
        Some("eksgate:{{SessionName}}"),
    );
    let create = shell_words(&commands_of(&text)[0]);
    assert_eq!(
        option_value(&create, "--username"),
        "eksgate:{{SessionName}}"
    );
    assert!(text.contains("AmazonEKSViewPolicy"));
}

#[test]
fn access_entry_snippet_shape() {
    let cluster = cluster();
    let role = view_role();
    let yaml = access_entry_cloudformation(&cluster, role.arn(), AccessLevel::ReadOnly, None);
    let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let resources = parsed.as_mapping().unwrap();
    assert_eq!(resources.len(), 1);
    let (id, resource) = resources.iter().next().unwrap();
    assert_eq!(id.as_str(), Some("ProdEksgateViewAccessEntry"));
    assert_eq!(resource["Type"].as_str(), Some("AWS::EKS::AccessEntry"));
    let properties = &resource["Properties"];
    assert_eq!(properties["ClusterName"].as_str(), Some("prod"));
    assert_eq!(properties["PrincipalArn"].as_str(), Some(role.arn()));
    assert_eq!(properties["Type"].as_str(), Some("STANDARD"));
    assert!(properties.get("Username").is_none());
    let policy = &properties["AccessPolicies"][0];
    assert_eq!(
        policy["PolicyArn"].as_str(),
        Some("arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy")
    );
    assert_eq!(policy["AccessScope"]["Type"].as_str(), Some("cluster"));

    let yaml = access_entry_cloudformation(
        &cluster,
        role.arn(),
        AccessLevel::Admin,
        Some("eksgate:{{SessionName}}"),
    );
    let parsed: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let properties = &parsed["ProdEksgateViewAccessEntry"]["Properties"];
    assert_eq!(
        properties["Username"].as_str(),
        Some("eksgate:{{SessionName}}")
    );
}

#[test]
fn cloudformation_deploy_parameters() {
    let role = admin_role();
    let command = cloudformation_deploy_command(&role, &web_identity(), 7200, true).unwrap();
    let words = shell_words(&command);
    assert_eq!(&words[..3], ["aws", "cloudformation", "deploy"]);
    assert_eq!(
        option_value(&words, "--stack-name"),
        "eksgate-prod-eksgate-admin"
    );
    assert_eq!(
        option_value(&words, "--template-file"),
        "infra/setup/access-role.yaml"
    );
    assert_eq!(
        option_value(&words, "--capabilities"),
        "CAPABILITY_NAMED_IAM"
    );
    let start = words
        .iter()
        .position(|word| word == "--parameter-overrides")
        .unwrap();
    let parameters: BTreeMap<&str, &str> = words[start + 1..]
        .iter()
        .map(|word| word.split_once('=').expect("Key=Value"))
        .collect();

    assert_eq!(parameters["Mode"], "web-identity");
    assert_eq!(parameters["ClusterArn"], CLUSTER_ARN);
    assert_eq!(parameters["AccessLevel"], "admin");
    assert_eq!(parameters["RoleName"], "prod-eksgate-admin");
    assert_eq!(parameters["RolePath"], "/eksgate/");
    assert_eq!(parameters["OidcProviderArn"], PROVIDER_ARN);
    assert_eq!(parameters["OidcAudience"], AUDIENCE);
    assert_eq!(parameters["MaxSessionDuration"], "7200");
    assert_eq!(parameters["CreateAccessEntry"], "true");
    assert!(!parameters.contains_key("IssuerRoleArn"));
}

#[test]
fn terraform_block_layout() {
    let role = admin_role();
    let block = terraform_module_block(
        &role,
        &broker(),
        3600,
        false,
        "./infra/terraform/eksgate-access-role",
    )
    .unwrap();
    let expected = format!(
        "module \"prod_eksgate_admin\" {{\n  \
         source = \"./infra/terraform/eksgate-access-role\"\n\n  \
         mode                 = \"broker\"\n  \
         cluster_arn          = \"{CLUSTER_ARN}\"\n  \
         access_level         = \"admin\"\n  \
         role_name            = \"prod-eksgate-admin\"\n  \
         role_path            = \"/eksgate/\"\n  \
         issuer_role_arn      = \"{ISSUER_ROLE_ARN}\"\n  \
         max_session_duration = 3600\n  \
         create_access_entry  = false\n}}\n"
    );
    assert_eq!(block, expected);
}

#[test]
fn teardown_order_and_words() {
    let cluster = cluster();
    let roles = vec![CatalogRole {
        name: "prod-eksgate-admin".into(),
        assume_arn: admin_role().arn().into(),
        mapped_arn: admin_role().mapped_arn().into(),
        level: Some(AccessLevel::Admin),
    }];
    let tag_keys = vec!["opal".to_string(), "opal:eks:role:admin".to_string()];
    let script = teardown_commands(&cluster, &tag_keys, &roles);
    let commands: Vec<Vec<String>> = commands_of(&script)
        .iter()
        .map(|c| shell_words(c))
        .collect();
    let verbs: Vec<&str> = commands.iter().map(|words| words[2].as_str()).collect();
    assert_eq!(
        verbs,
        [
            "untag-resource",
            "delete-access-entry",
            "delete-role-policy",
            "delete-role"
        ]
    );
    assert_eq!(
        &commands[0][commands[0].len() - 3..],
        ["--tag-keys", "opal", "opal:eks:role:admin"]
    );
    assert_eq!(
        option_value(&commands[1], "--principal-arn"),
        admin_role().arn()
    );
    assert!(script.contains(admin_role().mapped_arn()));
}
