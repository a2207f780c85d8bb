//! Scenario f: REST reads of shadows and latest values. N kept-alive connections alternate
//! `GET /api/devices/{id}/latest` and `GET /api/devices/{id}/shadow` against the release node;
//! beside it, PostgreSQL answers the same two questions (latest row of a device, its shadow
//! document) through prepared statements on as many connections.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::brokers::KaiwuNode;
use crate::http_load::{self, HttpGet, Load};
use crate::peers;
use crate::pg_wire::PgConn;
use crate::progress::say;
use crate::report::{self, median, si};
use crate::sys;

/// Telemetry rows seeded per device.
const ROWS_PER_DEVICE: usize = 10;
const WARMUP: Duration = Duration::from_secs(1);
const PG_LATEST: &str =
    "SELECT ts, a, b, c FROM telemetry WHERE device = $1 ORDER BY ts DESC LIMIT 1";
const PG_SHADOW: &str = "SELECT doc FROM shadow WHERE device = $1";

/// Options of `rest-reads`.
#[derive(Debug, Args, Default)]
pub(crate) struct Opts {
    /// Small sizes (100 devices, 5 s windows, one repetition).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Devices read round-robin (default 1000; quick 100).
    #[arg(long)]
    pub(crate) devices: Option<usize>,
    /// Concurrent connections (default 16).
    #[arg(long)]
    pub(crate) connections: Option<usize>,
    /// Seconds per measuring window (default 20; quick 5).
    #[arg(long)]
    pub(crate) seconds: Option<u64>,
    /// Repetitions, alternating Kaiwu and PostgreSQL; medians are reported (default 3; quick 1).
    #[arg(long)]
    pub(crate) reps: Option<usize>,
    /// Write the results to docs/benchmarks.md (this scenario's section).
    #[arg(long)]
    pub(crate) write_docs: bool,
}

/// One window of one system.
#[derive(Debug, Clone, Default)]
struct Run {
    load: Load,
    /// Server CPU over warm-up + window, 1.0 = one core.
    server_cpu: Option<f64>,
    generator_cpu: f64,
}

/// Run the scenario, print the table, optionally write the docs.
pub(crate) fn run(o: &Opts) -> anyhow::Result<()> {
    let n = o.devices.unwrap_or(if o.quick { 100 } else { 1000 }).max(1);
    let conns = o.connections.unwrap_or(16).max(1);
    let window = Duration::from_secs(o.seconds.unwrap_or(if o.quick { 5 } else { 20 }).max(1));
    let reps = o.reps.unwrap_or(if o.quick { 1 } else { 3 }).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let node = KaiwuNode::start()?;
    say!(
        "[rest-reads] kaiwu: creating and seeding {n} devices ({ROWS_PER_DEVICE} rows each, a desired shadow) (setup)"
    );
    let shadow = seed_kaiwu(&node, n)?;
    let pg = match peers::postgres_check() {
        Ok(v) => PgDb::create(n, &shadow).map(|db| (db, v)),
        Err(e) => Err(e),
    };
    if let Err(e) = &pg {
        say!("[rest-reads] PostgreSQL peer unavailable: {e:#}");
    }
    let ids: Arc<Vec<String>> = Arc::new((0..n).map(|i| format!("m{i}")).collect());
    let paths: Vec<String> = ids
        .iter()
        .flat_map(|d| {
            [
                format!("/api/devices/{d}/latest"),
                format!("/api/devices/{d}/shadow"),
            ]
        })
        .collect();
    let requests = Arc::new(HttpGet::requests(node.http, &node.token, &paths));
    let (mut kaiwu, mut peer) = (Vec::new(), Vec::new());
    let mut peer_err = pg.as_ref().err().map(|e| format!("{e:#}"));
    for rep in 1..=reps {
        say!("[rest-reads] rep {rep}/{reps} kaiwu: {conns} connections, {window:?}");
        let r = rt.block_on(async {
            let mut cs = Vec::new();
            for c in 0..conns {
                cs.push(HttpGet::connect(node.http, requests.clone(), (c * 7) as u64).await?);
            }
            anyhow::Ok(measure(cs, vec![node.pid()], window).await)
        })?;
        progress("kaiwu", &r);
        kaiwu.push(r);
        if let Ok((db, _)) = &pg {
            say!("[rest-reads] rep {rep}/{reps} postgresql: {conns} connections, {window:?}");
            let r = rt.block_on(async {
                let mut cs = Vec::new();
                for c in 0..conns {
                    cs.push(
                        PgConn::connect(
                            &db.name,
                            PG_LATEST,
                            PG_SHADOW,
                            ids.clone(),
                            (c * 7) as u64,
                        )
                        .await?,
                    );
                }
                let pids = cs.iter().filter_map(|c| c.backend_pid).collect();
                anyhow::Ok(measure(cs, pids, window).await)
            });
            match r {
                Ok(r) => {
                    progress("postgresql", &r);
                    peer.push(r);
                }
                Err(e) => {
                    say!("[rest-reads] postgresql failed: {e:#}");
                    peer_err.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    drop(node);
    let version = pg.as_ref().map_or("?".to_owned(), |(_, v)| v.clone());
    drop(pg);
    let table = table(&kaiwu, &peer, &version, peer_err.as_deref(), conns);
    println!("\n{table}");
    if o.write_docs {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut d = String::from("## REST reads (scenario f)\n\n");
        let _ = writeln!(d, "- Date: {}", report::date_utc());
        let _ = writeln!(d, "- Machine: {}", sys::machine());
        let _ = writeln!(
            d,
            "- Command: `cargo build --release -p kaiwu -p kaiwu-bench && target/release/kaiwu-bench {}`",
            args.join(" ")
        );
        let _ = writeln!(
            d,
            "- Load: {n} devices read round-robin, {conns} connections, one request outstanding each, {}-s windows after {} s of warm-up, {reps} repetition(s), medians shown.\n",
            window.as_secs(),
            WARMUP.as_secs()
        );
        d.push_str(&table);
        d.push_str(NOTES);
        let path = report::write_section("rest-reads", &d)?;
        say!("[rest-reads] wrote {}", path.display());
    }
    Ok(())
}

/// Drive `conns` and read the CPU of the server processes `pids` and of this process around it.
async fn measure<E: http_load::Exchange>(conns: Vec<E>, pids: Vec<u32>, window: Duration) -> Run {
    let tck = sys::clk_tck();
    let server = |pids: &[u32]| -> Option<f64> {
        pids.iter()
            .map(|p| sys::pid_cpu_seconds(*p, tck))
            .sum::<Option<f64>>()
    };
    let (s0, g0, t0) = (server(&pids), sys::self_cpu_seconds(tck), Instant::now());
    let load = http_load::drive(conns, WARMUP, window).await;
    let secs = t0.elapsed().as_secs_f64();
    let (s1, g1) = (server(&pids), sys::self_cpu_seconds(tck));
    Run {
        load,
        server_cpu: s0.zip(s1).map(|(a, b)| (b - a) / secs),
        generator_cpu: (g1 - g0) / secs,
    }
}

fn progress(label: &str, r: &Run) {
    let l = &r.load;
    say!(
        "[rest-reads]   {label}: {} requests/s, p50 {} p99 {}, server CPU {}, {} errors{}",
        si(l.per_s()),
        ms(l.p50_us),
        ms(l.p99_us),
        pct(r.server_cpu),
        l.errors,
        l.first_error
            .as_deref()
            .map_or(String::new(), |e| format!(" (first: {e})"))
    );
}

/// Devices `m0..` with telemetry rows and a desired shadow; returns `m0`'s shadow document.
fn seed_kaiwu(node: &KaiwuNode, n: usize) -> anyhow::Result<Value> {
    node.create_meters(n)?;
    let mut api = node.api();
    let now = kaiwu_core::now_ms();
    let rows: Vec<Value> = (0..n)
        .flat_map(|d| {
            (0..ROWS_PER_DEVICE).map(move |r| {
                let ts = now - ((ROWS_PER_DEVICE - r) as i64) * 1000;
                json!({"device": format!("m{d}"), "ts": ts, "values": {"a": d as f64 + r as f64 + 0.5, "b": d, "c": r}})
            })
        })
        .collect();
    for chunk in rows.chunks(5000) {
        let (status, v) = api.post("/api/telemetry", &Value::Array(chunk.to_vec()))?;
        if status != 200 && status != 201 {
            bail!("seeding telemetry: {status} {v}");
        }
    }
    for d in 0..n {
        let (status, v) = api.patch(
            &format!("/api/devices/m{d}/shadow"),
            &json!({"setpoint": d, "mode": "auto", "limits": {"low": 0, "high": 100}}),
        )?;
        if status != 200 {
            bail!("setting the shadow of m{d}: {status} {v}");
        }
    }
    let (status, v) = api.get("/api/devices/m0/shadow")?;
    if status != 200 {
        bail!("reading the shadow of m0: {status} {v}");
    }
    Ok(v)
}

/// A database of our own on the shared server, dropped with this value.
#[derive(Debug)]
struct PgDb {
    name: String,
}

impl PgDb {
    fn create(n: usize, shadow: &Value) -> anyhow::Result<PgDb> {
        let name = format!("kaiwu_bench_rest_{}", std::process::id());
        let db = PgDb { name };
        db.drop_db();
        peers::psql_ok("postgres", &format!("CREATE DATABASE {}", db.name))?;
        let doc = shadow.to_string().replace('\'', "''");
        let script = format!(
            "CREATE TABLE telemetry (device text NOT NULL, ts timestamptz NOT NULL, a float8, b float8, c float8);\n\
             INSERT INTO telemetry SELECT 'm' || d, to_timestamp(1700000000 + r), d + r + 0.5, d, r FROM generate_series(0, {}) d, generate_series(0, {}) r;\n\
             CREATE INDEX ON telemetry (device, ts DESC);\n\
             CREATE TABLE shadow (device text PRIMARY KEY, doc jsonb NOT NULL);\n\
             INSERT INTO shadow SELECT 'm' || d, '{doc}'::jsonb FROM generate_series(0, {}) d;\n\
             ANALYZE;\n",
            n - 1,
            ROWS_PER_DEVICE - 1,
            n - 1
        );
        peers::psql_ok(&db.name, &script)?;
        Ok(db)
    }

    fn drop_db(&self) {
        let _ = peers::psql_ok(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        self.drop_db();
    }
}

fn ms(us: Option<u64>) -> String {
    us.map_or("n/a".to_owned(), |u| format!("{:.2} ms", u as f64 / 1000.0))
}

fn pct(c: Option<f64>) -> String {
    c.map_or("n/a".to_owned(), |c| format!("{:.0} %", c * 100.0))
}

fn med(runs: &[Run], f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(f).collect())
}

fn table(kaiwu: &[Run], peer: &[Run], version: &str, err: Option<&str>, conns: usize) -> String {
    let mut t = String::from(
        "| system | connections | requests/s | Kaiwu/peer (requests/s) | p50 | p99 | server CPU | load generator CPU | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let k = med(kaiwu, |r| Some(r.load.per_s()));
    let peer_name = format!("PostgreSQL {version} (prepared statements, wire protocol v3)");
    for (name, runs) in [
        ("Kaiwu (HTTP/1.1 + JSON, bearer token)", kaiwu),
        (peer_name.as_str(), peer),
    ] {
        let Some(rps) = med(runs, |r| Some(r.load.per_s())) else {
            let _ = writeln!(
                t,
                "| {name} | {conns} | unavailable: {} | | | | | | |",
                err.unwrap_or("no result")
            );
            continue;
        };
        let ratio = if std::ptr::eq(runs, kaiwu) {
            "1.00 (reference)".to_owned()
        } else {
            k.map_or("n/a".to_owned(), |k| format!("{:.2}x", k / rps))
        };
        let _ = writeln!(
            t,
            "| {name} | {conns} | {} | {ratio} | {} | {} | {} | {} | {} |",
            si(rps),
            ms(med(runs, |r| r.load.p50_us.map(|u| u as f64)).map(|u| u as u64)),
            ms(med(runs, |r| r.load.p99_us.map(|u| u as f64)).map(|u| u as u64)),
            pct(med(runs, |r| r.server_cpu)),
            pct(med(runs, |r| Some(r.generator_cpu))),
            runs.iter().map(|r| r.load.errors).sum::<u64>(),
        );
    }
    t
}

const NOTES: &str = "\nHow it is measured:\n\n\
- Kaiwu: the release `kaiwu serve` (as in scenario a). Devices `m<n>` of type `meter` (floats a, b, c) are created over the HTTP API, given 10 telemetry rows each with `POST /api/telemetry` and a desired shadow with `PATCH /api/devices/{id}/shadow` (setup, not timed). Requests alternate `GET /api/devices/{id}/latest` and `GET /api/devices/{id}/shadow` with the admin's bearer token, walking the devices round-robin (each connection from its own offset). Every answer must be 200 with a Content-Length body, which is read in full.\n\
- The load generator is ours (`crates/kaiwu-bench/src/http_load.rs`): tokio, one task per connection, raw HTTP/1.1 keep-alive, one request outstanding per connection (closed loop: the server's speed sets the rate). Latency is from writing the request to having read the whole answer, in an HDR-style histogram (< 1 % error). The first second of every run is warm-up and not counted.\n\
- Peer: PostgreSQL, the already running server on 127.0.0.1:5432, in a fresh database dropped afterwards: `telemetry(device, ts, a, b, c)` with the same rows and an index on (device, ts DESC), and `shadow(device primary key, doc jsonb)` holding Kaiwu's shadow document of m0 for every device. The same load generator drives our minimal protocol-v3 client (`crates/kaiwu-bench/src/pg_wire.rs`, trust auth, text results) on as many connections, each a pooled connection with two prepared statements: `SELECT ts, a, b, c FROM telemetry WHERE device = $1 ORDER BY ts DESC LIMIT 1` and `SELECT doc FROM shadow WHERE device = $1`, alternating as the HTTP side does; each Bind/Execute/Sync must return a row. PostgreSQL was chosen over nginx serving a static file because it answers the same question from real data (an index lookup per request), where a static file would only measure HTTP serving. PostgreSQL speaks a compact binary protocol without HTTP, JSON encoding of the whole answer or token checks, so it is a strong reference, not a like-for-like web API.\n\
- Server CPU is the node's process, or the sum over the PostgreSQL backends serving the connections (PIDs from BackendKeyData), from `/proc/<pid>/stat` over warm-up + window (100 % = one core). The load generator runs on the same machine and competes for the same cores.\n";
