//! A real SMTP server for the email fallback tests: the aiosmtpd script the email
//! channel's own tests use (`crates/channels/tests/fixtures/smtp_server.py`), run as its
//! own process. It writes each accepted message to a spool directory as JSON.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../channels/tests/fixtures/smtp_server.py"
);

pub struct Smtp {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl Smtp {
    /// Starts the server, or returns `None` (with a notice) where aiosmtpd is missing;
    /// under `TIDINGS_REQUIRE_SMTP` a missing server fails the test.
    pub fn start() -> Option<Smtp> {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        // Debian's python3, which sees the python3-aiosmtpd package.
        let spawned = Command::new("/usr/bin/python3")
            .arg(SCRIPT)
            .arg("--spool")
            .arg(&spool)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => return missing(&error.to_string()),
        };
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let Some(port) = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            return missing("the SMTP server did not start (is python3-aiosmtpd installed?)");
        };
        Some(Smtp { child, port, dir })
    }

    /// What the server accepted, oldest first.
    pub fn received(&self) -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path().join("spool"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
            .collect()
    }
}

fn missing(why: &str) -> Option<Smtp> {
    assert!(
        std::env::var("TIDINGS_REQUIRE_SMTP").is_err(),
        "TIDINGS_REQUIRE_SMTP is set but the SMTP server cannot start: {why}"
    );
    eprintln!("no SMTP server ({why}): email test skipped");
    None
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
