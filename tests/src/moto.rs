//! A moto server process on 127.0.0.1, stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::repo_root;

/// A running moto server. Dropping it stops the process. The server also stops by itself when
/// the process that started it exits, so a killed test leaves nothing behind.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto on a free port of 127.0.0.1 and waits until it accepts connections.
    ///
    /// Panics with the set-up command to run when the repository's Python environment is missing.
    pub fn start() -> Self {
        let python = python();
        assert!(
            python.exists(),
            "moto is not installed: {} is missing. Run scripts/bootstrap.sh (make test runs it).",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(repo_root().join("scripts/moto_server.py"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("starting {} failed: {error}", python.display()));

        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the moto server's port failed");
        let Some(port) = line
            .trim()
            .strip_prefix("port=")
            .and_then(|port| port.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moto server did not report its port; it printed {line:?}");
        };
        Self { child, port }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the endpoint URL that every SDK client of a test uses.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns the Python interpreter of the repository's virtual environment.
pub fn python() -> PathBuf {
    repo_root().join(".venv/bin/python")
}
