//! Settings: the API URL, where the identity token comes from, and time limits.
//!
//! Each setting comes from the command line, else the environment, else the JSON configuration
//! file (`$XDG_CONFIG_HOME/eksgate/config.json`, by default `~/.config/eksgate/config.json`):
//!
//! ```json
//! {
//!   "api_url": "https://abc123.execute-api.eu-west-1.amazonaws.com",
//!   "token_command": ["kubelogin", "get-token", "--oidc-issuer-url=https://idp.example.com"],
//!   "token_command_timeout_seconds": 120,
//!   "timeout_seconds": 30
//! }
//! ```
//!
//! The identity token itself is never read from or written to the file: it comes from
//! `EKSGATE_TOKEN` or from the output of the token command (`EKSGATE_TOKEN_COMMAND` or
//! `token_command`).

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::ApiUrl;
use crate::args::GlobalOptions;
use crate::error::CliError;
use crate::files;

pub const API_URL_ENV: &str = "EKSGATE_API_URL";
pub const TOKEN_ENV: &str = "EKSGATE_TOKEN";
pub const TOKEN_COMMAND_ENV: &str = "EKSGATE_TOKEN_COMMAND";
pub const CONFIG_ENV: &str = "EKSGATE_CONFIG";

/// Default time limit of one API call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time limit of the token command. Generous, because the command may wait for a
/// browser sign-in.
pub const DEFAULT_TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Maximum size of the configuration file.
const MAX_CONFIG_BYTES: u64 = 64 * 1024;

/// Maximum size of the token command's output.
const MAX_TOKEN_OUTPUT_BYTES: u64 = 256 * 1024;

/// The configuration file's content. Unknown keys are rejected, so a typo is reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_command: Option<TokenCommandSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_command_timeout_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

/// The token command as the file contains it: one string, split like a shell does, or the list of
/// arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenCommandSetting {
    Line(String),
    Argv(Vec<String>),
}

impl TokenCommandSetting {
    /// Returns the program and its arguments.
    pub fn argv(&self) -> Result<Vec<String>, String> {
        let argv = match self {
            Self::Line(line) => split_command(line)?,
            Self::Argv(argv) => argv.clone(),
        };
        if argv.first().is_none_or(|program| program.is_empty()) {
            return Err("the token command is empty".into());
        }
        Ok(argv)
    }
}

/// Splits a command line into arguments the way a POSIX shell does, with quotes and
/// backslashes, but without variables, globs or any other expansion.
pub fn split_command(line: &str) -> Result<Vec<String>, String> {
    shlex::split(line).ok_or_else(|| {
        "the token command has an unterminated quote or a trailing backslash".to_string()
    })
}

/// A secret string whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(** redacted **)")
    }
}

/// The source of the identity token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `EKSGATE_TOKEN`.
    Environment(Secret),
    /// A command whose output contains the token.
    Command {
        argv: Vec<String>,
        /// `EKSGATE_TOKEN_COMMAND` or the configuration file's path, for messages.
        origin: String,
        timeout: Duration,
    },
    /// No source is configured.
    Missing,
}

impl TokenSource {
    /// Returns a text that names the token command, for [`crate::cache::CredentialCache`]'s
    /// identity hints, or `None` for the other sources. It contains the arguments, so it is
    /// only ever hashed, never shown.
    pub fn command_descriptor(&self) -> Option<String> {
        match self {
            Self::Command { argv, .. } => Some(argv.join("\0")),
            Self::Environment(_) | Self::Missing => None,
        }
    }
}

/// The resolved settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_url: ApiUrl,
    pub token_source: TokenSource,
    pub timeout: Duration,
}

/// Returns the configuration file's path: `--config`, else `EKSGATE_CONFIG`, else
/// `$XDG_CONFIG_HOME/eksgate/config.json`, else `~/.config/eksgate/config.json`.
pub fn config_path(global: &GlobalOptions) -> Result<PathBuf, CliError> {
    if let Some(path) = &global.config {
        return Ok(path.clone());
    }
    if let Some(path) = non_empty_env(CONFIG_ENV) {
        return Ok(PathBuf::from(path));
    }
    Ok(files::config_home()?.join("eksgate").join("config.json"))
}

/// Reads the configuration file. A missing file counts as an empty one.
pub fn read_config_file(path: &Path) -> Result<ConfigFile, CliError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ConfigFile::default());
        }
        Err(error) => return Err(CliError::file("reading", path, error)),
    };
    let mut text = String::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| CliError::file("reading", path, error))?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(CliError::Config(format!(
            "the configuration file {} is larger than {MAX_CONFIG_BYTES} bytes; it should hold \
             only a few settings",
            path.display()
        )));
    }
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    serde_json::from_str(&text).map_err(|error| {
        CliError::Config(format!(
            "invalid configuration file {}: {error}. It is a JSON object with the keys api_url, \
             token_command, token_command_timeout_seconds and timeout_seconds; fix it or \
             rewrite it with 'eksgate configure'",
            path.display()
        ))
    })
}

/// Resolves the settings from the command line, the environment and the configuration file.
pub fn resolve(global: &GlobalOptions) -> Result<Settings, CliError> {
    let config_path = config_path(global)?;
    let file = read_config_file(&config_path)?;

    let (api_url_text, api_url_origin) = match (&global.api_url, non_empty_env(API_URL_ENV)) {
        (Some(url), _) => (url.clone(), "--api-url".to_string()),
        (None, Some(url)) => (url, API_URL_ENV.to_string()),
        (None, None) => match &file.api_url {
            Some(url) => (url.clone(), format!("api_url in {}", config_path.display())),
            None => {
                return Err(CliError::Config(format!(
                    "no eksgate API URL is configured. Run 'eksgate configure --api-url \
                     https://<api-id>.execute-api.<region>.amazonaws.com' (it writes {}), or set \
                     {API_URL_ENV}",
                    config_path.display()
                )));
            }
        },
    };
    let api_url = ApiUrl::parse(&api_url_text).map_err(|reason| {
        CliError::Config(format!("invalid API URL in {api_url_origin}: {reason}"))
    })?;

    let timeout = global
        .timeout
        .or(file.timeout_seconds.map(Duration::from_secs))
        .unwrap_or(DEFAULT_TIMEOUT);
    let token_timeout = file
        .token_command_timeout_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TOKEN_COMMAND_TIMEOUT);

    let token_source = if let Some(token) = non_empty_env(TOKEN_ENV) {
        TokenSource::Environment(Secret::new(token.trim().to_string()))
    } else if let Some(line) = non_empty_env(TOKEN_COMMAND_ENV) {
        let argv = split_command(&line)
            .map_err(|reason| CliError::Config(format!("invalid {TOKEN_COMMAND_ENV}: {reason}")))?;
        TokenSource::Command {
            argv,
            origin: TOKEN_COMMAND_ENV.to_string(),
            timeout: token_timeout,
        }
    } else if let Some(setting) = &file.token_command {
        let origin = format!("token_command in {}", config_path.display());
        let argv = setting
            .argv()
            .map_err(|reason| CliError::Config(format!("invalid {origin}: {reason}")))?;
        TokenSource::Command {
            argv,
            origin,
            timeout: token_timeout,
        }
    } else {
        TokenSource::Missing
    };

    Ok(Settings {
        api_url,
        token_source,
        timeout,
    })
}

impl Settings {
    /// Returns the caller's identity token, running the token command if one is configured.
    pub fn identity_token(&self) -> Result<Secret, CliError> {
        match &self.token_source {
            TokenSource::Environment(token) => {
                check_token_text(token.expose(), TOKEN_ENV)?;
                Ok(token.clone())
            }
            TokenSource::Command {
                argv,
                origin,
                timeout,
            } => run_token_command(argv, origin, *timeout),
            TokenSource::Missing => Err(CliError::Config(format!(
                "no identity token is configured. Run 'eksgate configure --token-command \
                 \"<command that prints your token>\"' (for example kubelogin get-token with \
                 your identity provider's settings), or set {TOKEN_COMMAND_ENV} or {TOKEN_ENV}"
            ))),
        }
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

/// Runs the token command without a shell, with standard input and standard error passed
/// through (so it can prompt and report), and returns the token from its output.
///
/// The command is killed when it runs longer than `timeout`. Its output is never included in
/// a message, because it may contain secrets.
pub fn run_token_command(
    argv: &[String],
    origin: &str,
    timeout: Duration,
) -> Result<Secret, CliError> {
    let program = &argv[0];
    let mut child = Command::new(program)
        .args(&argv[1..])
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| {
            CliError::Config(format!(
                "could not start the token command {program:?} ({origin}): {error}. Check that \
                 the program is installed and on PATH"
            ))
        })?;

    // A thread reads the output, so that the wait below can time out even if the command
    // never closes its standard output.
    let mut stdout = child.stdout.take().expect("standard output is piped");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut output = Vec::new();
        let result = (&mut stdout)
            .take(MAX_TOKEN_OUTPUT_BYTES + 1)
            .read_to_end(&mut output)
            .map(|_| output);
        let _ = sender.send(result);
    });

    let output = match receiver.recv_timeout(timeout) {
        Ok(result) => result.map_err(|error| {
            CliError::Config(format!(
                "reading the output of the token command {program:?} ({origin}) failed: {error}"
            ))
        })?,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CliError::Config(format!(
                "the token command {program:?} ({origin}) did not finish within {} s and was \
                 stopped. Check that it can run without a prompt, or raise \
                 token_command_timeout_seconds in the configuration file",
                timeout.as_secs()
            )));
        }
    };
    let status = child.wait().map_err(|error| {
        CliError::Config(format!(
            "waiting for the token command {program:?} ({origin}) failed: {error}"
        ))
    })?;
    if !status.success() {
        return Err(CliError::Config(format!(
            "the token command {program:?} ({origin}) failed with {status}; its messages are \
             above. Sign in again or fix the command"
        )));
    }
    if output.len() as u64 > MAX_TOKEN_OUTPUT_BYTES {
        return Err(CliError::Config(format!(
            "the token command {program:?} ({origin}) printed more than {MAX_TOKEN_OUTPUT_BYTES} \
             bytes; it must print only the token"
        )));
    }
    let text = String::from_utf8(output).map_err(|_| {
        CliError::Config(format!(
            "the token command {program:?} ({origin}) printed text that is not UTF-8"
        ))
    })?;
    let token = token_from_output(&text).map_err(|reason| {
        CliError::Config(format!(
            "the output of the token command {program:?} ({origin}) contains no token: {reason}"
        ))
    })?;
    check_token_text(&token, origin)?;
    Ok(Secret::new(token))
}

/// Extracts the token from a token command's output: either the token alone, or a JSON object
/// such as the ExecCredential that `kubelogin get-token` prints (`status.token`), or one with
/// an `id_token`, `access_token` or `token` field.
pub fn token_from_output(output: &str) -> Result<String, String> {
    let text = output.trim();
    if text.is_empty() {
        return Err("it printed nothing".into());
    }
    if text.starts_with('{') {
        let document: Value = serde_json::from_str(text)
            .map_err(|_| "it printed a JSON object that does not parse".to_string())?;
        let candidates = [
            &document["status"]["token"],
            &document["id_token"],
            &document["access_token"],
            &document["token"],
        ];
        return candidates
            .into_iter()
            .find_map(|value| value.as_str().filter(|token| !token.is_empty()))
            .map(str::to_string)
            .ok_or_else(|| {
                "its JSON has none of status.token, id_token, access_token and token".to_string()
            });
    }
    if text.lines().count() > 1 {
        return Err("it printed several lines; print only the token".into());
    }
    Ok(text.to_string())
}

/// Rejects a token that cannot travel in an HTTP header.
fn check_token_text(token: &str, origin: &str) -> Result<(), CliError> {
    if token.is_empty() {
        return Err(CliError::Config(format!(
            "the identity token from {origin} is empty"
        )));
    }
    if token
        .bytes()
        .any(|byte| byte.is_ascii_whitespace() || byte.is_ascii_control() || !byte.is_ascii())
    {
        return Err(CliError::Config(format!(
            "the identity token from {origin} contains spaces, control or non-ASCII characters; \
             it must be a single JWT"
        )));
    }
    Ok(())
}

/// Writes `file` to `path` as JSON with mode 0600, creating the directory with mode 0700.
pub fn write_config_file(path: &Path, file: &ConfigFile) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(file).expect("the configuration serialises");
    text.push('\n');
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        files::create_private_dir(parent)
            .map_err(|error| CliError::file("creating the directory", parent, error))?;
    }
    files::write_private(path, text.as_bytes())
        .map_err(|error| CliError::file("writing", path, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_plain_and_json_output() {
        assert_eq!(token_from_output("eyJ.a.b\n").as_deref(), Ok("eyJ.a.b"));
        let exec_credential = r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{},"status":{"expirationTimestamp":"2030-01-01T00:00:00Z","token":"eyJ.c.d"}}"#;
        assert_eq!(token_from_output(exec_credential).as_deref(), Ok("eyJ.c.d"));
        assert_eq!(
            token_from_output(r#"{"id_token":"eyJ.e.f"}"#).as_deref(),
            Ok("eyJ.e.f")
        );
    }

    #[test]
    fn token_output_errors_do_not_echo_output() {
        for output in ["", "line one\nline two", "{\"x\":1}", "{not json"] {
            let error = token_from_output(output).expect_err(output);
            assert!(
                !error.contains("line one") && !error.contains("not json"),
                "{error}"
            );
        }
    }

    #[test]
    fn command_lines_split_without_a_shell() {
        assert_eq!(
            split_command(r#"kubelogin get-token --oidc-extra-scope="email profile" $HOME"#),
            Ok(vec![
                "kubelogin".to_string(),
                "get-token".to_string(),
                "--oidc-extra-scope=email profile".to_string(),
                "$HOME".to_string(),
            ])
        );
        assert!(split_command("cat 'unterminated").is_err());
        let empty = TokenCommandSetting::Argv(Vec::new());
        assert!(empty.argv().is_err());
    }

    #[test]
    fn token_command_runs_and_times_out() {
        let argv = vec![
            "sh".to_string(),
            "-c".to_string(),
            "printf 'eyJ.x.y\\n'".to_string(),
        ];
        let token = run_token_command(&argv, "test", Duration::from_secs(10)).expect("token");
        assert_eq!(token.expose(), "eyJ.x.y");

        let slow = vec!["sleep".to_string(), "5".to_string()];
        let error =
            run_token_command(&slow, "test", Duration::from_millis(200)).expect_err("times out");
        assert!(
            error.to_string().contains("did not finish within"),
            "{error}"
        );

        let failing = vec!["false".to_string()];
        let error =
            run_token_command(&failing, "test", Duration::from_secs(10)).expect_err("fails");
        assert!(error.to_string().contains("failed with"), "{error}");

        let missing = vec!["/nonexistent/eksgate-token".to_string()];
        let error =
            run_token_command(&missing, "test", Duration::from_secs(10)).expect_err("missing");
        assert!(error.to_string().contains("could not start"), "{error}");
    }

    #[test]
    fn config_file_rejects_unknown_keys() {
        let error = serde_json::from_str::<ConfigFile>(r#"{"api_ur": "x"}"#).expect_err("typo");
        assert!(error.to_string().contains("api_ur"), "{error}");
        let file: ConfigFile =
            serde_json::from_str(r#"{"api_url":"https://x","token_command":["a","b"]}"#)
                .expect("valid");
        assert_eq!(
            file.token_command,
            Some(TokenCommandSetting::Argv(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let secret = Secret::new("eyJ.secret.token".into());
        assert!(!format!("{secret:?}").contains("secret.token"));
    }
}
