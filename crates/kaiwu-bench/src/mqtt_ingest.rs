//! Scenario a: MQTT ingest, ThingsBoard's performance "Scenario B" profile. Thousands of
//! devices, each its own MQTT connection, publish three-data-point JSON telemetry at QoS 1 to
//! Kaiwu (stored durably before PUBACK, then counted with SQL) and, in the same run, to
//! Mosquitto acting as a pure relay to one subscriber.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::brokers::{KaiwuNode, Mosquitto, device_token};
use crate::mqtt_load::{self, Client, LoadResult, WINDOW};
use crate::progress::say;
use crate::report::{self, median, si};
use crate::sys;

/// Data points per message.
const POINTS_PER_MSG: u64 = 3;

/// Options of `mqtt-ingest`.
#[derive(Debug, Args, Default)]
pub(crate) struct Opts {
    /// Small sizes (500 devices, 10 s): finishes in well under a minute.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Devices, one MQTT connection each (default 5000; quick 500).
    #[arg(long)]
    pub(crate) devices: Option<usize>,
    /// Seconds of publishing after all devices are connected (default 60; quick 10).
    #[arg(long)]
    pub(crate) seconds: Option<u64>,
    /// Repetitions per system, alternating; medians are reported (default 3; quick 1).
    #[arg(long)]
    pub(crate) reps: Option<usize>,
    /// Open-loop phase: offered data points/s (default: half of what Kaiwu acknowledged in
    /// the closed-loop phase of the same repetition; both brokers get the same rate).
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Seconds of the open-loop phase (default 20; quick 5; 0 skips it).
    #[arg(long)]
    pub(crate) paced_seconds: Option<u64>,
    /// Write the results to docs/benchmarks.md (this scenario's section).
    #[arg(long)]
    pub(crate) write_docs: bool,
}

/// One run of one broker.
#[derive(Debug)]
struct Run {
    load: LoadResult,
    /// The open-loop phase after it, on the same broker.
    paced: Option<LoadResult>,
    peak_rss_kib: Option<u64>,
    /// Rows counted with SQL afterwards (Kaiwu only).
    stored: Option<u64>,
}

impl Run {
    fn points_per_s(&self) -> f64 {
        (self.load.acked_in_window * POINTS_PER_MSG) as f64 / self.load.window_seconds
    }
}

/// Run the scenario, print the table, optionally write the docs.
pub(crate) fn run(o: &Opts) -> anyhow::Result<()> {
    let want = o.devices.unwrap_or(if o.quick { 500 } else { 5000 }).max(1);
    let secs = o.seconds.unwrap_or(if o.quick { 10 } else { 60 }).max(1);
    let reps = o.reps.unwrap_or(if o.quick { 1 } else { 3 }).max(1);
    let (n, fd_note) = fit_to_fd_limit(want, "mqtt-ingest");
    let duration = Duration::from_secs(secs);
    let paced_secs = o.paced_seconds.unwrap_or(if o.quick { 5 } else { 20 });
    let paced = Duration::from_secs(paced_secs);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let (mut kaiwu, mut peer) = (Vec::new(), Vec::new());
    let mut peer_err = None;
    let mut peer_version = String::from("?");
    for rep in 1..=reps {
        let (r, rate) = run_kaiwu(&rt, n, duration, paced, o.rate)?;
        progress(rep, reps, "kaiwu", &r);
        kaiwu.push(r);
        match run_mosquitto(&rt, n, duration, paced, rate) {
            Ok((r, v)) => {
                progress(rep, reps, "mosquitto", &r);
                peer.push(r);
                peer_version = v;
            }
            Err(e) => {
                say!("[mqtt-ingest] rep {rep}/{reps} mosquitto failed: {e:#}");
                peer_err.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    let peer_name = format!("Mosquitto {peer_version} (relay to 1 subscriber, no storage)");
    let mut table = table(&kaiwu, &peer, &peer_name, peer_err.as_deref(), n);
    table.push_str(&paced_table(&kaiwu, &peer, &peer_name));
    let goals = goals(&kaiwu);
    println!("\n{table}\n{goals}{fd_note}");
    if o.write_docs {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut d = String::from("## MQTT ingest (scenario a)\n\n");
        let _ = writeln!(d, "- Date: {}", report::date_utc());
        let _ = writeln!(d, "- Machine: {}", sys::machine());
        let _ = writeln!(
            d,
            "- Command: `cargo build --release -p kaiwu -p kaiwu-bench && target/release/kaiwu-bench {}`",
            args.join(" ")
        );
        let _ = writeln!(
            d,
            "- Load: {n} devices, one MQTT 3.1.1 connection each, {secs} s of QoS 1 publishes of 3 JSON data points, {WINDOW} in flight per connection (closed loop); then {paced_secs} s at a fixed offered rate (open loop); {reps} repetition(s).\n"
        );
        d.push_str(&table);
        d.push_str("\nGoals:\n\n");
        d.push_str(&goals);
        d.push_str(&fd_note);
        d.push_str(NOTES);
        let path = report::write_section("mqtt-ingest", &d)?;
        say!("[mqtt-ingest] wrote {}", path.display());
    }
    Ok(())
}

/// Raise the open-file limit and shrink `want` connections to what it allows (each connection
/// costs this process one descriptor; the broker has its own copy of the limit).
pub(crate) fn fit_to_fd_limit(want: usize, label: &str) -> (usize, String) {
    let limit = sys::raise_nofile().unwrap_or(1024);
    let room = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(200);
    if want <= room {
        return (want, String::new());
    }
    let note = format!(
        "- Reduced from {want} to {room} connections: RLIMIT_NOFILE allows {limit} open files (hard limit).\n"
    );
    say!("[{label}] {}", note.trim_start_matches("- ").trim_end());
    (room.max(1), note)
}

fn clients(n: usize, topic: impl Fn(usize) -> String) -> Vec<Client> {
    (0..n)
        .map(|i| Client {
            client_id: format!("m{i}"),
            username: device_token(i),
            topic: topic(i),
        })
        .collect()
}

/// The closed-loop phase, then the open-loop one at `rate` points/s (default: half the
/// closed loop's). Returns the run and the open loop's rate in msgs/s.
fn run_kaiwu(
    rt: &tokio::runtime::Runtime,
    n: usize,
    duration: Duration,
    paced: Duration,
    rate: Option<f64>,
) -> anyhow::Result<(Run, Option<f64>)> {
    let node = KaiwuNode::start()?;
    say!("[mqtt-ingest] kaiwu: creating {n} devices over HTTP (setup, not timed)");
    node.create_meters(n)?;
    let cl = clients(n, |_| "v1/devices/me/telemetry".to_owned());
    say!("[mqtt-ingest] kaiwu: connecting {n} devices, then {duration:?} of publishing");
    let load = rt.block_on(mqtt_load::publish_load(
        node.mqtt,
        &cl,
        duration,
        node.pid(),
        None,
        None,
    ))?;
    let msgs = rate.map_or(
        0.5 * load.acked_in_window as f64 / load.window_seconds,
        |r| r / POINTS_PER_MSG as f64,
    );
    let (paced_load, used) = if paced.is_zero() || msgs <= 0.0 {
        (None, None)
    } else {
        say!(
            "[mqtt-ingest] kaiwu: {paced:?} open loop at {} msgs/s",
            si(msgs)
        );
        let l = rt.block_on(mqtt_load::publish_load(
            node.mqtt,
            &cl,
            paced,
            node.pid(),
            None,
            Some(msgs),
        ))?;
        (Some(l), Some(msgs))
    };
    let peak_rss_kib = sys::pid_peak_rss_kib(node.pid());
    let stored = Some(node.query_count("SELECT count(*) FROM meter")?);
    let run = Run {
        load,
        paced: paced_load,
        peak_rss_kib,
        stored,
    };
    Ok((run, used))
}

fn run_mosquitto(
    rt: &tokio::runtime::Runtime,
    n: usize,
    duration: Duration,
    paced: Duration,
    rate: Option<f64>,
) -> anyhow::Result<(Run, String)> {
    let m = Mosquitto::start()?;
    let cl = clients(n, |i| format!("v1/devices/m{i}/telemetry"));
    say!("[mqtt-ingest] mosquitto: connecting {n} devices, then {duration:?} of publishing");
    let load = rt.block_on(mqtt_load::publish_load(
        m.addr,
        &cl,
        duration,
        m.pid(),
        Some("v1/devices/+/telemetry"),
        None,
    ))?;
    let paced = match rate {
        Some(msgs) if !paced.is_zero() => Some(rt.block_on(mqtt_load::publish_load(
            m.addr,
            &cl,
            paced,
            m.pid(),
            Some("v1/devices/+/telemetry"),
            Some(msgs),
        ))?),
        _ => None,
    };
    let peak_rss_kib = sys::pid_peak_rss_kib(m.pid());
    let run = Run {
        load,
        paced,
        peak_rss_kib,
        stored: None,
    };
    Ok((run, m.version.clone()))
}

fn progress(rep: usize, reps: usize, label: &str, r: &Run) {
    let l = &r.load;
    say!(
        "[mqtt-ingest] rep {rep}/{reps} {label:<9} {} connected in {:.1} s; {} msgs/s, {} points/s; p50 {} p99 {} max {}; sent {} acked {} stored {}; generator CPU {:.1} s; {} errors",
        l.connected,
        l.connect_seconds,
        si(l.acked_in_window as f64 / l.window_seconds),
        si(r.points_per_s()),
        ms(l.p50_us),
        ms(l.p99_us),
        ms(l.max_us),
        l.sent,
        l.acked_total,
        r.stored.map_or("n/a".to_owned(), |s| s.to_string()),
        l.generator_cpu,
        l.errors.len()
    );
    if let Some(e) = l.errors.first() {
        say!("[mqtt-ingest]   first error: {e}");
    }
    if let Some(p) = &r.paced {
        say!(
            "[mqtt-ingest] rep {rep}/{reps} {label:<9} open loop at {} msgs/s: acked {} msgs/s; p50 {} p99 {} max {}; skipped {}",
            si(p.offered_per_s.unwrap_or(0.0)),
            si(p.acked_in_window as f64 / p.window_seconds),
            ms(p.p50_us),
            ms(p.p99_us),
            ms(p.max_us),
            p.skipped
        );
    }
}

fn ms(us: Option<u64>) -> String {
    us.map_or("n/a".to_owned(), |u| format!("{:.2} ms", u as f64 / 1000.0))
}

/// Median of one figure over runs.
fn med(runs: &[Run], f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(f).collect())
}

fn table(kaiwu: &[Run], peer: &[Run], peer_name: &str, err: Option<&str>, n: usize) -> String {
    let mut t = String::from(
        "| system | devices | msgs/s acked | data points/s | Kaiwu/peer (points/s) | p50 PUBACK | p99 PUBACK | CPU s per M points | broker CPU | peak RSS | PUBACKed / stored rows |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let kaiwu_pps = med(kaiwu, |r| Some(r.points_per_s()));
    for (name, runs) in [
        ("Kaiwu (durable, fsync before PUBACK)", kaiwu),
        (peer_name, peer),
    ] {
        let Some(pps) = med(runs, |r| Some(r.points_per_s())) else {
            let why = err.unwrap_or("no result");
            let _ = writeln!(t, "| {name} | {n} | unavailable: {why} | | | | | | | | |");
            continue;
        };
        let ratio = if std::ptr::eq(runs, kaiwu) {
            "1.00 (reference)".to_owned()
        } else {
            kaiwu_pps.map_or("n/a".to_owned(), |k| format!("{:.2}x", k / pps))
        };
        let mps = med(runs, |r| {
            Some(r.load.acked_in_window as f64 / r.load.window_seconds)
        });
        let cpu = med(runs, |r| {
            let pts = (r.load.acked_in_window * POINTS_PER_MSG) as f64 / 1e6;
            r.load.broker_cpu.filter(|_| pts > 0.0).map(|c| c / pts)
        });
        let busy = med(runs, |r| {
            r.load.broker_cpu.map(|c| c / r.load.window_seconds)
        });
        let rss = med(runs, |r| r.peak_rss_kib.map(|k| k as f64));
        let last = runs.last();
        let counts = last.map_or("n/a".to_owned(), |r| {
            let stored = r.stored.map_or_else(
                || format!("n/a (relayed {})", r.load.relayed.unwrap_or(0)),
                |s| s.to_string(),
            );
            let acked = r.load.acked_total + r.paced.as_ref().map_or(0, |p| p.acked_total);
            format!("{acked} / {stored}")
        });
        let _ = writeln!(
            t,
            "| {name} | {n} | {} | {} | {ratio} | {} | {} | {} | {} | {} | {counts} |",
            si(mps.unwrap_or(0.0)),
            si(pps),
            ms(med(runs, |r| r.load.p50_us.map(|u| u as f64)).map(|u| u as u64)),
            ms(med(runs, |r| r.load.p99_us.map(|u| u as f64)).map(|u| u as u64)),
            cpu.map_or("n/a".to_owned(), |c| format!("{c:.2}")),
            busy.map_or("n/a".to_owned(), |b| format!("{:.0} %", b * 100.0)),
            rss.map_or("n/a".to_owned(), |k| format!("{:.0} MiB", k / 1024.0)),
        );
    }
    let gen_cpu = |runs: &[Run]| {
        med(runs, |r| Some(r.load.generator_cpu / r.load.window_seconds))
            .map_or("n/a".to_owned(), |c| format!("{:.0} %", c * 100.0))
    };
    let _ = writeln!(
        t,
        "
Load generator CPU during the window (same machine, 100 % = one core): {} beside Kaiwu, {} beside Mosquitto.",
        gen_cpu(kaiwu),
        gen_cpu(peer)
    );
    t
}

/// The open-loop phase: latency at a rate both brokers can carry.
fn paced_table(kaiwu: &[Run], peer: &[Run], peer_name: &str) -> String {
    let mut t = String::from(
        "\nOpen loop: every device publishes on a fixed schedule, the fleet at the rate below (latency from the scheduled time of each publish):\n\n\
         | system | offered msgs/s | offered data points/s | msgs/s acked | p50 PUBACK | p99 PUBACK | max PUBACK | skipped (64 unanswered) | broker CPU |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut any = false;
    for (name, runs) in [
        ("Kaiwu (durable, fsync before PUBACK)", kaiwu),
        (peer_name, peer),
    ] {
        let paced: Vec<&LoadResult> = runs.iter().filter_map(|r| r.paced.as_ref()).collect();
        let m = |f: &dyn Fn(&LoadResult) -> Option<f64>| {
            median(paced.iter().filter_map(|l| f(l)).collect())
        };
        let Some(offered) = m(&|l| l.offered_per_s) else {
            continue;
        };
        any = true;
        let us = |f: &dyn Fn(&LoadResult) -> Option<u64>| {
            ms(m(&|l| f(l).map(|u| u as f64)).map(|u| u as u64))
        };
        let _ = writeln!(
            t,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            si(offered),
            si(offered * POINTS_PER_MSG as f64),
            si(m(&|l| Some(l.acked_in_window as f64 / l.window_seconds)).unwrap_or(0.0)),
            us(&|l| l.p50_us),
            us(&|l| l.p99_us),
            us(&|l| l.max_us),
            m(&|l| Some(l.skipped as f64)).unwrap_or(0.0) as u64,
            m(&|l| l.broker_cpu.map(|c| c / l.window_seconds))
                .map_or("n/a".to_owned(), |b| format!("{:.0} %", b * 100.0)),
        );
    }
    if any { t } else { String::new() }
}

fn goals(kaiwu: &[Run]) -> String {
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let mut g = String::new();
    let pps = med(kaiwu, |r| Some(r.points_per_s())).unwrap_or(0.0);
    let all_stored = kaiwu.iter().all(|r| {
        let acked = r.load.acked_total + r.paced.as_ref().map_or(0, |p| p.acked_total);
        r.stored == Some(acked) && acked > 0
    });
    let _ = writeln!(
        g,
        "- >= 300 k data points/s sustained, stored and queryable: reached {} data points/s ({}); every PUBACKed message counted by SQL afterwards: {}",
        si(pps),
        mark(pps >= 300_000.0),
        if all_stored { "yes" } else { "NO" }
    );
    let p99 = med(kaiwu, |r| r.load.p99_us.map(|u| u as f64)).unwrap_or(f64::INFINITY);
    let paced = med(kaiwu, |r| r.paced.as_ref()?.p99_us.map(|u| u as f64));
    let offered = med(kaiwu, |r| r.paced.as_ref()?.offered_per_s);
    match paced.zip(offered) {
        // The goal asks for both at once: met only if the open loop ran at the goal's rate.
        Some((p, rate)) => {
            let pts = rate * POINTS_PER_MSG as f64;
            let _ = writeln!(
                g,
                "- p99 publish-to-PUBACK < 20 ms at 300 k data points/s: {:.2} ms at {} data points/s offered ({}); closed loop ({WINDOW} in flight per device, queueing included): {:.2} ms",
                p / 1000.0,
                si(pts),
                mark(p < 20_000.0 && pts >= 300_000.0),
                p99 / 1000.0
            );
        }
        None => {
            let _ = writeln!(
                g,
                "- p99 publish-to-PUBACK < 20 ms: reached {:.2} ms ({})",
                p99 / 1000.0,
                mark(p99 < 20_000.0)
            );
        }
    }
    g.push_str("- Reference, not measured here: ThingsBoard's published figure for this profile is 15,000 data points/s on 2 vCPU at 95 % CPU.\n");
    g
}

const NOTES: &str = "\nHow it is measured:\n\n\
- Kaiwu is the real release binary (`kaiwu serve`, the `kaiwu` next to the `kaiwu-bench` binary, else `$CARGO_TARGET_DIR/release`, else `target/release`; built with `cargo build --release -p kaiwu` if missing; build both together so it is not stale) on loopback ports in a fresh temp data dir, default settings (durability `fsync`: a QoS 1 PUBACK is sent only after the WAL group commit is on disk). Device type `meter` (floats a, b, c) and the devices with caller-chosen access tokens are created through the HTTP API before the run; that setup is not timed. Devices publish to `v1/devices/me/telemetry` with their access token as MQTT username. Afterwards `SELECT count(*) FROM meter` through `POST /api/query` must equal the PUBACKs received (table: last repetition).\n\
- Mosquitto is our own process (`/usr/sbin/mosquitto -c <temp conf>`: `listener <free port> 127.0.0.1`, `allow_anonymous true`, `persistence false`; the shared broker on 1883 is not used), a pure relay: devices publish to `v1/devices/m<n>/telemetry` and one QoS 0 subscriber to `v1/devices/+/telemetry` consumes everything (its count is shown as relayed). Mosquitto stores nothing, so it is an upper bound of what MQTT handling alone costs, not a like-for-like storage comparison.\n\
- The load generator is ours (`crates/kaiwu-bench/src/mqtt_load.rs`, tokio, the `kaiwu-mqtt` codec, MQTT 3.1.1, one task and one TCP connection per device, connects 64 at a time). After every device has connected, each keeps at most 4 QoS 1 publishes in flight (a bounded window, not a fixed rate: the broker's speed sets the rate) for the timed window; publishes still in flight at its end are awaited and counted as PUBACKed and stored, but not in the rates. Payload `{\"a\":<n>.5,\"b\":<n>,\"c\":<n>}` (three data points, server-side timestamps).\n\
- Open loop: then, on the same broker with fresh connections, every device publishes on a fixed schedule (its first publish offset by its place in the fleet, so the fleet's load is even) at the offered rate: half of what Kaiwu acknowledged in the closed loop of the same repetition unless `--rate` says otherwise, the same rate for both brokers. Latency counts from each publish's scheduled time, so a late generator shows in the figures. A connection with 64 publishes unanswered skips a due publish (counted) instead of queueing without bound. This is the latency figure that means something: in the closed loop every device always has 4 publishes waiting, so its p99 is mostly queueing (Little's law: in flight / rate).\n\
- msgs/s and data points/s count PUBACKs received inside the window. Latency is from just before a publish is written to the socket to its PUBACK being decoded, over every publish, in an HDR-style histogram (128 buckets per power of two, < 1 % error).\n\
- CPU is the broker process's utime + stime from `/proc/<pid>/stat` over the window (broker CPU = that / window seconds; 100 % = one core); peak RSS is its `VmHWM` at the end (Kaiwu's includes the device setup).\n\
- The load generator runs on the same machine and cores (it needs about as much CPU as the broker), so both brokers are measured with a shared, busy CPU; on the 2-core machine above the generator's CPU use caps the figures for both.\n";

#[cfg(test)]
#[path = "mqtt_ingest_tests.rs"]
mod tests;
