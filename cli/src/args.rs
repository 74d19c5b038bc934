//! Command-line parsing and help text.
//!
//! Options are GNU style: `--name value` or `--name=value`. Global options may come before or
//! after the command. `--` ends the options.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use eksgate_setup::{
    AccessLevel, AssumeMode, ClusterArn, Issuer, MAX_SESSION_DURATION_SECS,
    MIN_SESSION_DURATION_SECS, SessionNameTemplate,
};

use crate::error::CliError;

/// The format of printed results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleFormat {
    /// The policies and the `aws iam` commands that create the role.
    Commands,
    /// The `aws cloudformation deploy` command of the access-role template.
    CloudFormation,
    /// A Terraform `module` block.
    Terraform,
    /// One JSON document with the role ARNs, both policies and the commands.
    Json,
}

/// The output format of `eksgate setup access-entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryFormat {
    /// The `aws eks create-access-entry` and `associate-access-policy` commands.
    Commands,
    /// A CloudFormation `Resources` fragment.
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
    /// Print help: general help, or the help of one command.
    Help(Option<&'static str>),
    Version,
}

/// One option: its long name, the name of its value (`None` for a switch) and its help line.
struct OptionSpec {
    name: &'static str,
    value: Option<&'static str>,
    help: &'static str,
}

/// One command: name, positional arguments for the usage line, summary and options.
struct CommandSpec {
    name: &'static str,
    positionals: &'static [&'static str],
    summary: &'static str,
    options: &'static [OptionSpec],
}

const fn opt(name: &'static str, value: &'static str, help: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        value: Some(value),
        help,
    }
}

const fn switch(name: &'static str, help: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        value: None,
        help,
    }
}

/// Default number of items that list commands show.
pub const DEFAULT_LIST_LIMIT: usize = 50;

/// Maximum number of items that list commands fetch, over all pages.
pub const MAX_LIST_LIMIT: usize = 10_000;

const CLUSTER_OPTION: OptionSpec = opt(
    "cluster",
    "NAME|ARN",
    "the cluster, by ARN or by a name that is unique in the catalog",
);
const ROLE_OPTION: OptionSpec = opt("role", "ROLE", "the role name as 'eksgate roles' lists it");
const LIMIT_OPTION: OptionSpec = opt(
    "limit",
    "N",
    "show at most N items (default 50, at most 10000)",
);
const OPTIONAL_REASON: OptionSpec = opt("reason", "TEXT", "a reason for the audit trail");
const REQUIRED_REASON: OptionSpec = opt(
    "reason",
    "TEXT",
    "the reason, required; it goes to the audit trail",
);

const SETUP_CLUSTER_OPTION: OptionSpec = opt(
    "cluster",
    "ARN",
    "the cluster ARN, such as arn:aws:eks:eu-west-1:111122223333:cluster/prod",
);
const LEVEL_OPTION: OptionSpec = opt("level", "admin|read-only", "the access level of the role");
const MODE_OPTION: OptionSpec = opt(
    "mode",
    "broker|web-identity",
    "how the session issuer assumes the role",
);
const ISSUER_ROLE_OPTION: OptionSpec = opt(
    "issuer-role-arn",
    "ARN",
    "broker mode: the session issuer's role (stack output SessionIssuerRoleArn)",
);
const OIDC_PROVIDER_OPTION: OptionSpec = opt(
    "oidc-provider-arn",
    "ARN",
    "web-identity mode: the IAM OIDC provider of the identity provider",
);
const AUDIENCE_OPTION: OptionSpec = opt(
    "audience",
    "CLIENT-ID",
    "web-identity mode: the client ID that the identity tokens carry in aud",
);

const GLOBAL_OPTIONS: &[OptionSpec] = &[
    opt(
        "output",
        "table|json",
        "print tables (default) or the API's JSON (-o)",
    ),
    opt(
        "api-url",
        "URL",
        "the session API base URL; overrides EKSGATE_API_URL and api_url in the configuration file",
    ),
    opt(
        "config",
        "PATH",
        "the configuration file; overrides EKSGATE_CONFIG and the default \
         $XDG_CONFIG_HOME/eksgate/config.json",
    ),
    opt(
        "timeout",
        "SECONDS",
        "time limit of each API call, in seconds (default 30)",
    ),
    switch("help", "print help (-h)"),
];

const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "clusters",
        positionals: &[],
        summary: "List the clusters in the catalog with their roles.",
        options: &[],
    },
    CommandSpec {
        name: "roles",
        positionals: &[],
        summary: "List the roles you can request, on every cluster or on one.",
        options: &[CLUSTER_OPTION],
    },
    CommandSpec {
        name: "request",
        positionals: &[],
        summary: "Request a role on a cluster for a time.",
        options: &[
            CLUSTER_OPTION,
            ROLE_OPTION,
            opt(
                "duration",
                "DURATION",
                "grant length such as 2h or 90m, or seconds; the API's default when omitted",
            ),
            opt(
                "reason",
                "TEXT",
                "why you need access, required; approvers and the audit trail see it",
            ),
        ],
    },
    CommandSpec {
        name: "requests",
        positionals: &[],
        summary: "List your requests, newest first, or every pending request (approvers).",
        options: &[
            switch(
                "pending",
                "list every user's pending requests, oldest first (approvers)",
            ),
            LIMIT_OPTION,
        ],
    },
    CommandSpec {
        name: "grants",
        positionals: &[],
        summary: "List your active grants, or every active grant (approvers).",
        options: &[
            switch("all", "list every user's active grants (approvers)"),
            LIMIT_OPTION,
        ],
    },
    CommandSpec {
        name: "approve",
        positionals: &["<request-id>"],
        summary: "Approve another user's pending request (approvers). The grant starts now.",
        options: &[OPTIONAL_REASON],
    },
    CommandSpec {
        name: "deny",
        positionals: &["<request-id>"],
        summary: "Deny another user's pending request (approvers).",
        options: &[REQUIRED_REASON],
    },
    CommandSpec {
        name: "cancel",
        positionals: &["<request-id>"],
        summary: "Withdraw your own pending request.",
        options: &[OPTIONAL_REASON],
    },
    CommandSpec {
        name: "end",
        positionals: &["<grant-id>"],
        summary: "End your own active grant early and remove its cached credentials.",
        options: &[OPTIONAL_REASON],
    },
    CommandSpec {
        name: "revoke",
        positionals: &["<grant-id>"],
        summary: "Revoke an active grant (approvers). Issued credentials stay valid until they \
                  expire.",
        options: &[REQUIRED_REASON],
    },
    CommandSpec {
        name: "connect",
        positionals: &[],
        summary: "Write a kubeconfig context for a role you hold a grant for. By default the \
                  context runs 'eksgate credential', which renews the EKS token by itself.",
        options: &[
            CLUSTER_OPTION,
            ROLE_OPTION,
            opt(
                "kubeconfig",
                "PATH",
                "the kubeconfig to update; default: the first path in KUBECONFIG, else \
                 ~/.kube/config",
            ),
            opt(
                "context",
                "NAME",
                "the context name; default eksgate-<cluster>-<role>",
            ),
            switch(
                "static-token",
                "write the EKS token itself; kubectl cannot renew it, so it stops working \
                 within 15 minutes",
            ),
            switch(
                "keep-current-context",
                "add the context without making it the current context",
            ),
            opt(
                "exec-command",
                "PATH",
                "the program that the context runs; default eksgate when it is on PATH, else \
                 the path of this program",
            ),
        ],
    },
    CommandSpec {
        name: "credential",
        positionals: &[],
        summary: "Print an ExecCredential for kubectl (the exec plugin that 'connect' \
                  configures). Reuses cached credentials until shortly before they expire.",
        options: &[
            opt(
                "cluster",
                "ARN",
                "the cluster ARN (a unique name also works)",
            ),
            ROLE_OPTION,
        ],
    },
    CommandSpec {
        name: "sessions",
        positionals: &[],
        summary: "List your sessions, newest first, or every user's sessions (approvers).",
        options: &[
            switch("all", "list every user's sessions (approvers)"),
            LIMIT_OPTION,
        ],
    },
    CommandSpec {
        name: "audit",
        positionals: &[],
        summary: "Read the audit trail of one UTC day or of one user (approvers).",
        options: &[
            opt(
                "date",
                "YYYY-MM-DD",
                "the UTC day; today when neither option is given",
            ),
            opt("user", "USER", "the actions of this user instead of a day"),
            LIMIT_OPTION,
        ],
    },
    CommandSpec {
        name: "configure",
        positionals: &[],
        summary: "Write settings to the configuration file (created with mode 0600). Options \
                  that are not given keep their current value.",
        options: &[
            opt("api-url", "URL", "the session API base URL"),
            opt(
                "token-command",
                "COMMAND",
                "a command that prints your identity token (a JWT, or an ExecCredential as \
                 kubelogin get-token prints); split like a shell does, run without a shell",
            ),
            opt(
                "token-command-timeout",
                "SECONDS",
                "time limit of the token command, in seconds (default 120)",
            ),
            opt(
                "timeout",
                "SECONDS",
                "time limit of each API call, in seconds (default 30)",
            ),
        ],
    },
    CommandSpec {
        name: "setup role",
        positionals: &[],
        summary: "Print the IAM access role of one level: its trust policy, its \
                  eks:DescribeCluster policy and the commands, CloudFormation deploy command or \
                  Terraform block that create it. Nothing is created.",
        options: &[
            SETUP_CLUSTER_OPTION,
            LEVEL_OPTION,
            MODE_OPTION,
            ISSUER_ROLE_OPTION,
            OIDC_PROVIDER_OPTION,
            AUDIENCE_OPTION,
            opt(
                "role-name",
                "NAME",
                "the role name; default <cluster>-eksgate-admin or <cluster>-eksgate-view",
            ),
            opt(
                "path",
                "PATH",
                "the IAM path of the role (default /eksgate/)",
            ),
            opt(
                "max-session-duration",
                "SECONDS",
                "the role's maximum session duration, 3600 to 43200 (default 3600)",
            ),
            switch(
                "create-access-entry",
                "cloudformation and terraform: also create the EKS access entry",
            ),
            opt(
                "terraform-source",
                "PATH",
                "terraform: the module source (default ./infra/terraform/eksgate-access-role)",
            ),
            opt(
                "format",
                "commands|cloudformation|terraform|json",
                "what to print (default commands)",
            ),
        ],
    },
    CommandSpec {
        name: "setup aws-auth",
        positionals: &[],
        summary: "Print the aws-auth mapRoles entry of a role, or with --configmap the whole \
                  ConfigMap with the entry merged in, for 'kubectl apply -f -'.",
        options: &[
            opt(
                "role-arn",
                "ARN",
                "the role ARN without its IAM path, as aws-iam-authenticator compares it",
            ),
            opt(
                "level",
                "admin|read-only",
                "selects the default groups (default read-only)",
            ),
            opt(
                "username-prefix",
                "PREFIX",
                "the Kubernetes username prefix (default eksgate)",
            ),
            opt(
                "session-name-template",
                "session-name|session-name-raw",
                "{{SessionName}} (default, '@' becomes '-') or {{SessionNameRaw}}",
            ),
            opt(
                "group",
                "GROUP",
                "a Kubernetes group; repeat for more; replaces the level's default groups",
            ),
            opt(
                "configmap",
                "FILE|-",
                "the current ConfigMap (kubectl get configmap aws-auth -n kube-system -o yaml); \
                 - reads standard input",
            ),
        ],
    },
    CommandSpec {
        name: "setup access-entry",
        positionals: &[],
        summary: "Print the EKS access entry and access policy association of a role.",
        options: &[
            SETUP_CLUSTER_OPTION,
            opt("role-arn", "ARN", "the role ARN with its IAM path"),
            LEVEL_OPTION,
            opt(
                "format",
                "commands|cloudformation",
                "AWS CLI commands (default) or a CloudFormation Resources fragment",
            ),
        ],
    },
    CommandSpec {
        name: "setup tags",
        positionals: &[],
        summary: "Print the 'aws eks tag-resource' command that marks the cluster for import \
                  and declares its roles.",
        options: &[
            SETUP_CLUSTER_OPTION,
            opt(
                "admin-role",
                "NAME|PATH/NAME",
                "an admin role in the cluster's account; repeat for more",
            ),
            opt(
                "read-only-role",
                "NAME|PATH/NAME",
                "a read-only role in the cluster's account; repeat for more",
            ),
        ],
    },
    CommandSpec {
        name: "doctor",
        positionals: &[],
        summary: "Check the setup of a cluster's roles in IAM and EKS with your own AWS \
                  credentials, and print each problem with its fix. Exits with status 1 when \
                  it finds a problem.",
        options: &[
            CLUSTER_OPTION,
            MODE_OPTION,
            ISSUER_ROLE_OPTION,
            OIDC_PROVIDER_OPTION,
            AUDIENCE_OPTION,
        ],
    },
];

/// Options with a one-letter alias.
const SHORT_OPTIONS: [(&str, &str); 2] = [("-o", "output"), ("-h", "help")];

/// The values found on the command line for one command.
#[derive(Debug, Default)]
struct Matches {
    values: BTreeMap<&'static str, String>,
    /// Every value of each option in order, for options that may repeat.
    lists: BTreeMap<&'static str, Vec<String>>,
    switches: BTreeSet<&'static str>,
    positionals: Vec<String>,
}

impl Matches {
    fn value(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    fn required(&mut self, command: &str, name: &str, example: &str) -> Result<String, CliError> {
        self.value(name).ok_or_else(|| {
            CliError::Usage(format!(
                "'eksgate {command}' needs --{name}, for example --{name} {example}"
            ))
        })
    }

    fn all_values(&mut self, name: &str) -> Vec<String> {
        self.values.remove(name);
        self.lists.remove(name).unwrap_or_default()
    }

    fn switch(&mut self, name: &str) -> bool {
        self.switches.remove(name)
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: Vec<String>) -> Result<Invocation, CliError> {
    let mut command: Option<&'static CommandSpec> = None;
    let mut matches = Matches::default();
    let mut global = Matches::default();
    let mut help = false;
    let mut iter = args.into_iter();
    let mut options_ended = false;
    // Set after `setup`, whose next word names the step, such as `role`.
    let mut setup_step_pending = false;

    while let Some(arg) = iter.next() {
        if options_ended || arg == "-" || !arg.starts_with('-') {
            match command {
                None if setup_step_pending => {
                    setup_step_pending = false;
                    let spec = find_command(&format!("setup {arg}"))?;
                    if help {
                        return Ok(Invocation::Help(Some(spec.name)));
                    }
                    command = Some(spec);
                }
                None if arg == "setup" => setup_step_pending = true,
                None if arg == "help" => help = true,
                None if arg == "version" => return Ok(Invocation::Version),
                None if help => return Ok(Invocation::Help(Some(find_command(&arg)?.name))),
                None => command = Some(find_command(&arg)?),
                Some(_) => matches.positionals.push(arg),
            }
            continue;
        }
        if arg == "--" {
            options_ended = true;
            continue;
        }
        if arg == "--version" || arg == "-V" {
            return Ok(Invocation::Version);
        }

        let (name, inline_value) = match arg.strip_prefix("--") {
            Some(long) => match long.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (long.to_string(), None),
            },
            None => {
                let (short, value) = arg.split_at(arg.len().min(2));
                let long = SHORT_OPTIONS
                    .iter()
                    .find(|(alias, _)| *alias == short)
                    .map(|(_, long)| long.to_string())
                    .ok_or_else(|| CliError::Usage(format!("unknown option {arg}")))?;
                let value = (!value.is_empty()).then(|| value.trim_start_matches('=').to_string());
                (long, value)
            }
        };
        if name == "help" {
            help = true;
            continue;
        }

        let command_spec = command
            .and_then(|spec| spec.options.iter().find(|option| option.name == name))
            .map(|spec| (spec, &mut matches));
        let (spec, target) = match command_spec {
            Some(found) => found,
            None => match GLOBAL_OPTIONS.iter().find(|option| option.name == name) {
                Some(spec) => (spec, &mut global),
                None => {
                    let place = command
                        .map(|spec| format!(" for 'eksgate {}'", spec.name))
                        .unwrap_or_default();
                    return Err(CliError::Usage(format!("unknown option --{name}{place}")));
                }
            },
        };
        match spec.value {
            None => {
                if inline_value.is_some() {
                    return Err(CliError::Usage(format!("--{name} takes no value")));
                }
                target.switches.insert(spec.name);
            }
            Some(value_name) => {
                let value = match inline_value {
                    Some(value) => value,
                    None => iter.next().ok_or_else(|| {
                        CliError::Usage(format!("--{name} needs a value: --{name} <{value_name}>"))
                    })?,
                };
                target
                    .lists
                    .entry(spec.name)
                    .or_default()
                    .push(value.clone());
                target.values.insert(spec.name, value);
            }
        }
    }

    if help {
        return Ok(Invocation::Help(command.map(|spec| spec.name)));
    }
    if setup_step_pending {
        return Err(CliError::Usage(
            "'eksgate setup' needs a step: role, aws-auth, access-entry or tags".into(),
        ));
    }
    let Some(spec) = command else {
        return Ok(Invocation::Help(None));
    };
    let global = global_options(global)?;
    let command = build_command(spec, matches)?;
    Ok(Invocation::Run(global, command))
}

/// The Terraform module source that `setup role --format terraform` prints by default, relative
/// to a configuration at the repository root.
const DEFAULT_TERRAFORM_SOURCE: &str = "./infra/terraform/eksgate-access-role";

/// Turns an invalid value that the setup kit rejected into a usage error.
fn setup_usage(error: eksgate_setup::SetupError) -> CliError {
    CliError::Usage(error.to_string())
}

fn setup_cluster(matches: &mut Matches, command: &str) -> Result<ClusterArn, CliError> {
    let text = matches.required(
        command,
        "cluster",
        "arn:aws:eks:eu-west-1:111122223333:cluster/prod",
    )?;
    ClusterArn::parse(text.trim()).map_err(setup_usage)
}

fn access_level(text: String) -> Result<AccessLevel, CliError> {
    AccessLevel::parse(text.trim()).map_err(setup_usage)
}

fn max_session_duration(matches: &mut Matches) -> Result<u32, CliError> {
    let Some(text) = matches.value("max-session-duration") else {
        return Ok(MIN_SESSION_DURATION_SECS);
    };
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|secs| (MIN_SESSION_DURATION_SECS..=MAX_SESSION_DURATION_SECS).contains(secs))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "invalid --max-session-duration {text:?}: use a whole number of seconds from \
                 {MIN_SESSION_DURATION_SECS} to {MAX_SESSION_DURATION_SECS}"
            ))
        })
}

/// Builds the issuer from --mode and the options of that mode, and rejects options of the
/// other mode.
fn issuer(matches: &mut Matches, command: &str) -> Result<Issuer, CliError> {
    let mode = AssumeMode::parse(matches.required(command, "mode", "broker")?.trim())
        .map_err(setup_usage)?;
    let reject = |option: &str| {
        CliError::Usage(format!(
            "--{option} does not apply to --mode {mode}; remove it"
        ))
    };
    match mode {
        AssumeMode::Broker => {
            if matches.values.contains_key("oidc-provider-arn") {
                return Err(reject("oidc-provider-arn"));
            }
            if matches.values.contains_key("audience") {
                return Err(reject("audience"));
            }
            let role_arn = matches.required(
                command,
                "issuer-role-arn",
                "arn:aws:iam::111122223333:role/eksgate-session-issuer",
            )?;
            Issuer::broker(role_arn.trim()).map_err(setup_usage)
        }
        AssumeMode::WebIdentity => {
            if matches.values.contains_key("issuer-role-arn") {
                return Err(reject("issuer-role-arn"));
            }
            let provider = matches.required(
                command,
                "oidc-provider-arn",
                "arn:aws:iam::111122223333:oidc-provider/login.example.com",
            )?;
            let audience = matches.required(command, "audience", "eksgate-cli")?;
            Issuer::web_identity(provider.trim(), audience.trim()).map_err(setup_usage)
        }
    }
}

fn find_command(name: &str) -> Result<&'static CommandSpec, CliError> {
    COMMANDS
        .iter()
        .find(|spec| spec.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = COMMANDS.iter().map(|spec| spec.name).collect();
            CliError::Usage(format!(
                "unknown command {name:?}; the commands are {}",
                names.join(", ")
            ))
        })
}

fn global_options(mut matches: Matches) -> Result<GlobalOptions, CliError> {
    let output = match matches.value("output").as_deref() {
        None | Some("table") => OutputFormat::Table,
        Some("json") => OutputFormat::Json,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "invalid --output {other:?}: use table or json"
            )));
        }
    };
    let timeout = matches
        .value("timeout")
        .map(|text| parse_seconds("--timeout", &text))
        .transpose()?
        .map(Duration::from_secs);
    Ok(GlobalOptions {
        output,
        api_url: matches.value("api-url"),
        config: matches.value("config").map(PathBuf::from),
        timeout,
    })
}

/// Parses a whole number of seconds from 1 to one day.
pub fn parse_seconds(option: &str, text: &str) -> Result<u64, CliError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| (1..=86_400).contains(seconds))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "invalid {option} {text:?}: use a whole number of seconds from 1 to 86400"
            ))
        })
}

fn parse_limit(matches: &mut Matches) -> Result<usize, CliError> {
    let Some(text) = matches.value("limit") else {
        return Ok(DEFAULT_LIST_LIMIT);
    };
    text.trim()
        .parse::<usize>()
        .ok()
        .filter(|limit| (1..=MAX_LIST_LIMIT).contains(limit))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "invalid --limit {text:?}: use a whole number from 1 to {MAX_LIST_LIMIT}"
            ))
        })
}

fn build_command(spec: &CommandSpec, mut matches: Matches) -> Result<Command, CliError> {
    let name = spec.name;
    let expected = spec.positionals.len();
    if matches.positionals.len() != expected {
        let usage = usage_line(spec);
        return Err(CliError::Usage(if expected == 0 {
            format!(
                "'eksgate {name}' takes no arguments, but got {:?}. Usage: {usage}",
                matches.positionals
            )
        } else {
            format!(
                "'eksgate {name}' needs {}. Usage: {usage}",
                spec.positionals.join(" ")
            )
        }));
    }
    let mut positionals = std::mem::take(&mut matches.positionals).into_iter();
    let mut id = || positionals.next().unwrap_or_default();

    let command = match name {
        "clusters" => Command::Clusters,
        "roles" => Command::Roles {
            cluster: matches.value("cluster"),
        },
        "request" => Command::Request {
            cluster: matches.required(name, "cluster", "payments-prod")?,
            role: matches.required(name, "role", "ClusterAdmin")?,
            duration: matches.value("duration"),
            reason: matches.required(name, "reason", "'INC-1234: pods crash-looping'")?,
        },
        "requests" => Command::Requests {
            pending: matches.switch("pending"),
            limit: parse_limit(&mut matches)?,
        },
        "grants" => Command::Grants {
            all: matches.switch("all"),
            limit: parse_limit(&mut matches)?,
        },
        "approve" => Command::Approve {
            id: id(),
            reason: matches.value("reason"),
        },
        "deny" => Command::Deny {
            id: id(),
            reason: matches.required(name, "reason", "'use the read-only role'")?,
        },
        "cancel" => Command::Cancel {
            id: id(),
            reason: matches.value("reason"),
        },
        "end" => Command::End {
            id: id(),
            reason: matches.value("reason"),
        },
        "revoke" => Command::Revoke {
            id: id(),
            reason: matches.required(name, "reason", "'incident closed'")?,
        },
        "connect" => Command::Connect(ConnectOptions {
            cluster: matches.required(name, "cluster", "payments-prod")?,
            role: matches.required(name, "role", "ClusterAdmin")?,
            kubeconfig: matches.value("kubeconfig").map(PathBuf::from),
            context: matches.value("context"),
            static_token: matches.switch("static-token"),
            keep_current_context: matches.switch("keep-current-context"),
            exec_command: matches.value("exec-command"),
        }),
        "credential" => Command::Credential {
            cluster: matches.required(
                name,
                "cluster",
                "arn:aws:eks:eu-west-1:111122223333:cluster/payments-prod",
            )?,
            role: matches.required(name, "role", "ClusterAdmin")?,
        },
        "sessions" => Command::Sessions {
            all: matches.switch("all"),
            limit: parse_limit(&mut matches)?,
        },
        "audit" => Command::Audit {
            date: matches.value("date"),
            user: matches.value("user"),
            limit: parse_limit(&mut matches)?,
        },
        "configure" => Command::Configure(ConfigureOptions {
            api_url: matches.value("api-url"),
            token_command: matches.value("token-command"),
            token_command_timeout: matches
                .value("token-command-timeout")
                .map(|text| parse_seconds("--token-command-timeout", &text))
                .transpose()?,
            timeout: matches
                .value("timeout")
                .map(|text| parse_seconds("--timeout", &text))
                .transpose()?,
        }),
        "setup role" => Command::SetupRole(Box::new(SetupRoleOptions {
            cluster: setup_cluster(&mut matches, name)?,
            level: access_level(matches.required(name, "level", "admin")?)?,
            issuer: issuer(&mut matches, name)?,
            role_name: matches.value("role-name"),
            path: matches.value("path"),
            max_session_duration_secs: max_session_duration(&mut matches)?,
            create_access_entry: matches.switch("create-access-entry"),
            terraform_source: matches
                .value("terraform-source")
                .unwrap_or_else(|| DEFAULT_TERRAFORM_SOURCE.to_string()),
            format: match matches.value("format").as_deref() {
                None | Some("commands") => RoleFormat::Commands,
                Some("cloudformation") => RoleFormat::CloudFormation,
                Some("terraform") => RoleFormat::Terraform,
                Some("json") => RoleFormat::Json,
                Some(other) => {
                    return Err(CliError::Usage(format!(
                        "invalid --format {other:?}: use commands, cloudformation, terraform or json"
                    )));
                }
            },
        })),
        "setup aws-auth" => Command::SetupAwsAuth(SetupAwsAuthOptions {
            role_arn: matches.required(
                name,
                "role-arn",
                "arn:aws:iam::111122223333:role/prod-eksgate-admin",
            )?,
            username_prefix: matches
                .value("username-prefix")
                .unwrap_or_else(|| "eksgate".to_string()),
            template: match matches.value("session-name-template").as_deref() {
                None | Some("session-name") => SessionNameTemplate::SessionName,
                Some("session-name-raw") => SessionNameTemplate::SessionNameRaw,
                Some(other) => {
                    return Err(CliError::Usage(format!(
                        "invalid --session-name-template {other:?}: use session-name or \
                         session-name-raw"
                    )));
                }
            },
            groups: matches.all_values("group"),
            level: match matches.value("level") {
                Some(text) => access_level(text)?,
                None => AccessLevel::ReadOnly,
            },
            configmap: matches.value("configmap"),
        }),
        "setup access-entry" => Command::SetupAccessEntry {
            cluster: setup_cluster(&mut matches, name)?,
            role_arn: matches.required(
                name,
                "role-arn",
                "arn:aws:iam::111122223333:role/eksgate/prod-eksgate-admin",
            )?,
            level: access_level(matches.required(name, "level", "admin")?)?,
            format: match matches.value("format").as_deref() {
                None | Some("commands") => EntryFormat::Commands,
                Some("cloudformation") => EntryFormat::CloudFormation,
                Some(other) => {
                    return Err(CliError::Usage(format!(
                        "invalid --format {other:?}: use commands or cloudformation"
                    )));
                }
            },
        },
        "setup tags" => {
            let cluster = setup_cluster(&mut matches, name)?;
            let admin_roles = matches.all_values("admin-role");
            let read_only_roles = matches.all_values("read-only-role");
            if admin_roles.is_empty() && read_only_roles.is_empty() {
                return Err(CliError::Usage(format!(
                    "'eksgate {name}' needs at least one --admin-role or --read-only-role, for \
                     example --admin-role eksgate/prod-eksgate-admin"
                )));
            }
            Command::SetupTags {
                cluster,
                admin_roles,
                read_only_roles,
            }
        }
        "doctor" => Command::Doctor {
            cluster: matches.required(name, "cluster", "payments-prod")?,
            issuer: issuer(&mut matches, name)?,
        },
        other => unreachable!("command {other} is in COMMANDS but has no parser"),
    };
    match reject_empty(&command) {
        Some(error) => Err(error),
        None => Ok(command),
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

fn usage_line(spec: &CommandSpec) -> String {
    let mut line = format!("eksgate {}", spec.name);
    for positional in spec.positionals {
        line.push(' ');
        line.push_str(positional);
    }
    if !spec.options.is_empty() {
        line.push_str(" [options]");
    }
    line
}

fn option_lines(options: &[OptionSpec]) -> String {
    let labels: Vec<String> = options
        .iter()
        .map(|option| match option.value {
            Some(value) => format!("--{} <{value}>", option.name),
            None => format!("--{}", option.name),
        })
        .collect();
    let width = labels.iter().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    for (label, option) in labels.iter().zip(options) {
        text.push_str(&format!("  {label:width$}  {}\n", option.help));
    }
    text
}

/// Returns the general help, or the help of one command.
pub fn help_text(command: Option<&str>) -> String {
    if let Some(spec) = command.and_then(|name| COMMANDS.iter().find(|spec| spec.name == name)) {
        let mut text = format!("Usage: {}\n\n{}\n", usage_line(spec), spec.summary);
        if !spec.options.is_empty() {
            text.push_str("\nOptions:\n");
            text.push_str(&option_lines(spec.options));
        }
        text.push_str("\nGlobal options:\n");
        text.push_str(&option_lines(GLOBAL_OPTIONS));
        return text;
    }

    let width = COMMANDS
        .iter()
        .map(|spec| spec.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from(
        "eksgate: temporary, approved access to Amazon EKS clusters.\n\n\
         Usage: eksgate <command> [options]\n\nCommands:\n",
    );
    for spec in COMMANDS {
        let summary = spec.summary.split(". ").next().unwrap_or(spec.summary);
        let summary = summary.trim_end_matches('.');
        text.push_str(&format!("  {:width$}  {summary}.\n", spec.name));
    }
    text.push_str("\nGlobal options:\n");
    text.push_str(&option_lines(GLOBAL_OPTIONS));
    text.push_str(
        "\nSettings come from the options, then the environment (EKSGATE_API_URL, EKSGATE_TOKEN, \
         EKSGATE_TOKEN_COMMAND, EKSGATE_CONFIG), then the configuration file \
         ($XDG_CONFIG_HOME/eksgate/config.json, by default ~/.config/eksgate/config.json).\n\
         Run 'eksgate help <command>' for the options of a command.\n",
    );
    text
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
            (&["nope"], "unknown command \"nope\""),
            (
                &["clusters", "--bogus"],
                "unknown option --bogus for 'eksgate clusters'",
            ),
            (
                &["request", "--cluster", "c", "--role", "r"],
                "needs --reason",
            ),
            (&["approve"], "needs <request-id>"),
            (&["clusters", "extra"], "takes no arguments"),
            (&["deny", "id"], "needs --reason"),
            (&["grants", "--limit", "0"], "invalid --limit"),
            (&["grants", "--all=yes"], "takes no value"),
            (&["clusters", "--output", "yaml"], "invalid --output"),
            (&["clusters", "--timeout", "soon"], "invalid --timeout"),
            (
                &["connect", "--cluster", "", "--role", "r"],
                "--cluster must not be empty",
            ),
            (&["request", "--cluster"], "--cluster needs a value"),
        ];
        for (args, expected) in cases {
            let message = usage_error(args);
            assert!(message.contains(expected), "{args:?}: {message}");
        }
    }

    #[test]
    fn help_and_version() {
        assert_eq!(run(&[]).expect("help"), Invocation::Help(None));
        assert_eq!(
            run(&["help", "connect"]).expect("help"),
            Invocation::Help(Some("connect"))
        );
        assert_eq!(
            run(&["connect", "--help"]).expect("help"),
            Invocation::Help(Some("connect"))
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
            (vec!["setup", "nope"], "unknown command \"setup nope\""),
            (with(&[]), "needs --mode"),
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
                "invalid --format",
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
                "invalid --max-session-duration",
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
                "at least one",
            ),
            (vec!["doctor", "--cluster", "prod"], "needs --mode"),
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
            Invocation::Help(Some("setup role"))
        );
        assert_eq!(
            run(&["setup", "tags", "--help"]).expect("help"),
            Invocation::Help(Some("setup tags"))
        );
        let text = help_text(Some("setup role"));
        assert!(text.contains("--issuer-role-arn"), "{text}");
        assert!(help_text(None).contains("doctor"));
    }
}
