//! A real SMTP server for the email tests: aiosmtpd (Debian's `python3-aiosmtpd`)
//! running `tests/fixtures/smtp_server.py`, one process per test on a free port, with
//! certificates made by `openssl` for the TLS cases.
//!
//! Where aiosmtpd or openssl is missing, [`SmtpServer::start`] prints a notice and the
//! test returns early. CI installs both and sets `TIDINGS_REQUIRE_SMTP`, so there a
//! missing program fails the test instead.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp_server.py");
/// Where the server notes the connections that ended, in its directory.
const CLOSED_LOG: &str = "closed.jsonl";

/// How the test server protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No TLS.
    Plain,
    /// STARTTLS offered and required before MAIL.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// What the test server offers and requires.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub tls: Security,
    /// A user and password it requires before MAIL.
    pub auth: Option<(&'static str, &'static str)>,
    /// How long it keeps a silent connection open; five minutes when `None`.
    pub idle_timeout: Option<Duration>,
}

impl Options {
    pub fn plain() -> Options {
        Options {
            tls: Security::Plain,
            auth: None,
            idle_timeout: None,
        }
    }
}

/// A running aiosmtpd; killed when dropped.
pub struct SmtpServer {
    child: Child,
    port: u16,
    tls: Security,
    dir: TempDir,
}

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope, the session and the parsed message (see the script's docstring).
    pub meta: Value,
    /// The bytes as sent after DATA.
    pub raw: String,
}

impl SmtpServer {
    /// Starts a server, or returns `None` (after a notice) where aiosmtpd or openssl is
    /// not installed and `TIDINGS_REQUIRE_SMTP` is not set.
    pub fn start(options: Options) -> Option<SmtpServer> {
        let python = python_with_aiosmtpd()?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).expect("the spool directory");

        let mut command = Command::new(python);
        command.arg(SCRIPT).arg("--spool").arg(&spool);
        command.arg("--closed-log").arg(dir.path().join(CLOSED_LOG));
        if options.tls != Security::Plain {
            make_certificates(dir.path());
            let flag = match options.tls {
                Security::StartTls => "--starttls",
                _ => "--smtps",
            };
            let cert = dir.path().join("server.pem");
            let key = dir.path().join("server.key");
            command.arg(flag).arg(cert).arg(key);
        }
        if let Some((user, password)) = options.auth {
            command.arg("--auth").arg(format!("{user}:{password}"));
        }
        if let Some(timeout) = options.idle_timeout {
            command
                .arg("--idle-timeout")
                .arg(timeout.as_secs_f64().to_string());
        }
        let (child, port) = spawn(command, dir.path());
        Some(SmtpServer {
            child,
            port,
            tls: options.tls,
            dir,
        })
    }

    /// The URL an email sender reaches this server at.
    pub fn url(&self) -> String {
        match self.tls {
            Security::Plain => format!("smtp://127.0.0.1:{}", self.port),
            Security::StartTls => format!("smtp://127.0.0.1:{}?tls=starttls", self.port),
            Security::Implicit => format!("smtps://127.0.0.1:{}", self.port),
        }
    }

    /// The test CA that signed the server's certificate (for TLS servers).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The messages accepted so far, in order.
    pub fn received(&self) -> Vec<Received> {
        let spool = self.dir.path().join("spool");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&spool)
            .expect("the spool")
            .map(|entry| entry.expect("a spool entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names.iter().map(|path| read_received(path)).collect()
    }

    /// The connections that have ended so far, in the order they ended.
    pub fn closed(&self) -> Vec<Closed> {
        let log = self.dir.path().join(CLOSED_LOG);
        let text = match std::fs::read_to_string(&log) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(error) => panic!("reading {}: {error}", log.display()),
        };
        // A line being written has no newline yet; it is read next time.
        let complete = text.rsplit_once('\n').map_or("", |(lines, _)| lines);
        complete.lines().map(parse_closed).collect()
    }
}

fn parse_closed(line: &str) -> Closed {
    let value: Value = serde_json::from_str(line).expect("a closed.jsonl line");
    Closed {
        peer_port: value["peer_port"].as_u64().expect("a port"),
        quit: value["quit"].as_bool().expect("a flag"),
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection that ended, as the server saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed {
    /// The client's port, as in [`Received::meta`]'s `peer_port`.
    pub peer_port: u64,
    /// Whether the client said QUIT before the connection ended.
    pub quit: bool,
}

impl Received {
    /// The value of header `name` as a mail client shows it (decoded, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let headers = self.meta["message"]["headers"].as_array()?;
        headers
            .iter()
            .find(|pair| {
                pair[0]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .and_then(|pair| pair[1].as_str())
            .map(ToString::to_string)
    }

    pub fn text(&self) -> String {
        self.part("text")
    }

    pub fn html(&self) -> String {
        self.part("html")
    }

    fn part(&self, which: &str) -> String {
        let part = self.meta["message"][which].as_str();
        let part = part.unwrap_or_else(|| panic!("no {which} part in {}", self.raw));
        // Lines end in CRLF on the wire; the tests compare them as Rust writes them.
        part.replace("\r\n", "\n")
    }
}

fn read_received(meta: &Path) -> Received {
    let text = std::fs::read_to_string(meta).expect("the message's JSON");
    let raw = std::fs::read_to_string(meta.with_extension("eml")).expect("the message");
    Received {
        meta: serde_json::from_str(&text).expect("JSON"),
        raw,
    }
}

/// Starts the server and waits for the port it prints.
fn spawn(mut command: Command, dir: &Path) -> (Child, u16) {
    let log = dir.join("server.log");
    let stderr = std::fs::File::create(&log).expect("the server's log");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the SMTP server starts");
    let stdout = child.stdout.take().expect("its stdout");
    let mut line = String::new();
    // The script prints its port once it listens, or exits, which ends the read.
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server's first line");
    let port = line
        .strip_prefix("PORT ")
        .and_then(|p| p.trim().parse().ok());
    match port {
        Some(port) => (child, port),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("the SMTP server did not start (it printed {line:?}):\n{log}");
        }
    }
}

/// A CA and a server certificate it signed for 127.0.0.1, as rustls checks them: the
/// CA marked as one (`req -x509` does that), the server's name in subjectAltName.
fn make_certificates(dir: &Path) {
    let path = |name: &str| dir.join(name).display().to_string();
    let (ca_key, ca, key, csr) = (
        path("ca.key"),
        path("ca.pem"),
        path("server.key"),
        path("server.csr"),
    );
    let (extensions, cert) = (path("server.ext"), path("server.pem"));
    let curve = "ec_paramgen_curve:P-256";
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        curve,
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Tidings test CA",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        curve,
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &key,
        "-out",
        &csr,
    ]);
    let lines = "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
                 basicConstraints=CA:FALSE\n\
                 extendedKeyUsage=serverAuth\n";
    std::fs::write(&extensions, lines).expect("the extensions file");
    openssl(&[
        "x509",
        "-req",
        "-days",
        "2",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-extfile",
        &extensions,
        "-out",
        &cert,
    ]);
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A Python that can import aiosmtpd, when openssl is there too; looked up once.
fn python_with_aiosmtpd() -> Option<&'static str> {
    static FOUND: OnceLock<Option<&'static str>> = OnceLock::new();
    let found = *FOUND.get_or_init(|| {
        // Debian's package installs for the system Python, which a pyenv or venv
        // `python3` earlier on the PATH does not see.
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|python| runs(python, &["-c", "import aiosmtpd"]));
        python.filter(|_| runs("openssl", &["version"]))
    });
    if found.is_none() {
        assert!(
            std::env::var("TIDINGS_REQUIRE_SMTP").is_err(),
            "TIDINGS_REQUIRE_SMTP is set but aiosmtpd or openssl is missing; install the \
             Debian packages python3-aiosmtpd and openssl"
        );
        eprintln!("aiosmtpd (python3-aiosmtpd) or openssl is not installed: SMTP test skipped");
    }
    found
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A port on 127.0.0.1 where nothing listens: bound, then released.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
