use serde_yaml::Value;

use super::*;

const SERVER: &str = "https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com";
const CA_DATA: &str = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=";
const NAME: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/dev";

fn token_config() -> ClusterKubeconfig {
    ClusterKubeconfig::new(
        NAME,
        SERVER,
        CA_DATA,
        UserCredential::Token("k8s-aws-v1.token".to_string()),
    )
}

fn exec_config() -> ClusterKubeconfig {
    ClusterKubeconfig::new(
        NAME,
        SERVER,
        CA_DATA,
        UserCredential::Exec(ExecPlugin {
            command: "eksgate".to_string(),
            args: vec![
                "token".to_string(),
                "--cluster".to_string(),
                NAME.to_string(),
            ],
            env: vec![ExecEnvVar {
                name: "EKSGATE_PROFILE".to_string(),
                value: "work".to_string(),
            }],
        }),
    )
}

fn parse(text: &str) -> Value {
    serde_yaml::from_str(text).expect("valid YAML")
}

/// Returns the item of the list `field` named `name`.
fn entry<'a>(root: &'a Value, field: &str, name: &str) -> &'a Value {
    root[field]
        .as_sequence()
        .unwrap_or_else(|| panic!("{field} is a list"))
        .iter()
        .find(|item| item["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {field} entry named {name}"))
}

fn names(root: &Value, field: &str) -> Vec<String> {
    root[field]
        .as_sequence()
        .unwrap_or_else(|| panic!("{field} is a list"))
        .iter()
        .map(|item| item["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn standalone_token_kubeconfig() {
    let root = parse(&token_config().to_yaml());
    assert_eq!(root["apiVersion"], "v1");
    assert_eq!(root["kind"], "Config");
    assert_eq!(root["current-context"], NAME);

    let cluster = &entry(&root, "clusters", NAME)["cluster"];
    assert_eq!(cluster["server"], SERVER);
    assert_eq!(cluster["certificate-authority-data"], CA_DATA);

    let user = &entry(&root, "users", NAME)["user"];
    assert_eq!(user["token"], "k8s-aws-v1.token");
    assert!(user.get("exec").is_none());

    let context = &entry(&root, "contexts", NAME)["context"];
    assert_eq!(context["cluster"], NAME);
    assert_eq!(context["user"], NAME);
    assert!(context.get("namespace").is_none());
}

#[test]
fn standalone_exec_kubeconfig() {
    let root = parse(&exec_config().to_yaml());
    let user = &entry(&root, "users", NAME)["user"];
    assert!(user.get("token").is_none());

    let exec = &user["exec"];
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(exec["command"], "eksgate");
    assert_eq!(
        exec["args"],
        parse(&format!("[token, --cluster, '{NAME}']"))
    );
    assert_eq!(exec["env"], parse("[{name: EKSGATE_PROFILE, value: work}]"));
    assert_eq!(exec["interactiveMode"], "Never");
    assert_eq!(exec["provideClusterInfo"], false);
}

#[test]
fn separate_entry_names_and_namespace() {
    let mut config = token_config();
    config.cluster_name = "dev-cluster".to_string();
    config.user_name = "dev-user".to_string();
    config.context_name = "dev".to_string();
    config.namespace = Some("team-a".to_string());
    let root = parse(&config.to_yaml());

    assert_eq!(root["current-context"], "dev");
    let context = &entry(&root, "contexts", "dev")["context"];
    assert_eq!(context["cluster"], "dev-cluster");
    assert_eq!(context["user"], "dev-user");
    assert_eq!(context["namespace"], "team-a");
    assert_eq!(names(&root, "clusters"), ["dev-cluster"]);
    assert_eq!(names(&root, "users"), ["dev-user"]);
}

#[test]
fn string_values_stay_strings() {
    // Values that YAML would read as other types without quotes must round-trip as strings.
    let mut config = token_config();
    config.certificate_authority_data = "12345".to_string();
    config.context_name = "true".to_string();
    let root = parse(&config.to_yaml());
    assert_eq!(
        entry(&root, "clusters", NAME)["cluster"]["certificate-authority-data"],
        "12345"
    );
    assert_eq!(root["current-context"], "true");
}

const EXISTING: &str = r#"# kubeconfig written by another tool
apiVersion: v1
kind: Config
preferences:
  colors: true
clusters:
- name: other
  cluster:
    server: https://other.example
    insecure-skip-tls-verify: true
- name: arn:aws:eks:eu-west-1:111122223333:cluster/dev
  cluster:
    server: https://stale.example
users:
- name: other
  user:
    username: admin
- name: arn:aws:eks:eu-west-1:111122223333:cluster/dev
  user:
    token: stale
- name: arn:aws:eks:eu-west-1:111122223333:cluster/dev
  user:
    token: stale-duplicate
contexts:
- name: other
  context:
    cluster: other
    user: other
current-context: other
extensions:
- name: my-extension
  extension:
    key: value
x-unknown-key:
  nested: [1, 2]
"#;

#[test]
fn merge_keeps_other_entries() {
    let merged = parse(&token_config().merge_into(Some(EXISTING), false).unwrap());
    let existing = parse(EXISTING);

    assert_eq!(merged["preferences"], existing["preferences"]);
    assert_eq!(merged["extensions"], existing["extensions"]);
    assert_eq!(merged["x-unknown-key"], existing["x-unknown-key"]);
    assert_eq!(merged["current-context"], "other");
    assert_eq!(
        entry(&merged, "clusters", "other"),
        entry(&existing, "clusters", "other")
    );
    assert_eq!(
        entry(&merged, "users", "other"),
        entry(&existing, "users", "other")
    );
    assert_eq!(
        entry(&merged, "contexts", "other"),
        entry(&existing, "contexts", "other")
    );
}

#[test]
fn merge_replaces_same_names_in_place() {
    let merged = parse(&token_config().merge_into(Some(EXISTING), false).unwrap());

    assert_eq!(names(&merged, "clusters"), ["other", NAME]);
    assert_eq!(names(&merged, "users"), ["other", NAME]);
    assert_eq!(names(&merged, "contexts"), ["other", NAME]);
    assert_eq!(
        entry(&merged, "clusters", NAME)["cluster"]["server"],
        SERVER
    );
    assert_eq!(
        entry(&merged, "users", NAME)["user"]["token"],
        "k8s-aws-v1.token"
    );
}

#[test]
fn merge_sets_current_context_on_request() {
    let merged = parse(&token_config().merge_into(Some(EXISTING), true).unwrap());
    assert_eq!(merged["current-context"], NAME);
}

#[test]
fn merge_is_idempotent() {
    for existing in [None, Some(EXISTING), Some("")] {
        for set_current in [false, true] {
            for config in [token_config(), exec_config()] {
                let once = config.merge_into(existing, set_current).unwrap();
                let twice = config.merge_into(Some(&once), set_current).unwrap();
                assert_eq!(
                    once, twice,
                    "existing {existing:?}, set_current {set_current}"
                );
            }
        }
    }
}

#[test]
fn merge_switches_token_to_exec() {
    let with_token = token_config().merge_into(None, true).unwrap();
    let merged = parse(&exec_config().merge_into(Some(&with_token), true).unwrap());
    let user = &entry(&merged, "users", NAME)["user"];
    assert!(user.get("token").is_none(), "{user:?}");
    assert_eq!(user["exec"]["command"], "eksgate");
}

#[test]
fn merge_into_nothing_matches_standalone() {
    let merged = parse(&token_config().merge_into(None, true).unwrap());
    let standalone = parse(&token_config().to_yaml());
    for field in [
        "apiVersion",
        "kind",
        "clusters",
        "users",
        "contexts",
        "current-context",
    ] {
        assert_eq!(merged[field], standalone[field], "{field}");
    }
}

#[test]
fn merge_accepts_empty_and_comment_only_files() {
    for existing in ["", "\n", "# nothing yet\n", "~\n"] {
        let merged = parse(&token_config().merge_into(Some(existing), true).unwrap());
        assert_eq!(merged["kind"], "Config", "{existing:?}");
        assert_eq!(names(&merged, "clusters"), [NAME], "{existing:?}");
    }
}

#[test]
fn merge_fills_missing_lists() {
    let merged = parse(
        &token_config()
            .merge_into(
                Some("apiVersion: v1\nkind: Config\nclusters: null\n"),
                false,
            )
            .unwrap(),
    );
    assert_eq!(names(&merged, "clusters"), [NAME]);
    assert_eq!(names(&merged, "users"), [NAME]);
    assert_eq!(names(&merged, "contexts"), [NAME]);
    assert!(merged.get("current-context").is_none());
}

#[test]
fn merge_rejects_non_kubeconfig_content() {
    let config = token_config();

    let error = config.merge_into(Some("- a\n- b\n"), true).unwrap_err();
    assert!(
        matches!(error, KubeconfigError::NotAMapping { found: "a list" }),
        "{error}"
    );
    assert!(error.to_string().contains("existing kubeconfig"), "{error}");
    assert!(error.to_string().contains("move it aside"), "{error}");

    let error = config.merge_into(Some("just text"), true).unwrap_err();
    assert!(
        matches!(error, KubeconfigError::NotAMapping { found: "a string" }),
        "{error}"
    );

    let error = config.merge_into(Some("clusters: [\n"), true).unwrap_err();
    assert!(matches!(error, KubeconfigError::InvalidYaml(_)), "{error}");

    let error = config
        .merge_into(Some("apiVersion: v1\nkind: Pod\n"), true)
        .unwrap_err();
    assert!(
        matches!(error, KubeconfigError::UnexpectedHeader { field: "kind", ref found, .. } if found == "Pod"),
        "{error}"
    );

    let error = config
        .merge_into(Some("apiVersion: v2\n"), true)
        .unwrap_err();
    assert!(
        matches!(
            error,
            KubeconfigError::UnexpectedHeader {
                field: "apiVersion",
                ..
            }
        ),
        "{error}"
    );

    let error = config
        .merge_into(Some("clusters: not-a-list\n"), true)
        .unwrap_err();
    assert!(
        matches!(
            error,
            KubeconfigError::NotAList {
                field: "clusters",
                found: "a string"
            }
        ),
        "{error}"
    );

    let error = config
        .merge_into(Some("users:\n- name: a\n- just-a-string\n"), true)
        .unwrap_err();
    assert!(
        matches!(
            error,
            KubeconfigError::ItemNotAMapping {
                field: "users",
                index: 1,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn debug_redacts_token() {
    let debug = format!("{:?}", token_config());
    assert!(!debug.contains("k8s-aws-v1.token"), "{debug}");
}
