//! Command-line parsing with clap's derive API, and the conversion of the parsed arguments into
//! the `Command` values that the `commands` module runs.
//!
//! Options are GNU style: `--name value` or `--name=value`. Global options may come before or
//! after the command. `--` ends the options. Checks that clap cannot express, such as the options
//! that each `--mode` needs, run in the conversion functions and return `CliError::Usage`.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use eksgate_setup::{
    AccessLevel, AssumeMode, ClusterArn, Issuer, MAX_SESSION_DURATION_SECS,
    MIN_SESSION_DURATION_SECS, SessionNameTemplate,
};

use crate::error::CliError;

/// The format of printed results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns and short sentences for people.
    #[default]
    Table,
    /// The API's JSON documents, for scripts.
    Json,
}

/// Options that every command accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GlobalOptions {
    pub output: OutputFormat,
    pub api_url: Option<String>,
    pub config: Option<PathBuf>,
    pub timeout: Option<Duration>,
}

/// Options of `eksgate connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    pub cluster: String,
    pub role: String,
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Write the EKS token itself instead of an exec plugin entry.
    pub static_token: bool,
    pub keep_current_context: bool,
    pub exec_command: Option<String>,
}

/// Options of `eksgate configure`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigureOptions {
    pub api_url: Option<String>,
    pub token_command: Option<String>,
    pub token_command_timeout: Option<u64>,
    pub timeout: Option<u64>,
}

/// The output format of `eksgate setup role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleFormat {
    /// The policies and the `aws iam` commands that create the role.
    Commands,
    /// The `aws cloudformation deploy` command of the access-role template.
    #[value(name = "cloudformation")]
    CloudFormation,
    /// A Terraform `module` block.
    Terraform,
    /// One JSON document with the role ARNs, both policies and the commands.
    Json,
}

/// The output format of `eksgate setup access-entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EntryFormat {
    /// The `aws eks create-access-entry` and `associate-access-policy` commands.
    Commands,
    /// A CloudFormation `Resources` fragment.
    #[value(name = "cloudformation")]
    CloudFormation,
}

/// Options of `eksgate setup role`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRoleOptions {
    pub cluster: ClusterArn,
    pub level: AccessLevel,
    pub issuer: Issuer,
    /// The role name, or the library's suggested name when omitted.
    pub role_name: Option<String>,
    /// The IAM path, or `/eksgate/` when omitted.
    pub path: Option<String>,
    pub max_session_duration_secs: u32,
    /// Whether the CloudFormation stack or Terraform module also creates the access entry.
    pub create_access_entry: bool,
    pub terraform_source: String,
    pub format: RoleFormat,
}

/// Options of `eksgate setup aws-auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupAwsAuthOptions {
    pub role_arn: String,
    pub username_prefix: String,
    pub template: SessionNameTemplate,
    /// Kubernetes groups. The default groups of `level` apply when this is empty.
    pub groups: Vec<String>,
    pub level: AccessLevel,
    /// The current ConfigMap to merge into: a file path, or `-` for standard input.
    pub configmap: Option<String>,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Clusters,
    Roles {
        cluster: Option<String>,
    },
    Request {
        cluster: String,
        role: String,
        duration: Option<String>,
        reason: String,
    },
    Requests {
        pending: bool,
        limit: usize,
    },
    Grants {
        all: bool,
        limit: usize,
    },
    Approve {
        id: String,
        reason: Option<String>,
    },
    Deny {
        id: String,
        reason: String,
    },
    Cancel {
        id: String,
        reason: Option<String>,
    },
    End {
        id: String,
        reason: Option<String>,
    },
    Revoke {
        id: String,
        reason: String,
    },
    Connect(ConnectOptions),
    Credential {
        cluster: String,
        role: String,
    },
    Sessions {
        all: bool,
        limit: usize,
    },
    Audit {
        date: Option<String>,
        user: Option<String>,
        limit: usize,
    },
    Configure(ConfigureOptions),
    SetupRole(Box<SetupRoleOptions>),
    SetupAwsAuth(SetupAwsAuthOptions),
    SetupAccessEntry {
        cluster: ClusterArn,
        role_arn: String,
        level: AccessLevel,
        format: EntryFormat,
    },
    SetupTags {
        cluster: ClusterArn,
        admin_roles: Vec<String>,
        read_only_roles: Vec<String>,
    },
    Doctor {
        cluster: String,
        issuer: Issuer,
    },
}

/// The action that the command line requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Run(GlobalOptions, Command),
    /// Print this help text: the general help, or the help of one command.
    Help(String),
    Version,
}

/// Default number of items that list commands show.
pub const DEFAULT_LIST_LIMIT: usize = 50;

/// Maximum number of items that list commands fetch, over all pages.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// The Terraform module source that `setup role --format terraform` prints by default, relative
/// to a configuration at the repository root.
const DEFAULT_TERRAFORM_SOURCE: &str = "./infra/terraform/eksgate-access-role";

/// The text after the general help: where settings come from.
const SETTINGS_HELP: &str = "Settings come from the options, then the environment \
    (EKSGATE_API_URL, EKSGATE_TOKEN, EKSGATE_TOKEN_COMMAND, EKSGATE_CONFIG), then the \
    configuration file ($XDG_CONFIG_HOME/eksgate/config.json, by default \
    ~/.config/eksgate/config.json).\nRun 'eksgate help <command>' for the options of a command.";

/// The command line as clap parses it.
#[derive(Debug, Parser)]
#[command(
    name = "eksgate",
    version,
    propagate_version = true,
    about = "eksgate: temporary, approved access to Amazon EKS clusters.",
    after_help = SETTINGS_HELP
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    /// The command, or `None` when only global options are given, which prints the help.
    #[command(subcommand)]
    command: Option<CommandArgs>,
}

/// The options that every command accepts, before or after the command name.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
struct GlobalArgs {
    /// Sets the output format: tables for people (default) or the API's JSON
    #[arg(short = 'o', long, global = true, value_enum, value_name = "FORMAT")]
    output: Option<OutputFormat>,

    /// Sets the session API base URL. Overrides EKSGATE_API_URL and api_url in the
    /// configuration file. With 'configure', sets the URL to save
    #[arg(long, global = true, value_name = "URL")]
    api_url: Option<String>,

    /// Sets the configuration file path. Overrides EKSGATE_CONFIG and the default
    /// $XDG_CONFIG_HOME/eksgate/config.json
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,

    /// Sets the time limit of each API call, in seconds from 1 to 86400 (default 30). With
    /// 'configure', sets the limit to save
    #[arg(long, global = true, value_name = "SECONDS", value_parser = parse_seconds)]
    timeout: Option<u64>,
}

/// The commands. Each doc comment's first line is the summary in the command list.
#[derive(Debug, Subcommand)]
enum CommandArgs {
    /// List the clusters in the catalog with their roles.
    Clusters,

    /// List the roles you can request, on every cluster or on one.
    Roles {
        /// Sets the cluster, by ARN or by a name that is unique in the catalog. Lists every
        /// cluster when omitted
        #[arg(long, value_name = "NAME|ARN")]
        cluster: Option<String>,
    },

    /// Request a role on a cluster for a time.
    Request {
        /// Sets the cluster, by ARN or by a name that is unique in the catalog
        #[arg(long, value_name = "NAME|ARN")]
        cluster: String,

        /// Sets the role name, as 'eksgate roles' lists it
        #[arg(long, value_name = "ROLE")]
        role: String,

        /// Sets the grant length, such as 2h or 90m, or a number of seconds. The API's default
        /// applies when omitted
        #[arg(long, value_name = "DURATION")]
        duration: Option<String>,

        /// Sets why you need access (required). Approvers and the audit trail see it
        #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
        reason: String,
    },

    /// List your requests, newest first, or every pending request (approvers).
    Requests {
        /// Lists every user's pending requests, oldest first (approvers)
        #[arg(long)]
        pending: bool,

        #[command(flatten)]
        limit: LimitArgs,
    },

    /// List your active grants, or every active grant (approvers).
    Grants {
        /// Lists every user's active grants (approvers)
        #[arg(long)]
        all: bool,

        #[command(flatten)]
        limit: LimitArgs,
    },

    /// Approve another user's pending request (approvers).
    ///
    /// The grant starts now.
    Approve {
        /// The ID of the request
        #[arg(value_name = "REQUEST-ID")]
        id: String,

        #[command(flatten)]
        reason: OptionalReasonArgs,
    },

    /// Deny another user's pending request (approvers).
    Deny {
        /// The ID of the request
        #[arg(value_name = "REQUEST-ID")]
        id: String,

        #[command(flatten)]
        reason: RequiredReasonArgs,
    },

    /// Withdraw your own pending request.
    Cancel {
        /// The ID of the request
        #[arg(value_name = "REQUEST-ID")]
        id: String,

        #[command(flatten)]
        reason: OptionalReasonArgs,
    },

    /// End your own active grant early and remove its cached credentials.
    End {
        /// The ID of the grant
        #[arg(value_name = "GRANT-ID")]
        id: String,

        #[command(flatten)]
        reason: OptionalReasonArgs,
    },

    /// Revoke an active grant (approvers).
    ///
    /// Issued credentials stay valid until they expire.
    Revoke {
        /// The ID of the grant
        #[arg(value_name = "GRANT-ID")]
        id: String,

        #[command(flatten)]
        reason: RequiredReasonArgs,
    },

    /// Write a kubeconfig context for a role you hold a grant for.
    ///
    /// By default the context runs 'eksgate credential', which renews the EKS token by itself.
    Connect(ConnectArgs),

    /// Print an ExecCredential for kubectl (the exec plugin that 'connect' configures).
    ///
    /// Reuses cached credentials until shortly before they expire.
    Credential {
        /// Sets the cluster ARN (a unique name also works)
        #[arg(long, value_name = "ARN")]
        cluster: String,

        /// Sets the role name, as 'eksgate roles' lists it
        #[arg(long, value_name = "ROLE")]
        role: String,
    },

    /// List your sessions, newest first, or every user's sessions (approvers).
    Sessions {
        /// Lists every user's sessions (approvers)
        #[arg(long)]
        all: bool,

        #[command(flatten)]
        limit: LimitArgs,
    },

    /// Read the audit trail of one UTC day or of one user (approvers).
    Audit {
        /// Sets the UTC day, as YYYY-MM-DD (default today, unless --user is given)
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<String>,

        /// Sets the user whose actions to list, instead of a day
        #[arg(long, value_name = "USER")]
        user: Option<String>,

        #[command(flatten)]
        limit: LimitArgs,
    },

    /// Write settings to the configuration file (created with mode 0600).
    ///
    /// Options that are not given keep their current value. The global --api-url and --timeout
    /// options set the API URL and the API time limit to save.
    Configure {
        /// Sets a command that prints your identity token (a JWT, or an ExecCredential as
        /// kubelogin get-token prints). It is split like a shell does and run without a shell
        #[arg(long, value_name = "COMMAND")]
        token_command: Option<String>,

        /// Sets the time limit of the token command, in seconds from 1 to 86400 (default 120)
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        token_command_timeout: Option<u64>,
    },

    /// Print the IAM roles, access entries and cluster tags that eksgate needs.
    ///
    /// Nothing is created.
    Setup {
        /// The setup step, or `None` when it is missing, which is a usage error.
        #[command(subcommand)]
        step: Option<SetupStep>,
    },

    /// Check the setup of a cluster's roles in IAM and EKS with your own AWS credentials.
    ///
    /// Prints each problem with its fix, and exits with status 1 when it finds a problem.
    Doctor {
        /// Sets the cluster, by ARN or by a name that is unique in the catalog
        #[arg(long, value_name = "NAME|ARN")]
        cluster: String,

        #[command(flatten)]
        issuer: IssuerArgs,
    },

    /// Print the version.
    #[command(hide = true)]
    Version,
}

/// The steps of `eksgate setup`.
#[derive(Debug, Subcommand)]
enum SetupStep {
    /// Print the IAM access role of one level.
    ///
    /// Prints its trust policy, its eks:DescribeCluster policy and the commands, CloudFormation
    /// deploy command or Terraform block that create it. Nothing is created.
    Role(Box<SetupRoleArgs>),

    /// Print the aws-auth mapRoles entry of a role.
    ///
    /// With --configmap, prints the whole ConfigMap with the entry merged in, for
    /// 'kubectl apply -f -'.
    AwsAuth(SetupAwsAuthArgs),

    /// Print the EKS access entry and access policy association of a role.
    AccessEntry {
        #[command(flatten)]
        cluster: SetupClusterArgs,

        /// Sets the role ARN, with its IAM path
        #[arg(long, value_name = "ARN")]
        role_arn: String,

        /// Sets the access level of the role
        #[arg(long, value_name = "admin|read-only", value_parser = parse_access_level)]
        level: AccessLevel,

        /// Sets what to print: AWS CLI commands or a CloudFormation Resources fragment
        #[arg(long, value_enum, value_name = "FORMAT", default_value_t = EntryFormat::Commands)]
        format: EntryFormat,
    },

    /// Print the 'aws eks tag-resource' command that marks the cluster for import and declares
    /// its roles.
    #[command(group(
        clap::ArgGroup::new("roles")
            .required(true)
            .multiple(true)
            .args(["admin_roles", "read_only_roles"])
    ))]
    Tags {
        #[command(flatten)]
        cluster: SetupClusterArgs,

        /// Adds an admin role in the cluster's account. Repeat it for more roles
        #[arg(long = "admin-role", value_name = "NAME|PATH/NAME")]
        admin_roles: Vec<String>,

        /// Adds a read-only role in the cluster's account. Repeat it for more roles
        #[arg(long = "read-only-role", value_name = "NAME|PATH/NAME")]
        read_only_roles: Vec<String>,
    },
}

/// `--limit` of the list commands.
#[derive(Debug, Args)]
struct LimitArgs {
    /// Sets the maximum number of items to show, from 1 to 10000
    #[arg(
        long = "limit",
        value_name = "N",
        default_value_t = DEFAULT_LIST_LIMIT,
        value_parser = parse_limit
    )]
    value: usize,
}

/// An optional `--reason`.
#[derive(Debug, Args)]
struct OptionalReasonArgs {
    /// Sets a reason for the audit trail
    #[arg(long = "reason", value_name = "TEXT", allow_hyphen_values = true)]
    value: Option<String>,
}

/// A required `--reason`.
#[derive(Debug, Args)]
struct RequiredReasonArgs {
    /// Sets the reason (required) that goes to the audit trail
    #[arg(long = "reason", value_name = "TEXT", allow_hyphen_values = true)]
    value: String,
}

/// The options of `eksgate connect`.
#[derive(Debug, Args)]
struct ConnectArgs {
    /// Sets the cluster, by ARN or by a name that is unique in the catalog
    #[arg(long, value_name = "NAME|ARN")]
    cluster: String,

    /// Sets the role name, as 'eksgate roles' lists it
    #[arg(long, value_name = "ROLE")]
    role: String,

    /// Sets the kubeconfig file to update (default the first path in KUBECONFIG, else
    /// ~/.kube/config)
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,

    /// Sets the context name (default eksgate-<cluster>-<role>)
    #[arg(long, value_name = "NAME")]
    context: Option<String>,

    /// Writes the EKS token itself. kubectl cannot renew it, so it stops working within 15
    /// minutes
    #[arg(long)]
    static_token: bool,

    /// Adds the context without making it the current context
    #[arg(long)]
    keep_current_context: bool,

    /// Sets the program that the context runs (default eksgate when it is on PATH, else the
    /// path of this program)
    #[arg(long, value_name = "PATH")]
    exec_command: Option<String>,
}

/// `--cluster` of the setup steps, which need the full ARN.
#[derive(Debug, Args)]
struct SetupClusterArgs {
    /// Sets the cluster ARN, such as arn:aws:eks:eu-west-1:111122223333:cluster/prod
    #[arg(long = "cluster", value_name = "ARN", value_parser = parse_cluster_arn)]
    arn: ClusterArn,
}

/// The issuer options of `setup role` and `doctor`. Which of them are required depends on
/// `--mode`, so `issuer` checks them.
#[derive(Debug, Args)]
struct IssuerArgs {
    /// Sets how the session issuer assumes the role
    #[arg(long, value_name = "broker|web-identity", value_parser = parse_assume_mode)]
    mode: AssumeMode,

    /// Sets the session issuer's role ARN (stack output SessionIssuerRoleArn), for broker mode
    #[arg(long, value_name = "ARN")]
    issuer_role_arn: Option<String>,

    /// Sets the ARN of the IAM OIDC provider of the identity provider, for web-identity mode
    #[arg(long, value_name = "ARN")]
    oidc_provider_arn: Option<String>,

    /// Sets the client ID that the identity tokens carry in aud, for web-identity mode
    #[arg(long, value_name = "CLIENT-ID")]
    audience: Option<String>,
}

/// The options of `eksgate setup role`.
#[derive(Debug, Args)]
struct SetupRoleArgs {
    #[command(flatten)]
    cluster: SetupClusterArgs,

    /// Sets the access level of the role
    #[arg(long, value_name = "admin|read-only", value_parser = parse_access_level)]
    level: AccessLevel,

    #[command(flatten)]
    issuer: IssuerArgs,

    /// Sets the role name (default <cluster>-eksgate-admin or <cluster>-eksgate-view)
    #[arg(long, value_name = "NAME")]
    role_name: Option<String>,

    /// Sets the IAM path of the role (default /eksgate/)
    #[arg(long, value_name = "PATH")]
    path: Option<String>,

    /// Sets the role's maximum session duration, in seconds from 3600 to 43200
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = MIN_SESSION_DURATION_SECS,
        value_parser = parse_max_session_duration
    )]
    max_session_duration: u32,

    /// Makes the CloudFormation stack or Terraform module also create the EKS access entry
    #[arg(long)]
    create_access_entry: bool,

    /// Sets the Terraform module source, for --format terraform
    #[arg(long, value_name = "PATH", default_value = DEFAULT_TERRAFORM_SOURCE)]
    terraform_source: String,

    /// Sets what to print
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = RoleFormat::Commands)]
    format: RoleFormat,
}

/// The options of `eksgate setup aws-auth`.
#[derive(Debug, Args)]
struct SetupAwsAuthArgs {
    /// Sets the role ARN without its IAM path, as aws-iam-authenticator compares it
    #[arg(long, value_name = "ARN")]
    role_arn: String,

    /// Sets the access level, which selects the default groups
    #[arg(
        long,
        value_name = "admin|read-only",
        default_value = "read-only",
        value_parser = parse_access_level
    )]
    level: AccessLevel,

    /// Sets the Kubernetes username prefix
    #[arg(long, value_name = "PREFIX", default_value = "eksgate")]
    username_prefix: String,

    /// Sets the session name part of the username: {{SessionName}} ('@' becomes '-') or
    /// {{SessionNameRaw}}
    #[arg(
        long,
        value_name = "TEMPLATE",
        default_value = "session-name",
        value_parser = session_name_template_parser()
    )]
    session_name_template: SessionNameTemplate,

    /// Adds a Kubernetes group. Repeat it for more groups. Given groups replace the level's
    /// default groups
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,

    /// Sets the current ConfigMap to merge into (kubectl get configmap aws-auth -n kube-system
    /// -o yaml), as a file path, or - for standard input
    #[arg(long, value_name = "FILE|-", allow_hyphen_values = true)]
    configmap: Option<String>,
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<String>) -> Result<Invocation, CliError> {
    let argv = std::iter::once("eksgate".to_string()).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error) => {
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    Ok(Invocation::Help(error.to_string()))
                }
                ErrorKind::DisplayVersion => Ok(Invocation::Version),
                _ => Err(clap_usage_error(&error)),
            };
        }
    };
    let Some(command) = cli.command else {
        return Ok(Invocation::Help(help_text(None)));
    };
    if matches!(command, CommandArgs::Version) {
        return Ok(Invocation::Version);
    }
    let command = build_command(command, &cli.global)?;
    if let Some(error) = reject_empty(&command) {
        return Err(error);
    }
    Ok(Invocation::Run(global_options(&cli.global), command))
}

/// Converts a clap parse error into a usage error, without clap's `error: ` prefix because
/// `main` prints its own.
fn clap_usage_error(error: &clap::Error) -> CliError {
    let text = error.to_string();
    let text = text.trim_end();
    CliError::Usage(text.strip_prefix("error: ").unwrap_or(text).to_string())
}

/// Renders the general help, or the help of one command such as `connect` or `setup role`.
/// An unknown command name renders the general help.
pub fn help_text(command: Option<&str>) -> String {
    let mut root = Cli::command();
    root.build();
    let mut current = &mut root;
    for name in command.unwrap_or_default().split_whitespace() {
        if current.find_subcommand(name).is_none() {
            break;
        }
        current = current
            .find_subcommand_mut(name)
            .expect("the subcommand was just found");
    }
    current.render_long_help().to_string()
}

fn global_options(args: &GlobalArgs) -> GlobalOptions {
    GlobalOptions {
        output: args.output.unwrap_or_default(),
        api_url: args.api_url.clone(),
        config: args.config.clone(),
        timeout: args.timeout.map(Duration::from_secs),
    }
}

/// Parses a whole number of seconds from 1 to one day.
fn parse_seconds(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| (1..=86_400).contains(seconds))
        .ok_or_else(|| "use a whole number of seconds from 1 to 86400".to_string())
}

fn parse_limit(text: &str) -> Result<usize, String> {
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|limit| (1..=MAX_LIST_LIMIT).contains(limit))
        .ok_or_else(|| format!("use a whole number from 1 to {MAX_LIST_LIMIT}"))
}

fn parse_max_session_duration(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|secs| (MIN_SESSION_DURATION_SECS..=MAX_SESSION_DURATION_SECS).contains(secs))
        .ok_or_else(|| {
            format!(
                "use a whole number of seconds from {MIN_SESSION_DURATION_SECS} to \
                 {MAX_SESSION_DURATION_SECS}"
            )
        })
}

fn parse_cluster_arn(text: &str) -> Result<ClusterArn, String> {
    ClusterArn::parse(text.trim()).map_err(|error| error.to_string())
}

fn parse_access_level(text: &str) -> Result<AccessLevel, String> {
    AccessLevel::parse(text.trim()).map_err(|error| error.to_string())
}

fn parse_assume_mode(text: &str) -> Result<AssumeMode, String> {
    AssumeMode::parse(text.trim()).map_err(|error| error.to_string())
}

fn session_name_template_parser() -> impl TypedValueParser<Value = SessionNameTemplate> {
    PossibleValuesParser::new(["session-name", "session-name-raw"]).map(|name| {
        if name == "session-name-raw" {
            SessionNameTemplate::SessionNameRaw
        } else {
            SessionNameTemplate::SessionName
        }
    })
}

/// Turns an invalid value that the setup kit rejected into a usage error.
fn setup_usage(error: eksgate_setup::SetupError) -> CliError {
    CliError::Usage(error.to_string())
}

/// Converts the parsed command into the `Command` that `commands::run` runs. `global` supplies
/// the values that `configure` saves from the global --api-url and --timeout options.
fn build_command(command: CommandArgs, global: &GlobalArgs) -> Result<Command, CliError> {
    let command = match command {
        CommandArgs::Clusters => Command::Clusters,
        CommandArgs::Roles { cluster } => Command::Roles { cluster },
        CommandArgs::Request {
            cluster,
            role,
            duration,
            reason,
        } => Command::Request {
            cluster,
            role,
            duration,
            reason,
        },
        CommandArgs::Requests { pending, limit } => Command::Requests {
            pending,
            limit: limit.value,
        },
        CommandArgs::Grants { all, limit } => Command::Grants {
            all,
            limit: limit.value,
        },
        CommandArgs::Approve { id, reason } => Command::Approve {
            id,
            reason: reason.value,
        },
        CommandArgs::Deny { id, reason } => Command::Deny {
            id,
            reason: reason.value,
        },
        CommandArgs::Cancel { id, reason } => Command::Cancel {
            id,
            reason: reason.value,
        },
        CommandArgs::End { id, reason } => Command::End {
            id,
            reason: reason.value,
        },
        CommandArgs::Revoke { id, reason } => Command::Revoke {
            id,
            reason: reason.value,
        },
        CommandArgs::Connect(args) => Command::Connect(ConnectOptions {
            cluster: args.cluster,
            role: args.role,
            kubeconfig: args.kubeconfig,
            context: args.context,
            static_token: args.static_token,
            keep_current_context: args.keep_current_context,
            exec_command: args.exec_command,
        }),
        CommandArgs::Credential { cluster, role } => Command::Credential { cluster, role },
        CommandArgs::Sessions { all, limit } => Command::Sessions {
            all,
            limit: limit.value,
        },
        CommandArgs::Audit { date, user, limit } => Command::Audit {
            date,
            user,
            limit: limit.value,
        },
        CommandArgs::Configure {
            token_command,
            token_command_timeout,
        } => Command::Configure(ConfigureOptions {
            api_url: global.api_url.clone(),
            token_command,
            token_command_timeout,
            timeout: global.timeout,
        }),
        CommandArgs::Setup { step: None } => {
            return Err(CliError::Usage(
                "'eksgate setup' needs a step: role, aws-auth, access-entry or tags".into(),
            ));
        }
        CommandArgs::Setup { step: Some(step) } => setup_command(step)?,
        CommandArgs::Doctor { cluster, issuer } => Command::Doctor {
            cluster,
            issuer: build_issuer(issuer, "doctor")?,
        },
        CommandArgs::Version => unreachable!("parse handles the version command"),
    };
    Ok(command)
}

fn setup_command(step: SetupStep) -> Result<Command, CliError> {
    let command = match step {
        SetupStep::Role(args) => {
            let args = *args;
            Command::SetupRole(Box::new(SetupRoleOptions {
                cluster: args.cluster.arn,
                level: args.level,
                issuer: build_issuer(args.issuer, "setup role")?,
                role_name: args.role_name,
                path: args.path,
                max_session_duration_secs: args.max_session_duration,
                create_access_entry: args.create_access_entry,
                terraform_source: args.terraform_source,
                format: args.format,
            }))
        }
        SetupStep::AwsAuth(args) => Command::SetupAwsAuth(SetupAwsAuthOptions {
            role_arn: args.role_arn,
            username_prefix: args.username_prefix,
            template: args.session_name_template,
            groups: args.groups,
            level: args.level,
            configmap: args.configmap,
        }),
        SetupStep::AccessEntry {
            cluster,
            role_arn,
            level,
            format,
        } => Command::SetupAccessEntry {
            cluster: cluster.arn,
            role_arn,
            level,
            format,
        },
        SetupStep::Tags {
            cluster,
            admin_roles,
            read_only_roles,
        } => Command::SetupTags {
            cluster: cluster.arn,
            admin_roles,
            read_only_roles,
        },
    };
    Ok(command)
}

/// Builds the issuer from --mode and the options of that mode, and rejects options of the
/// other mode. `command` names the command in the messages, such as `setup role`.
fn build_issuer(args: IssuerArgs, command: &str) -> Result<Issuer, CliError> {
    let mode = args.mode;
    let reject = |option: &str| {
        CliError::Usage(format!(
            "--{option} does not apply to --mode {mode}; remove it"
        ))
    };
    let missing = |option: &str, example: &str| {
        CliError::Usage(format!(
            "'eksgate {command}' with --mode {mode} needs --{option}, for example --{option} \
             {example}"
        ))
    };
    match mode {
        AssumeMode::Broker => {
            if args.oidc_provider_arn.is_some() {
                return Err(reject("oidc-provider-arn"));
            }
            if args.audience.is_some() {
                return Err(reject("audience"));
            }
            let role_arn = args.issuer_role_arn.ok_or_else(|| {
                missing(
                    "issuer-role-arn",
                    "arn:aws:iam::111122223333:role/eksgate-session-issuer",
                )
            })?;
            Issuer::broker(role_arn.trim()).map_err(setup_usage)
        }
        AssumeMode::WebIdentity => {
            if args.issuer_role_arn.is_some() {
                return Err(reject("issuer-role-arn"));
            }
            let provider = args.oidc_provider_arn.ok_or_else(|| {
                missing(
                    "oidc-provider-arn",
                    "arn:aws:iam::111122223333:oidc-provider/login.example.com",
                )
            })?;
            let audience = args
                .audience
                .ok_or_else(|| missing("audience", "eksgate-cli"))?;
            Issuer::web_identity(provider.trim(), audience.trim()).map_err(setup_usage)
        }
    }
}

/// Rejects empty or blank values of the options that name things, such as `--role ''`.
fn reject_empty(command: &Command) -> Option<CliError> {
    let named: Vec<(&str, &str)> = match command {
        Command::Request {
            cluster,
            role,
            reason,
            ..
        } => vec![
            ("--cluster", cluster),
            ("--role", role),
            ("--reason", reason),
        ],
        Command::Connect(options) => {
            vec![("--cluster", &options.cluster), ("--role", &options.role)]
        }
        Command::Credential { cluster, role } => vec![("--cluster", cluster), ("--role", role)],
        Command::Doctor { cluster, .. } => vec![("--cluster", cluster)],
        Command::SetupAwsAuth(options) => vec![("--role-arn", &options.role_arn)],
        Command::SetupAccessEntry { role_arn, .. } => vec![("--role-arn", role_arn)],
        Command::Deny { id, reason } | Command::Revoke { id, reason } => {
            vec![("the ID", id), ("--reason", reason)]
        }
        Command::Approve { id, .. } | Command::Cancel { id, .. } | Command::End { id, .. } => {
            vec![("the ID", id)]
        }
        _ => Vec::new(),
    };
    named
        .into_iter()
        .find(|(_, value)| value.trim().is_empty())
        .map(|(what, _)| CliError::Usage(format!("{what} must not be empty")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Invocation, CliError> {
        parse(args.iter().map(|arg| arg.to_string()).collect())
    }

    fn command(args: &[&str]) -> (GlobalOptions, Command) {
        match run(args).unwrap_or_else(|error| panic!("{args:?}: {error}")) {
            Invocation::Run(global, command) => (global, command),
            other => panic!("{args:?} parsed as {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> String {
        match run(args) {
            Err(CliError::Usage(message)) => message,
            other => panic!("{args:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn request_with_all_options() {
        let (global, parsed) = command(&[
            "-o",
            "json",
            "request",
            "--cluster=payments-prod",
            "--role",
            "ClusterAdmin",
            "--duration",
            "2h",
            "--reason",
            "INC-1234: --force needed",
            "--api-url",
            "http://127.0.0.1:9000",
        ]);
        assert_eq!(global.output, OutputFormat::Json);
        assert_eq!(global.api_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            parsed,
            Command::Request {
                cluster: "payments-prod".into(),
                role: "ClusterAdmin".into(),
                duration: Some("2h".into()),
                reason: "INC-1234: --force needed".into(),
            }
        );
    }

    #[test]
    fn positional_id_and_switches() {
        let (_, parsed) = command(&["approve", "abc-123", "--reason", "on call"]);
        assert_eq!(
            parsed,
            Command::Approve {
                id: "abc-123".into(),
                reason: Some("on call".into())
            }
        );
        let (_, parsed) = command(&["requests", "--pending", "--limit", "5"]);
        assert_eq!(
            parsed,
            Command::Requests {
                pending: true,
                limit: 5
            }
        );
        let (_, parsed) = command(&["sessions"]);
        assert_eq!(
            parsed,
            Command::Sessions {
                all: false,
                limit: DEFAULT_LIST_LIMIT
            }
        );
    }

    #[test]
    fn connect_defaults() {
        let (_, parsed) = command(&["connect", "--cluster", "c", "--role", "r"]);
        let Command::Connect(options) = parsed else {
            panic!("not connect: {parsed:?}");
        };
        assert!(!options.static_token);
        assert!(!options.keep_current_context);
        assert_eq!(options.kubeconfig, None);
    }

    #[test]
    fn usage_errors_table() {
        let cases: &[(&[&str], &str)] = &[
            (&["nope"], "unrecognized subcommand 'nope'"),
            (&["clusters", "--bogus"], "unexpected argument '--bogus'"),
            (
                &["request", "--cluster", "c", "--role", "r"],
                "not provided:\n  --reason <TEXT>",
            ),
            (&["approve"], "not provided:\n  <REQUEST-ID>"),
            (&["clusters", "extra"], "unexpected argument 'extra'"),
            (&["deny", "id"], "not provided:\n  --reason <TEXT>"),
            (
                &["grants", "--limit", "0"],
                "invalid value '0' for '--limit <N>'",
            ),
            (
                &["grants", "--all=yes"],
                "unexpected value 'yes' for '--all'",
            ),
            (
                &["clusters", "--output", "yaml"],
                "invalid value 'yaml' for '--output <FORMAT>'",
            ),
            (
                &["clusters", "--timeout", "soon"],
                "invalid value 'soon' for '--timeout <SECONDS>'",
            ),
            (
                &["connect", "--cluster", "", "--role", "r"],
                "--cluster must not be empty",
            ),
            (
                &["request", "--cluster"],
                "a value is required for '--cluster <NAME|ARN>'",
            ),
        ];
        for (args, expected) in cases {
            let message = usage_error(args);
            assert!(message.contains(expected), "{args:?}: {message}");
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(run(&[]).expect("help"), Invocation::Help(help_text(None)));
        assert_eq!(
            run(&["help", "connect"]).expect("help"),
            Invocation::Help(help_text(Some("connect")))
        );
        assert_eq!(
            run(&["connect", "--help"]).expect("help"),
            Invocation::Help(help_text(Some("connect")))
        );
        assert_eq!(run(&["--version"]).expect("version"), Invocation::Version);
        let text = help_text(Some("connect"));
        assert!(text.contains("--static-token"), "{text}");
        assert!(help_text(None).contains("credential"));
    }

    const CLUSTER_ARN: &str = "arn:aws:eks:eu-west-1:111122223333:cluster/prod";
    const ISSUER_ROLE: &str = "arn:aws:iam::111122223333:role/eksgate-session-issuer";

    #[test]
    fn setup_role_broker() {
        let (_, parsed) = command(&[
            "setup",
            "role",
            "--cluster",
            CLUSTER_ARN,
            "--level",
            "admin",
            "--mode",
            "broker",
            "--issuer-role-arn",
            ISSUER_ROLE,
            "--format",
            "terraform",
        ]);
        let Command::SetupRole(options) = parsed else {
            panic!("not setup role: {parsed:?}");
        };
        assert_eq!(options.cluster.name(), "prod");
        assert_eq!(options.level, AccessLevel::Admin);
        assert_eq!(options.issuer, Issuer::broker(ISSUER_ROLE).expect("valid"));
        assert_eq!(options.format, RoleFormat::Terraform);
        assert_eq!(options.max_session_duration_secs, 3600);
        assert_eq!(options.role_name, None);
    }

    #[test]
    fn setup_aws_auth_repeated_groups() {
        let (_, parsed) = command(&[
            "setup",
            "aws-auth",
            "--role-arn",
            "arn:aws:iam::111122223333:role/prod-view",
            "--group",
            "team-a",
            "--group=team-b",
            "--session-name-template",
            "session-name-raw",
            "--configmap",
            "-",
        ]);
        let Command::SetupAwsAuth(options) = parsed else {
            panic!("not setup aws-auth: {parsed:?}");
        };
        assert_eq!(options.groups, vec!["team-a", "team-b"]);
        assert_eq!(options.template, SessionNameTemplate::SessionNameRaw);
        assert_eq!(options.username_prefix, "eksgate");
        assert_eq!(options.configmap.as_deref(), Some("-"));
    }

    #[test]
    fn doctor_web_identity() {
        let (global, parsed) = command(&[
            "doctor",
            "--cluster",
            "prod",
            "--mode",
            "web-identity",
            "--oidc-provider-arn",
            "arn:aws:iam::111122223333:oidc-provider/login.example.com",
            "--audience",
            "eksgate-cli",
            "-o",
            "json",
        ]);
        assert_eq!(global.output, OutputFormat::Json);
        let Command::Doctor { cluster, issuer } = parsed else {
            panic!("not doctor: {parsed:?}");
        };
        assert_eq!(cluster, "prod");
        assert_eq!(issuer.mode(), AssumeMode::WebIdentity);
    }

    #[test]
    fn setup_usage_errors_table() {
        let role = [
            "setup",
            "role",
            "--cluster",
            CLUSTER_ARN,
            "--level",
            "admin",
        ];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            role.iter().chain(extra).copied().collect()
        };
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec!["setup"], "needs a step"),
            (vec!["setup", "nope"], "unrecognized subcommand 'nope'"),
            (with(&[]), "not provided:\n  --mode <broker|web-identity>"),
            (with(&["--mode", "broker"]), "needs --issuer-role-arn"),
            (
                with(&[
                    "--mode",
                    "broker",
                    "--issuer-role-arn",
                    ISSUER_ROLE,
                    "--audience",
                    "a",
                ]),
                "--audience does not apply to --mode broker",
            ),
            (
                with(&["--mode", "web-identity", "--oidc-provider-arn", "x"]),
                "needs --audience",
            ),
            (
                with(&[
                    "--mode",
                    "broker",
                    "--issuer-role-arn",
                    ISSUER_ROLE,
                    "--format",
                    "x",
                ]),
                "invalid value 'x' for '--format <FORMAT>'",
            ),
            (
                with(&[
                    "--mode",
                    "broker",
                    "--issuer-role-arn",
                    ISSUER_ROLE,
                    "--max-session-duration",
                    "60",
                ]),
                "invalid value '60' for '--max-session-duration <SECONDS>'",
            ),
            (
                vec!["setup", "role", "--cluster", "prod", "--level", "admin"],
                "invalid cluster ARN",
            ),
            (
                vec!["setup", "role", "--cluster", CLUSTER_ARN, "--level", "root"],
                "invalid access level",
            ),
            (
                vec!["setup", "tags", "--cluster", CLUSTER_ARN],
                "not provided:\n  <--admin-role <NAME|PATH/NAME>|--read-only-role",
            ),
            (
                vec!["doctor", "--cluster", "prod"],
                "not provided:\n  --mode <broker|web-identity>",
            ),
        ];
        for (args, expected) in &cases {
            let message = usage_error(args);
            assert!(message.contains(expected), "{args:?}: {message}");
        }
    }

    #[test]
    fn setup_help() {
        assert_eq!(
            run(&["help", "setup", "role"]).expect("help"),
            Invocation::Help(help_text(Some("setup role")))
        );
        assert_eq!(
            run(&["setup", "tags", "--help"]).expect("help"),
            Invocation::Help(help_text(Some("setup tags")))
        );
        let text = help_text(Some("setup role"));
        assert!(text.contains("--issuer-role-arn"), "{text}");
        assert!(help_text(None).contains("doctor"));
    }

    #[test]
    fn configure_saves_global_options() {
        let (global, parsed) = command(&[
            "--api-url",
            "https://api.example.com/prod",
            "configure",
            "--timeout",
            "45",
            "--token-command-timeout",
            "60",
        ]);
        assert_eq!(global.timeout, Some(Duration::from_secs(45)));
        assert_eq!(
            parsed,
            Command::Configure(ConfigureOptions {
                api_url: Some("https://api.example.com/prod".into()),
                token_command: None,
                token_command_timeout: Some(60),
                timeout: Some(45),
            })
        );
    }

    #[test]
    fn help_text_describes_units() {
        let text = help_text(Some("configure"));
        assert!(text.contains("in seconds from 1 to 86400"), "{text}");
        let text = help_text(None);
        assert!(text.contains("EKSGATE_API_URL"), "{text}");
    }
}
