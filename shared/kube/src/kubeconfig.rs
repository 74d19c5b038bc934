//! Kubeconfig files for one EKS cluster, written standalone or merged into an existing file.

use std::fmt;

use serde::Serialize;
use serde_yaml::{Mapping, Value};

use crate::exec::API_VERSION_V1BETA1;

/// The cluster, user and context entries that give access to one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterKubeconfig {
    /// Name of the `clusters` entry.
    pub cluster_name: String,
    /// Name of the `users` entry.
    pub user_name: String,
    /// Name of the `contexts` entry.
    pub context_name: String,
    /// API server endpoint, written exactly as given (DescribeCluster's `endpoint`).
    pub server: String,
    /// Base64-encoded CA bundle, written exactly as given (DescribeCluster's
    /// `certificateAuthority.data`).
    pub certificate_authority_data: String,
    /// Default namespace of the context. Omitted when `None`.
    pub namespace: Option<String>,
    pub credential: UserCredential,
}

/// The credential with which kubectl authenticates as the user entry.
#[derive(Clone, PartialEq, Eq)]
pub enum UserCredential {
    /// A static bearer token, such as an EKS token. kubectl does not renew it.
    Token(String),
    /// An exec plugin that kubectl runs to get a fresh token.
    Exec(ExecPlugin),
}

impl fmt::Debug for UserCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(** redacted **)"),
            Self::Exec(plugin) => f.debug_tuple("Exec").field(plugin).finish(),
        }
    }
}

/// The `exec` block of a user entry. kubectl runs `command` with `args` and `env` and reads an
/// `ExecCredential` of apiVersion `client.authentication.k8s.io/v1beta1` from its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlugin {
    /// Program name, looked up in `PATH`, or a path.
    pub command: String,
    pub args: Vec<String>,
    /// Variables that kubectl adds to its own environment for the plugin.
    pub env: Vec<ExecEnvVar>,
}

/// One `env` item of an exec block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEnvVar {
    pub name: String,
    pub value: String,
}

/// Failures to merge into an existing kubeconfig. The messages describe the existing file's
/// content. Callers add its path.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error(
        "the existing kubeconfig is not valid YAML: {0}. Fix the file or move it aside, then \
         try again"
    )]
    InvalidYaml(#[source] serde_yaml::Error),

    #[error(
        "the existing kubeconfig is not a kubeconfig: its top level is {found}, expected a \
         mapping with apiVersion, kind, clusters, users and contexts. Fix the file or move it \
         aside, then try again"
    )]
    NotAMapping { found: &'static str },

    #[error(
        "the existing kubeconfig has {field} {found:?}, expected {expected:?}. Fix the file or \
         move it aside, then try again"
    )]
    UnexpectedHeader {
        field: &'static str,
        found: String,
        expected: &'static str,
    },

    #[error(
        "the existing kubeconfig has a {field} field that is {found}, expected a list. Fix the \
         file or move it aside, then try again"
    )]
    NotAList {
        field: &'static str,
        found: &'static str,
    },

    #[error(
        "the existing kubeconfig has a {field} item at index {index} that is {found}, expected \
         a mapping with a name. Fix the file or move it aside, then try again"
    )]
    ItemNotAMapping {
        field: &'static str,
        index: usize,
        found: &'static str,
    },
}

impl ClusterKubeconfig {
    /// Describes a cluster whose cluster, user and context entries are all called `name`.
    pub fn new(
        name: impl Into<String>,
        server: impl Into<String>,
        certificate_authority_data: impl Into<String>,
        credential: UserCredential,
    ) -> Self {
        let name = name.into();
        Self {
            cluster_name: name.clone(),
            user_name: name.clone(),
            context_name: name,
            server: server.into(),
            certificate_authority_data: certificate_authority_data.into(),
            namespace: None,
            credential,
        }
    }

    /// Renders a standalone kubeconfig whose current context is this cluster's.
    pub fn to_yaml(&self) -> String {
        let mut root = Mapping::new();
        root.insert("apiVersion".into(), "v1".into());
        root.insert("kind".into(), "Config".into());
        root.insert(
            "clusters".into(),
            Value::Sequence(vec![self.cluster_entry()]),
        );
        root.insert("users".into(), Value::Sequence(vec![self.user_entry()]));
        root.insert(
            "contexts".into(),
            Value::Sequence(vec![self.context_entry()]),
        );
        root.insert("current-context".into(), self.context_name.as_str().into());
        root.insert("preferences".into(), Value::Mapping(Mapping::new()));
        render(&Value::Mapping(root))
    }

    /// Merges this cluster's entries into `existing_yaml`, the content of an existing kubeconfig
    /// (`None` when there is no file), and returns the new content.
    ///
    /// Entries with the same names are replaced in place. Every other entry, `preferences`,
    /// `extensions` and unknown keys are kept, so merging twice gives the same text as merging
    /// once. `current-context` is set to this context only when `set_current` is true. Comments
    /// and the original formatting of the existing file are not kept.
    pub fn merge_into(
        &self,
        existing_yaml: Option<&str>,
        set_current: bool,
    ) -> Result<String, KubeconfigError> {
        let mut root = match existing_yaml {
            Some(text) => parse_existing(text)?,
            None => Mapping::new(),
        };
        set_header(&mut root, "apiVersion", "v1")?;
        set_header(&mut root, "kind", "Config")?;
        upsert_named(
            &mut root,
            "clusters",
            &self.cluster_name,
            self.cluster_entry(),
        )?;
        upsert_named(&mut root, "users", &self.user_name, self.user_entry())?;
        upsert_named(
            &mut root,
            "contexts",
            &self.context_name,
            self.context_entry(),
        )?;
        if set_current {
            root.insert("current-context".into(), self.context_name.as_str().into());
        }
        Ok(render(&Value::Mapping(root)))
    }

    fn cluster_entry(&self) -> Value {
        to_value(&NamedCluster {
            name: &self.cluster_name,
            cluster: ClusterFields {
                server: &self.server,
                certificate_authority_data: &self.certificate_authority_data,
            },
        })
    }

    fn user_entry(&self) -> Value {
        let user = match &self.credential {
            UserCredential::Token(token) => UserFields {
                token: Some(token),
                exec: None,
            },
            UserCredential::Exec(plugin) => UserFields {
                token: None,
                exec: Some(ExecFields {
                    api_version: API_VERSION_V1BETA1,
                    command: &plugin.command,
                    args: &plugin.args,
                    env: plugin
                        .env
                        .iter()
                        .map(|var| EnvFields {
                            name: &var.name,
                            value: &var.value,
                        })
                        .collect(),
                    // eksgate plugins never prompt, so kubectl need not give them a terminal.
                    interactive_mode: "Never",
                    provide_cluster_info: false,
                }),
            },
        };
        to_value(&NamedUser {
            name: &self.user_name,
            user,
        })
    }

    fn context_entry(&self) -> Value {
        to_value(&NamedContext {
            name: &self.context_name,
            context: ContextFields {
                cluster: &self.cluster_name,
                user: &self.user_name,
                namespace: self.namespace.as_deref(),
            },
        })
    }
}

#[derive(Serialize)]
struct NamedCluster<'a> {
    name: &'a str,
    cluster: ClusterFields<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterFields<'a> {
    server: &'a str,
    certificate_authority_data: &'a str,
}

#[derive(Serialize)]
struct NamedUser<'a> {
    name: &'a str,
    user: UserFields<'a>,
}

#[derive(Serialize)]
struct UserFields<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exec: Option<ExecFields<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExecFields<'a> {
    api_version: &'static str,
    command: &'a str,
    args: &'a [String],
    env: Vec<EnvFields<'a>>,
    interactive_mode: &'static str,
    provide_cluster_info: bool,
}

#[derive(Serialize)]
struct EnvFields<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct NamedContext<'a> {
    name: &'a str,
    context: ContextFields<'a>,
}

#[derive(Serialize)]
struct ContextFields<'a> {
    cluster: &'a str,
    user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
}

fn to_value(entry: &impl Serialize) -> Value {
    serde_yaml::to_value(entry).expect("kubeconfig entries contain only strings, lists and maps")
}

fn render(root: &Value) -> String {
    serde_yaml::to_string(root).expect("a YAML value built from strings serialises")
}

/// Parses an existing kubeconfig. Empty text, or text that is only comments, counts as an empty
/// kubeconfig.
fn parse_existing(text: &str) -> Result<Mapping, KubeconfigError> {
    if text.trim().is_empty() {
        return Ok(Mapping::new());
    }
    match serde_yaml::from_str::<Value>(text).map_err(KubeconfigError::InvalidYaml)? {
        Value::Mapping(root) => Ok(root),
        Value::Null => Ok(Mapping::new()),
        other => Err(KubeconfigError::NotAMapping {
            found: describe(&other),
        }),
    }
}

/// Sets `apiVersion` or `kind` when absent, and rejects a file where it has another value.
fn set_header(
    root: &mut Mapping,
    field: &'static str,
    expected: &'static str,
) -> Result<(), KubeconfigError> {
    match root.get(field) {
        None | Some(Value::Null) => {
            root.insert(field.into(), expected.into());
            Ok(())
        }
        Some(Value::String(value)) if value == expected => Ok(()),
        Some(other) => Err(KubeconfigError::UnexpectedHeader {
            field,
            found: match other {
                Value::String(value) => value.clone(),
                other => describe(other).to_string(),
            },
            expected,
        }),
    }
}

/// Replaces the items of the list `field` whose `name` is `name` with `entry`, at the position
/// of the first one, or appends `entry` when there is none.
fn upsert_named(
    root: &mut Mapping,
    field: &'static str,
    name: &str,
    entry: Value,
) -> Result<(), KubeconfigError> {
    let items = match root.get_mut(field) {
        None | Some(Value::Null) => {
            root.insert(field.into(), Value::Sequence(vec![entry]));
            return Ok(());
        }
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            return Err(KubeconfigError::NotAList {
                field,
                found: describe(other),
            });
        }
    };

    let mut first_match = None;
    for (index, item) in items.iter().enumerate() {
        let Value::Mapping(item) = item else {
            return Err(KubeconfigError::ItemNotAMapping {
                field,
                index,
                found: describe(item),
            });
        };
        if first_match.is_none() && item.get("name").and_then(Value::as_str) == Some(name) {
            first_match = Some(index);
        }
    }

    match first_match {
        Some(first) => {
            items[first] = entry;
            // Drop later duplicates of the name, so that no stale credential stays in the file.
            let mut index = 0;
            items.retain(|item| {
                let keep = index <= first || item.get("name").and_then(Value::as_str) != Some(name);
                index += 1;
                keep
            });
        }
        None => items.push(entry),
    }
    Ok(())
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests;
