//! The two brokers of the MQTT scenarios as child processes of the benchmark: the real release
//! `kaiwu` binary (`kaiwu serve` in a temp data dir) and our own Mosquitto (a private config on
//! a free loopback port; the machine's shared Mosquitto on 1883 is never touched). Each is
//! stopped (SIGTERM, then SIGKILL) when dropped.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::http::Http;
use crate::progress::say;

const ADMIN_PASSWORD: &str = "kaiwu-bench-admin-password";
const PATIENCE: Duration = Duration::from_secs(60);

/// A child process stopped on drop.
#[derive(Debug)]
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `kaiwu` release binary: next to this benchmark binary when that is a release build, else
/// `$CARGO_TARGET_DIR/release`, else the workspace's `target/release`; built with
/// `cargo build --release -p kaiwu` when none exists.
pub(crate) fn kaiwu_binary() -> anyhow::Result<PathBuf> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent().filter(|d| d.ends_with("release"))
    {
        candidates.push(dir.join("kaiwu"));
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(t).join("release/kaiwu"));
    }
    candidates.push(workspace.join("target/release/kaiwu"));
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    say!("[mqtt] no release kaiwu binary found; running `cargo build --release -p kaiwu`");
    let ok = Command::new("cargo")
        .args(["build", "--release", "-p", "kaiwu"])
        .current_dir(&workspace)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!("`cargo build --release -p kaiwu` failed");
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .context("the kaiwu binary is still missing after building it")
}

/// `kaiwu serve` on free loopback ports in a fresh data dir, logged in as the admin.
#[derive(Debug)]
pub(crate) struct KaiwuNode {
    proc: Proc,
    pub(crate) http: SocketAddr,
    pub(crate) mqtt: SocketAddr,
    pub(crate) token: String,
    _dir: tempfile::TempDir,
}

impl KaiwuNode {
    pub(crate) fn start() -> anyhow::Result<KaiwuNode> {
        let bin = kaiwu_binary()?;
        let dir = tempfile::tempdir().context("creating a temp dir for kaiwu")?;
        let log = std::fs::File::create(dir.path().join("kaiwu.log"))?;
        let mut cmd = Command::new(&bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("KAIWU_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--http", "127.0.0.1:0", "--mqtt", "127.0.0.1:0"])
            .env("KAIWU_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("KAIWU_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let out = child.stdout.take().context("kaiwu stdout")?;
        let proc = Proc { child };
        let line = ready_line(out).with_context(|| {
            let log = std::fs::read_to_string(dir.path().join("kaiwu.log")).unwrap_or_default();
            format!("kaiwu did not get ready; its log:\n{log}")
        })?;
        let (http, mqtt) =
            parse_ready(&line).with_context(|| format!("bad ready line {line:?}"))?;
        let (status, v) = Http::new(http).post(
            "/api/auth/login",
            &json!({"username": "admin", "password": ADMIN_PASSWORD}),
        )?;
        let token = v["token"]
            .as_str()
            .filter(|_| status == 200)
            .with_context(|| format!("login failed: {status} {v}"))?
            .to_owned();
        Ok(KaiwuNode {
            proc,
            http,
            mqtt,
            token,
            _dir: dir,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.proc.child.id()
    }

    /// An HTTP client with the admin's token.
    pub(crate) fn api(&self) -> Http {
        Http::with_token(self.http, &self.token)
    }

    /// Device type `meter` (float properties a, b, c) and devices `m0`.. `m<n-1>` with access
    /// tokens [`device_token`], created through the HTTP API by a few concurrent clients.
    pub(crate) fn create_meters(&self, n: usize) -> anyhow::Result<()> {
        let props: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|p| json!({"id": p, "type": "float"}))
            .collect();
        let (status, v) = self.api().post(
            "/api/device-types",
            &json!({"id": "meter", "properties": props}),
        )?;
        if status != 201 {
            bail!("creating device type meter: {status} {v}");
        }
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..SETUP_CLIENTS)
                .map(|w| {
                    scope.spawn(move || -> anyhow::Result<()> {
                        let mut api = self.api();
                        for i in (w..n).step_by(SETUP_CLIENTS) {
                            let body = json!({"id": format!("m{i}"), "type": "meter", "access_token": device_token(i)});
                            let (status, v) = api.post("/api/devices", &body)?;
                            if status != 201 {
                                bail!("creating device m{i}: {status} {v}");
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            workers.into_iter().try_for_each(|w| {
                w.join()
                    .map_err(|_| anyhow::anyhow!("setup thread panicked"))?
            })
        })
    }

    /// One row and column of an SQL answer as an integer.
    pub(crate) fn query_count(&self, sql: &str) -> anyhow::Result<u64> {
        let (status, v) = self.api().post("/api/query", &json!({ "sql": sql }))?;
        v["rows"][0][0]
            .as_u64()
            .filter(|_| status == 200)
            .with_context(|| format!("{sql}: {status} {v}"))
    }
}

/// Concurrent HTTP clients creating devices.
const SETUP_CLIENTS: usize = 8;

/// The access token (MQTT username) of device `m<i>`.
pub(crate) fn device_token(i: usize) -> String {
    format!("kaiwu-bench-token-{i:06}")
}

/// Wait for the `kaiwu ready ...` line; stdout keeps being drained afterwards.
fn ready_line(out: std::process::ChildStdout) -> anyhow::Result<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + PATIENCE;
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .context("no ready line")?;
        if line.starts_with("kaiwu ready ") {
            return Ok(line);
        }
    }
}

/// `(http, mqtt)` of `kaiwu ready http=<addr> mqtt=<addr> ...`.
fn parse_ready(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|a| a.parse().ok())
    };
    Some((field("http=")?, field("mqtt=")?))
}

/// The Mosquitto configuration of the peer: a plain relay on `port` of the IPv4 loopback.
pub(crate) fn mosquitto_conf(port: u16) -> String {
    format!(
        "# kaiwu-bench peer: a pure relay, nothing stored\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence false\n\
         max_connections -1\n\
         log_dest stderr\n\
         log_type error\n"
    )
}

/// Our own Mosquitto process.
#[derive(Debug)]
pub(crate) struct Mosquitto {
    proc: Proc,
    pub(crate) addr: SocketAddr,
    pub(crate) version: String,
    _dir: tempfile::TempDir,
}

fn mosquitto_bin() -> PathBuf {
    let sbin = Path::new("/usr/sbin/mosquitto");
    if sbin.is_file() {
        sbin.to_path_buf()
    } else {
        PathBuf::from("mosquitto")
    }
}

impl Mosquitto {
    pub(crate) fn start() -> anyhow::Result<Mosquitto> {
        let bin = mosquitto_bin();
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = tempfile::tempdir().context("creating a temp dir for mosquitto")?;
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, mosquitto_conf(port))?;
        let log = dir.path().join("mosquitto.log");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {} (Debian package mosquitto) failed",
                    bin.display()
                )
            })?;
        let mut proc = Proc { child };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            let exited = proc.child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("mosquitto did not start listening on {addr}: {text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Mosquitto {
            proc,
            addr,
            version: mosquitto_version(&bin),
            _dir: dir,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.proc.child.id()
    }
}

/// "2.0.11" from `mosquitto -h`'s first line, or "?".
fn mosquitto_version(bin: &Path) -> String {
    let out = Command::new(bin).arg("-h").output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    text.ok()
        .and_then(|t| {
            let first = t.lines().next()?.to_owned();
            first.split_whitespace().nth(2).map(str::to_owned)
        })
        .unwrap_or_else(|| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_conf_is_a_private_loopback_relay() {
        let c = mosquitto_conf(41234);
        assert!(c.contains("listener 41234 127.0.0.1\n"));
        assert!(c.contains("allow_anonymous true\n"));
        assert!(c.contains("persistence false\n"));
        assert!(!c.contains("1883"));
    }

    #[test]
    fn parses_the_ready_line() {
        let (h, m) = parse_ready("kaiwu ready http=127.0.0.1:8080 mqtt=[::1]:1883").unwrap();
        assert_eq!(h.port(), 8080);
        assert_eq!(m.to_string(), "[::1]:1883");
        assert!(parse_ready("kaiwu ready http=x").is_none());
    }
}
