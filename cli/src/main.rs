//! `eksgate`: the command-line client of the eksgate session API.
//!
//! Developers list clusters and roles, request access, connect kubectl to a granted role, and
//! kubectl runs `eksgate credential` as its exec plugin. Approvers decide on requests, revoke
//! grants and read the audit trail. `eksgate help` lists the commands.
//!
//! Exit status: 0 on success, 1 when a command fails, 2 for invalid arguments.

mod api;
mod args;
mod cache;
mod cluster;
mod commands;
mod config;
mod error;
mod files;
mod identity;
mod output;
mod time;

use std::process::ExitCode;

use args::Invocation;
use error::CliError;

fn main() -> ExitCode {
    let args: Result<Vec<String>, CliError> = std::env::args_os()
        .skip(1)
        .map(|arg| {
            arg.into_string()
                .map_err(|arg| CliError::Usage(format!("the argument {arg:?} is not valid UTF-8")))
        })
        .collect();
    let result = args
        .and_then(args::parse)
        .and_then(|invocation| match invocation {
            Invocation::Help(text) => {
                output::print(&text);
                Ok(())
            }
            Invocation::Version => {
                output::print(concat!("eksgate ", env!("CARGO_PKG_VERSION"), "\n"));
                Ok(())
            }
            Invocation::Run(global, command) => commands::run(global, command),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("eksgate: {error}");
            ExitCode::from(error.exit_status())
        }
    }
}
