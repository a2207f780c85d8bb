//! Medians, the results table and `docs/benchmarks.md`.

use std::fmt::Write as _;

/// One repetition of one system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Measure {
    /// Wall seconds of the timed part.
    pub(crate) seconds: f64,
    /// User + system CPU seconds of the timed part, when measurable.
    pub(crate) cpu_seconds: Option<f64>,
    /// Peak resident memory in KiB, when measurable.
    pub(crate) peak_rss_kib: Option<u64>,
    /// Bytes on disk afterwards.
    pub(crate) bytes: Option<u64>,
}

/// All repetitions of one system, or why it could not run.
#[derive(Debug)]
pub(crate) struct SystemRuns {
    pub(crate) name: String,
    pub(crate) runs: Vec<Measure>,
    pub(crate) unavailable: Option<String>,
    /// Note for the RSS column when it is not measured.
    pub(crate) rss_note: &'static str,
}

/// Median of some values (mean of the middle two for an even count).
pub(crate) fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Median figures of one system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) seconds: f64,
    pub(crate) cpu_seconds: Option<f64>,
    pub(crate) peak_rss_kib: Option<f64>,
    pub(crate) bytes: Option<f64>,
}

impl SystemRuns {
    pub(crate) fn summary(&self) -> Option<Summary> {
        let r = &self.runs;
        Some(Summary {
            seconds: median(r.iter().map(|m| m.seconds).collect())?,
            cpu_seconds: median(r.iter().filter_map(|m| m.cpu_seconds).collect()),
            peak_rss_kib: median(
                r.iter()
                    .filter_map(|m| m.peak_rss_kib.map(|k| k as f64))
                    .collect(),
            ),
            bytes: median(r.iter().filter_map(|m| m.bytes.map(|b| b as f64)).collect()),
        })
    }
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "n/a".to_owned(), f)
}

/// Human figure: 1 234 567 -> "1.23 M".
pub(crate) fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The results as a Markdown table (also readable on a terminal).
pub(crate) fn table(systems: &[SystemRuns], rows: usize, points: usize) -> String {
    let kaiwu = systems.first().and_then(SystemRuns::summary);
    let mut t = String::from(
        "| system | median s | rows/s | points/s | Kaiwu/peer (points/s) | CPU s per M points | peak RSS | bytes/point |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (i, s) in systems.iter().enumerate() {
        let Some(m) = s.summary() else {
            let why = s.unavailable.as_deref().unwrap_or("no result");
            let _ = writeln!(t, "| {} | unavailable: {why} | | | | | | |", s.name);
            continue;
        };
        let ratio = match (i, kaiwu) {
            (0, _) => "1.00 (reference)".to_owned(),
            (_, Some(k)) => format!("{:.2}x", m.seconds / k.seconds),
            _ => "n/a".to_owned(),
        };
        let mpts = points as f64 / 1e6;
        let _ = writeln!(
            t,
            "| {} | {:.3} | {} | {} | {ratio} | {} | {} | {} |",
            s.name,
            m.seconds,
            si(rows as f64 / m.seconds),
            si(points as f64 / m.seconds),
            opt(m.cpu_seconds, |c| format!("{:.3}", c / mpts)),
            m.peak_rss_kib.map_or_else(
                || s.rss_note.to_owned(),
                |k| format!("{:.0} MiB", k / 1024.0)
            ),
            opt(m.bytes, |b| format!("{:.2}", b / points as f64)),
        );
    }
    t
}

/// Goals of the storage issue against what was reached, as Markdown bullets.
pub(crate) fn goals(systems: &[SystemRuns], points: usize) -> String {
    let s: Vec<Option<Summary>> = systems.iter().map(SystemRuns::summary).collect();
    let get = |i: usize| s.get(i).copied().flatten();
    let mut g = String::new();
    let Some(k) = get(0) else {
        return "- Kaiwu did not produce a result.\n".to_owned();
    };
    let pps = points as f64 / k.seconds;
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let _ = writeln!(
        g,
        "- >= 3 M points/s: reached {} points/s ({})",
        si(pps),
        mark(pps >= 3e6)
    );
    for (i, name, goal) in [(1, "DuckDB", 2.0), (2, "PostgreSQL COPY", 5.0)] {
        match get(i) {
            Some(p) => {
                let r = p.seconds / k.seconds;
                let _ = writeln!(
                    g,
                    "- ingest >= {goal}x {name}: reached {r:.2}x ({})",
                    mark(r >= goal)
                );
            }
            None => {
                let _ = writeln!(
                    g,
                    "- ingest >= {goal}x {name}: peer unavailable, not measured"
                );
            }
        }
    }
    let kb = k.bytes.map(|b| b / points as f64);
    if let (Some(kb), Some(db)) = (kb, get(1).and_then(|d| d.bytes)) {
        let db = db / points as f64;
        let _ = writeln!(
            g,
            "- bytes/point <= half of DuckDB's ({:.2}): reached {kb:.2} ({})",
            db / 2.0,
            mark(kb <= db / 2.0)
        );
    }
    if let Some(kb) = kb {
        let _ = writeln!(
            g,
            "- < 2 bytes/point for float sensor series: reached {kb:.2} ({})",
            mark(kb < 2.0)
        );
    }
    g
}

/// `docs/benchmarks.md` in the source tree.
pub(crate) fn docs_path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md")
}

/// Replace (or append) scenario `name`'s section of `docs/benchmarks.md`, keeping the others,
/// and refresh the scenario status table at the end.
pub(crate) fn write_section(name: &str, body: &str) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    let path = docs_path();
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let mut sections = parse_sections(&old);
    let body = with_charts(name, body, &path)?;
    match sections.iter_mut().find(|(n, _)| n == name) {
        Some(s) => s.1 = body,
        None => sections.push((name.to_owned(), body)),
    }
    // Scenario order (a, b, c, ...), whatever order they were run in.
    let rank = |n: &str| {
        crate::SCENARIOS
            .iter()
            .position(|s| s.name == n)
            .unwrap_or(usize::MAX)
    };
    sections.sort_by_key(|(n, _)| rank(n));
    let mut d = String::from(
        "# Benchmarks\n\nGenerated by `kaiwu-bench` (crate `crates/kaiwu-bench`); each scenario rewrites its own section. Rerun to refresh.\n\n",
    );
    for (n, b) in &sections {
        let _ = writeln!(
            d,
            "<!-- scenario:{n} -->\n{}\n<!-- /scenario -->\n",
            b.trim_end()
        );
    }
    d.push_str("## Scenarios\n\n| scenario | status |\n|---|---|\n");
    for s in crate::SCENARIOS {
        let status = s
            .pending
            .map_or("landed".to_owned(), |p| format!("pending: {p}"));
        let _ = writeln!(d, "| {} | {status} |", s.what);
    }
    std::fs::write(&path, d).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// `body` with its charts (drawn into `docs/bench/`) linked at its end
/// (links of an earlier run are replaced).
fn with_charts(name: &str, body: &str, doc: &std::path::Path) -> anyhow::Result<String> {
    let kept: Vec<&str> = body
        .lines()
        .filter(|l| !(l.starts_with("![") && l.contains("](bench/")))
        .collect();
    let body = kept.join("\n");
    let dir = doc
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("bench");
    let links = crate::charts::draw(name, &body, &dir)?;
    Ok(if links.is_empty() {
        body
    } else {
        format!("{}\n\n{links}", body.trim_end())
    })
}

/// Redraws the charts of every section of `docs/benchmarks.md` from its tables.
pub(crate) fn redraw_charts() -> anyhow::Result<std::path::PathBuf> {
    let path = docs_path();
    let doc = std::fs::read_to_string(&path)?;
    for (name, body) in parse_sections(&doc) {
        write_section(&name, &body)?;
    }
    Ok(path)
}

/// The `<!-- scenario:NAME -->` ... `<!-- /scenario -->` sections of a benchmarks document.
fn parse_sections(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("<!-- scenario:") {
        let after = &rest[i + "<!-- scenario:".len()..];
        let Some(j) = after.find(" -->") else { break };
        let name = after[..j].to_owned();
        let body_start = &after[j + " -->".len()..];
        let Some(k) = body_start.find("<!-- /scenario -->") else {
            break;
        };
        out.push((name, body_start[..k].trim().to_owned()));
        rest = &body_start[k..];
    }
    out
}

/// "YYYY-MM-DD HH:MM UTC" now, from `date`.
pub(crate) fn date_utc() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_round_trip_and_unknown_text_is_dropped() {
        let doc = "# x\n<!-- scenario:a -->\nA body\n<!-- /scenario -->\nnoise\n<!-- scenario:b -->\nB\n<!-- /scenario -->\n";
        assert_eq!(
            parse_sections(doc),
            vec![("a".into(), "A body".into()), ("b".into(), "B".into())]
        );
        assert!(parse_sections("# old format without markers").is_empty());
    }
}
