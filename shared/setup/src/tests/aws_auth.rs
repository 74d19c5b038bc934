//! The aws-auth entry and its merge into an existing ConfigMap.

use serde_yaml::Value as Yaml;

use crate::*;

const ADMIN_ARN: &str = "arn:aws:iam::111122223333:role/prod-eksgate-admin";
const NODE_ARN: &str = "arn:aws:iam::111122223333:role/prod-node-group";

/// An aws-auth ConfigMap as `kubectl get -o yaml` prints it, with a node role, a Fargate
/// profile role with an extra key, mapUsers and server-side metadata.
const EXISTING: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  creationTimestamp: "2024-01-01T00:00:00Z"
  name: aws-auth
  namespace: kube-system
  resourceVersion: "12345"
  uid: 2b6c8a4e-0000-4e5f-8a9b-0c1d2e3f4a5b
data:
  mapRoles: |
    - groups:
      - system:bootstrappers
      - system:nodes
      rolearn: arn:aws:iam::111122223333:role/prod-node-group
      username: system:node:{{EC2PrivateDNSName}}
    # Fargate pods
    - groups:
      - system:bootstrappers
      - system:nodes
      - system:node-proxier
      rolearn: arn:aws:iam::111122223333:role/prod-fargate
      username: system:node:{{SessionName}}
      note: kept as it is
  mapUsers: |
    - userarn: arn:aws:iam::111122223333:user/ops
      username: ops
      groups:
      - system:masters
"#;

fn admin_entry() -> MapRole {
    MapRole::new(
        ADMIN_ARN,
        "eksgate",
        SessionNameTemplate::SessionName,
        AccessLevel::Admin.default_groups(),
    )
    .unwrap()
}

fn map_roles(yaml: &str) -> Vec<Yaml> {
    let configmap: Yaml = serde_yaml::from_str(yaml).unwrap();
    let text = configmap["data"]["mapRoles"]
        .as_str()
        .expect("mapRoles is a string");
    serde_yaml::from_str(text).unwrap()
}

fn role_arns(yaml: &str) -> Vec<String> {
    map_roles(yaml)
        .iter()
        .map(|entry| entry["rolearn"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn entry_fields() {
    let entry = admin_entry();
    assert_eq!(entry.rolearn, ADMIN_ARN);
    assert_eq!(entry.username, "eksgate:{{SessionName}}");
    assert_eq!(entry.groups, ["system:masters"]);

    let raw = MapRole::new(
        ADMIN_ARN,
        "dev",
        SessionNameTemplate::SessionNameRaw,
        vec!["eksgate:view".into()],
    )
    .unwrap();
    assert_eq!(raw.username, "dev:{{SessionNameRaw}}");

    let parsed: Vec<MapRole> = serde_yaml::from_str(&entry.to_yaml()).unwrap();
    assert_eq!(parsed, [entry]);
}

#[test]
fn entry_for_role_drops_path() {
    let cluster = ClusterArn::parse("arn:aws:eks:eu-west-1:111122223333:cluster/prod").unwrap();
    let role = AccessRole::new(
        &cluster,
        AccessLevel::ReadOnly,
        "prod-view",
        DEFAULT_ROLE_PATH,
    )
    .unwrap();
    let entry = MapRole::for_role(&role, "eksgate", SessionNameTemplate::SessionName).unwrap();
    assert_eq!(entry.rolearn, "arn:aws:iam::111122223333:role/prod-view");
    assert_eq!(entry.groups, ["eksgate:view"]);
}

#[test]
fn entry_rejects_bad_input() {
    let with_path = "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin";
    let error = MapRole::new(
        with_path,
        "eksgate",
        SessionNameTemplate::SessionName,
        vec![],
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("without the IAM path"), "{error}");
    assert!(error.contains(ADMIN_ARN), "{error}");

    for prefix in ["", "a b", "system:eksgate", "x{{"] {
        let result = MapRole::new(ADMIN_ARN, prefix, SessionNameTemplate::SessionName, vec![]);
        assert!(result.is_err(), "prefix {prefix:?}");
    }
    let result = MapRole::new(
        ADMIN_ARN,
        "eksgate",
        SessionNameTemplate::SessionName,
        vec!["".into()],
    );
    assert!(result.is_err());
    assert!(
        MapRole::new(
            "prod-eksgate-admin",
            "eksgate",
            SessionNameTemplate::SessionName,
            vec![]
        )
        .is_err()
    );
}

#[test]
fn merge_adds_and_keeps_others() {
    let update = merge_aws_auth(EXISTING, &admin_entry()).unwrap();
    assert_eq!(update.change, AwsAuthChange::Added);
    assert_eq!(
        role_arns(&update.yaml),
        [
            NODE_ARN,
            "arn:aws:iam::111122223333:role/prod-fargate",
            ADMIN_ARN
        ]
    );

    let before = map_roles(EXISTING);
    let after = map_roles(&update.yaml);
    assert_eq!(after[..2], before[..], "existing entries keep every key");
    assert_eq!(after[1]["note"].as_str(), Some("kept as it is"));
    let added: MapRole = serde_yaml::from_value(after[2].clone()).unwrap();
    assert_eq!(added, admin_entry());

    let original: Yaml = serde_yaml::from_str(EXISTING).unwrap();
    let merged: Yaml = serde_yaml::from_str(&update.yaml).unwrap();
    assert_eq!(merged["metadata"], original["metadata"]);
    assert_eq!(merged["data"]["mapUsers"], original["data"]["mapUsers"]);
    assert_eq!(merged["apiVersion"], original["apiVersion"]);
    assert_eq!(merged["kind"], original["kind"]);
}

#[test]
fn merge_is_idempotent() {
    let first = merge_aws_auth(EXISTING, &admin_entry()).unwrap();
    let second = merge_aws_auth(&first.yaml, &admin_entry()).unwrap();
    assert_eq!(second.change, AwsAuthChange::Unchanged);
    assert_eq!(second.yaml, first.yaml);
    let third = merge_aws_auth(&second.yaml, &admin_entry()).unwrap();
    assert_eq!(third.yaml, first.yaml);
}

#[test]
fn merge_replaces_same_role() {
    let added = merge_aws_auth(EXISTING, &admin_entry()).unwrap();
    let mut changed = admin_entry();
    changed.username = "eksgate:{{SessionNameRaw}}".into();
    changed.groups = vec!["eksgate:admins".into()];
    let update = merge_aws_auth(&added.yaml, &changed).unwrap();
    assert_eq!(update.change, AwsAuthChange::Replaced);
    let entries = map_roles(&update.yaml);
    assert_eq!(entries.len(), 3);
    let replaced: MapRole = serde_yaml::from_value(entries[2].clone()).unwrap();
    assert_eq!(replaced, changed);
}

#[test]
fn merge_collapses_other_spellings() {
    // An entry with the role's path (which never matches) and one in other letter case both
    // name the same role, so the merge replaces the first and drops the second.
    let existing = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: aws-auth
  namespace: kube-system
data:
  mapRoles: |
    - rolearn: arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin
      username: admin
      groups: [system:masters]
    - rolearn: arn:aws:iam::111122223333:role/prod-node-group
      username: system:node:{{EC2PrivateDNSName}}
      groups: [system:nodes]
    - rolearn: arn:aws:iam::111122223333:role/PROD-EKSGATE-ADMIN
      username: admin2
"#;
    let update = merge_aws_auth(existing, &admin_entry()).unwrap();
    assert_eq!(update.change, AwsAuthChange::Replaced);
    assert_eq!(role_arns(&update.yaml), [ADMIN_ARN, NODE_ARN]);
}

#[test]
fn merge_creates_missing_data() {
    let cases = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\ndata:\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\ndata:\n  mapRoles: \"\"\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\ndata:\n  mapRoles: \"[]\"\n",
    ];
    for existing in cases {
        let update = merge_aws_auth(existing, &admin_entry())
            .unwrap_or_else(|error| panic!("{existing}: {error}"));
        assert_eq!(update.change, AwsAuthChange::Added, "{existing}");
        assert_eq!(role_arns(&update.yaml), [ADMIN_ARN], "{existing}");
    }
}

#[test]
fn merge_accepts_json() {
    let json = r#"{"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": {"mapRoles": "- rolearn: arn:aws:iam::111122223333:role/prod-node-group\n  username: n\n  groups: [system:nodes]\n"}}"#;
    let update = merge_aws_auth(json, &admin_entry()).unwrap();
    assert_eq!(role_arns(&update.yaml), [NODE_ARN, ADMIN_ARN]);
}

#[test]
fn map_roles_stays_a_string() {
    let update = merge_aws_auth(EXISTING, &admin_entry()).unwrap();
    let merged: Yaml = serde_yaml::from_str(&update.yaml).unwrap();
    assert!(merged["data"]["mapRoles"].is_string());
    assert!(merged["data"]["mapUsers"].is_string());
    assert!(
        update.yaml.contains("mapRoles: |"),
        "mapRoles is written as a block scalar:\n{}",
        update.yaml
    );
}

#[test]
fn remove_keeps_others() {
    let added = merge_aws_auth(EXISTING, &admin_entry()).unwrap();
    let removed = remove_from_aws_auth(&added.yaml, ADMIN_ARN).unwrap();
    assert_eq!(removed.change, AwsAuthChange::Removed);
    assert_eq!(role_arns(&removed.yaml), role_arns(EXISTING));
    let again = remove_from_aws_auth(&removed.yaml, ADMIN_ARN).unwrap();
    assert_eq!(again.change, AwsAuthChange::Absent);
    assert_eq!(again.yaml, removed.yaml);

    let with_path = "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin";
    let removed = remove_from_aws_auth(&added.yaml, with_path).unwrap();
    assert_eq!(removed.change, AwsAuthChange::Removed);
}

#[test]
fn malformed_input_rejected() {
    let header =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\n";
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "input is empty"),
        ("  \n".into(), "input is empty"),
        ("kind: [".into(), "not valid YAML"),
        ("- a\n- b\n".into(), "not a Kubernetes object"),
        ("apiVersion: v1\nmetadata:\n  name: aws-auth\n".into(), "not a Kubernetes object"),
        ("apiVersion: v1\nkind: List\nitems: []\n".into(), "kind \"List\""),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\n".into(),
            "\"coredns\"",
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: default\n".into(),
            "\"default\"",
        ),
        (format!("{header}data: [1]\n"), "data of the ConfigMap"),
        (format!("{header}data:\n  mapRoles:\n    - rolearn: x\n"), "not a string"),
        (format!("{header}data:\n  mapRoles: \"- rolearn: [\"\n"), "mapRoles is not valid YAML"),
        (format!("{header}data:\n  mapRoles: \"rolearn: x\"\n"), "not a YAML list"),
        (format!("{header}data:\n  mapRoles: \"- just text\"\n"), "entry 1 is not a mapping"),
        (
            format!("{header}data:\n  mapRoles: \"- rolearn: {NODE_ARN}\\n- username: x\"\n"),
            "entry 2 has no rolearn",
        ),
        (format!("{header}metadata: {{}}\n"), "not valid YAML"),
    ];
    for (input, expected) in cases {
        let error = merge_aws_auth(&input, &admin_entry())
            .expect_err(&format!("accepted {input:?}"))
            .to_string();
        assert!(error.contains(expected), "{input:?}: {error}");
        let error = remove_from_aws_auth(&input, ADMIN_ARN)
            .expect_err(&format!("removal accepted {input:?}"))
            .to_string();
        assert!(error.contains(expected), "{input:?}: {error}");
    }
}

#[test]
fn new_configmap_merges_unchanged() {
    let yaml = aws_auth_configmap(&[admin_entry()]);
    let configmap: Yaml = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(configmap["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(configmap["metadata"]["name"].as_str(), Some("aws-auth"));
    assert_eq!(
        configmap["metadata"]["namespace"].as_str(),
        Some("kube-system")
    );
    assert_eq!(role_arns(&yaml), [ADMIN_ARN]);
    let update = merge_aws_auth(&yaml, &admin_entry()).unwrap();
    assert_eq!(update.change, AwsAuthChange::Unchanged);
    assert_eq!(update.yaml, yaml);
}

#[test]
fn view_binding_shape() {
    let yaml = view_cluster_role_binding("eksgate:view");
    let binding: Yaml = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(binding["kind"].as_str(), Some("ClusterRoleBinding"));
    assert_eq!(binding["metadata"]["name"].as_str(), Some("eksgate-view"));
    assert_eq!(binding["roleRef"]["kind"].as_str(), Some("ClusterRole"));
    assert_eq!(binding["roleRef"]["name"].as_str(), Some("view"));
    assert_eq!(binding["subjects"][0]["kind"].as_str(), Some("Group"));
    assert_eq!(
        binding["subjects"][0]["name"].as_str(),
        Some("eksgate:view")
    );
}
