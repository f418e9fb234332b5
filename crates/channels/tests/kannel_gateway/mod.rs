//! A real Kannel on 127.0.0.1: bearerbox, smsbox, and kannel-extras' `fakesmsc` as the
//! SMSC, each a child process that is killed when the [`Kannel`] is dropped.
//!
//! Where the binaries are missing, [`Kannel::start`] prints a notice and the test
//! returns early. CI installs `kannel kannel-extras` and sets `TIDINGS_REQUIRE_KANNEL`,
//! so there a missing binary fails the test instead.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The `sendsms-user` the test configuration has.
pub const USERNAME: &str = "tidings";
pub const PASSWORD: &str = "sendsms-test-password";

/// How long any one wait may take.
const WAIT: Duration = Duration::from_secs(5);

/// A running Kannel: its sendsms URL, and what fakesmsc received.
pub struct Kannel {
    /// smsbox's sendsms listener, such as `http://127.0.0.1:40123`.
    pub sendsms_url: String,
    /// fakesmsc's input, where each line is a text a phone sends, and how many it sent;
    /// only when started with [`Kannel::start_with_inbound`].
    phones: Option<Mutex<(ChildStdin, usize)>>,
    /// Killed in order when dropped: the SMSC and smsbox before bearerbox. Held for
    /// that alone.
    _processes: Vec<Process>,
    /// The configuration and the logs; removed after the processes are gone.
    dir: TempDir,
}

/// A child process, killed and reaped on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Binaries {
    bearerbox: PathBuf,
    smsbox: PathBuf,
    fakesmsc: PathBuf,
}

/// The loopback ports the configuration uses.
struct Ports {
    admin: u16,
    smsbox: u16,
    sendsms: u16,
    fakesmsc: u16,
}

impl Kannel {
    /// Starts bearerbox, fakesmsc and smsbox, and waits until smsbox takes requests; or
    /// returns `None` (after a notice) where Kannel is not installed and
    /// `TIDINGS_REQUIRE_KANNEL` is not set.
    pub fn start() -> Option<Kannel> {
        Kannel::start_with(None)
    }

    /// Starts Kannel as [`Kannel::start`] does, with an `sms-service` that passes every
    /// text phones send to `get_url` (Kannel's escape codes in it are filled in), and a
    /// fakesmsc that takes such texts from [`Kannel::send_from_phone`].
    #[allow(dead_code)] // The channels crate's tests send only.
    pub fn start_with_inbound(get_url: &str) -> Option<Kannel> {
        Kannel::start_with(Some(get_url))
    }

    fn start_with(get_url: Option<&str>) -> Option<Kannel> {
        let binaries = binaries()?;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports = Ports {
            admin: free_port(),
            smsbox: free_port(),
            sendsms: free_port(),
            fakesmsc: free_port(),
        };
        let conf = dir.path().join("kannel.conf");
        std::fs::write(&conf, config(&ports, get_url)).expect("kannel.conf written");

        // Each process is wrapped at once, so a failed wait below still kills it.
        let log = |name: &str| log_file(dir.path(), name);
        let bearerbox = spawn(&binaries.bearerbox, &conf, log("bearerbox"));
        wait_for_port(ports.admin, "bearerbox's admin port", dir.path());
        let interactive = get_url.is_some();
        let (fakesmsc, phones) =
            connect_fakesmsc(&binaries.fakesmsc, &ports, dir.path(), interactive);
        let smsbox = spawn(&binaries.smsbox, &conf, log("smsbox"));
        // Dropped in this order: the SMSC and smsbox before bearerbox.
        let processes = vec![fakesmsc, smsbox, bearerbox];
        let kannel = Kannel {
            sendsms_url: format!("http://127.0.0.1:{}", ports.sendsms),
            phones: phones.map(|input| Mutex::new((input, 0))),
            _processes: processes,
            dir,
        };
        wait_for_port(ports.sendsms, "smsbox's sendsms port", kannel.dir.path());
        Some(kannel)
    }

    /// Waits until fakesmsc logs a received message containing `needle`, and returns
    /// that line.
    ///
    /// # Panics
    /// When no such line comes within a few seconds; the message includes Kannel's logs.
    pub fn wait_for_message(&self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let log = self.log("fakesmsc");
            let found = log
                .lines()
                .find(|line| line.contains("Got message") && line.contains(needle));
            if let Some(line) = found {
                return line.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "fakesmsc received no message with {needle:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Makes the fake SMSC deliver `text` from phone `from` to number `to`, as an MO
    /// message, to bearerbox and on to the `sms-service`.
    ///
    /// # Panics
    /// When Kannel was not started with [`Kannel::start_with_inbound`].
    #[allow(dead_code)] // The channels crate's tests send only.
    pub fn send_from_phone(&self, from: &str, to: &str, text: &str) {
        let phones = self
            .phones
            .as_ref()
            .expect("started with start_with_inbound");
        let mut phones = phones.lock().expect("fakesmsc's input");
        let (input, sent) = &mut *phones;
        // fakesmsc reads `from to type text`, one message a line; a second line in the
        // same read is lost, so each waits until the one before has gone out.
        writeln!(input, "{from} {to} text {text}").expect("fakesmsc takes the text");
        input.flush().expect("fakesmsc takes the text");
        *sent += 1;
        let done = format!("sent message {sent}");
        let deadline = Instant::now() + WAIT;
        while !self.log("fakesmsc").contains(&done) {
            assert!(
                Instant::now() < deadline,
                "fakesmsc did not send {text:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every process's log, for a failure message.
    pub fn logs(&self) -> String {
        ["bearerbox", "smsbox", "fakesmsc"]
            .map(|name| format!("--- {name}\n{}", self.log(name)))
            .join("\n")
    }

    fn log(&self, name: &str) -> String {
        let path = self.dir.path().join(format!("{name}.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

/// Starts fakesmsc and waits until bearerbox reports its SMSC online. fakesmsc gives up
/// at once when nobody listens yet, so it is started again until it connects.
/// `interactive`: it reads texts to send from its input, which is returned.
fn connect_fakesmsc(
    program: &Path,
    ports: &Ports,
    dir: &Path,
    interactive: bool,
) -> (Process, Option<ChildStdin>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = log_file(dir, "fakesmsc");
        let mut command = Command::new(program);
        command.args(["-H", "127.0.0.1", "-r", &ports.fakesmsc.to_string()]);
        if interactive {
            command.stdin(Stdio::piped());
        } else {
            // It sends nothing (`-m 0`) and logs every message it gets.
            command
                .args(["-i", "1", "-m", "0", "0 0 text unused"])
                .stdin(Stdio::null());
        }
        let mut child = command
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("fakesmsc started");
        let input = child.stdin.take();
        let mut fakesmsc = Process(child);
        while Instant::now() < deadline {
            if smsc_status(ports.admin).contains("(online") {
                return (fakesmsc, input);
            }
            if matches!(fakesmsc.0.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            Instant::now() < deadline,
            "bearerbox's fake SMSC did not come online within {WAIT:?}\n{}",
            smsc_status(ports.admin)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// bearerbox's `status.txt` from its admin port, or an empty string.
fn smsc_status(admin_port: u16) -> String {
    let address = SocketAddr::from(([127, 0, 0, 1], admin_port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = "GET /status.txt?password=admin-test-password HTTP/1.0\r\n\r\n";
    let mut answer = String::new();
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_string(&mut answer);
    }
    answer
}

/// bearerbox with a fake SMSC, smsbox with one `sendsms-user`, everything on loopback
/// and in-memory (`dlr-storage = internal`, no message store). Texts from phones go to
/// `get_url`, without an answer (`max-messages = 0`); or, without one, nowhere.
fn config(ports: &Ports, get_url: Option<&str>) -> String {
    let service = match get_url {
        Some(url) => format!("get-url = \"{url}\"\nmax-messages = 0"),
        None => "text = \"No service\"".to_string(),
    };
    format!(
        r#"group = core
admin-port = {admin}
admin-password = admin-test-password
admin-allow-ip = "127.0.0.1"
smsbox-port = {smsbox}
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-level = 0

group = smsc
smsc = fake
smsc-id = fake
port = {fakesmsc}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {sendsms}
log-level = 0

group = sendsms-user
username = {USERNAME}
password = {PASSWORD}
max-messages = 3
concatenation = true

group = sms-service
keyword = default
{service}
"#,
        admin = ports.admin,
        smsbox = ports.smsbox,
        fakesmsc = ports.fakesmsc,
        sendsms = ports.sendsms,
    )
}

/// A Kannel box reading `conf`, logging everything (`-v 0`) to `log`.
fn spawn(program: &Path, conf: &Path, log: File) -> Process {
    let stderr = log.try_clone().expect("the log file");
    let child = Command::new(program)
        .arg("-v")
        .arg("0")
        .arg(conf)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("{} did not start: {e}", program.display()));
    Process(child)
}

/// An append-mode log, so that two handles of one process do not overwrite each other.
fn log_file(dir: &Path, name: &str) -> File {
    File::options()
        .create(true)
        .append(true)
        .open(dir.join(format!("{name}.log")))
        .expect("a log file")
}

/// A port nothing listens on now, and never handed out before in this process. Tests
/// run side by side: the system may give the port one test just released to the next
/// test that asks, and two Kannels on one port cross their messages. Another process
/// could still take it before Kannel binds it; on a test machine that is rare enough.
fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().expect("its address").port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

fn wait_for_port(port: u16, what: &str, dir: &Path) {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        if Instant::now() >= deadline {
            let logs = ["bearerbox", "smsbox"]
                .map(|name| {
                    let log = std::fs::read_to_string(dir.join(format!("{name}.log")));
                    format!("--- {name}\n{}", log.unwrap_or_default())
                })
                .join("\n");
            panic!("{what} ({port}) did not open within {WAIT:?}\n{logs}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kannel's binaries where Debian's `kannel` and `kannel-extras` put them, or `None`
/// after a notice.
fn binaries() -> Option<Binaries> {
    let find = |name: &str, dirs: &[&str]| {
        dirs.iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|path| path.is_file())
    };
    let sbin = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];
    let found = (|| {
        Some(Binaries {
            bearerbox: find("bearerbox", &sbin)?,
            smsbox: find("smsbox", &sbin)?,
            fakesmsc: find("fakesmsc", &["/usr/lib/kannel/test", "/usr/local/bin"])?,
        })
    })();
    if found.is_none() {
        assert!(
            std::env::var_os("TIDINGS_REQUIRE_KANNEL").is_none(),
            "TIDINGS_REQUIRE_KANNEL is set but Kannel is missing; install the Debian \
             packages kannel and kannel-extras"
        );
        eprintln!("Kannel (kannel, kannel-extras) is not installed: Kannel test skipped");
    }
    found
}
