//! Scenario g: idle MQTT connections. Resident memory per connected, idle device: the broker's
//! RSS once all devices are connected and it has settled, minus its RSS before they connected,
//! divided by their number. Kaiwu (authenticated devices of the device API) and Mosquitto.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::brokers::{KaiwuNode, Mosquitto, device_token};
use crate::mqtt_ingest::fit_to_fd_limit;
use crate::mqtt_load::{self, Client, KEEP_ALIVE_SECS};
use crate::progress::say;
use crate::report;
use crate::sys;

/// Pause before each RSS reading, so allocations of the previous phase have settled.
const SETTLE: Duration = Duration::from_secs(3);
/// The goal, bytes per connection.
const GOAL_BYTES: f64 = 10.0 * 1024.0;

/// Options of `idle-mqtt`.
#[derive(Debug, Args, Default)]
pub(crate) struct Opts {
    /// Small sizes (1000 connections).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Idle connections (default 10000; quick 1000).
    #[arg(long)]
    pub(crate) connections: Option<usize>,
    /// Write the results to docs/benchmarks.md (this scenario's section).
    #[arg(long)]
    pub(crate) write_docs: bool,
}

/// What one broker measured.
#[derive(Debug, Clone, Copy, Default)]
struct Idle {
    connected: usize,
    connect_seconds: f64,
    rss_before_kib: u64,
    rss_after_kib: u64,
}

impl Idle {
    /// Bytes of resident memory per connection.
    fn per_connection(&self) -> Option<f64> {
        (self.connected > 0).then(|| {
            (self.rss_after_kib as f64 - self.rss_before_kib as f64) * 1024.0
                / self.connected as f64
        })
    }
}

/// Run the scenario, print the table, optionally write the docs.
pub(crate) fn run(o: &Opts) -> anyhow::Result<()> {
    let want = o.connections.unwrap_or(if o.quick { 1000 } else { 10_000 });
    let (n, fd_note) = fit_to_fd_limit(want.max(1), "idle-mqtt");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let kaiwu = measure_kaiwu(&rt, n)?;
    let peer = measure_mosquitto(&rt, n);
    if let Err(e) = &peer {
        say!("[idle-mqtt] mosquitto failed: {e:#}");
    }
    let table = table(&kaiwu, peer.as_ref().map_err(|e| format!("{e:#}")));
    let goal = goal(&kaiwu);
    println!("\n{table}\n{goal}{fd_note}");
    if o.write_docs {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut d = String::from("## Idle MQTT connections (scenario g)\n\n");
        let _ = writeln!(d, "- Date: {}", report::date_utc());
        let _ = writeln!(d, "- Machine: {}", sys::machine());
        let _ = writeln!(
            d,
            "- Command: `cargo build --release -p kaiwu -p kaiwu-bench && target/release/kaiwu-bench {}`\n",
            args.join(" ")
        );
        d.push_str(&table);
        d.push_str("\nGoal:\n\n");
        d.push_str(&goal);
        d.push_str(&fd_note);
        d.push_str(&notes());
        let path = report::write_section("idle-mqtt", &d)?;
        say!("[idle-mqtt] wrote {}", path.display());
    }
    Ok(())
}

fn clients(n: usize) -> Vec<Client> {
    (0..n)
        .map(|i| Client {
            client_id: format!("m{i}"),
            username: device_token(i),
            topic: String::new(),
        })
        .collect()
}

/// Connect `n` idle clients to `addr` and read `pid`'s RSS before and after.
fn hold(
    rt: &tokio::runtime::Runtime,
    label: &str,
    addr: std::net::SocketAddr,
    pid: u32,
    n: usize,
) -> anyhow::Result<Idle> {
    std::thread::sleep(SETTLE);
    let before = sys::pid_rss_kib(pid).context("reading the broker's RSS")?;
    say!("[idle-mqtt] {label}: RSS {before} KiB; connecting {n} idle devices");
    let held = rt.block_on(mqtt_load::hold_idle(addr, &clients(n)));
    std::thread::sleep(SETTLE);
    let after = sys::pid_rss_kib(pid).context("reading the broker's RSS")?;
    let m = Idle {
        connected: held.connected,
        connect_seconds: held.connect_seconds,
        rss_before_kib: before,
        rss_after_kib: after,
    };
    say!(
        "[idle-mqtt] {label}: {} connected in {:.1} s ({} failed); RSS {after} KiB; {} bytes per connection",
        m.connected,
        m.connect_seconds,
        held.errors.len(),
        m.per_connection()
            .map_or("n/a".to_owned(), |b| format!("{b:.0}"))
    );
    if let Some(e) = held.errors.first() {
        say!("[idle-mqtt]   first error: {e}");
    }
    let errors = rt.block_on(held.close());
    if let Some(e) = errors.first() {
        say!(
            "[idle-mqtt]   {} connections ended early, first: {e}",
            errors.len()
        );
    }
    Ok(m)
}

fn measure_kaiwu(rt: &tokio::runtime::Runtime, n: usize) -> anyhow::Result<Idle> {
    let node = KaiwuNode::start()?;
    say!("[idle-mqtt] kaiwu: creating {n} devices over HTTP (setup)");
    node.create_meters(n)?;
    hold(rt, "kaiwu", node.mqtt, node.pid(), n)
}

fn measure_mosquitto(rt: &tokio::runtime::Runtime, n: usize) -> anyhow::Result<(Idle, String)> {
    let m = Mosquitto::start()?;
    let idle = hold(rt, "mosquitto", m.addr, m.pid(), n)?;
    Ok((idle, m.version.clone()))
}

fn row(t: &mut String, name: &str, m: &Idle) {
    let _ = writeln!(
        t,
        "| {name} | {} | {:.1} | {:.1} MiB | {:.1} MiB | {} |",
        m.connected,
        m.connect_seconds,
        m.rss_before_kib as f64 / 1024.0,
        m.rss_after_kib as f64 / 1024.0,
        m.per_connection()
            .map_or("n/a".to_owned(), |b| format!("{:.2} KiB", b / 1024.0)),
    );
}

fn table(kaiwu: &Idle, peer: Result<&(Idle, String), String>) -> String {
    let mut t = String::from(
        "| system | idle connections | connect s | RSS before | RSS after | RSS per connection |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    row(&mut t, "Kaiwu (device API, token login)", kaiwu);
    match peer {
        Ok((m, v)) => row(&mut t, &format!("Mosquitto {v} (anonymous)"), m),
        Err(e) => {
            let _ = writeln!(t, "| Mosquitto | unavailable: {e} | | | | |");
        }
    }
    t
}

fn goal(kaiwu: &Idle) -> String {
    match kaiwu.per_connection() {
        Some(b) => format!(
            "- <= 10 KiB resident memory per idle connection: reached {:.2} KiB ({})\n",
            b / 1024.0,
            if b <= GOAL_BYTES { "met" } else { "NOT met" }
        ),
        None => "- <= 10 KiB per idle connection: no connection succeeded, not measured\n".into(),
    }
}

fn notes() -> String {
    format!(
        "\nHow it is measured:\n\n\
- Kaiwu: the real release binary (`kaiwu serve`, found as in scenario a) in a fresh temp data dir; one device per connection, created over the HTTP API first (setup). Each client logs in with its device's access token (MQTT 3.1.1, clean session, keep-alive {KEEP_ALIVE_SECS} s so no pings are needed) and then sends nothing.\n\
- Mosquitto: our own process on a free loopback port (as in scenario a), anonymous clients with the same client ids, no subscriptions.\n\
- RSS is `VmRSS` from `/proc/<pid>/status`, read {} s after the device setup (before) and {} s after the last CONNACK (after); per connection = (after - before) / connections. It is resident memory as the kernel counts it, so allocator caching and page granularity show up in it; socket buffers live in the kernel and do not.\n\
- The benchmark raises its RLIMIT_NOFILE to the hard limit with `prlimit`; both brokers inherit it. If the limit is below connections + 200, the number of connections is reduced and a note above says so.\n",
        SETTLE.as_secs(),
        SETTLE.as_secs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_connection_and_goal() {
        let m = Idle {
            connected: 1000,
            connect_seconds: 1.0,
            rss_before_kib: 10_000,
            rss_after_kib: 15_000,
        };
        assert_eq!(m.per_connection(), Some(5120.0));
        assert!(goal(&m).contains("reached 5.00 KiB (met)"));
        let t = table(&m, Err("not installed".into()));
        assert!(t.contains("| 5.00 KiB |") && t.contains("unavailable: not installed"));
        assert_eq!(Idle::default().per_connection(), None);
    }
}
