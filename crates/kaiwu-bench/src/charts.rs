//! SVG charts of `docs/benchmarks.md`, drawn with plotters from the tables the scenarios wrote,
//! so a chart always shows exactly the figures of its table.

use std::path::Path;

use plotters::prelude::*;

/// Which column of which scenario's tables becomes a chart.
struct Spec {
    scenario: &'static str,
    /// Header of the charted column; a leading `*` matches a suffix, and every matching column
    /// becomes one series (grouped bars).
    column: &'static str,
    title: &'static str,
    /// Logarithmic axis, for figures that span orders of magnitude.
    log: bool,
}

const SPECS: &[Spec] = &[
    Spec {
        scenario: "mqtt-ingest",
        column: "data points/s",
        title: "MQTT ingest: data points/s (higher is better)",
        log: false,
    },
    Spec {
        scenario: "storage-ingest",
        column: "points/s",
        title: "Storage ingest: points/s (higher is better)",
        log: false,
    },
    Spec {
        scenario: "tsbs-query",
        column: "* ms",
        title: "TSBS queries: ms per query (lower is better, log scale)",
        log: true,
    },
    Spec {
        scenario: "modbus-poll",
        column: "registers/s",
        title: "Modbus raw reads: registers/s (higher is better)",
        log: false,
    },
    Spec {
        scenario: "modbus-poll",
        column: "CPU (100 % = one core)",
        title: "Polling and subscriptions: CPU, % of one core (lower is better)",
        log: false,
    },
    Spec {
        scenario: "rest-reads",
        column: "requests/s",
        title: "REST reads: requests/s (higher is better)",
        log: false,
    },
    Spec {
        scenario: "idle-mqtt",
        column: "RSS per connection",
        title: "Idle MQTT connections: KiB per connection (lower is better)",
        log: false,
    },
];

/// One chart's data: row labels, series names, `values[series][row]`.
#[derive(Debug, PartialEq)]
pub(crate) struct Data {
    pub(crate) rows: Vec<String>,
    pub(crate) series: Vec<String>,
    pub(crate) values: Vec<Vec<f64>>,
}

/// Draws the charts of scenario `name` from its section `body` into `dir` (as
/// `<name>-<k>.svg`) and returns Markdown image links to them, relative to `docs/`.
pub(crate) fn draw(name: &str, body: &str, dir: &Path) -> anyhow::Result<String> {
    let mut links = String::new();
    let mut k = 0;
    for spec in SPECS.iter().filter(|s| s.scenario == name) {
        for table in tables(body) {
            let Some(data) = extract(&table, spec.column) else {
                continue;
            };
            k += 1;
            let file = format!("{name}-{k}.svg");
            std::fs::create_dir_all(dir)?;
            render(&dir.join(&file), spec, &data)?;
            links.push_str(&format!("![{}](bench/{file})\n", spec.title));
        }
    }
    Ok(links)
}

/// The Markdown tables of a text, each as rows of trimmed cells (header first, rule dropped).
pub(crate) fn tables(text: &str) -> Vec<Vec<Vec<String>>> {
    let mut out = Vec::new();
    let mut cur: Vec<Vec<String>> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        let l = line.trim();
        if l.starts_with('|') && l.ends_with('|') && l.len() > 1 {
            let cells: Vec<String> = l[1..l.len() - 1]
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect();
            let rule = cells
                .iter()
                .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':')));
            if !rule {
                cur.push(cells);
            }
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// The charted column(s) of a table; `None` when the table has no such column or no figure.
pub(crate) fn extract(table: &[Vec<String>], column: &str) -> Option<Data> {
    let (header, rows) = table.split_first()?;
    let cols: Vec<usize> = header
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, h)| match column.strip_prefix('*') {
            Some(suffix) => h.ends_with(suffix),
            None => h.as_str() == column,
        })
        .map(|(i, _)| i)
        .collect();
    if cols.is_empty() {
        return None;
    }
    let mut data = Data {
        rows: Vec::new(),
        series: cols.iter().map(|&i| header[i].clone()).collect(),
        values: vec![Vec::new(); cols.len()],
    };
    for row in rows {
        let vals: Vec<Option<f64>> = cols
            .iter()
            .map(|&i| row.get(i).and_then(|c| figure(c)))
            .collect();
        if vals.iter().all(Option::is_none) {
            continue; // an unavailable system: the table says why
        }
        data.rows
            .push(short_label(row.first().map_or("", String::as_str)));
        for (s, v) in vals.into_iter().enumerate() {
            data.values[s].push(v.unwrap_or(0.0));
        }
    }
    (!data.rows.is_empty()).then_some(data)
}

/// A table figure as a number: "139.6 k" -> 139600, "7.81 M", "10.87 KiB" -> 10.87,
/// "123 %" -> 123, "0.05" -> 0.05; text that is not a figure -> `None`.
pub(crate) fn figure(cell: &str) -> Option<f64> {
    let mut parts = cell.split_whitespace();
    let v: f64 = parts.next()?.parse().ok()?;
    let mult = match parts.next() {
        Some("k") => 1e3,
        Some("M") => 1e6,
        Some("G") => 1e9,
        _ => 1.0,
    };
    v.is_finite().then_some(v * mult)
}

/// Row labels without Markdown code marks and parenthesised detail, kept short for the axis.
fn short_label(s: &str) -> String {
    let s = s.replace('`', "");
    let s = s.split(" (").next().unwrap_or(&s).trim().to_owned();
    if s.chars().count() > 44 {
        let cut: String = s.chars().take(43).collect();
        format!("{cut}…")
    } else {
        s
    }
}

const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
];

/// Horizontal bars, one group per row and one bar per series, value printed at each bar.
fn render(path: &Path, spec: &Spec, d: &Data) -> anyhow::Result<()> {
    let n_series = d.series.len();
    let slots = d.rows.len() * n_series;
    let height = 90 + 34 * slots as u32 + if n_series > 1 { 20 } else { 0 };
    let root = SVGBackend::new(path, (820, height)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let all = d.values.iter().flatten().copied();
    let max = all.clone().fold(0.0_f64, f64::max).max(f64::MIN_POSITIVE);
    let min_pos = all.filter(|v| *v > 0.0).fold(max, f64::min);
    let slot_y = |row: usize, s: usize| (row * n_series + s) as f64;
    let y_range = -0.6..(slots as f64 - 0.4);
    let label_of = |y: &f64| {
        let i = y.round();
        if (y - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        let i = i as usize;
        // One label per group, on its first bar.
        if i.is_multiple_of(n_series) {
            d.rows.get(i / n_series).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let mut b = ChartBuilder::on(&root);
    b.caption(spec.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(290);
    if spec.log {
        let lo = min_pos / 2.0;
        let mut c = b
            .build_cartesian_2d((lo..max * 4.0).log_scale(), y_range)
            .map_err(err)?;
        c.configure_mesh()
            .disable_y_mesh()
            .y_labels(slots + 1)
            .y_label_formatter(&label_of)
            .draw()
            .map_err(err)?;
        bars(&mut c, d, lo, slot_y)?;
        legend(&mut c, d)?;
    } else {
        let mut c = b
            .build_cartesian_2d(0.0..max * 1.25, y_range)
            .map_err(err)?;
        c.configure_mesh()
            .disable_y_mesh()
            .y_labels(slots + 1)
            .y_label_formatter(&label_of)
            .x_label_formatter(&|v| crate::report::si(*v))
            .draw()
            .map_err(err)?;
        bars(&mut c, d, 0.0, slot_y)?;
        legend(&mut c, d)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

fn bars<'a, X, DB>(
    c: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    d: &Data,
    base: f64,
    slot_y: impl Fn(usize, usize) -> f64,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    DB: DrawingBackend + 'a,
{
    for (s, vals) in d.values.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let rects = vals.iter().enumerate().map(|(row, &v)| {
            let y = slot_y(row, s);
            Rectangle::new([(base, y - 0.38), (v.max(base), y + 0.38)], color.filled())
        });
        let ann = c.draw_series(rects).map_err(err)?;
        if d.series.len() > 1 {
            ann.label(d.series[s].clone()).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
            });
        }
        let texts = vals.iter().enumerate().map(|(row, &v)| {
            Text::new(
                format!(" {}", value_text(v)),
                (v.max(base), slot_y(row, s) + 0.2),
                ("sans-serif", 13),
            )
        });
        c.draw_series(texts).map_err(err)?;
    }
    Ok(())
}

fn legend<'a, X, DB>(
    c: &mut ChartContext<'a, DB, Cartesian2d<X, plotters::coord::types::RangedCoordf64>>,
    d: &Data,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    DB: DrawingBackend + 'a,
{
    if d.series.len() > 1 {
        c.configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn value_text(v: f64) -> String {
    if v >= 1e3 {
        crate::report::si(v)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing chart: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECTION: &str = "intro\n\n| system | points/s | CPU |\n|---|---:|---:|\n\
        | Kaiwu (x) | 7.81 M | 1 |\n| Peer | unavailable: gone | |\n| `Other` | 470.9 k | 2 |\n\n\
        | query | Kaiwu ms | DuckDB 2.0.0 ms | ratio |\n|---|---:|---:|---:|\n| lastpoint | 0.05 | 946.67 | 0.00x |\n";

    #[test]
    fn tables_and_columns_become_chart_data() {
        let t = tables(SECTION);
        assert_eq!(t.len(), 2);
        let d = extract(&t[0], "points/s").unwrap();
        assert_eq!(d.rows, vec!["Kaiwu".to_owned(), "Other".to_owned()]);
        assert_eq!(d.values, vec![vec![7.81e6, 470.9e3]]);
        assert!(extract(&t[0], "nope").is_none());
        let q = extract(&t[1], "* ms").unwrap();
        assert_eq!(q.series, vec!["Kaiwu ms", "DuckDB 2.0.0 ms"]);
        assert_eq!(q.values, vec![vec![0.05], vec![946.67]]);
        assert_eq!(figure("10.87 KiB"), Some(10.87));
        assert_eq!(figure("1.00 (reference)"), Some(1.0));
        assert_eq!(figure("unavailable: x"), None);
    }

    #[test]
    fn charts_are_written_as_svg_with_their_figures() {
        let dir = tempfile::tempdir().unwrap();
        let links = draw("tsbs-query", SECTION, dir.path()).unwrap();
        assert_eq!(
            links,
            "![TSBS queries: ms per query (lower is better, log scale)](bench/tsbs-query-1.svg)\n"
        );
        let svg = std::fs::read_to_string(dir.path().join("tsbs-query-1.svg")).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("lastpoint") && svg.contains("946.7"), "{svg}");
        let links = draw("storage-ingest", SECTION, dir.path()).unwrap();
        assert!(links.contains("storage-ingest-1.svg"));
        let svg = std::fs::read_to_string(dir.path().join("storage-ingest-1.svg")).unwrap();
        assert!(svg.contains("7.81 M") && svg.contains("Other"), "{svg}");
    }
}
