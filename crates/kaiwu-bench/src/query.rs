//! Scenario c: the TSBS query subset for cpu-only data (lastpoint, single-groupby-1-1-1,
//! double-groupby-1, high-cpu-all, cpu-max-all-1), Kaiwu (kaiwu-query over the engine) vs
//! DuckDB on the same data. Each kind runs as several instances (random host and time, seeded,
//! the same for both systems); one untimed warm-up pass, then timed rounds, Kaiwu and DuckDB
//! alternately. Latency is the median over every instance of every round.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use kaiwu_model::DeviceType;
use kaiwu_query::{Catalog, DeviceInfo, QueryEngine, QueryLimits};
use kaiwu_tsdb::{Resolution, RollupSnapshot, TableSnapshot, TimeRange, Tsdb, TsdbOptions};

use crate::progress::say;
use crate::report::median;
use crate::tsbs::{Dataset, FIELDS, INTERVAL_MS, Rng, START_MS, rfc3339};
use crate::{kaiwu_run, peers};

const DUCKDB_SCRIPT: &str = include_str!("../peers/duckdb_query.py");
const HOUR: i64 = 3_600_000;

/// Options of `tsbs-query`.
#[derive(Debug, Args, Default)]
pub(crate) struct Opts {
    /// Small sizes (10 hosts x 12 h): finishes in seconds.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Hosts (default 100; quick 10).
    #[arg(long)]
    pub(crate) hosts: Option<usize>,
    /// Hours of data (default 72; quick 12).
    #[arg(long)]
    pub(crate) hours: Option<usize>,
    /// Instances per query kind (default 20; quick 5).
    #[arg(long)]
    pub(crate) instances: Option<usize>,
    /// Timed rounds per system (default 3).
    #[arg(long)]
    pub(crate) reps: Option<usize>,
    /// Seed of the data and query generators.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// How the scenario measures, for the docs.
pub(crate) const NOTES: &str = "How it is measured:\n\n\
- Same generated data for both (TSBS cpu-only, seed 1). Kaiwu: ingested through the storage API (as in scenario b), queried with `QueryEngine::sql` (DataFusion over the Parquet segments and memtable), timing covers planning, execution and collecting the Arrow result. DuckDB: the CSV loaded into a DuckDB file with `read_csv` + `CHECKPOINT`, queried from Python; timing covers `execute` + `fetchall`.\n\
- Queries follow TSBS's definitions: single-groupby-1-1-1 = max of one metric of one host per minute over 1 h; double-groupby-1 = mean of one metric per host per hour over 12 h; high-cpu-all = every reading with usage_user > 90 over 12 h, all hosts; cpu-max-all-1 = max of all ten metrics of one host per hour over 8 h; lastpoint = each host's newest reading. Kaiwu answers lastpoint from its latest-value cache (what `GET /api/devices/{id}/latest` serves); DuckDB with `DISTINCT ON (hostname) ... ORDER BY hostname, time DESC`.\n\
- Hosts and start times are drawn at random (seeded); each instance runs once untimed (warm-up), then in every timed round; the table shows the median over all instances and rounds. Ratio = Kaiwu latency / DuckDB latency (below 1: Kaiwu faster).\n\
- Where Kaiwu is slower, and why: every query builds a fresh DataFusion session and plan (a few ms of fixed cost that DuckDB's prepared in-process path does not pay; it dominates single-groupby-1-1-1), and segments are sorted by (device, time) within 24 h windows, so a time-only filter over all hosts (double-groupby-1) decodes whole windows where DuckDB's time-ordered row groups let it skip. Late materialisation (filter columns first) and a shared footer cache are on; smaller pages with page-index pruning and plan caching are the next steps.\n";

/// The query kinds, in report order.
pub(crate) const KINDS: [&str; 5] = [
    "lastpoint",
    "single-groupby-1-1-1",
    "double-groupby-1",
    "high-cpu-all",
    "cpu-max-all-1",
];

/// One instance of a query kind, in both dialects (`None`: Kaiwu answers from its cache).
#[derive(Debug, Clone)]
struct Instance {
    kaiwu: Option<String>,
    duckdb: String,
}

/// Per kind: the median ms of Kaiwu and DuckDB.
pub(crate) type Results = BTreeMap<&'static str, (Option<f64>, Option<f64>)>;

/// Run the scenario; returns the markdown table (also printed).
pub(crate) fn run(o: &Opts) -> anyhow::Result<String> {
    let hosts = o.hosts.unwrap_or(if o.quick { 10 } else { 100 }).max(1);
    let hours = o.hours.unwrap_or(if o.quick { 12 } else { 72 }).max(13);
    let n = o.instances.unwrap_or(if o.quick { 5 } else { 20 }).max(1);
    let reps = o.reps.unwrap_or(3).max(1);
    say!("[tsbs-query] generating TSBS cpu-only: {hosts} hosts x {hours} h");
    let data = Dataset::generate(hosts, hours, o.seed);
    let queries = instances(hosts, hours, n, o.seed);
    let work = tempfile::tempdir().context("creating a temp dir")?;
    say!("[tsbs-query] loading Kaiwu");
    let dt = kaiwu_run::cpu_type()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let (db, _) = Tsdb::open(&work.path().join("kaiwu"), TsdbOptions::default())
        .context("opening the tsdb")?;
    let db = Arc::new(db);
    rt.block_on(kaiwu_run::ingest(&db, &data, &dt))?;
    let catalog = BenchCatalog {
        db: db.clone(),
        dt,
        devices: (0..hosts).map(|h| data.tags[h][0].clone()).collect(),
    };
    let devices = catalog.devices.clone();
    let engine = QueryEngine::new(Arc::new(catalog), QueryLimits::default())?;
    let duck = peers::duckdb_python().and_then(|py| {
        say!("[tsbs-query] loading DuckDB");
        let csv = work.path().join("cpu.csv");
        data.write_csv(&csv).context("writing the csv")?;
        let script = work.path().join("duckdb_query.py");
        std::fs::write(&script, DUCKDB_SCRIPT).context("writing the duckdb script")?;
        let db = work.path().join("cpu.duckdb");
        duck_cmd(&py, &script, &["load", &path_str(&csv), &path_str(&db)])?;
        Ok((py, script, db))
    });
    if let Err(e) = &duck {
        say!("[tsbs-query] peer unavailable: DuckDB: {e:#}");
    }
    let qfile = work.path().join("queries.json");
    let duck_sql: BTreeMap<&str, Vec<&str>> = queries
        .iter()
        .map(|(k, v)| (*k, v.iter().map(|i| i.duckdb.as_str()).collect()))
        .collect();
    std::fs::write(&qfile, serde_json::to_vec(&duck_sql)?).context("writing queries.json")?;
    let mut kaiwu_ms: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut duck_ms: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    // Warm-up (untimed): the first pass opens files and fills the OS cache for both.
    kaiwu_round(&rt, &engine, &db, &devices, &queries, &mut BTreeMap::new())?;
    for rep in 1..=reps {
        kaiwu_round(&rt, &engine, &db, &devices, &queries, &mut kaiwu_ms)?;
        say!("[tsbs-query] round {rep}/{reps} kaiwu done");
        if let Ok((py, script, dbf)) = &duck {
            let out = duck_cmd(py, script, &["run", &path_str(dbf), &path_str(&qfile)])?;
            let v: BTreeMap<String, Vec<f64>> =
                serde_json::from_str(&out).context("parsing duckdb's timings")?;
            for k in KINDS {
                duck_ms
                    .entry(k)
                    .or_default()
                    .extend(v.get(k).into_iter().flatten());
            }
            say!("[tsbs-query] round {rep}/{reps} duckdb done");
        }
    }
    let results: Results = KINDS
        .iter()
        .map(|k| {
            let m = |x: &BTreeMap<&str, Vec<f64>>| median(x.get(k).cloned().unwrap_or_default());
            (*k, (m(&kaiwu_ms), m(&duck_ms)))
        })
        .collect();
    let table = table(&results, hosts, hours, n, reps);
    println!("\n{table}");
    Ok(table)
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

fn duck_cmd(py: &Path, script: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(py)
        .arg(script)
        .args(args)
        .output()
        .context("running the duckdb script")?;
    if !out.status.success() {
        bail!("duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run every instance once on Kaiwu, adding each latency (ms) to `out`.
fn kaiwu_round(
    rt: &tokio::runtime::Runtime,
    engine: &QueryEngine,
    db: &Tsdb,
    devices: &[String],
    queries: &BTreeMap<&'static str, Vec<Instance>>,
    out: &mut BTreeMap<&'static str, Vec<f64>>,
) -> anyhow::Result<()> {
    for (kind, list) in queries {
        for q in list {
            let t0 = Instant::now();
            let rows = match &q.kaiwu {
                Some(sql) => rt
                    .block_on(engine.sql("bench", sql))
                    .with_context(|| format!("kaiwu: {sql}"))?
                    .num_rows(),
                // lastpoint: every host's newest values, from the latest-value cache.
                None => devices.iter().filter_map(|d| db.latest("bench", d)).count(),
            };
            out.entry(kind)
                .or_default()
                .push(t0.elapsed().as_secs_f64() * 1e3);
            if rows == 0 {
                bail!("kaiwu returned no rows for {kind}: {:?}", q.kaiwu);
            }
        }
    }
    Ok(())
}

/// `n` instances of each kind over `hosts` hosts and `hours` hours of data.
fn instances(
    hosts: usize,
    hours: usize,
    n: usize,
    seed: u64,
) -> BTreeMap<&'static str, Vec<Instance>> {
    let mut rng = Rng::new(seed ^ 0x5eed_c0de);
    let end = START_MS + hours as i64 * HOUR;
    let start = |span: i64, rng: &mut Rng| {
        let slots = ((end - START_MS - span) / INTERVAL_MS).max(1) as usize;
        START_MS + rng.below(slots) as i64 * INTERVAL_MS
    };
    let k = |t: i64| format!("TIMESTAMP '{}'", rfc3339(t));
    let d = |t: i64| {
        format!(
            "TIMESTAMP '{}'",
            rfc3339(t).replace('T', " ").trim_end_matches('Z')
        )
    };
    let mut out: BTreeMap<&'static str, Vec<Instance>> = BTreeMap::new();
    for _ in 0..n {
        let host = format!("host_{}", rng.below(hosts));
        out.entry("lastpoint").or_default().push(Instance {
            kaiwu: None,
            duckdb: "SELECT DISTINCT ON (hostname) * FROM cpu ORDER BY hostname, time DESC".into(),
        });
        let t = start(HOUR, &mut rng);
        out.entry("single-groupby-1-1-1").or_default().push(Instance {
            kaiwu: Some(format!(
                "SELECT date_bin(INTERVAL '1 minute', ts) AS minute, max(usage_user) AS max_usage_user \
                 FROM cpu WHERE device = '{host}' AND ts >= {} AND ts < {} GROUP BY 1 ORDER BY 1",
                k(t), k(t + HOUR)
            )),
            duckdb: format!(
                "SELECT time_bucket(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_usage_user \
                 FROM cpu WHERE hostname = '{host}' AND time >= {} AND time < {} GROUP BY 1 ORDER BY 1",
                d(t), d(t + HOUR)
            ),
        });
        let t = start(12 * HOUR, &mut rng);
        out.entry("double-groupby-1").or_default().push(Instance {
            kaiwu: Some(format!(
                "SELECT date_bin(INTERVAL '1 hour', ts) AS hour, device, avg(usage_user) AS mean_usage_user \
                 FROM cpu WHERE ts >= {} AND ts < {} GROUP BY 1, 2 ORDER BY 1, 2",
                k(t), k(t + 12 * HOUR)
            )),
            duckdb: format!(
                "SELECT time_bucket(INTERVAL '1 hour', time) AS hour, hostname, avg(usage_user) AS mean_usage_user \
                 FROM cpu WHERE time >= {} AND time < {} GROUP BY 1, 2 ORDER BY 1, 2",
                d(t), d(t + 12 * HOUR)
            ),
        });
        let t = start(12 * HOUR, &mut rng);
        out.entry("high-cpu-all").or_default().push(Instance {
            kaiwu: Some(format!(
                "SELECT * FROM cpu WHERE usage_user > 90.0 AND ts >= {} AND ts < {}",
                k(t),
                k(t + 12 * HOUR)
            )),
            duckdb: format!(
                "SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= {} AND time < {}",
                d(t),
                d(t + 12 * HOUR)
            ),
        });
        let t = start(8 * HOUR, &mut rng);
        let maxes = |_: ()| {
            FIELDS
                .iter()
                .map(|f| format!("max({f}) AS max_{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.entry("cpu-max-all-1").or_default().push(Instance {
            kaiwu: Some(format!(
                "SELECT date_bin(INTERVAL '1 hour', ts) AS hour, {} FROM cpu \
                 WHERE device = '{host}' AND ts >= {} AND ts < {} GROUP BY 1 ORDER BY 1",
                maxes(()),
                k(t),
                k(t + 8 * HOUR)
            )),
            duckdb: format!(
                "SELECT time_bucket(INTERVAL '1 hour', time) AS hour, {} FROM cpu \
                 WHERE hostname = '{host}' AND time >= {} AND time < {} GROUP BY 1 ORDER BY 1",
                maxes(()),
                d(t),
                d(t + 8 * HOUR)
            ),
        });
    }
    out
}

fn table(r: &Results, hosts: usize, hours: usize, n: usize, reps: usize) -> String {
    let mut t = format!(
        "TSBS query subset, {hosts} hosts x {hours} h, {n} instances per kind x {reps} rounds (median latency):\n\n\
         | query | Kaiwu ms | DuckDB {} ms | Kaiwu/DuckDB latency | goal |\n|---|---:|---:|---:|---|\n",
        peers::DUCKDB_VERSION
    );
    let f = |x: Option<f64>| x.map_or("n/a".to_owned(), |v| format!("{v:.2}"));
    for k in KINDS {
        let (kw, dk) = r.get(k).copied().unwrap_or((None, None));
        let ratio = match (kw, dk) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        let mut goal = match ratio {
            Some(x) if x <= 1.0 => "<= 1.0: met".to_owned(),
            Some(_) => "<= 1.0: NOT met".to_owned(),
            None => "n/a".to_owned(),
        };
        if k == "lastpoint" {
            let ok = kw.is_some_and(|v| v < 5.0);
            let _ = write!(
                goal,
                "; < 5 ms from the cache: {}",
                if ok { "met" } else { "NOT met" }
            );
        }
        let _ = writeln!(
            t,
            "| {k} | {} | {} | {} | {goal} |",
            f(kw),
            f(dk),
            ratio.map_or("n/a".to_owned(), |x| format!("{x:.2}x"))
        );
    }
    t
}

/// The catalog of the benchmark: one tenant, one device type, the TSBS hosts as devices.
struct BenchCatalog {
    db: Arc<Tsdb>,
    dt: DeviceType,
    devices: Vec<String>,
}

impl Catalog for BenchCatalog {
    fn device_types(&self, _tenant: &str) -> Result<Vec<DeviceType>, String> {
        Ok(vec![self.dt.clone()])
    }

    fn devices(&self, _tenant: &str) -> Result<Vec<DeviceInfo>, String> {
        Ok(self
            .devices
            .iter()
            .map(|d| DeviceInfo {
                id: d.clone(),
                device_type: self.dt.id.clone(),
                name: d.clone(),
                ..DeviceInfo::default()
            })
            .collect())
    }

    fn snapshot(&self, tenant: &str, ty: &str, range: TimeRange) -> Result<TableSnapshot, String> {
        Ok(self.db.snapshot(tenant, ty, range))
    }

    fn rollup_snapshot(
        &self,
        tenant: &str,
        ty: &str,
        resolution: Resolution,
        range: TimeRange,
    ) -> Result<Option<RollupSnapshot>, String> {
        Ok(Some(self.db.rollup_snapshot(tenant, ty, resolution, range)))
    }
}
