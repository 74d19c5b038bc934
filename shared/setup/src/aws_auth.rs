//! The aws-auth ConfigMap: `mapRoles` entries for access roles, merged into the existing
//! ConfigMap as data instead of by text patching.
//!
//! The ConfigMap's `data.mapRoles` is a string that contains a YAML list. Merging parses that list,
//! replaces the entry of the same role, keeps every other entry (with all their keys) and every
//! other key of the ConfigMap, and serializes the list back into the string. Comments inside
//! `mapRoles` do not survive a change, because the list is serialized again.

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value as Yaml};

use crate::SetupError;
use crate::arn::parse_role_arn;
use crate::role::AccessRole;

const CONFIGMAP_NAME: &str = "aws-auth";
const CONFIGMAP_NAMESPACE: &str = "kube-system";
const MAP_ROLES: &str = "mapRoles";

/// The session name placeholder in an aws-auth username. The issuer uses the user's e-mail
/// address as session name when the user claim is one, such as `dev.one@example.com`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionNameTemplate {
    /// `{{SessionName}}`: aws-iam-authenticator replaces each `@` with `-`, so the Kubernetes
    /// user of `dev.one@example.com` is `<prefix>:dev.one-example.com`.
    #[default]
    SessionName,
    /// `{{SessionNameRaw}}`: the session name unchanged, `<prefix>:dev.one@example.com`.
    SessionNameRaw,
}

impl SessionNameTemplate {
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::SessionName => "{{SessionName}}",
            Self::SessionNameRaw => "{{SessionNameRaw}}",
        }
    }
}

/// One entry of aws-auth `mapRoles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapRole {
    /// The role ARN without path: aws-iam-authenticator compares against the path-less ARN of
    /// the assumed role, so an ARN with a path never matches.
    pub rolearn: String,
    /// `<prefix>:{{SessionName}}` or `<prefix>:{{SessionNameRaw}}`.
    pub username: String,
    pub groups: Vec<String>,
}

impl MapRole {
    /// Builds an entry for a role ARN without path. `username_prefix` names the Kubernetes
    /// users of this role, such as `eksgate`.
    pub fn new(
        role_arn: &str,
        username_prefix: &str,
        template: SessionNameTemplate,
        groups: Vec<String>,
    ) -> Result<Self, SetupError> {
        let role = parse_role_arn(role_arn)?;
        if role.path != "/" {
            return Err(SetupError::InvalidRoleArn {
                value: role_arn.to_string(),
                reason: format!(
                    "aws-auth needs the ARN without the IAM path, because aws-iam-authenticator \
                     drops it: use {}",
                    role.mapped_arn
                ),
            });
        }
        check_username_prefix(username_prefix)?;
        if let Some(group) = groups
            .iter()
            .find(|group| group.is_empty() || group.chars().any(char::is_whitespace))
        {
            return Err(SetupError::InvalidValue {
                field: "Kubernetes group",
                value: group.clone(),
                reason: "a group must be non-empty and contain no white space".into(),
            });
        }
        Ok(Self {
            rolearn: role_arn.to_string(),
            username: format!("{username_prefix}:{}", template.placeholder()),
            groups,
        })
    }

    /// Builds the entry of an access role with the default groups of its level.
    pub fn for_role(
        role: &AccessRole,
        username_prefix: &str,
        template: SessionNameTemplate,
    ) -> Result<Self, SetupError> {
        Self::new(
            role.mapped_arn(),
            username_prefix,
            template,
            role.level().default_groups(),
        )
    }

    /// Serializes the entry as a one-element `mapRoles` list, to show or paste.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(&[self]).expect("a mapRoles entry serializes")
    }
}

fn check_username_prefix(prefix: &str) -> Result<(), SetupError> {
    let reason = if prefix.is_empty() {
        Some("the prefix must not be empty")
    } else if prefix
        .chars()
        .any(|c| c.is_whitespace() || c == '{' || c == '}')
    {
        Some("the prefix must not contain white space or braces")
    } else if prefix.starts_with("system:") || prefix == "system" {
        Some("Kubernetes reserves the system: prefix for its own components")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SetupError::InvalidValue {
            field: "username prefix",
            value: prefix.to_string(),
            reason: reason.into(),
        }),
        None => Ok(()),
    }
}

/// The change that a merge or removal made to `mapRoles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AwsAuthChange {
    /// The role had no entry, and the entry was appended.
    Added,
    /// One or more entries of the role differed from the new entry and were replaced by it.
    Replaced,
    /// The role already had exactly this entry. The output is the input, re-serialized.
    Unchanged,
    /// The entries of the role were removed.
    Removed,
    /// The role had no entry to remove.
    Absent,
}

/// The updated ConfigMap, as YAML for `kubectl apply -f -`, and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AwsAuthUpdate {
    pub yaml: String,
    pub change: AwsAuthChange,
}

/// An aws-auth ConfigMap that the kit cannot update safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsAuthError {
    #[error(
        "the input is empty: pass the output of `kubectl get configmap aws-auth -n kube-system \
         -o yaml`, or create a new ConfigMap if the cluster has none"
    )]
    Empty,
    #[error("the input is not valid YAML: {0}")]
    InvalidYaml(String),
    #[error("the input is not a Kubernetes object: expected a YAML mapping with kind ConfigMap")]
    NotAnObject,
    #[error("the input has kind {0:?}, not ConfigMap: pass the aws-auth ConfigMap alone")]
    NotAConfigMap(String),
    #[error(
        "the input is ConfigMap {name:?} in namespace {namespace:?}, not aws-auth in kube-system"
    )]
    WrongConfigMap { name: String, namespace: String },
    #[error("data of the ConfigMap is not a mapping of keys to strings")]
    InvalidData,
    #[error("data.mapRoles is not a string: ConfigMap values are strings that hold YAML")]
    MapRolesNotString,
    #[error("data.mapRoles is not valid YAML: {0}")]
    InvalidMapRoles(String),
    #[error("data.mapRoles is not a YAML list of entries")]
    MapRolesNotList,
    #[error("mapRoles entry {number} is not a mapping with rolearn, username and groups")]
    EntryNotMapping { number: usize },
    #[error("mapRoles entry {number} has no rolearn string")]
    EntryWithoutRoleArn { number: usize },
}

/// Merges `entry` into an aws-auth ConfigMap given as YAML (or JSON), such as the output of
/// `kubectl get configmap aws-auth -n kube-system -o yaml`.
///
/// Entries that name the same role (same partition, account and case-insensitive role name,
/// with or without a path) are replaced by `entry`, at the position of the first one. All other
/// entries and keys stay as they were. Merging the output again returns
/// [`AwsAuthChange::Unchanged`] and the same YAML.
pub fn merge_aws_auth(
    configmap_yaml: &str,
    entry: &MapRole,
) -> Result<AwsAuthUpdate, AwsAuthError> {
    let mut configmap = parse_configmap(configmap_yaml)?;
    let mut entries = read_map_roles(&configmap)?;
    let new_entry = serde_yaml::to_value(entry).expect("a mapRoles entry serializes");
    let matching = matching_entries(&entries, &entry.rolearn)?;

    let change = match matching.as_slice() {
        [] => {
            entries.push(new_entry);
            AwsAuthChange::Added
        }
        [only] if entries[*only] == new_entry => AwsAuthChange::Unchanged,
        [first, rest @ ..] => {
            entries[*first] = new_entry;
            for index in rest.iter().rev() {
                entries.remove(*index);
            }
            AwsAuthChange::Replaced
        }
    };
    if change != AwsAuthChange::Unchanged {
        write_map_roles(&mut configmap, &entries);
    }
    Ok(AwsAuthUpdate {
        yaml: serialize(&configmap),
        change,
    })
}

/// Removes every `mapRoles` entry of the role `role_arn` (with or without path) from an aws-auth
/// ConfigMap given as YAML, keeping all other entries and keys.
pub fn remove_from_aws_auth(
    configmap_yaml: &str,
    role_arn: &str,
) -> Result<AwsAuthUpdate, AwsAuthError> {
    let mut configmap = parse_configmap(configmap_yaml)?;
    let mut entries = read_map_roles(&configmap)?;
    let matching = matching_entries(&entries, role_arn)?;
    let change = if matching.is_empty() {
        AwsAuthChange::Absent
    } else {
        for index in matching.iter().rev() {
            entries.remove(*index);
        }
        write_map_roles(&mut configmap, &entries);
        AwsAuthChange::Removed
    };
    Ok(AwsAuthUpdate {
        yaml: serialize(&configmap),
        change,
    })
}

/// Builds a new aws-auth ConfigMap with only `entries`, for a cluster that has none.
///
/// Applying it over an existing aws-auth replaces that one and drops its entries, including
/// the node roles, which stops nodes from joining: use [`merge_aws_auth`] when one exists.
pub fn aws_auth_configmap(entries: &[MapRole]) -> String {
    let mut metadata = Mapping::new();
    metadata.insert("name".into(), CONFIGMAP_NAME.into());
    metadata.insert("namespace".into(), CONFIGMAP_NAMESPACE.into());
    let mut configmap = Mapping::new();
    configmap.insert("apiVersion".into(), "v1".into());
    configmap.insert("kind".into(), "ConfigMap".into());
    configmap.insert("metadata".into(), Yaml::Mapping(metadata));
    let mut configmap = Yaml::Mapping(configmap);
    let entries: Vec<Yaml> = entries
        .iter()
        .map(|entry| serde_yaml::to_value(entry).expect("a mapRoles entry serializes"))
        .collect();
    write_map_roles(&mut configmap, &entries);
    serialize(&configmap)
}

/// Builds a ClusterRoleBinding that gives a Kubernetes group the built-in `view` ClusterRole
/// (read access without Secrets), which the read-only aws-auth group needs.
pub fn view_cluster_role_binding(group: &str) -> String {
    let name: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: ClusterRoleBinding\n\
         metadata:\n  name: {name}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: view\n\
         subjects:\n  - apiGroup: rbac.authorization.k8s.io\n    kind: Group\n    name: {}\n",
        serde_yaml::to_string(group)
            .expect("a string serializes")
            .trim_end()
    )
}

fn parse_configmap(text: &str) -> Result<Yaml, AwsAuthError> {
    if text.trim().is_empty() {
        return Err(AwsAuthError::Empty);
    }
    let configmap: Yaml =
        serde_yaml::from_str(text).map_err(|error| AwsAuthError::InvalidYaml(error.to_string()))?;
    let Yaml::Mapping(object) = &configmap else {
        return Err(AwsAuthError::NotAnObject);
    };
    match object.get("kind") {
        Some(Yaml::String(kind)) if kind == "ConfigMap" => {}
        Some(Yaml::String(kind)) => return Err(AwsAuthError::NotAConfigMap(kind.clone())),
        _ => return Err(AwsAuthError::NotAnObject),
    }
    let metadata = object.get("metadata");
    let field = |key: &str| {
        metadata
            .and_then(|metadata| metadata.get(key))
            .and_then(Yaml::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (name, namespace) = (field("name"), field("namespace"));
    // `kubectl get` always prints the namespace; a hand-written manifest may leave it out.
    let namespace_ok = namespace.is_empty() || namespace == CONFIGMAP_NAMESPACE;
    if name != CONFIGMAP_NAME || !namespace_ok {
        return Err(AwsAuthError::WrongConfigMap { name, namespace });
    }
    Ok(configmap)
}

fn read_map_roles(configmap: &Yaml) -> Result<Vec<Yaml>, AwsAuthError> {
    let text = match configmap.get("data") {
        None | Some(Yaml::Null) => return Ok(Vec::new()),
        Some(Yaml::Mapping(data)) => match data.get(MAP_ROLES) {
            None | Some(Yaml::Null) => return Ok(Vec::new()),
            Some(Yaml::String(text)) => text,
            Some(_) => return Err(AwsAuthError::MapRolesNotString),
        },
        Some(_) => return Err(AwsAuthError::InvalidData),
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let parsed: Yaml = serde_yaml::from_str(text)
        .map_err(|error| AwsAuthError::InvalidMapRoles(error.to_string()))?;
    let entries = match parsed {
        Yaml::Null => Vec::new(),
        Yaml::Sequence(entries) => entries,
        _ => return Err(AwsAuthError::MapRolesNotList),
    };
    for (index, entry) in entries.iter().enumerate() {
        if !entry.is_mapping() {
            return Err(AwsAuthError::EntryNotMapping { number: index + 1 });
        }
        if entry.get("rolearn").and_then(Yaml::as_str).is_none() {
            return Err(AwsAuthError::EntryWithoutRoleArn { number: index + 1 });
        }
    }
    Ok(entries)
}

fn write_map_roles(configmap: &mut Yaml, entries: &[Yaml]) {
    let text = serde_yaml::to_string(entries).expect("mapRoles entries serialize");
    let object = configmap
        .as_mapping_mut()
        .expect("parse_configmap checked the mapping");
    if !matches!(object.get("data"), Some(Yaml::Mapping(_))) {
        object.insert("data".into(), Yaml::Mapping(Mapping::new()));
    }
    let data = object
        .get_mut("data")
        .and_then(Yaml::as_mapping_mut)
        .expect("data is a mapping");
    data.insert(MAP_ROLES.into(), Yaml::String(text));
}

/// Returns the positions of the entries that name the same role as `role_arn`.
fn matching_entries(entries: &[Yaml], role_arn: &str) -> Result<Vec<usize>, AwsAuthError> {
    let expected = role_identity(role_arn);
    let mut positions = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let arn = entry
            .get("rolearn")
            .and_then(Yaml::as_str)
            .ok_or(AwsAuthError::EntryWithoutRoleArn { number: index + 1 })?;
        if role_identity(arn) == expected {
            positions.push(index);
        }
    }
    Ok(positions)
}

/// Returns what identifies a role across spellings of its ARN: the partition, the account and
/// the lower-case name (IAM role names are case-insensitive), or the ARN itself when it does not
/// parse as a role ARN.
fn role_identity(arn: &str) -> String {
    match parse_role_arn(arn.trim()) {
        Ok(role) => role.mapped_arn.to_ascii_lowercase(),
        Err(_) => arn.to_string(),
    }
}

fn serialize(configmap: &Yaml) -> String {
    serde_yaml::to_string(configmap).expect("a parsed YAML value serializes")
}
