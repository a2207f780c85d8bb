//! A TSBS `cpu-only` data generator of our own: per host ten tags and ten `usage_*` fields,
//! one row every 10 s, each field a clamped random walk in [0, 100] with N(0, 1) steps (as
//! TSBS's `CWD(ND(0,1), 0, 100, U(0,100))`), emitted as whole numbers as TSBS does
//! (`usage_user=58i`) and stored as floats. Deterministic for a given seed.

use std::io::Write;
use std::path::Path;

/// TSBS's default start: 2016-01-01T00:00:00Z, in epoch milliseconds.
pub(crate) const START_MS: i64 = 1_451_606_400_000;
/// Sampling interval.
pub(crate) const INTERVAL_MS: i64 = 10_000;

/// The ten fields of the `cpu` measurement.
pub(crate) const FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// The ten tags of a host.
pub(crate) const TAGS: [&str; 10] = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
];

const REGIONS: [&str; 9] = [
    "us-east-1",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "sa-east-1",
];
const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
const TEAMS: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENVS: [&str; 3] = ["production", "staging", "test"];

/// SplitMix64: small, seedable, good enough for benchmark data.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box-Muller).
    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// The whole data set in memory, rows in TSBS order (by time, then host).
#[derive(Debug)]
pub(crate) struct Dataset {
    pub(crate) hosts: usize,
    pub(crate) steps: usize,
    /// Per host, its ten tag values.
    pub(crate) tags: Vec<[String; 10]>,
    /// `rows * 10` values, row-major.
    pub(crate) values: Vec<f64>,
}

impl Dataset {
    /// Generate `hosts` hosts over `hours` hours.
    pub(crate) fn generate(hosts: usize, hours: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let steps = hours * 3600 * 1000 / INTERVAL_MS as usize;
        let tags = (0..hosts).map(|i| host_tags(i, &mut rng)).collect();
        let mut state: Vec<f64> = (0..hosts * 10).map(|_| rng.unit() * 100.0).collect();
        let mut values = Vec::with_capacity(steps * hosts * 10);
        for _ in 0..steps {
            for v in &mut state {
                // TSBS emits these readings as whole numbers (`usage_user=58i`).
                values.push(v.round());
                *v = (*v + rng.normal()).clamp(0.0, 100.0);
            }
        }
        Self {
            hosts,
            steps,
            tags,
            values,
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.hosts * self.steps
    }

    pub(crate) fn points(&self) -> usize {
        self.rows() * FIELDS.len()
    }

    /// Row `r`: (timestamp ms, host index, its ten values).
    pub(crate) fn row(&self, r: usize) -> (i64, usize, &[f64]) {
        let ts = START_MS + (r / self.hosts) as i64 * INTERVAL_MS;
        (ts, r % self.hosts, &self.values[r * 10..r * 10 + 10])
    }

    /// Write the data set as CSV with a header (time in RFC 3339 UTC).
    pub(crate) fn write_csv(&self, path: &Path) -> std::io::Result<()> {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        writeln!(w, "time,{},{}", TAGS.join(","), FIELDS.join(","))?;
        for r in 0..self.rows() {
            let (ts, h, vals) = self.row(r);
            write!(w, "{},{}", rfc3339(ts), self.tags[h].join(","))?;
            for v in vals {
                write!(w, ",{v}")?;
            }
            writeln!(w)?;
        }
        w.flush()
    }
}

fn host_tags(i: usize, rng: &mut Rng) -> [String; 10] {
    let region = REGIONS[rng.below(REGIONS.len())];
    let dc = format!("{region}{}", ["a", "b", "c"][rng.below(3)]);
    [
        format!("host_{i}"),
        region.to_owned(),
        dc,
        rng.below(100).to_string(),
        OSES[rng.below(OSES.len())].to_owned(),
        ARCHES[rng.below(ARCHES.len())].to_owned(),
        TEAMS[rng.below(TEAMS.len())].to_owned(),
        rng.below(20).to_string(),
        rng.below(2).to_string(),
        ENVS[rng.below(ENVS.len())].to_owned(),
    ]
}

/// Epoch milliseconds (whole seconds) as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_by_seed_and_within_bounds() {
        let a = Dataset::generate(3, 1, 42);
        let b = Dataset::generate(3, 1, 42);
        let c = Dataset::generate(3, 1, 43);
        assert_eq!(a.rows(), 3 * 360);
        assert_eq!(a.values, b.values);
        assert_eq!(a.tags, b.tags);
        assert_ne!(a.values, c.values);
        assert!(a.values.iter().all(|v| (0.0..=100.0).contains(v)));
        assert!(a.values.iter().all(|v| v.fract() == 0.0), "whole numbers");
    }

    #[test]
    fn rows_are_time_then_host() {
        let d = Dataset::generate(2, 1, 1);
        assert_eq!(d.row(0).0, START_MS);
        assert_eq!(d.row(1).1, 1);
        assert_eq!(d.row(2).0, START_MS + INTERVAL_MS);
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(START_MS), "2016-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(START_MS + 86_400_000 * 60 + 3_723_000),
            "2016-03-01T01:02:03Z"
        );
    }
}
