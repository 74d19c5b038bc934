//! `eksgate connect`: a session for a granted role, written into the user's kubeconfig.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use eksgate_kube::{ClusterKubeconfig, ExecPlugin, UserCredential};
use serde_json::{Value, json};

use super::Client;
use super::credential::session_entry;
use crate::args::{ConnectOptions, OutputFormat};
use crate::cache::{CacheKey, CredentialCache};
use crate::cluster::{self, ClusterRef};
use crate::error::CliError;
use crate::files;
use crate::output::{cell, details, print, print_json};

/// Name of the program that exec plugin entries run when it is on `PATH`.
const PROGRAM_NAME: &str = "eksgate";

pub async fn run(client: &Client, options: &ConnectOptions) -> Result<(), CliError> {
    let cluster = cluster::resolve(&client.api, &options.cluster).await?;
    let role = options.role.trim();
    let document = client
        .api
        .post(
            "/sessions",
            &json!({
                "cluster": cluster.arn,
                "role": role,
                "kubeconfig_auth": if options.static_token { "token" } else { "exec" },
            }),
        )
        .await?;
    let protocol_error = |reason: String| CliError::Protocol {
        url: client.api.base().join("/sessions"),
        reason,
    };
    let served = served_cluster(&document).map_err(protocol_error)?;

    let context_name = options
        .context
        .clone()
        .or(served.context)
        .unwrap_or_else(|| format!("eksgate-{}-{role}", cluster.name));
    let credential = if options.static_token {
        let token = document["token"]["token"]
            .as_str()
            .filter(|token| !token.is_empty())
            .ok_or_else(|| protocol_error("the session response has no token.token".into()))?;
        UserCredential::Token(token.to_string())
    } else {
        UserCredential::Exec(exec_plugin(client, options, &cluster.arn, role)?)
    };
    let kubeconfig = ClusterKubeconfig::new(
        context_name.clone(),
        served.server,
        served.certificate_authority_data,
        credential,
    );

    let path = kubeconfig_path(options.kubeconfig.as_deref())?;
    write_kubeconfig(&path, &kubeconfig, !options.keep_current_context)?;

    if !options.static_token {
        // The first kubectl command then needs no second session.
        let key = CacheKey {
            api_url: client.api.base().to_string(),
            identity: client.identity.clone(),
            cluster: cluster.arn.clone(),
            role: role.to_string(),
        };
        let cached = session_entry(&key, &cluster, &document)
            .map_err(protocol_error)
            .and_then(|entry| CredentialCache::open_default()?.store(&key, &entry));
        if let Err(error) = cached {
            eprintln!(
                "eksgate: warning: {error}. The first kubectl command will create another session"
            );
        }
    }

    report(client, options, &cluster, &context_name, &path, &document);
    Ok(())
}

/// The cluster entry of the kubeconfig that the API returned.
struct ServedCluster {
    server: String,
    certificate_authority_data: String,
    context: Option<String>,
}

/// Reads the API server endpoint and CA data, exactly as DescribeCluster returned them, from
/// the response's kubeconfig.
fn served_cluster(document: &Value) -> Result<ServedCluster, String> {
    let text = document["kubeconfig"]
        .as_str()
        .ok_or("the session response has no kubeconfig")?;
    let kubeconfig: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|error| format!("the session response's kubeconfig is not YAML: {error}"))?;
    let cluster = &kubeconfig["clusters"][0]["cluster"];
    let field = |name: &str| {
        cluster[name]
            .as_str()
            .filter(|value| !value.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("the session response's kubeconfig has no cluster {name}"))
    };
    Ok(ServedCluster {
        server: field("server")?,
        certificate_authority_data: field("certificate-authority-data")?,
        context: kubeconfig["current-context"].as_str().map(str::to_string),
    })
}

/// Builds the exec entry: `eksgate credential --cluster <ARN> --role <role> --api-url <URL>`,
/// plus `--config <path>` when this run was given one, so that the context reaches the same
/// API with the same settings as this command.
fn exec_plugin(
    client: &Client,
    options: &ConnectOptions,
    cluster_arn: &str,
    role: &str,
) -> Result<ExecPlugin, CliError> {
    let mut args = vec![
        "credential".to_string(),
        "--cluster".to_string(),
        cluster_arn.to_string(),
        "--role".to_string(),
        role.to_string(),
        "--api-url".to_string(),
        client.api.base().to_string(),
    ];
    if let Some(config) = &client.global.config {
        let absolute = std::path::absolute(config)
            .map_err(|error| CliError::file("resolving", config, error))?;
        args.push("--config".to_string());
        args.push(absolute.display().to_string());
    }
    let command = match &options.exec_command {
        Some(command) => command.clone(),
        None => default_exec_command()?,
    };
    Ok(ExecPlugin {
        command,
        args,
        env: Vec::new(),
    })
}

/// Returns `eksgate` when `PATH` finds an executable of that name, else the absolute path of
/// this program, so that kubectl finds the plugin either way.
fn default_exec_command() -> Result<String, CliError> {
    if find_on_path(PROGRAM_NAME).is_some() {
        return Ok(PROGRAM_NAME.to_string());
    }
    let current = std::env::current_exe().map_err(|error| {
        CliError::Other(format!(
            "{PROGRAM_NAME} is not on PATH and the path of this program is unknown ({error}): \
             pass --exec-command with the path of the eksgate program"
        ))
    })?;
    Ok(current.display().to_string())
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| {
            fs::metadata(candidate).is_ok_and(|metadata| {
                metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
            })
        })
}

/// Returns the kubeconfig to update: `--kubeconfig`, else the first path in `KUBECONFIG`, else
/// `~/.kube/config`.
pub fn kubeconfig_path(flag: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(path) = flag {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = std::env::var_os("KUBECONFIG")
        .as_deref()
        .and_then(first_kubeconfig_path)
    {
        return Ok(path);
    }
    Ok(files::home_dir()?.join(".kube").join("config"))
}

/// Returns the first non-empty entry of a `KUBECONFIG` list, which kubectl writes to as well.
fn first_kubeconfig_path(list: &std::ffi::OsStr) -> Option<PathBuf> {
    std::env::split_paths(list).find(|path| !path.as_os_str().is_empty())
}

/// Merges the cluster's entries into the kubeconfig at `path`, keeping every other entry, and
/// writes it back with mode 0600.
fn write_kubeconfig(
    path: &Path,
    kubeconfig: &ClusterKubeconfig,
    set_current: bool,
) -> Result<(), CliError> {
    let existing = match fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(CliError::file("reading the kubeconfig", path, error)),
    };
    let merged = kubeconfig
        .merge_into(existing.as_deref(), set_current)
        .map_err(|error| {
            CliError::Other(format!(
                "cannot update the kubeconfig {}: {error}",
                path.display()
            ))
        })?;
    files::create_parent_dirs(path)
        .map_err(|error| CliError::file("creating the directory of", path, error))?;
    files::write_private(path, merged.as_bytes())
        .map_err(|error| CliError::file("writing the kubeconfig", path, error))
}

fn report(
    client: &Client,
    options: &ConnectOptions,
    cluster: &ClusterRef,
    context: &str,
    path: &Path,
    document: &Value,
) {
    let auth = if options.static_token {
        "token"
    } else {
        "exec"
    };
    if client.output == OutputFormat::Json {
        print_json(&json!({
            "context": context,
            "kubeconfig": path.display().to_string(),
            "current_context": !options.keep_current_context,
            "auth": auth,
            "cluster": cluster.arn,
            "role": options.role.trim(),
            "session": document["session"],
            "grant": document["grant"],
            "credentials_expire_at": document["credentials"]["expiration"],
            "token_expires_at": document["token"]["expiration"],
        }));
        return;
    }
    let current = if options.keep_current_context {
        "added; the current context is unchanged"
    } else {
        "now the current context"
    };
    let credentials = if options.static_token {
        format!(
            "static EKS token, valid until {}; run 'eksgate connect' again after that",
            cell(&document["token"]["expiration"])
        )
    } else {
        "exec plugin 'eksgate credential', which renews the token until the grant ends".into()
    };
    let mut text = format!(
        "Connected to {} as {}.\n",
        cluster.name,
        options.role.trim()
    );
    text.push_str(&details(&[
        ("context", format!("{context} ({current})")),
        ("kubeconfig", path.display().to_string()),
        ("cluster", cluster.arn.clone()),
        ("session name", cell(&document["session"]["session_name"])),
        ("credentials", credentials),
        (
            "grant",
            format!(
                "{}, ends at {}",
                cell(&document["grant"]["id"]),
                cell(&document["grant"]["ends_at"])
            ),
        ),
    ]));
    text.push_str(&format!("Try: kubectl --context {context} auth whoami\n"));
    print(&text);
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::*;

    #[test]
    fn first_kubeconfig_entry_wins() {
        assert_eq!(
            first_kubeconfig_path(OsStr::new(":/a/config:/b/config")),
            Some(PathBuf::from("/a/config"))
        );
        assert_eq!(first_kubeconfig_path(OsStr::new("")), None);
        assert_eq!(
            kubeconfig_path(Some(Path::new("/x/kubeconfig"))).expect("flag"),
            PathBuf::from("/x/kubeconfig")
        );
    }

    #[test]
    fn reads_the_served_cluster() {
        let kubeconfig = ClusterKubeconfig::new(
            "eksgate-payments-ClusterAdmin",
            "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
            "Y2E=",
            UserCredential::Token("t".into()),
        )
        .to_yaml();
        let served = served_cluster(&json!({ "kubeconfig": kubeconfig })).expect("served");
        assert_eq!(served.server, "https://ABC.gr7.eu-west-1.eks.amazonaws.com");
        assert_eq!(served.certificate_authority_data, "Y2E=");
        assert_eq!(
            served.context.as_deref(),
            Some("eksgate-payments-ClusterAdmin")
        );

        let error = served_cluster(&json!({ "kubeconfig": "clusters: []" })).err();
        assert!(error.is_some_and(|error| error.contains("server")));
    }

    #[test]
    fn merges_without_clobbering_other_entries() {
        let dir = crate::files::tests::TempDir::new("kubeconfig");
        let path = dir.0.join("kube/config");
        let other = ClusterKubeconfig::new(
            "other",
            "https://other.example.com",
            "b3RoZXI=",
            UserCredential::Token("other-token".into()),
        );
        write_kubeconfig(&path, &other, true).expect("first write");
        let ours = ClusterKubeconfig::new(
            "eksgate-payments-ClusterAdmin",
            "https://payments.example.com",
            "Y2E=",
            UserCredential::Token("t".into()),
        );
        write_kubeconfig(&path, &ours, false).expect("merge");

        let text = fs::read_to_string(&path).expect("read");
        assert!(text.contains("other-token"), "{text}");
        assert!(text.contains("eksgate-payments-ClusterAdmin"), "{text}");
        assert!(text.contains("current-context: other"), "{text}");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn invalid_kubeconfig_is_not_overwritten() {
        let dir = crate::files::tests::TempDir::new("kubeconfig-invalid");
        let path = dir.0.join("config");
        fs::write(&path, "- just\n- a list\n").expect("seed");
        let ours =
            ClusterKubeconfig::new("c", "https://x", "Y2E=", UserCredential::Token("t".into()));
        let error = write_kubeconfig(&path, &ours, true).expect_err("not a kubeconfig");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            "- just\n- a list\n"
        );
    }
}
