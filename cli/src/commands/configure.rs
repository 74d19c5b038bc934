//! `eksgate configure`: writes the configuration file, or shows it when no option is given.

use serde_json::json;

use crate::api::ApiUrl;
use crate::args::{ConfigureOptions, GlobalOptions, OutputFormat};
use crate::config::{self, ConfigFile, TokenCommandSetting, split_command};
use crate::error::CliError;
use crate::output::{details, print, print_json};

pub fn run(global: &GlobalOptions, options: &ConfigureOptions) -> Result<(), CliError> {
    let path = config::config_path(global)?;
    let mut file = config::read_config_file(&path)?;
    let changes = options != &ConfigureOptions::default();

    if let Some(url) = &options.api_url {
        let url = ApiUrl::parse(url)
            .map_err(|reason| CliError::Usage(format!("invalid --api-url: {reason}")))?;
        file.api_url = Some(url.to_string());
    }
    if let Some(line) = &options.token_command {
        let argv = split_command(line)
            .map_err(|reason| CliError::Usage(format!("invalid --token-command: {reason}")))?;
        if argv.is_empty() {
            return Err(CliError::Usage("--token-command must not be empty".into()));
        }
        file.token_command = Some(TokenCommandSetting::Argv(argv));
    }
    if let Some(seconds) = options.token_command_timeout {
        file.token_command_timeout_seconds = Some(seconds);
    }
    if let Some(seconds) = options.timeout {
        file.timeout_seconds = Some(seconds);
    }
    if changes {
        config::write_config_file(&path, &file)?;
    }

    if global.output == OutputFormat::Json {
        print_json(&json!({
            "path": path.display().to_string(),
            "written": changes,
            "api_url": file.api_url,
            "token_command_program": token_program(&file),
            "token_command_timeout_seconds": file.token_command_timeout_seconds,
            "timeout_seconds": file.timeout_seconds,
        }));
        return Ok(());
    }
    let headline = if changes {
        format!("Wrote {} (mode 0600).\n", path.display())
    } else {
        format!("Settings in {}:\n", path.display())
    };
    let mut text = headline;
    text.push_str(&details(&settings_lines(&file)));
    print(&text);
    Ok(())
}

/// Returns the token command's program name. Its arguments may contain secrets, such as an OIDC
/// client secret, so they are never shown.
fn token_program(file: &ConfigFile) -> Option<String> {
    let argv = file.token_command.as_ref()?.argv().ok()?;
    argv.first().cloned()
}

fn settings_lines(file: &ConfigFile) -> Vec<(&'static str, String)> {
    let or_unset = |value: Option<String>| value.unwrap_or_else(|| "(not set)".into());
    let token_command = token_program(file).map(|program| {
        let count = file
            .token_command
            .as_ref()
            .and_then(|setting| setting.argv().ok())
            .map_or(0, |argv| argv.len() - 1);
        let noun = if count == 1 { "argument" } else { "arguments" };
        format!("{program} with {count} {noun} (not shown)")
    });
    vec![
        ("api_url", or_unset(file.api_url.clone())),
        ("token_command", or_unset(token_command)),
        (
            "token_command_timeout_seconds",
            or_unset(file.token_command_timeout_seconds.map(|s| s.to_string())),
        ),
        (
            "timeout_seconds",
            or_unset(file.timeout_seconds.map(|s| s.to_string())),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_never_show_token_command_arguments() {
        let file = ConfigFile {
            api_url: Some("https://api.example.com".into()),
            token_command: Some(TokenCommandSetting::Argv(vec![
                "kubelogin".into(),
                "get-token".into(),
                "--oidc-client-secret=hunter2".into(),
            ])),
            token_command_timeout_seconds: None,
            timeout_seconds: Some(10),
        };
        let text = details(&settings_lines(&file));
        assert!(text.contains("kubelogin with 2 arguments"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("(not set)"), "{text}");
    }
}
