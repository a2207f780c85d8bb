//! Scenario d: Modbus polling (and OPC UA subscriptions). Three parts, each Kaiwu figure beside
//! its peer where one exists: (1) raw read throughput of our Modbus client against a plain
//! libmodbus loop, on one core each; (2) the release node polling 100,000 registers every
//! second through `modbus_tcp` connectors, beside a libmodbus poll loop reading the same
//! registers; (3) the node subscribed to 10,000 OPC UA variables at 100 ms sampling.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::modbus_raw::{self, CPeer, ClientRun, SimProcess};
use crate::node_poll::{self, DEVICES_PER_CONNECTOR, NodeRun, PER_DEVICE};
use crate::progress::say;
use crate::report::{self, median, si};
use crate::sys;

/// Registers of unit 1 the raw loops walk through.
const RAW_REGISTERS: usize = 10_000;
/// Connections of the second raw Kaiwu loop, all on one thread.
const RAW_CONNECTIONS: usize = 4;

/// Options of `modbus-poll`.
#[derive(Debug, Args, Default)]
pub(crate) struct Opts {
    /// Small sizes (10,000 polled points, 1,000 OPC UA items, short windows).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Repetitions of every part, alternating Kaiwu and peer; medians are reported (default
    /// 3; quick 1).
    #[arg(long)]
    pub(crate) reps: Option<usize>,
    /// Seconds of each raw read loop (default 10; quick 3).
    #[arg(long)]
    pub(crate) raw_seconds: Option<f64>,
    /// Points the node polls every second, a multiple of 1000 (default 100000; quick 10000).
    #[arg(long)]
    pub(crate) points: Option<usize>,
    /// OPC UA monitored items (default 10000; quick 1000).
    #[arg(long)]
    pub(crate) opcua_items: Option<usize>,
    /// OPC UA monitored items per `opcua` connector (default 1000: the simulator's
    /// async-opcua default limit of monitored items per subscription and per call).
    #[arg(long)]
    pub(crate) opcua_per_connector: Option<usize>,
    /// `publishing_ms` of the OPC UA connectors (default 500, the connector's default).
    #[arg(long)]
    pub(crate) opcua_publishing_ms: Option<u64>,
    /// Seconds of each measuring window of parts 2 and 3 (default 30; quick 8).
    #[arg(long)]
    pub(crate) window: Option<u64>,
    /// Write the results to docs/benchmarks.md (this scenario's section).
    #[arg(long)]
    pub(crate) write_docs: bool,
}

/// Everything measured, per part and system.
#[derive(Debug, Default)]
struct Results {
    raw_kaiwu: Vec<ClientRun>,
    /// The same client, [`RAW_CONNECTIONS`] connections on its one thread.
    raw_kaiwu_multi: Vec<ClientRun>,
    raw_peer: Vec<ClientRun>,
    poll_kaiwu: Vec<NodeRun>,
    poll_peer: Vec<ClientRun>,
    opcua: Vec<NodeRun>,
    peer_err: Option<String>,
    peer_version: String,
    pinned: bool,
}

/// Run the scenario, print the tables, optionally write the docs.
pub(crate) fn run(o: &Opts) -> anyhow::Result<()> {
    let reps = o.reps.unwrap_or(if o.quick { 1 } else { 3 }).max(1);
    let raw_s = o.raw_seconds.unwrap_or(if o.quick { 3.0 } else { 10.0 });
    let points = o.points.unwrap_or(if o.quick { 10_000 } else { 100_000 });
    let points = (points / PER_DEVICE).max(1) * PER_DEVICE;
    let items = o
        .opcua_items
        .unwrap_or(if o.quick { 1000 } else { 10_000 })
        .max(1);
    let shape = node_poll::UaShape {
        items,
        per_connector: o.opcua_per_connector.unwrap_or(1000).max(1),
        publishing_ms: o.opcua_publishing_ms.unwrap_or(500),
    };
    let window = Duration::from_secs(o.window.unwrap_or(if o.quick { 8 } else { 30 }).max(1));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let peer = CPeer::build();
    let mut r = Results {
        peer_version: peer.as_ref().map_or("?".into(), |p| p.version.clone()),
        ..Results::default()
    };
    if let Err(e) = &peer {
        say!("[modbus-poll] libmodbus peer unavailable: {e:#}");
        r.peer_err = Some(format!("{e:#}"));
    }
    let peer = peer.ok();
    let regs_per_unit = DEVICES_PER_CONNECTOR * PER_DEVICE;
    let units = u8::try_from(points.div_ceil(regs_per_unit)).context("too many points")?;
    for rep in 1..=reps {
        let sim = SimProcess::start(1, RAW_REGISTERS, false)?;
        r.pinned = sim.pinned;
        say!("[modbus-poll] rep {rep}/{reps} raw reads: kaiwu client, {raw_s} s");
        let k = modbus_raw::kaiwu_client(&sim, raw_s, RAW_REGISTERS, 1)?;
        say!(
            "[modbus-poll]   kaiwu: {} registers/s, {} errors",
            si(k.registers_per_s()),
            k.errors
        );
        r.raw_kaiwu.push(k);
        say!(
            "[modbus-poll] rep {rep}/{reps} raw reads: kaiwu client, {RAW_CONNECTIONS} connections on one thread, {raw_s} s"
        );
        let k = modbus_raw::kaiwu_client(&sim, raw_s, RAW_REGISTERS, RAW_CONNECTIONS)?;
        say!(
            "[modbus-poll]   kaiwu x{RAW_CONNECTIONS}: {} registers/s, {} errors",
            si(k.registers_per_s()),
            k.errors
        );
        r.raw_kaiwu_multi.push(k);
        if let Some(p) = &peer {
            say!("[modbus-poll] rep {rep}/{reps} raw reads: libmodbus loop, {raw_s} s");
            match p.run(&sim, raw_s, 1, RAW_REGISTERS, 0) {
                Ok(c) => {
                    say!(
                        "[modbus-poll]   libmodbus: {} registers/s, {} errors",
                        si(c.registers_per_s()),
                        c.errors
                    );
                    r.raw_peer.push(c);
                }
                Err(e) => say!("[modbus-poll]   libmodbus failed: {e:#}"),
            }
        }
        drop(sim);
        let sim = SimProcess::start(units, regs_per_unit, true)?;
        let k = node_poll::modbus(sim.addr, points, window)?;
        say!(
            "[modbus-poll]   kaiwu polling: {} points/s stored, {} requests/s, CPU {}",
            si(k.points_per_s),
            si(k.requests_per_s),
            pct(k.cpu)
        );
        r.poll_kaiwu.push(k);
        if let Some(p) = &peer {
            say!(
                "[modbus-poll] rep {rep}/{reps} libmodbus poll loop over the same registers, {window:?}"
            );
            match p.run(&sim, window.as_secs_f64(), units, regs_per_unit, 1000) {
                Ok(c) => r.poll_peer.push(c),
                Err(e) => say!("[modbus-poll]   libmodbus poll loop failed: {e:#}"),
            }
        }
        drop(sim);
        let u = node_poll::opcua(&rt, shape, window)?;
        say!(
            "[modbus-poll]   kaiwu opc ua: {} samples/s stored of {} changes/s, CPU {}",
            si(u.points_per_s),
            si(u.source_changes_per_s.unwrap_or(0.0)),
            pct(u.cpu)
        );
        r.opcua.push(u);
    }
    let tables = tables(&r, points, shape);
    let goals = goals(&r, points, items);
    println!("\n{tables}\nGoals:\n\n{goals}");
    if o.write_docs {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut d = String::from("## Modbus polling and OPC UA subscriptions (scenario d)\n\n");
        let _ = writeln!(d, "- Date: {}", report::date_utc());
        let _ = writeln!(d, "- Machine: {}", sys::machine());
        let _ = writeln!(
            d,
            "- Command: `cargo build --release -p kaiwu -p kaiwu-bench && target/release/kaiwu-bench {}`",
            args.join(" ")
        );
        let _ = writeln!(
            d,
            "- Sizes: raw loops {raw_s} s each; {points} polled points; {items} OPC UA items; {}-s windows; {reps} repetition(s), medians shown.\n",
            window.as_secs()
        );
        d.push_str(&tables);
        d.push_str("\nGoals:\n\n");
        d.push_str(&goals);
        d.push_str(&notes(r.pinned, shape));
        let path = report::write_section("modbus-poll", &d)?;
        say!("[modbus-poll] wrote {}", path.display());
    }
    Ok(())
}

fn pct(cpu: Option<f64>) -> String {
    cpu.map_or("n/a".to_owned(), |c| format!("{:.1} %", c * 100.0))
}

fn med<T>(runs: &[T], f: impl Fn(&T) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(f).collect())
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "n/a".to_owned(), f)
}

fn tables(r: &Results, points: usize, shape: node_poll::UaShape) -> String {
    let items = shape.items;
    let mut t = String::from(
        "Raw reads, 125 holding registers per request, one request outstanding per connection, each client on one core:\n\n\
         | system | registers/s | requests/s | Kaiwu/peer (registers/s) | client CPU s per M registers | client CPU | simulator CPU s per M registers | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let k_rps = med(&r.raw_kaiwu, |c| Some(c.registers_per_s()));
    let peer_name = format!("libmodbus {} read loop (C)", r.peer_version);
    let multi =
        format!("Kaiwu `kaiwu_modbus::Client`, {RAW_CONNECTIONS} connections on its one thread");
    for (name, runs) in [
        ("Kaiwu `kaiwu_modbus::Client`, one connection", &r.raw_kaiwu),
        (multi.as_str(), &r.raw_kaiwu_multi),
        (peer_name.as_str(), &r.raw_peer),
    ] {
        let Some(rps) = med(runs, |c| Some(c.registers_per_s())) else {
            let why = r.peer_err.as_deref().unwrap_or("no result");
            let _ = writeln!(t, "| {name} | unavailable: {why} | | | | | | |");
            continue;
        };
        let ratio = if std::ptr::eq(runs, &r.raw_kaiwu) {
            "1.00 (reference)".to_owned()
        } else if std::ptr::eq(runs, &r.raw_kaiwu_multi) {
            "n/a (libmodbus: one blocking connection)".to_owned()
        } else {
            opt(k_rps, |k| format!("{:.2}x", k / rps))
        };
        let _ = writeln!(
            t,
            "| {name} | {} | {} | {ratio} | {} | {} | {} | {} |",
            si(rps),
            si(med(runs, |c| Some(c.requests as f64 / c.seconds)).unwrap_or(0.0)),
            opt(med(runs, ClientRun::cpu_per_m), |c| format!("{c:.3}")),
            pct(med(runs, |c| Some(c.cpu / c.seconds))),
            opt(
                med(runs, |c| c
                    .server_cpu
                    .zip(c.cpu_per_m())
                    .map(|(s, _)| s / (c.registers as f64 / 1e6))),
                |c| format!("{c:.3}")
            ),
            runs.iter().map(|c| c.errors).sum::<u64>(),
        );
    }
    let _ = writeln!(
        t,
        "\nPolling {points} u16 holding registers every 1000 ms ({} units of {} registers on one simulator):\n\n\
         | system | points/s | requests/s | CPU (100 % = one core) | Kaiwu/peer (CPU) | RSS | request errors |\n\
         |---|---:|---:|---:|---:|---:|---:|",
        points.div_ceil(DEVICES_PER_CONNECTOR * PER_DEVICE),
        DEVICES_PER_CONNECTOR * PER_DEVICE
    );
    let k_cpu = med(&r.poll_kaiwu, |n| n.cpu);
    match med(&r.poll_kaiwu, |n| Some(n.points_per_s)) {
        Some(pps) => {
            let _ = writeln!(
                t,
                "| Kaiwu node, `modbus_tcp` connectors, stored | {} | {} | {} | 1.00 (reference) | {} | {} |",
                si(pps),
                si(med(&r.poll_kaiwu, |n| Some(n.requests_per_s)).unwrap_or(0.0)),
                pct(k_cpu),
                opt(
                    med(&r.poll_kaiwu, |n| n.rss_kib.map(|k| k as f64)),
                    |k| format!("{:.0} MiB", k / 1024.0)
                ),
                r.poll_kaiwu.iter().map(|n| n.request_errors).sum::<u64>(),
            );
        }
        None => t.push_str("| Kaiwu node | no result | | | | | |\n"),
    }
    match med(&r.poll_peer, |c| Some(c.registers_per_s())) {
        Some(pps) => {
            let p_cpu = med(&r.poll_peer, |c| Some(c.cpu / c.seconds));
            let _ = writeln!(
                t,
                "| {peer_name}, same blocks, nothing stored | {} | {} | {} | {} | n/a | {} |",
                si(pps),
                si(med(&r.poll_peer, |c| Some(c.requests as f64 / c.seconds)).unwrap_or(0.0)),
                pct(p_cpu),
                match (k_cpu, p_cpu) {
                    (Some(k), Some(p)) if p > 0.0 => format!("{:.1}x", k / p),
                    _ => "n/a".to_owned(),
                },
                r.poll_peer.iter().map(|c| c.errors).sum::<u64>(),
            );
        }
        None => {
            let why = r.peer_err.as_deref().unwrap_or("no result");
            let _ = writeln!(t, "| {peer_name} | unavailable: {why} | | | | | |");
        }
    }
    let _ = writeln!(
        t,
        "\nOPC UA, {items} monitored items at 100 ms sampling over {} `opcua` connector(s) of up to {} items, `publishing_ms` {}:\n\n\
         | system | monitored items | simulator changes/s | samples/s stored | CPU (100 % = one core) | RSS |\n\
         |---|---:|---:|---:|---:|---:|",
        items.div_ceil(shape.per_connector),
        shape.per_connector,
        shape.publishing_ms
    );
    match med(&r.opcua, |n| Some(n.points_per_s)) {
        Some(sps) => {
            let _ = writeln!(
                t,
                "| Kaiwu node, `opcua` connectors, stored | {items} | {} | {} | {} | {} |",
                si(med(&r.opcua, |n| n.source_changes_per_s).unwrap_or(0.0)),
                si(sps),
                pct(med(&r.opcua, |n| n.cpu)),
                opt(med(&r.opcua, |n| n.rss_kib.map(|k| k as f64)), |k| format!(
                    "{:.0} MiB",
                    k / 1024.0
                )),
            );
        }
        None => t.push_str("| Kaiwu node | no result | | | | |\n"),
    }
    t
}

fn goals(r: &Results, points: usize, items: usize) -> String {
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let mut g = String::new();
    let one = med(&r.raw_kaiwu, |c| Some(c.registers_per_s())).unwrap_or(0.0);
    let multi = med(&r.raw_kaiwu_multi, |c| Some(c.registers_per_s())).unwrap_or(0.0);
    let _ = writeln!(
        g,
        "- >= 1,000,000 registers/s on one core: reached {} registers/s with {RAW_CONNECTIONS} connections on the client's one core, {} with one connection (one request at a time: round-trip bound) ({})",
        si(multi),
        si(one),
        mark(one.max(multi) >= 1e6)
    );
    let cpu = med(&r.poll_kaiwu, |n| n.cpu);
    let line = match cpu {
        Some(c) if points >= 100_000 => format!(
            "reached {:.1} % of one core at {} points/s stored ({})",
            c * 100.0,
            si(med(&r.poll_kaiwu, |n| Some(n.points_per_s)).unwrap_or(0.0)),
            mark(c < 0.25)
        ),
        Some(c) => format!(
            "not measured at full size: {:.1} % of one core at {points} points (linear estimate for 100,000: {:.0} %)",
            c * 100.0,
            c * 100.0 * 100_000.0 / points as f64
        ),
        None => "not measured".to_owned(),
    };
    let _ = writeln!(
        g,
        "- 100,000 points polled every second under 25 % of one core: {line}"
    );
    let _ = writeln!(
        g,
        "- OPC UA, 10,000 monitored items at 100 ms sampling, CPU reported: {} at {items} items ({} samples/s stored){}",
        pct(med(&r.opcua, |n| n.cpu)),
        si(med(&r.opcua, |n| Some(n.points_per_s)).unwrap_or(0.0)),
        if items < 10_000 {
            "; quick size, not the goal's"
        } else {
            ""
        }
    );
    g.push_str("- Reference, not measured here: NeuronEX 3.2 publishes 100,000 points/s at 30 % of 4 cores (120 % of one core).\n");
    g
}

fn notes(pinned: bool, shape: node_poll::UaShape) -> String {
    let pin = if pinned {
        "The simulator process is pinned to core 1 and each client process to core 0 with `taskset`."
    } else {
        "Processes are not pinned (fewer than two cores or no `taskset`)."
    };
    format!(
        "\nHow it is measured:\n\n\
- The Modbus simulator is `kaiwu_modbus::Server` (Kaiwu's own, the \"Rust simulator\"; pymodbus tops out near 8,000 requests/s and cannot load a fast client) in a child process of `kaiwu-bench` (hidden subcommand `modbus-server`, one tokio thread), on a loopback port. {pin}\n\
- Raw reads: our `kaiwu_modbus::Client` (hidden subcommand `modbus-read`, tokio current-thread runtime) and `crates/kaiwu-bench/peers/libmodbus_read.c` (`modbus_read_registers`, compiled at run time with `cc -O2 ... -lmodbus` against Debian's `libmodbus-dev`, installed with apt-get when missing and running as root, else the peer is skipped) each read 125 holding registers per request in a loop on one Modbus TCP connection, one request outstanding, walking through 10,000 registers of unit 1, alternating within each repetition. One request at a time makes that loop bound by the round trip (both processes mostly wait), so our client also runs {RAW_CONNECTIONS} connections at once on its one thread (one request outstanding on each, as a connector polling several devices does): that row is what one core of client can read. libmodbus's API is blocking, one connection per thread, so it has no such row. Client CPU is the client process's own (`/proc/self/stat` / `getrusage`) over its timed loop; the simulator's CPU is read from `/proc/<pid>/stat` around each client run. Our client checks the first register of every answer; errors count failed or wrong reads.\n\
- Polling: the release `kaiwu serve` (as in scenario a) gets a device type of {PER_DEVICE} `int` properties, devices of that type, and one `modbus_tcp` connector per simulator unit ({DEVICES_PER_CONNECTOR} devices, {} u16 holding registers each, `poll_ms` 1000), all through the HTTP API (setup). The simulator adds 1 to every register each second so stored values change. After every point has been stored twice plus 2 s, the node's CPU (`/proc/<pid>/stat`, all threads) and the connectors' `points` and `requests` counters (`GET /api/connectors/{{id}}/status`; points are counted after the storage write returned) are read at both ends of the window. The peer is the same C program in poll mode: every 1000 ms it reads every register of every unit in 125-register blocks, one after another on one connection, and stores nothing; its CPU is a lower bound of what the Modbus traffic alone costs.\n\
- OPC UA: `kaiwu_opcua::SimServer` (async-opcua) runs inside `kaiwu-bench` with one Double variable per item; a thread sets every variable to a new value stamped now every 100 ms (the changes/s column shows what it managed). `opcua` connectors of up to {per} items each (security None, anonymous, `publishing_ms` {publishing}, each its own session and subscription) subscribe to every item with `sampling_ms` 100. {per_note} After the initial values are stored plus 3 s of changes, the node's CPU and the connector's stored points are read over the window. There is no OPC UA peer: the issue names none. The simulator and its update thread share the machine with the node.\n\
- RSS is the node's `VmRSS` at the end of the window. Everything runs on the same machine, so the simulator's and the load's CPU compete with Kaiwu's on a 2-core machine.\n",
        DEVICES_PER_CONNECTOR * PER_DEVICE,
        per = shape.per_connector,
        publishing = shape.publishing_ms,
        per_note = UA_SPLIT_NOTE,
    )
}

/// Why the OPC UA items are spread over several connectors.
const UA_SPLIT_NOTE: &str = "The simulator keeps async-opcua's default server limits (1000 monitored items per subscription and per call); the connector's client spreads larger node lists over subscriptions of 1000 items created 500 per call, as real servers with such limits need.";

#[cfg(test)]
mod tests {
    use super::*;

    fn client(registers: u64, cpu: f64) -> ClientRun {
        ClientRun {
            requests: registers / 125,
            registers,
            seconds: 1.0,
            cpu,
            errors: 0,
            server_cpu: Some(0.5),
        }
    }

    #[test]
    fn tables_and_goals_show_ratios_and_marks() {
        let r = Results {
            raw_kaiwu: vec![client(2_000_000, 1.0)],
            raw_kaiwu_multi: vec![client(3_000_000, 1.0)],
            raw_peer: vec![client(1_000_000, 1.0)],
            poll_kaiwu: vec![NodeRun {
                points_per_s: 100_000.0,
                cpu: Some(0.2),
                ..NodeRun::default()
            }],
            poll_peer: vec![client(100_000, 0.02)],
            peer_version: "3.1.10".into(),
            ..Results::default()
        };
        let shape = node_poll::UaShape {
            items: 1000,
            per_connector: 1000,
            publishing_ms: 500,
        };
        let t = tables(&r, 100_000, shape);
        assert!(
            t.contains("| 2.00 M | 16.0 k | 1.00 (reference) | 0.500 |"),
            "{t}"
        );
        assert!(t.contains("| 2.00x |"), "{t}");
        assert!(t.contains("| 20.0 % | 1.00 (reference) |"), "{t}");
        assert!(t.contains("| 10.0x |"), "{t}");
        let g = goals(&r, 100_000, 1000);
        assert!(
            g.contains("reached 3.00 M registers/s with 4 connections"),
            "{g}"
        );
        assert!(g.contains("2.00 M with one connection"), "{g}");
        assert!(
            t.contains("| n/a (libmodbus: one blocking connection) |"),
            "{t}"
        );
        assert!(
            g.contains("reached 20.0 % of one core at 100.0 k points/s stored (met)"),
            "{g}"
        );
        let small = goals(&r, 10_000, 1000);
        assert!(
            small.contains("linear estimate for 100,000: 200 %"),
            "{small}"
        );
    }

    #[test]
    fn client_output_parses() {
        let c = ClientRun::from_json(
            "{\"requests\":10,\"registers\":1250,\"seconds\":2.0,\"cpu\":0.5,\"errors\":0}\n",
        )
        .unwrap();
        assert_eq!(c.registers_per_s(), 625.0);
        assert_eq!(c.cpu_per_m(), Some(400.0));
        assert!(ClientRun::from_json("garbage").is_err());
    }
}
