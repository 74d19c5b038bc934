//! `eksgate credential`: the kubectl exec credential plugin.
//!
//! kubectl runs it whenever it needs a token for a context that `eksgate connect` wrote. It
//! prints an `ExecCredential` with an EKS token signed locally from cached session credentials,
//! and requests a new session from the API only when the cached credentials are missing or expire
//! within [`crate::cache::REFRESH_BEFORE_EXPIRY`].

use std::time::SystemTime;

use eksgate_kube::exec::EXEC_INFO_ENV;
use eksgate_kube::{
    ExecApiVersion, ExecCredential, SigningCredentials, eks_token, parse_exec_info,
};
use serde_json::{Value, json};

use super::access::shell_word;
use super::runtime;
use crate::api::ApiClient;
use crate::args::GlobalOptions;
use crate::cache::{CacheKey, CachedCredentials, CachedSession, CredentialCache};
use crate::cluster::{self, ClusterRef};
use crate::config;
use crate::error::CliError;
use crate::identity::identity_key;
use crate::output::print;
use crate::time::parse_rfc3339;

pub fn run(global: &GlobalOptions, cluster: &str, role: &str) -> Result<(), CliError> {
    let api_version = requested_api_version()?;
    let settings = config::resolve(global)?;
    let cache = CredentialCache::open_default()?;
    let api_url = settings.api_url.to_string();
    let command = settings.token_source.command_descriptor();

    // With a token command, the identity of a cached session comes from the hint that the last
    // run of the command left, so a cache hit runs no command and needs no sign-in.
    let hinted = command
        .as_deref()
        .and_then(|command| cache.identity_hint(&api_url, command));
    let mut token = None;
    let identity = match hinted {
        Some(identity) => identity,
        None => {
            let fresh = settings.identity_token()?;
            let identity = identity_key(fresh.expose());
            token = Some(fresh);
            identity
        }
    };
    let mut key = CacheKey {
        api_url: api_url.clone(),
        identity,
        cluster: cluster.trim().to_string(),
        role: role.trim().to_string(),
    };
    let mut cached = cache.load(&key);
    if let Some(entry) = &cached
        && entry.is_fresh(SystemTime::now())
    {
        return print_credential(entry, api_version);
    }

    let token = match token {
        Some(token) => token,
        None => settings.identity_token()?,
    };
    let identity = identity_key(token.expose());
    if let Some(command) = &command
        && let Err(error) = cache.store_identity_hint(&api_url, command, &identity)
    {
        eprintln!("eksgate: warning: {error}");
    }
    if identity != key.identity {
        // The command signs in as someone else now: their own cached session may be fresh.
        key.identity = identity;
        cached = cache.load(&key);
        if let Some(entry) = &cached
            && entry.is_fresh(SystemTime::now())
        {
            return print_credential(entry, api_version);
        }
    }

    let api = ApiClient::new(settings.api_url, token, settings.timeout)?;
    let renewed = runtime()?.block_on(new_session(&api, &key));
    match renewed {
        Ok(entry) => {
            if let Err(error) = cache.store(&key, &entry) {
                eprintln!(
                    "eksgate: warning: {error}. The credentials are not cached, so the next \
                     kubectl command creates another session"
                );
            }
            print_credential(&entry, api_version)
        }
        Err(CliError::Api(failure)) if failure.status == 403 => {
            let _ = cache.remove(&key);
            Err(access_error(&key, CliError::Api(failure)))
        }
        Err(error) => {
            // The API is unreachable, failing, or refuses a session for now, such as for a grant
            // that ends within the 15 minutes STS needs at least. Cached credentials that still
            // sign a valid token are better than none.
            let usable = cached.filter(|_| is_transient(&error) || is_conflict(&error));
            if let Some(entry) = usable
                && let Ok(text) = credential_json(&entry, api_version)
            {
                eprintln!(
                    "eksgate: warning: renewing the session failed ({error}). Using the cached \
                     credentials, which expire at {}",
                    entry.credentials.expiration
                );
                print(&text);
                return Ok(());
            }
            if is_conflict(&error) {
                return Err(access_error(&key, error));
            }
            Err(error)
        }
    }
}

fn access_error(key: &CacheKey, error: CliError) -> CliError {
    CliError::Other(format!(
        "could not get credentials for role {} on cluster {}: {error}\n{}",
        key.role,
        key.cluster,
        request_again_hint(key)
    ))
}

fn is_conflict(error: &CliError) -> bool {
    matches!(error, CliError::Api(failure) if failure.status == 409)
}

/// Returns the API version that kubectl requests in `KUBERNETES_EXEC_INFO`, or v1beta1 when it
/// is unset, as when the plugin runs by hand.
fn requested_api_version() -> Result<ExecApiVersion, CliError> {
    match std::env::var(EXEC_INFO_ENV) {
        Ok(text) if !text.trim().is_empty() => parse_exec_info(&text)
            .map(|info| info.api_version)
            .map_err(|error| CliError::Other(error.to_string())),
        _ => Ok(ExecApiVersion::V1Beta1),
    }
}

fn is_transient(error: &CliError) -> bool {
    match error {
        CliError::Network { .. } | CliError::Timeout { .. } => true,
        CliError::Api(failure) => failure.status == 429 || failure.status >= 500,
        _ => false,
    }
}

/// Says how to get access again, with the command to copy.
fn request_again_hint(key: &CacheKey) -> String {
    format!(
        "If your grant has ended or was revoked, request access again:\n  eksgate request \
         --cluster {} --role {} --reason '<why you need access>'\nand run kubectl again once \
         an approver has approved it.",
        shell_word(&key.cluster),
        shell_word(&key.role)
    )
}

/// Creates a session and returns it as a cache entry.
async fn new_session(api: &ApiClient, key: &CacheKey) -> Result<CachedSession, CliError> {
    let cluster = cluster::resolve(api, &key.cluster).await?;
    let document = api
        .post(
            "/sessions",
            &json!({ "cluster": cluster.arn, "role": key.role, "kubeconfig_auth": "exec" }),
        )
        .await?;
    session_entry(key, &cluster, &document).map_err(|reason| CliError::Protocol {
        url: api.base().join("/sessions"),
        reason,
    })
}

/// Reads a `POST /sessions` response into a cache entry.
pub fn session_entry(
    key: &CacheKey,
    cluster: &ClusterRef,
    document: &Value,
) -> Result<CachedSession, String> {
    let text = |value: &Value, field: &str| {
        value
            .as_str()
            .filter(|text| !text.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("the session response has no {field}"))
    };
    let credentials = &document["credentials"];
    let expiration = text(&credentials["expiration"], "credentials.expiration")?;
    if parse_rfc3339(&expiration).is_none() {
        return Err("credentials.expiration is not an RFC 3339 time".into());
    }
    Ok(CachedSession::new(
        key,
        cluster.arn.clone(),
        text(&document["session"]["id"], "session.id")?,
        text(&document["grant"]["id"], "grant.id")?,
        text(&document["grant"]["ends_at"], "grant.ends_at")?,
        CachedCredentials {
            access_key_id: text(&credentials["access_key_id"], "credentials.access_key_id")?,
            secret_access_key: text(
                &credentials["secret_access_key"],
                "credentials.secret_access_key",
            )?,
            session_token: text(&credentials["session_token"], "credentials.session_token")?,
            expiration,
        },
    ))
}

/// Signs an EKS token from the entry's credentials and prints it as an `ExecCredential`.
fn print_credential(entry: &CachedSession, api_version: ExecApiVersion) -> Result<(), CliError> {
    print(&credential_json(entry, api_version)?);
    Ok(())
}

/// Signs an EKS token from the entry's credentials and returns the `ExecCredential` JSON line.
fn credential_json(entry: &CachedSession, api_version: ExecApiVersion) -> Result<String, CliError> {
    let cluster = ClusterRef::parse_arn(&entry.cluster_arn).map_err(CliError::Other)?;
    let credentials = SigningCredentials {
        access_key_id: entry.credentials.access_key_id.clone(),
        secret_access_key: entry.credentials.secret_access_key.clone(),
        session_token: Some(entry.credentials.session_token.clone()),
        expires_at: entry.expires_at(),
    };
    let token = eks_token(
        &credentials,
        &cluster.name,
        &cluster.region,
        cluster.partition,
        SystemTime::now(),
    )
    .map_err(|error| CliError::Other(format!("could not sign the EKS token: {error}")))?;
    let mut text = ExecCredential::from_token(&token, api_version).to_json();
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CacheKey {
        CacheKey {
            api_url: "https://api.example.com".into(),
            identity: "jwt:https://idp.example.com 00u1".into(),
            cluster: "arn:aws:eks:eu-west-1:111122223333:cluster/payments".into(),
            role: "ClusterAdmin".into(),
        }
    }

    fn response() -> Value {
        json!({
            "session": {"id": "s-1"},
            "grant": {"id": "g-1", "ends_at": "2030-01-01T02:00:00Z"},
            "credentials": {
                "access_key_id": "ASIAEXAMPLE",
                "secret_access_key": "secret",
                "session_token": "token",
                "expiration": "2030-01-01T01:00:00Z",
            },
            "token": {"token": "k8s-aws-v1.x", "expiration": "2030-01-01T00:14:00Z"},
            "kubeconfig": "apiVersion: v1\n",
        })
    }

    #[test]
    fn reads_session_responses() {
        let key = key();
        let cluster = ClusterRef::parse_arn(&key.cluster).expect("arn");
        let entry = session_entry(&key, &cluster, &response()).expect("entry");
        assert_eq!(entry.session_id, "s-1");
        assert_eq!(entry.grant_id, "g-1");
        assert_eq!(entry.credentials.access_key_id, "ASIAEXAMPLE");
        assert_eq!(entry.cluster_arn, key.cluster);

        let mut missing = response();
        missing["credentials"]["session_token"] = Value::Null;
        let error = session_entry(&key, &cluster, &missing).expect_err("missing");
        assert!(error.contains("credentials.session_token"), "{error}");

        let mut bad_time = response();
        bad_time["credentials"]["expiration"] = json!("tomorrow");
        assert!(session_entry(&key, &cluster, &bad_time).is_err());
    }

    #[test]
    fn hint_names_the_request_command() {
        let hint = request_again_hint(&key());
        assert!(
            hint.contains(
                "eksgate request --cluster arn:aws:eks:eu-west-1:111122223333:cluster/payments \
                 --role ClusterAdmin"
            ),
            "{hint}"
        );
    }

    #[test]
    fn transient_errors() {
        let network = CliError::Network {
            url: "x".into(),
            reason: "refused".into(),
        };
        assert!(is_transient(&network));
        assert!(!is_transient(&CliError::Other("x".into())));
    }
}
