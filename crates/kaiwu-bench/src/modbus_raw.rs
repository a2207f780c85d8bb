//! Part 1 of scenario d: raw Modbus read throughput. The simulator (`kaiwu_modbus::Server`) and
//! each client run as child processes of this binary, pinned to different cores with `taskset`
//! when there are two or more, so one client owns one core: our `kaiwu_modbus::Client` (hidden
//! subcommand `modbus-read`) and a C loop over Debian's libmodbus (`peers/libmodbus_read.c`,
//! compiled here with `cc`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use kaiwu_modbus::{Area, Bank, Client, Framing, Server};
use serde_json::json;

use crate::progress::say;
use crate::sys;

/// Registers per request: the protocol's maximum.
pub(crate) const BLOCK: u16 = 125;
const C_SOURCE: &str = include_str!("../peers/libmodbus_read.c");

/// Arguments of the hidden `modbus-server` subcommand.
#[derive(Debug, Args)]
pub(crate) struct ServerArgs {
    /// Units 1..=N, each with its own bank.
    #[arg(long, default_value_t = 1)]
    units: u8,
    /// Registers per area per unit.
    #[arg(long, default_value_t = 10_000)]
    registers: usize,
    /// Add 1 to every holding register each second, so polled values keep changing.
    #[arg(long)]
    churn: bool,
}

/// Arguments of the hidden `modbus-read` subcommand.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    #[arg(long)]
    addr: String,
    #[arg(long)]
    seconds: f64,
    /// Registers of unit 1 to walk through in blocks of 125.
    #[arg(long, default_value_t = 10_000)]
    registers: usize,
    /// Connections read concurrently, all on this one thread (one request outstanding each).
    #[arg(long, default_value_t = 1)]
    connections: usize,
}

/// A bank whose holding and input registers hold their own address (so reads are checkable).
pub(crate) fn filled_bank(size: usize) -> Bank {
    let mut b = Bank::new(size);
    for (i, r) in b.holding.iter_mut().enumerate() {
        *r = i as u16;
    }
    b.input.clone_from(&b.holding);
    b
}

/// `modbus-server`: serve until stdin closes (the parent went away or dropped us).
pub(crate) fn serve(a: &ServerArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let units: HashMap<u8, _> = (1..=a.units.max(1))
        .map(|u| (u, Arc::new(RwLock::new(filled_bank(a.registers)))))
        .collect();
    let banks: Vec<_> = units.values().cloned().collect();
    let addr = rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = l.local_addr()?;
        Server::spawn(l, Framing::Tcp, units);
        anyhow::Ok(addr)
    })?;
    if a.churn {
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                for b in &banks {
                    if let Ok(mut b) = b.write() {
                        b.holding.iter_mut().for_each(|r| *r = r.wrapping_add(1));
                    }
                }
            }
        });
    }
    println!("ready {addr}");
    std::io::stdout().flush()?;
    rt.block_on(async {
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().lines().count()).await;
    });
    Ok(())
}

/// `modbus-read`: read 125-register blocks for `seconds` over `connections` connections on
/// one thread; print a JSON result line.
pub(crate) fn read_loop(a: &ReadArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let blocks = (a.registers / usize::from(BLOCK)).max(1);
    let n = a.connections.max(1);
    let tck = sys::clk_tck();
    let v = rt.block_on(async {
        let go = Arc::new(tokio::sync::Barrier::new(n + 1));
        let end = Duration::from_secs_f64(a.seconds);
        let mut tasks = Vec::with_capacity(n);
        for k in 0..n {
            let (addr, go) = (a.addr.clone(), go.clone());
            tasks.push(tokio::spawn(async move {
                read_one(&addr, blocks, k * blocks / n, go, end).await
            }));
        }
        go.wait().await;
        let cpu0 = sys::self_cpu_seconds(tck);
        let t0 = Instant::now();
        let (mut requests, mut errors) = (0u64, 0u64);
        for t in tasks {
            let (r, e) = t.await??;
            requests += r;
            errors += e;
        }
        let seconds = t0.elapsed().as_secs_f64();
        let cpu = sys::self_cpu_seconds(tck) - cpu0;
        anyhow::Ok(json!({
            "requests": requests,
            "registers": (requests - errors) * u64::from(BLOCK),
            "seconds": seconds,
            "cpu": cpu,
            "errors": errors,
        }))
    })?;
    println!("{v}");
    Ok(())
}

/// One connection of `read_loop`: warm up, wait for the others, then read from block `first`
/// on until `end` has passed. Returns (requests, errors).
async fn read_one(
    addr: &str,
    blocks: usize,
    first: usize,
    go: Arc<tokio::sync::Barrier>,
    end: Duration,
) -> anyhow::Result<(u64, u64)> {
    let mut c = Client::connect(addr, Framing::Tcp, Duration::from_secs(1)).await?;
    let mut out = Vec::with_capacity(usize::from(BLOCK));
    let start = |i: usize| (((first + i) % blocks) * usize::from(BLOCK)) as u16;
    // Warm-up, untimed: first allocations, TCP slow start.
    for i in 0..200 {
        c.read_registers(1, Area::Holding, start(i), BLOCK, &mut out)
            .await?;
    }
    go.wait().await;
    let (mut requests, mut errors) = (0u64, 0u64);
    let t0 = Instant::now();
    let mut i = 0;
    while t0.elapsed() < end {
        // Look at the clock every 64 requests, as the C loop does.
        for _ in 0..64 {
            let r = c
                .read_registers(1, Area::Holding, start(i), BLOCK, &mut out)
                .await;
            if r.is_err() || out.first() != Some(&start(i)) {
                errors += 1;
            }
            requests += 1;
            i += 1;
        }
    }
    Ok((requests, errors))
}

/// `taskset -c <core> <program>` when `taskset` exists and there are at least two cores.
pub(crate) fn pinned(core: usize, program: &Path) -> (Command, bool) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let taskset = Path::new("/usr/bin/taskset");
    if cores >= 2 && taskset.is_file() {
        let mut c = Command::new(taskset);
        c.arg("-c").arg(core.to_string()).arg(program);
        (c, true)
    } else {
        (Command::new(program), false)
    }
}

/// The simulator in its own process; stops when dropped (its stdin closes, then a kill).
#[derive(Debug)]
pub(crate) struct SimProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    pub(crate) addr: SocketAddr,
    pub(crate) pinned: bool,
}

impl SimProcess {
    /// Units 1..=`units` of `registers` each; `churn`: values change every second.
    pub(crate) fn start(units: u8, registers: usize, churn: bool) -> anyhow::Result<SimProcess> {
        let exe = std::env::current_exe().context("finding this benchmark's binary")?;
        let (mut cmd, pinned) = pinned(1, &exe);
        cmd.args(["modbus-server", "--units", &units.to_string()])
            .args(["--registers", &registers.to_string()]);
        if churn {
            cmd.arg("--churn");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the modbus simulator process")?;
        let stdin = child.stdin.take();
        let out = child.stdout.take().context("simulator stdout")?;
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line)?;
        let addr = line
            .trim()
            .strip_prefix("ready ")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("the modbus simulator did not get ready: {line:?}"))?;
        Ok(SimProcess {
            child,
            stdin,
            addr,
            pinned,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
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

/// What one client run printed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ClientRun {
    pub(crate) requests: u64,
    pub(crate) registers: u64,
    pub(crate) seconds: f64,
    /// The client process's CPU seconds over the timed part.
    pub(crate) cpu: f64,
    pub(crate) errors: u64,
    /// The simulator's CPU seconds over the same run (setup included).
    pub(crate) server_cpu: Option<f64>,
}

impl ClientRun {
    pub(crate) fn registers_per_s(&self) -> f64 {
        self.registers as f64 / self.seconds
    }

    /// Client CPU seconds per million registers.
    pub(crate) fn cpu_per_m(&self) -> Option<f64> {
        (self.registers > 0).then(|| self.cpu / (self.registers as f64 / 1e6))
    }

    pub(crate) fn from_json(text: &str) -> anyhow::Result<ClientRun> {
        let v: serde_json::Value = serde_json::from_str(text.trim())
            .with_context(|| format!("bad client output {text:?}"))?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Ok(ClientRun {
            requests: n("requests"),
            registers: n("registers"),
            seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
            cpu: v["cpu"].as_f64().unwrap_or(f64::NAN),
            errors: n("errors"),
            server_cpu: None,
        })
    }
}

/// Run one client command to completion, reading the simulator's CPU around it.
pub(crate) fn run_client(mut cmd: Command, server_pid: u32) -> anyhow::Result<ClientRun> {
    let tck = sys::clk_tck();
    let s0 = sys::pid_cpu_seconds(server_pid, tck);
    let out = cmd.output().context("running a modbus client")?;
    let s1 = sys::pid_cpu_seconds(server_pid, tck);
    if !out.status.success() {
        bail!(
            "modbus client failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut r = ClientRun::from_json(&String::from_utf8_lossy(&out.stdout))?;
    r.server_cpu = s0.zip(s1).map(|(a, b)| b - a);
    Ok(r)
}

/// Our client, pinned to core 0, for `seconds` against `sim`.
pub(crate) fn kaiwu_client(
    sim: &SimProcess,
    seconds: f64,
    registers: usize,
    connections: usize,
) -> anyhow::Result<ClientRun> {
    let exe = std::env::current_exe().context("finding this benchmark's binary")?;
    let (mut cmd, _) = pinned(0, &exe);
    cmd.args(["modbus-read", "--addr", &sim.addr.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .args(["--registers", &registers.to_string()])
        .args(["--connections", &connections.to_string()]);
    run_client(cmd, sim.pid())
}

/// The compiled libmodbus peer and libmodbus's version.
#[derive(Debug)]
pub(crate) struct CPeer {
    pub(crate) bin: PathBuf,
    pub(crate) version: String,
    _dir: tempfile::TempDir,
}

impl CPeer {
    /// Compile the C loop, installing `libmodbus-dev` first if it is missing and we are root.
    pub(crate) fn build() -> anyhow::Result<CPeer> {
        let header = Path::new("/usr/include/modbus/modbus.h");
        if !header.is_file() {
            install_libmodbus()?;
        }
        let dir = tempfile::tempdir().context("creating a temp dir for the C peer")?;
        let src = dir.path().join("libmodbus_read.c");
        std::fs::write(&src, C_SOURCE).context("writing the C peer's source")?;
        let bin = dir.path().join("libmodbus_read");
        let out = Command::new("cc")
            .args(["-O2", "-I/usr/include/modbus", "-o"])
            .arg(&bin)
            .arg(&src)
            .arg("-lmodbus")
            .output()
            .context("running `cc` (Debian package gcc) for the libmodbus peer")?;
        if !out.status.success() {
            bail!(
                "compiling the libmodbus peer failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(CPeer {
            bin,
            version: libmodbus_version(),
            _dir: dir,
        })
    }

    /// The C loop pinned to core 0: tight (`period_ms` 0) or one poll of every register of
    /// units 1..=`units` per period.
    pub(crate) fn run(
        &self,
        sim: &SimProcess,
        seconds: f64,
        units: u8,
        registers: usize,
        period_ms: u64,
    ) -> anyhow::Result<ClientRun> {
        let (mut cmd, _) = pinned(0, &self.bin);
        cmd.arg(sim.addr.ip().to_string())
            .arg(sim.addr.port().to_string())
            .arg(seconds.to_string())
            .arg(units.to_string())
            .arg(registers.to_string())
            .arg(period_ms.to_string());
        run_client(cmd, sim.pid())
    }
}

fn install_libmodbus() -> anyhow::Result<()> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("Uid:"))?.to_owned();
            l.split_whitespace().nth(1).map(|u| u == "0")
        })
        .unwrap_or(false);
    if !root {
        bail!(
            "libmodbus-dev is not installed and this is not root, so the libmodbus peer is skipped (install it with `apt-get install -y libmodbus-dev`)"
        );
    }
    say!("[modbus-poll] installing libmodbus-dev with apt-get");
    let quiet = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !quiet(&["update", "-q"]) || !quiet(&["install", "-y", "-q", "libmodbus-dev"]) {
        bail!("`apt-get install -y libmodbus-dev` failed, so the libmodbus peer is skipped");
    }
    Ok(())
}

/// libmodbus's version from `pkg-config`, else dpkg, else "?".
fn libmodbus_version() -> String {
    let try_cmd = |c: &mut Command| {
        c.output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    try_cmd(Command::new("pkg-config").args(["--modversion", "libmodbus"]))
        .or_else(|| {
            try_cmd(Command::new("dpkg-query").args(["-W", "-f", "${Version}", "libmodbus-dev"]))
        })
        .unwrap_or_else(|| "?".to_owned())
}
