//! Peers for the storage ingest scenario: DuckDB (Python package in a venv) and PostgreSQL
//! (`\copy` through `psql` to the server on 127.0.0.1:5432).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::progress::say;
use crate::report::Measure;
use crate::sys;
use crate::tsbs::{FIELDS, TAGS};

/// DuckDB version installed into the venv.
pub(crate) const DUCKDB_VERSION: &str = "2.0.0";
const DUCKDB_SCRIPT: &str = include_str!("../peers/duckdb_load.py");

/// The venv's python, creating the venv and installing DuckDB on first use.
pub(crate) fn duckdb_python() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let venv = Path::new(&home).join(".cache/kaiwu-bench-venv");
    let py = venv.join("bin/python");
    let probe = format!("import duckdb, sys; sys.exit(duckdb.__version__ != '{DUCKDB_VERSION}')");
    if py.exists() && run_ok(Command::new(&py).args(["-c", &probe])) {
        return Ok(py);
    }
    say!(
        "[peer] installing duckdb=={DUCKDB_VERSION} into {}",
        venv.display()
    );
    if !py.exists() && !run_ok(Command::new("python3").arg("-m").arg("venv").arg(&venv)) {
        bail!(
            "could not create a python venv at {} with `python3 -m venv`",
            venv.display()
        );
    }
    let pkg = format!("duckdb=={DUCKDB_VERSION}");
    if !run_ok(Command::new(venv.join("bin/pip")).args(["install", "-q", &pkg])) {
        bail!("`pip install {pkg}` failed in {}", venv.display());
    }
    Ok(py)
}

fn run_ok(cmd: &mut Command) -> bool {
    cmd.status().is_ok_and(|s| s.success())
}

/// Load `csv` into a fresh DuckDB file in `work`.
pub(crate) fn duckdb_load(py: &Path, csv: &Path, work: &Path) -> anyhow::Result<Measure> {
    let script = work.join("duckdb_load.py");
    std::fs::write(&script, DUCKDB_SCRIPT).context("writing the duckdb script")?;
    let db = work.join("cpu.duckdb");
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(work.join("cpu.duckdb.wal"));
    let out = Command::new(py)
        .arg(&script)
        .arg(csv)
        .arg(&db)
        .output()
        .context("running the duckdb script")?;
    if !out.status.success() {
        bail!(
            "duckdb load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing the duckdb script's output")?;
    let _ = std::fs::remove_file(&db);
    Ok(Measure {
        seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
        cpu_seconds: v["cpu_seconds"].as_f64(),
        peak_rss_kib: v["max_rss_kib"].as_u64(),
        bytes: v["bytes"].as_u64(),
    })
}

/// `psql` arguments reaching the server as `postgres` on 127.0.0.1:5432.
fn psql(db: &str) -> Command {
    let mut c = Command::new("psql");
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        "5432",
        "-U",
        "postgres",
        "-X",
        "-q",
        "-At",
    ])
    .args(["-v", "ON_ERROR_STOP=1", "-d", db]);
    c
}

/// Run `sql` with `psql` in database `db`; fails with psql's message.
pub(crate) fn psql_ok(db: &str, sql: &str) -> anyhow::Result<()> {
    let out = psql(db)
        .args(["-c", sql])
        .output()
        .context("`psql` is not installed (Debian package postgresql-client)")?;
    if !out.status.success() {
        bail!(
            "psql in database {db} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// PostgreSQL's version if the server answers, else why not.
pub(crate) fn postgres_check() -> anyhow::Result<String> {
    let out = psql("postgres")
        .args(["-c", "show server_version"])
        .output()
        .context("`psql` is not installed (Debian package postgresql-client)")?;
    if !out.status.success() {
        bail!(
            "PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) is not reachable: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `\copy` `csv` into a table of a fresh database, timed; the database is dropped afterwards.
pub(crate) fn postgres_load(csv: &Path, work: &Path, tck: f64) -> anyhow::Result<Measure> {
    let db = format!("kaiwu_bench_{}", std::process::id());
    let drop = format!("DROP DATABASE IF EXISTS {db}");
    let _ = psql("postgres").args(["-c", &drop]).output();
    let created = psql("postgres")
        .args(["-c", &format!("CREATE DATABASE {db}")])
        .status()
        .is_ok_and(|s| s.success());
    if !created {
        bail!("could not create database {db}");
    }
    let result = postgres_copy(&db, csv, work, tck);
    let _ = psql("postgres").args(["-c", &drop]).output();
    result
}

fn postgres_copy(db: &str, csv: &Path, work: &Path, tck: f64) -> anyhow::Result<Measure> {
    let cols: Vec<String> = std::iter::once("time timestamptz NOT NULL".to_owned())
        .chain(TAGS.iter().map(|t| format!("{t} text")))
        .chain(FIELDS.iter().map(|f| format!("{f} double precision")))
        .collect();
    // The backend's CPU ticks are read from /proc around the copy (same machine).
    let script = format!(
        "CREATE TABLE cpu ({});\n\
         SELECT pg_backend_pid() AS pid \\gset\n\
         \\setenv KB_PID :pid\n\
         \\! echo S $(date +%s%N) $(cat /proc/$KB_PID/stat 2>/dev/null)\n\
         \\copy cpu FROM '{}' CSV HEADER\n\
         \\! echo E $(date +%s%N) $(cat /proc/$KB_PID/stat 2>/dev/null)\n\
         SELECT 'B ' || pg_total_relation_size('cpu');\n",
        cols.join(", "),
        csv.display()
    );
    let file = work.join("pg_load.sql");
    std::fs::write(&file, script).context("writing the psql script")?;
    let out = psql(db)
        .arg("-f")
        .arg(&file)
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!(
            "postgres load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_copy_output(&String::from_utf8_lossy(&out.stdout), tck)
}

fn parse_copy_output(text: &str, tck: f64) -> anyhow::Result<Measure> {
    let mark = |p: &str| -> Option<(f64, Option<u64>)> {
        let line = text.lines().find(|l| l.starts_with(p))?;
        let mut it = line[2..].splitn(2, ' ');
        let ns: f64 = it.next()?.trim().parse().ok()?;
        Some((ns / 1e9, it.next().and_then(sys::stat_ticks)))
    };
    let (Some((t0, c0)), Some((t1, c1))) = (mark("S "), mark("E ")) else {
        bail!("could not read the timing marks from psql's output: {text}");
    };
    let bytes = text
        .lines()
        .find_map(|l| l.strip_prefix("B "))
        .and_then(|b| b.trim().parse().ok());
    let cpu = match (c0, c1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / tck),
        _ => None,
    };
    Ok(Measure {
        seconds: t1 - t0,
        cpu_seconds: cpu,
        peak_rss_kib: None,
        bytes,
    })
}
