//! The test identity provider for the CLI demo and benchmark.
//!
//! `eksgate-idp init --dir DIR` generates an RSA key (DIR/idp-key.der, mode 0600) and writes
//! its JWKS (DIR/jwks.json). `eksgate-idp token --dir DIR --email EMAIL --groups a,b` prints an
//! RS256 identity token signed with that key, valid for an hour. The session issuer verifies
//! the tokens with `EKSGATE_JWKS=file:DIR/jwks.json`, `EKSGATE_JWT_ISSUER` set to the printed
//! issuer and `EKSGATE_JWT_AUDIENCE` to the printed audience.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use eksgate_tests::idp::{AUDIENCE, ISSUER, TestIdp};

const USAGE: &str = "usage: eksgate-idp init --dir DIR\n       \
                     eksgate-idp token --dir DIR --email EMAIL [--groups a,b]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("eksgate-idp: {message}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (command, options) = args.split_first().ok_or("missing command")?;
    let option = |name: &str| {
        options
            .iter()
            .position(|arg| arg == name)
            .and_then(|index| options.get(index + 1))
            .cloned()
    };
    let dir = PathBuf::from(option("--dir").ok_or("missing --dir")?);
    let key_path = dir.join("idp-key.der");
    match command.as_str() {
        "init" => {
            fs::create_dir_all(&dir)
                .map_err(|error| format!("creating {} failed: {error}", dir.display()))?;
            let idp = TestIdp::generate();
            let mut key_file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&key_path)
                .map_err(|error| format!("creating {} failed: {error}", key_path.display()))?;
            key_file
                .write_all(&idp.private_key_der())
                .map_err(|error| format!("writing {} failed: {error}", key_path.display()))?;
            let jwks_path = dir.join("jwks.json");
            idp.write_jwks(&jwks_path)
                .map_err(|error| format!("writing {} failed: {error}", jwks_path.display()))?;
            println!("jwks={}", jwks_path.display());
            println!("issuer={ISSUER}");
            println!("audience={AUDIENCE}");
            Ok(())
        }
        "token" => {
            let email = option("--email").ok_or("missing --email")?;
            let groups = option("--groups").unwrap_or_default();
            let groups: Vec<&str> = groups.split(',').filter(|g| !g.is_empty()).collect();
            let der = fs::read(&key_path).map_err(|error| {
                format!(
                    "reading {} failed: {error}; run eksgate-idp init first",
                    key_path.display()
                )
            })?;
            let idp = TestIdp::from_private_key_der(&der)?;
            println!("{}", idp.token(&email, &groups));
            Ok(())
        }
        other => Err(format!("unknown command {other:?}")),
    }
}
