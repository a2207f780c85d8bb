//! Scenario b: storage ingest of TSBS cpu-only data, Kaiwu vs DuckDB vs PostgreSQL COPY.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::progress::say;
use crate::report::{self, SystemRuns};
use crate::tsbs::Dataset;
use crate::{kaiwu_run, peers, sys};

/// Options of `storage-ingest`.
#[derive(Debug, Args, Default)]
pub(crate) struct Opts {
    /// Small sizes (10 hosts x 6 h): finishes in seconds.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Hosts (default 100; quick 10).
    #[arg(long)]
    pub(crate) hosts: Option<usize>,
    /// Hours of data at one row per host every 10 s (default 72; quick 6).
    #[arg(long)]
    pub(crate) hours: Option<usize>,
    /// Repetitions per system; medians are reported (default 3).
    #[arg(long)]
    pub(crate) reps: Option<usize>,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Write the results to docs/benchmarks.md (overwrites it).
    #[arg(long)]
    pub(crate) write_docs: bool,
}

/// Run the scenario, print the table, optionally write the docs.
pub(crate) fn run(o: &Opts) -> anyhow::Result<()> {
    let hosts = o.hosts.unwrap_or(if o.quick { 10 } else { 100 }).max(1);
    let hours = o.hours.unwrap_or(if o.quick { 6 } else { 72 }).max(1);
    let reps = o.reps.unwrap_or(3).max(1);
    let tck = sys::clk_tck();
    say!(
        "[storage-ingest] generating TSBS cpu-only: {hosts} hosts x {hours} h, seed {}",
        o.seed
    );
    let data = Dataset::generate(hosts, hours, o.seed);
    let work = tempfile::tempdir().context("creating a temp dir")?;
    let csv = work.path().join("cpu.csv");
    data.write_csv(&csv).context("writing the csv")?;
    let csv_bytes = std::fs::metadata(&csv).map_or(0, |m| m.len());
    say!(
        "[storage-ingest] {} rows, {} points; csv {:.1} MiB",
        data.rows(),
        data.points(),
        csv_bytes as f64 / 1048576.0
    );
    let duck = peers::duckdb_python();
    let pg = peers::postgres_check();
    let mut systems = vec![
        runs("Kaiwu (storage API, fsync)", None, "n/a"),
        runs(
            &format!("DuckDB {} (read_csv + CHECKPOINT)", peers::DUCKDB_VERSION),
            duck.as_ref().err(),
            "n/a",
        ),
        runs(
            &format!(
                "PostgreSQL {} (\\copy CSV)",
                pg.as_deref()
                    .unwrap_or("?")
                    .split_whitespace()
                    .next()
                    .unwrap_or("?")
            ),
            pg.as_ref().err(),
            "n/a (server process)",
        ),
    ];
    for s in systems
        .iter()
        .filter_map(|s| s.unavailable.as_ref().map(|u| (&s.name, u)))
    {
        say!("[storage-ingest] peer unavailable: {}: {}", s.0, s.1);
    }
    let mut kaiwu_disk = None;
    for rep in 1..=reps {
        let (m, disk) = kaiwu_run::run(&data, tck)?;
        progress(rep, reps, "kaiwu", &m, data.points());
        systems[0].runs.push(m);
        kaiwu_disk = Some(disk);
        if let Ok(py) = &duck {
            record(&mut systems[1], rep, reps, "duckdb", data.points(), || {
                peers::duckdb_load(py, &csv, work.path())
            });
        }
        if pg.is_ok() {
            record(
                &mut systems[2],
                rep,
                reps,
                "postgres",
                data.points(),
                || peers::postgres_load(&csv, work.path(), tck),
            );
        }
    }
    let table = report::table(&systems, data.rows(), data.points());
    let goals = report::goals(&systems, data.points());
    let mut disk = String::new();
    if let Some(d) = kaiwu_disk {
        let p = data.points() as f64;
        let _ = writeln!(
            disk,
            "- Kaiwu on disk after flush: segments only {} bytes ({:.2} bytes/point), segments + rollups {} bytes ({:.2} bytes/point); `Tsdb::disk_bytes` {} bytes.",
            d.segment_bytes,
            d.segment_bytes as f64 / p,
            d.segment_rollup_bytes,
            d.segment_rollup_bytes as f64 / p,
            d.engine_bytes
        );
    }
    println!("\n{table}\n{goals}{disk}");
    if o.write_docs {
        let size = format!(
            "{} ({hosts} hosts x {hours} h = {} rows, {} points, CSV {:.1} MiB), {reps} repetitions, seed {}",
            if o.quick && o.hosts.is_none() && o.hours.is_none() {
                "quick size"
            } else {
                "full size"
            },
            data.rows(),
            data.points(),
            csv_bytes as f64 / 1048576.0,
            o.seed
        );
        let path = write_docs(&size, &table, &goals, &disk, tck)?;
        say!("[storage-ingest] wrote {}", path.display());
    }
    Ok(())
}

fn runs(name: &str, err: Option<&anyhow::Error>, rss_note: &'static str) -> SystemRuns {
    SystemRuns {
        name: name.to_owned(),
        runs: Vec::new(),
        unavailable: err.map(|e| format!("{e:#}")),
        rss_note,
    }
}

fn record(
    s: &mut SystemRuns,
    rep: usize,
    reps: usize,
    label: &str,
    points: usize,
    f: impl FnOnce() -> anyhow::Result<report::Measure>,
) {
    match f() {
        Ok(m) => {
            progress(rep, reps, label, &m, points);
            s.runs.push(m);
        }
        Err(e) => {
            say!("[storage-ingest] rep {rep}/{reps} {label} failed: {e:#}");
            s.unavailable.get_or_insert_with(|| format!("{e:#}"));
        }
    }
}

fn progress(rep: usize, reps: usize, label: &str, m: &report::Measure, points: usize) {
    say!(
        "[storage-ingest] rep {rep}/{reps} {label:<8} {:>8.3} s  {} points/s  peak RSS {}",
        m.seconds,
        report::si(points as f64 / m.seconds),
        m.peak_rss_kib
            .map_or_else(|| "n/a".to_owned(), |k| format!("{} MiB", k / 1024))
    );
}

fn write_docs(
    size: &str,
    table: &str,
    goals: &str,
    disk: &str,
    tck: f64,
) -> anyhow::Result<PathBuf> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut d = String::from("## Storage ingest (scenario b)\n\n");
    let _ = writeln!(d, "- Date: {}", report::date_utc());
    let _ = writeln!(d, "- Machine: {}", sys::machine());
    let _ = writeln!(
        d,
        "- Command: `cargo run --release -p kaiwu-bench -- {}`",
        args.join(" ")
    );
    let _ = writeln!(
        d,
        "- Data: TSBS cpu-only generated by kaiwu-bench, {size}.\n"
    );
    d.push_str(table);
    d.push_str("\nGoals of the storage issue:\n\n");
    d.push_str(goals);
    d.push_str(disk);
    d.push_str(&notes(tck));
    report::write_section("storage-ingest", &d)
}

fn notes(tck: f64) -> String {
    format!(
        "\nHow it is measured:\n\n\
- Kaiwu: device type `cpu` with ten float properties; rows built with `BatchBuilder::push_values` in batches of {} rows (building is inside the timing), each written with `Tsdb::write` (default fsync durability), flushed to Parquet in the background when due (as the node's flush loop does; writes go on meanwhile) and once at the end. Timed: build + write + every flush. The device id is the hostname; the other nine tags are registry metadata in Kaiwu and are not stored per row, while the peers store all ten tags per row. CSV parsing is not part of Kaiwu's timing (Kaiwu ingest from CSV: not done yet).\n\
- DuckDB: `CREATE TABLE cpu AS SELECT * FROM read_csv(...)` with explicit column types + `CHECKPOINT` into a fresh file, in a Python venv (`$HOME/.cache/kaiwu-bench-venv`). CPU from Python's `resource` module; peak RSS is the Python process's `VmHWM` (includes the interpreter).\n\
- PostgreSQL: fresh database, table of timestamptz + 10 text tags + 10 double precision, `\\copy cpu FROM ... CSV HEADER` through `psql`; bytes from `pg_total_relation_size`; CPU is the server backend's, read from `/proc/<pid>/stat` (psql's own parsing CPU not included); RSS not measured (server process).\n\
- Systems run alternately within each repetition; the table shows medians. The ratio column is peer seconds / Kaiwu seconds (above 1: Kaiwu faster).\n\
- Kaiwu's CPU is this process's utime+stime from `/proc/self/stat` (clock ticks: {tck}/s from `getconf CLK_TCK`, 100 assumed if unavailable); its peak RSS is `VmHWM` after resetting it via `/proc/self/clear_refs` and includes the generated data set held in memory (about 80 bytes per row); freed memory the allocator keeps makes it creep up between repetitions.\n\
- Kaiwu writes one batch at a time from one task while a flush runs beside it, so it uses up to two cores (compare CPU s with wall s); DuckDB's CSV load is parallel.\n\
- The generated values are whole numbers as TSBS emits them (`usage_user=58i`), stored as floats by all three systems. (Before 2026-11-21 the generator kept full-precision random-walk doubles: those cost Kaiwu 6.54 bytes/point, DuckDB 7.71.)\n\
- Kaiwu's bytes/point counts segments and rollups, everything the engine keeps on disk after flush (the WAL is gone by then); the line above splits it.\n",
        kaiwu_run::BATCH_ROWS
    )
}
