//! The commands. Each reads its arguments, calls the session API and prints the result.

mod access;
mod catalog;
mod configure;
mod connect;
mod credential;
mod doctor;
mod setup;

use crate::api::ApiClient;
use crate::args::{Command, GlobalOptions, OutputFormat};
use crate::cache::CredentialCache;
use crate::config::{self, Secret};
use crate::error::CliError;
use crate::identity::identity_key;

/// The state that the commands calling the API share: the client, the caller's identity key
/// and the output format.
pub struct Client {
    pub api: ApiClient,
    /// From [`identity_key`]: keys the credential cache.
    pub identity: String,
    pub output: OutputFormat,
    pub global: GlobalOptions,
}

impl Client {
    fn new(global: &GlobalOptions) -> Result<Self, CliError> {
        let settings = config::resolve(global)?;
        let token: Secret = settings.identity_token()?;
        let identity = identity_key(token.expose());
        // The exec plugin finds cached sessions through this hint without running the command.
        if let Some(command) = settings.token_source.command_descriptor() {
            let stored = CredentialCache::open_default().and_then(|cache| {
                cache.store_identity_hint(&settings.api_url.to_string(), &command, &identity)
            });
            if let Err(error) = stored {
                eprintln!("eksgate: warning: {error}");
            }
        }
        let api = ApiClient::new(settings.api_url, token, settings.timeout)?;
        Ok(Self {
            api,
            identity,
            output: global.output,
            global: global.clone(),
        })
    }
}

/// Builds the single-threaded runtime that the HTTP client runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| CliError::Other(format!("starting the async runtime failed: {error}")))
}

/// Runs one command.
pub fn run(global: GlobalOptions, command: Command) -> Result<(), CliError> {
    match command {
        Command::Configure(options) => configure::run(&global, &options),
        Command::Credential { cluster, role } => credential::run(&global, &cluster, &role),
        Command::SetupRole(options) => setup::role(&options),
        Command::SetupAwsAuth(options) => setup::aws_auth(&options),
        Command::SetupAccessEntry {
            cluster,
            role_arn,
            level,
            format,
        } => setup::access_entry(&cluster, &role_arn, level, format),
        Command::SetupTags {
            cluster,
            admin_roles,
            read_only_roles,
        } => setup::tags(&cluster, &admin_roles, &read_only_roles),
        command => {
            let runtime = runtime()?;
            let client = Client::new(&global)?;
            runtime.block_on(run_with_client(&client, command))
        }
    }
}

async fn run_with_client(client: &Client, command: Command) -> Result<(), CliError> {
    match command {
        Command::Clusters => catalog::clusters(client).await,
        Command::Roles { cluster } => catalog::roles(client, cluster.as_deref()).await,
        Command::Request {
            cluster,
            role,
            duration,
            reason,
        } => access::request(client, &cluster, &role, duration.as_deref(), &reason).await,
        Command::Requests { pending, limit } => access::requests(client, pending, limit).await,
        Command::Grants { all, limit } => access::grants(client, all, limit).await,
        Command::Approve { id, reason } => {
            access::decide(client, access::Decision::Approve, &id, reason.as_deref()).await
        }
        Command::Deny { id, reason } => {
            access::decide(client, access::Decision::Deny, &id, Some(&reason)).await
        }
        Command::Cancel { id, reason } => {
            access::decide(client, access::Decision::Cancel, &id, reason.as_deref()).await
        }
        Command::End { id, reason } => {
            access::decide(client, access::Decision::End, &id, reason.as_deref()).await
        }
        Command::Revoke { id, reason } => {
            access::decide(client, access::Decision::Revoke, &id, Some(&reason)).await
        }
        Command::Connect(options) => connect::run(client, &options).await,
        Command::Sessions { all, limit } => access::sessions(client, all, limit).await,
        Command::Audit { date, user, limit } => {
            access::audit(client, date.as_deref(), user.as_deref(), limit).await
        }
        Command::Doctor { cluster, issuer } => doctor::run(client, &cluster, issuer).await,
        Command::Configure(_)
        | Command::Credential { .. }
        | Command::SetupRole(_)
        | Command::SetupAwsAuth(_)
        | Command::SetupAccessEntry { .. }
        | Command::SetupTags { .. } => {
            unreachable!("run handles the commands that need no API client")
        }
    }
}

/// Prints a note on standard error when a list was cut at `limit`.
fn note_truncated(more: bool, limit: usize) {
    if more {
        eprintln!("eksgate: showing the first {limit}; pass --limit to see more");
    }
}
