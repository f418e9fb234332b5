//! The `tidings` binary: its commands, and a graceful stop on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

fn tidings(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidings"));
    command
        .current_dir(dir)
        .env_remove("TIDINGS_DATABASE_URL")
        .env("TIDINGS_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "info");
    command
}

#[test]
fn default_config_prints_every_section() {
    let dir = tempfile::tempdir().unwrap();
    let output = tidings(dir.path()).arg("default-config").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for section in [
        "database_url",
        "[shop]",
        "[shopify]",
        "[woocommerce]",
        "[easypost]",
        "[ingest]",
    ] {
        assert!(text.contains(section), "{section} missing");
    }
}

#[test]
fn apikey_create_prints_the_key_last_and_migrate_creates_the_default_store() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = tidings(dir.path()).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(dir.path().join("tidings-data/tidings.db").exists());

    let output = tidings(dir.path())
        .args(["apikey", "create", "--name", "shop", "--scope", "ingest"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let key = stdout.lines().last().unwrap();
    assert!(key.starts_with("tdk_") && key.len() == 52, "{key}");
    let added = tidings(dir.path())
        .args(["key", "add", "--name", "crm", "--scope", "support"])
        .output()
        .unwrap();
    assert!(added.status.success());
    let revoked = tidings(dir.path())
        .args(["key", "revoke", "--id", "1"])
        .output()
        .unwrap();
    assert!(revoked.status.success());
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("API key 1 revoked"));
}

#[test]
fn user_add_prints_a_one_time_password_or_reads_one_from_stdin() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let add = |email: &str, extra: &[&str], stdin: Option<&str>| {
        let mut command = tidings(dir.path());
        command
            .args(["user", "add", "--email", email, "--role", "owner"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    };

    let generated = add("Boss@Shop.example", &[], None);
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let stdout = String::from_utf8(generated.stdout).unwrap();
    assert!(
        stdout.contains("boss@shop.example added with role owner"),
        "{stdout}"
    );
    let password = stdout.lines().last().unwrap();
    assert_eq!(password.len(), 16, "{password}");

    let again = add("boss@shop.example", &[], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let short = add("it@shop.example", &["--password-stdin"], Some("short\n"));
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let chosen = add(
        "it@shop.example",
        &["--password-stdin"],
        Some("a chosen long password\n"),
    );
    assert!(chosen.status.success());
    let stdout = String::from_utf8(chosen.stdout).unwrap();
    assert!(
        !stdout.contains("a chosen long password"),
        "the password is echoed"
    );
}

#[test]
fn a_bad_configuration_value_is_reported_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let output = tidings(dir.path())
        .arg("migrate")
        .env("TIDINGS_INGEST__BATCH_MAX", "many")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.to_lowercase().contains("ingest.batch_max"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));

    // A value of the right type but out of range is refused before anything starts.
    let zero = tidings(dir.path())
        .arg("serve")
        .env("TIDINGS_INGEST__QUEUE_CAPACITY", "0")
        .output()
        .unwrap();
    assert!(!zero.status.success());
    let stderr = String::from_utf8(zero.stderr).unwrap();
    assert!(
        stderr.contains("ingest.queue_capacity: must be at least 1"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[cfg(unix)]
#[test]
fn serve_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tidings(dir.path())
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the "serving" line (the signal handlers are in place by then) rather
    // than a fixed time.
    let stderr = child.stderr.take().unwrap();
    let (seen, lines_in) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader};
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = seen.send(line.clone());
            lines.push(line);
        }
        lines
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_in.recv_timeout(left) {
            Ok(line) if line.contains("tidings is serving") => break,
            Ok(_) => {}
            Err(error) => panic!("tidings never said it was serving: {error}"),
        }
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();

    assert!(status.success(), "exit status {status}: {lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("tidings stopped")),
        "{lines:?}"
    );
}
