use super::*;

const ACCOUNT: &str = "111122223333";

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Expected outcome of one role tag value: `Ok((path, name))` or `Err(part of the reason)`.
type Expected = Result<(&'static str, &'static str), &'static str>;

#[test]
fn role_values_table() {
    let cases: &[(&str, Partition, Expected)] = &[
        ("ClusterAdmin", Partition::Aws, Ok(("/", "ClusterAdmin"))),
        ("a", Partition::Aws, Ok(("/", "a"))),
        ("name+=,.@_-1", Partition::Aws, Ok(("/", "name+=,.@_-1"))),
        (
            "teams/dev/ClusterView",
            Partition::Aws,
            Ok(("/teams/dev/", "ClusterView")),
        ),
        (
            "/teams/dev/ClusterView",
            Partition::Aws,
            Ok(("/teams/dev/", "ClusterView")),
        ),
        (
            "arn:aws:iam::111122223333:role/ClusterAdmin",
            Partition::Aws,
            Ok(("/", "ClusterAdmin")),
        ),
        (
            "arn:aws:iam::111122223333:role/eks/ops/Admin",
            Partition::Aws,
            Ok(("/eks/ops/", "Admin")),
        ),
        (
            "arn:aws-cn:iam::111122223333:role/View",
            Partition::AwsCn,
            Ok(("/", "View")),
        ),
        (
            "arn:aws-us-gov:iam::111122223333:role/p/View",
            Partition::AwsUsGov,
            Ok(("/p/", "View")),
        ),
        ("", Partition::Aws, Err("empty value")),
        ("x", Partition::Aws, Err("placeholder")),
        ("X", Partition::Aws, Err("placeholder")),
        ("-", Partition::Aws, Err("placeholder")),
        ("TBD", Partition::Aws, Err("placeholder")),
        ("n/a", Partition::Aws, Err("placeholder")),
        (" Admin", Partition::Aws, Err("white space")),
        ("Admin ", Partition::Aws, Err("white space")),
        (
            "Cluster Admin",
            Partition::Aws,
            Err("invalid character ' '"),
        ),
        ("Admin!", Partition::Aws, Err("invalid character '!'")),
        ("Rôle", Partition::Aws, Err("invalid character 'ô'")),
        ("teams//View", Partition::Aws, Err("empty segment")),
        ("teams/", Partition::Aws, Err("missing role name")),
        ("/", Partition::Aws, Err("missing role name")),
        (
            "arn:aws:iam::111122223333:role/",
            Partition::Aws,
            Err("missing role name"),
        ),
        (
            "arn:aws:iam::111122223333:user/bob",
            Partition::Aws,
            Err("is not a role"),
        ),
        (
            "arn:aws:iam::111122223333",
            Partition::Aws,
            Err("not an ARN"),
        ),
        (
            "arn:aws:s3:::bucket/role/x",
            Partition::Aws,
            Err("not an IAM role ARN"),
        ),
        (
            "arn:aws:iam:us-east-1:111122223333:role/A",
            Partition::Aws,
            Err("not an IAM role ARN"),
        ),
        (
            "arn:aws-iso:iam::111122223333:role/A",
            Partition::Aws,
            Err("unknown partition"),
        ),
        (
            "arn:aws-cn:iam::111122223333:role/A",
            Partition::Aws,
            Err("partition aws-cn"),
        ),
        (
            "arn:aws:iam::444455556666:role/A",
            Partition::Aws,
            Err("account \"444455556666\""),
        ),
    ];

    let namespace = Namespace::default();
    for (value, partition, expected) in cases {
        let parsed = parse_roles(
            &namespace,
            &tags(&[("opal", ""), ("opal:eks:role:1", value)]),
            ACCOUNT,
            *partition,
        );
        match expected {
            Ok((path, name)) => {
                assert_eq!(parsed.problems, vec![], "value {value:?}");
                assert_eq!(parsed.roles.len(), 1, "value {value:?}");
                let role = &parsed.roles[0];
                assert_eq!(role.name, *name, "value {value:?}");
                assert_eq!(role.path, *path, "value {value:?}");
                assert_eq!(role.tag_key, "opal:eks:role:1", "value {value:?}");
                assert_eq!(
                    role.assume_arn,
                    format!("arn:{partition}:iam::{ACCOUNT}:role{path}{name}"),
                    "value {value:?}"
                );
                assert_eq!(
                    role.mapped_arn,
                    format!("arn:{partition}:iam::{ACCOUNT}:role/{name}"),
                    "value {value:?}"
                );
            }
            Err(reason) => {
                assert_eq!(parsed.roles, vec![], "value {value:?}");
                assert_eq!(parsed.problems.len(), 1, "value {value:?}");
                let problem = &parsed.problems[0];
                assert!(
                    problem.reason.contains(reason),
                    "value {value:?}: reason {:?} lacks {reason:?}",
                    problem.reason
                );
                assert_eq!(problem.value, *value);
            }
        }
    }
}

#[test]
fn role_name_length_limit() {
    let namespace = Namespace::default();
    let longest = "r".repeat(64);
    let parsed = parse_roles(
        &namespace,
        &tags(&[("opal:eks:role:a", &longest)]),
        ACCOUNT,
        Partition::Aws,
    );
    assert_eq!(parsed.roles.len(), 1);

    let too_long = "r".repeat(65);
    let parsed = parse_roles(
        &namespace,
        &tags(&[("opal:eks:role:a", &too_long)]),
        ACCOUNT,
        Partition::Aws,
    );
    assert_eq!(parsed.roles.len(), 0);
    assert!(parsed.problems[0].reason.contains("65 characters"));
}

#[test]
fn duplicate_declarations_merge() {
    let parsed = parse_roles(
        &Namespace::default(),
        &tags(&[
            ("opal:eks:role:2", "arn:aws:iam::111122223333:role/Admin"),
            ("opal:eks:role:1", "Admin"),
        ]),
        ACCOUNT,
        Partition::Aws,
    );
    assert_eq!(parsed.problems, vec![]);
    assert_eq!(parsed.roles.len(), 1);
    assert_eq!(parsed.roles[0].tag_key, "opal:eks:role:1");
    assert_eq!(parsed.roles[0].problems.len(), 1);
    assert!(parsed.roles[0].problems[0].contains("opal:eks:role:1, opal:eks:role:2"));
}

#[test]
fn conflicting_paths_rejected() {
    let parsed = parse_roles(
        &Namespace::default(),
        &tags(&[
            ("opal:eks:role:1", "teams/a/View"),
            ("opal:eks:role:2", "teams/b/View"),
            ("opal:eks:role:3", "view"),
            ("opal:eks:role:4", "Admin"),
        ]),
        ACCOUNT,
        Partition::Aws,
    );
    let names: Vec<&str> = parsed.roles.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["Admin"]);
    let keys: Vec<&str> = parsed.problems.iter().map(|p| p.tag_key.as_str()).collect();
    assert_eq!(
        keys,
        vec!["opal:eks:role:1", "opal:eks:role:2", "opal:eks:role:3"]
    );
    assert!(parsed.problems[0].reason.contains("conflicting"));
}

#[test]
fn keys_are_case_sensitive() {
    let parsed = parse_roles(
        &Namespace::default(),
        &tags(&[("Opal:EKS:role:1", "Admin"), ("opal:eks:role:2", "View")]),
        ACCOUNT,
        Partition::Aws,
    );
    assert_eq!(parsed.roles.len(), 1);
    assert_eq!(parsed.roles[0].name, "View");
    assert_eq!(parsed.problems.len(), 1);
    assert_eq!(parsed.problems[0].tag_key, "Opal:EKS:role:1");
    assert!(parsed.problems[0].reason.contains("case-sensitive"));
}

#[test]
fn other_tags_ignored() {
    let parsed = parse_roles(
        &Namespace::default(),
        &tags(&[
            ("opal", "x"),
            ("opal:eks:other", "Admin"),
            ("team", "payments"),
            ("opalx:eks:role:1", "Admin"),
        ]),
        ACCOUNT,
        Partition::Aws,
    );
    assert_eq!(parsed, ParsedTags::default());
}

#[test]
fn custom_namespace() {
    let namespace = Namespace::new("acme/access").unwrap();
    assert_eq!(namespace.role_prefix(), "acme/access:eks:role:");
    let cluster_tags = tags(&[
        ("acme/access", ""),
        ("acme/access:eks:role:dev", "Dev"),
        ("opal:eks:role:1", "Admin"),
    ]);
    assert!(namespace.is_marked(&cluster_tags));
    assert!(!Namespace::default().is_marked(&cluster_tags));
    let parsed = parse_roles(&namespace, &cluster_tags, ACCOUNT, Partition::Aws);
    assert_eq!(parsed.roles.len(), 1);
    assert_eq!(parsed.roles[0].name, "Dev");
}

#[test]
fn marker_accepts_any_value() {
    let namespace = Namespace::default();
    assert!(namespace.is_marked(&tags(&[("opal", "")])));
    assert!(namespace.is_marked(&tags(&[("opal", "x")])));
    assert!(!namespace.is_marked(&tags(&[("Opal", "")])));
    assert!(!namespace.is_marked(&tags(&[("opal:eks:role:1", "Admin")])));
}

#[test]
fn namespace_validation_table() {
    let cases: &[(&str, bool)] = &[
        ("opal", true),
        ("acme/access", true),
        ("team.eks-access_1", true),
        ("", false),
        ("opal:", false),
        (" opal", false),
        ("aws:opal", false),
        ("AWS:opal", false),
        ("opal*", false),
        (&"n".repeat(65), false),
    ];
    for (value, valid) in cases {
        let result = Namespace::new(value);
        assert_eq!(result.is_ok(), *valid, "namespace {value:?}");
        if let Err(error) = result {
            assert!(error.to_string().contains(&format!("{value:?}")));
        }
    }
}

#[test]
fn partition_of_region() {
    assert_eq!(Partition::of_region("eu-west-1"), Partition::Aws);
    assert_eq!(Partition::of_region("cn-north-1"), Partition::AwsCn);
    assert_eq!(Partition::of_region("us-gov-west-1"), Partition::AwsUsGov);
    assert_eq!(Partition::AwsCn.dns_suffix(), "amazonaws.com.cn");
    assert_eq!(Partition::AwsUsGov.dns_suffix(), "amazonaws.com");
}
