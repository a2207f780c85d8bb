//! Harness: runs the real `kaiwu` binary (always on port 0, each test with its own data dir),
//! reads its ready line and stops it with SIGTERM; re-exports the HTTP side from `api.rs`, so
//! tests import everything from here.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub(crate) use crate::api::{
    Api, Counts, ROUTES, Resp, cnc_type, counts, create_tenant, create_user, ids, login,
    matches_template, password_of,
};

/// The bootstrap admin's password (`KAIWU_ADMIN_PASSWORD`).
pub(crate) const ADMIN_PASSWORD: &str = "e2e-admin-password";

/// Bound on anything we wait for; only there to fail instead of hanging, never to pace a test.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A `kaiwu` command with a clean `KAIWU_*` environment: the developer's own settings must not
/// leak into a test (env_clear would also drop PATH and friends).
pub(crate) fn kaiwu() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kaiwu"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KAIWU_") {
            c.env_remove(k);
        }
    }
    c.env("KAIWU_ADMIN_PASSWORD", ADMIN_PASSWORD);
    c
}

/// `kaiwu serve` on `dir`, on free ports of the IPv6 loopback.
pub(crate) fn serve_cmd(dir: &Path) -> Command {
    let mut c = kaiwu();
    c.arg("serve").arg("--data-dir").arg(dir);
    c.args(["--http", "[::1]:0", "--mqtt", "[::1]:0"]);
    c
}

/// How a started process ended up.
pub(crate) enum Launched {
    /// It printed its ready line.
    Ready(Node),
    /// It exited first.
    Exited(Finished),
}

/// A process that ran to completion.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Reads a pipe to the end on a thread so the child never blocks on a full pipe.
fn collect(mut r: impl Read + Send + 'static) -> Collected {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let h = std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (buf, h)
}

fn text(b: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&b.lock().unwrap()).into_owned()
}

/// Wait for exit, polling with a bound (std has no wait with a timeout).
fn wait_bounded(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Start `cmd` and wait for either its ready line or its exit.
pub(crate) fn launch(mut cmd: Command) -> Launched {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kaiwu");
    let (stderr, stderr_thread) = collect(child.stderr.take().unwrap());
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            // Keep draining after the receiver is gone so the node never blocks on stdout.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.starts_with("kaiwu ready ") => {
                return Launched::Ready(Node::new(child, line, seen, (stderr, stderr_thread)));
            }
            Ok(line) => seen.push(line),
            Err(RecvTimeoutError::Disconnected) => {
                let status = wait_bounded(&mut child, "kaiwu");
                stderr_thread.join().unwrap();
                return Launched::Exited(Finished {
                    status,
                    stdout: seen.join("\n"),
                    stderr: text(&stderr),
                });
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "no ready line within {PATIENCE:?}; stdout: {seen:?}; stderr:\n{}",
                    text(&stderr)
                );
            }
        }
    }
}

/// Run `cmd` to completion with `stdin` as its input.
pub(crate) fn run(mut cmd: Command, stdin: &str) -> Finished {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kaiwu");
    let (out, out_t) = collect(child.stdout.take().unwrap());
    let (err, err_t) = collect(child.stderr.take().unwrap());
    let mut input = child.stdin.take().unwrap();
    // The command may exit without reading; a broken pipe is then no error of ours.
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let status = wait_bounded(&mut child, "kaiwu");
    out_t.join().unwrap();
    err_t.join().unwrap();
    Finished {
        status,
        stdout: text(&out),
        stderr: text(&err),
    }
}

/// Start a node that must fail to start, and return how it failed.
pub(crate) fn expect_start_failure(cmd: Command) -> Finished {
    match launch(cmd) {
        Launched::Exited(f) => {
            assert!(
                !f.status.success(),
                "kaiwu exited 0 although it should refuse: {f:?}"
            );
            f
        }
        Launched::Ready(n) => panic!("node started although it should refuse: {}", n.ready_line),
    }
}

/// The one error line of a failed command; panics unless there is exactly one.
pub(crate) fn one_error_line(f: &Finished) -> String {
    assert!(
        !f.stderr.contains("panicked"),
        "kaiwu panicked:\n{}",
        f.stderr
    );
    let errors: Vec<&str> = f
        .stderr
        .lines()
        .filter(|l| l.starts_with("kaiwu: error:"))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error line on stderr, got:\n{}",
        f.stderr
    );
    errors[0].to_owned()
}

/// A running node.
pub(crate) struct Node {
    child: Option<Child>,
    /// The ready line as printed.
    pub(crate) ready_line: String,
    /// Stdout lines before the ready line (first-start notices).
    pub(crate) before_ready: Vec<String>,
    /// Bound HTTP address, e.g. `[::1]:41259`.
    pub(crate) http: String,
    /// Bound MQTT address.
    pub(crate) mqtt: String,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

/// A pipe being collected, and the thread collecting it.
type Collected = (Arc<Mutex<Vec<u8>>>, JoinHandle<()>);

impl Node {
    fn new(child: Child, ready_line: String, before_ready: Vec<String>, stderr: Collected) -> Self {
        let field = |key: &str| {
            ready_line
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("ready line `{ready_line}` has no {key}"))
                .to_owned()
        };
        let (http, mqtt) = (field("http="), field("mqtt="));
        Node {
            child: Some(child),
            ready_line,
            before_ready,
            http,
            mqtt,
            stderr: stderr.0,
            stderr_thread: Some(stderr.1),
        }
    }

    /// Start `kaiwu serve` on `dir`; panics if it does not get ready.
    pub(crate) fn start(dir: &Path) -> Node {
        Self::start_cmd(serve_cmd(dir))
    }

    /// Start `kaiwu serve` on `dir` with extra environment variables.
    pub(crate) fn start_env(dir: &Path, env: &[(&str, &str)]) -> Node {
        let mut c = serve_cmd(dir);
        c.envs(env.iter().copied());
        Self::start_cmd(c)
    }

    /// Start a prepared command; panics if it does not get ready.
    pub(crate) fn start_cmd(cmd: Command) -> Node {
        match launch(cmd) {
            Launched::Ready(n) => n,
            Launched::Exited(f) => {
                panic!("kaiwu did not start: {}\nstderr:\n{}", f.status, f.stderr)
            }
        }
    }

    /// Base URL of the HTTP listener.
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// SIGTERM, then wait; asserts a clean exit (status 0).
    pub(crate) fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success(), "kill -TERM {pid} failed");
        let status = wait_bounded(&mut child, "kaiwu after SIGTERM");
        // The pipe ends with the process, so this yields everything it logged.
        if let Some(t) = self.stderr_thread.take() {
            t.join().unwrap();
        }
        assert!(
            status.success(),
            "kaiwu did not exit cleanly after SIGTERM: {status}\nstderr:\n{}",
            text(&self.stderr)
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // A failed test must not leave a node running.
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A fresh temporary directory for one test's data.
pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The data dir inside a test's temporary directory.
pub(crate) fn data_dir(tmp: &tempfile::TempDir) -> PathBuf {
    tmp.path().join("data")
}

/// Wall-clock epoch ms, to compare with stored timestamps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A third-party peer run from a Python script of this suite: ready once it prints `ready`;
/// every JSON line it prints after that is collected in `lines`.
pub(crate) struct ScriptPeer {
    child: Child,
    pub(crate) lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl ScriptPeer {
    /// Run `tests/e2e/<script>` with `args` under the suite's Python.
    pub(crate) fn start(script: &str, args: &[&std::ffi::OsStr]) -> ScriptPeer {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e")
            .join(script);
        let mut child = Command::new(crate::mqtt::python())
            .arg(&path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let out = BufReader::new(child.stdout.take().unwrap());
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { break };
                if line == "ready" {
                    let _ = tx.send(());
                } else if let Ok(v) = serde_json::from_str(&line) {
                    l.lock().unwrap().push(v);
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{script} did not start"));
        ScriptPeer { child, lines }
    }

    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ScriptPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
