use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::Error;

/// Longest accepted `interval:<ms>`: beyond a minute the "interval" is no longer a safety net.
const MAX_INTERVAL_MS: u64 = 60_000;

/// When an append counts as durable, i.e. when `Wal::append` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// After `fdatasync` of the group the record was written in: survives power loss.
    Fsync,
    /// After the write reaches the operating system: survives a process crash (SIGKILL) but a
    /// power loss can lose up to this interval of acknowledged records. The file is synced at
    /// least this often.
    Interval(Duration),
}

impl FromStr for Durability {
    type Err = Error;

    /// Parses `fsync` or `interval:<ms>` with `<ms>` in `1..=60000`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidDurability {
            input: s.to_owned(),
            reason,
        };
        if s == "fsync" {
            return Ok(Durability::Fsync);
        }
        let Some(ms) = s.strip_prefix("interval:") else {
            return Err(bad("expected `fsync` or `interval:<ms>`"));
        };
        if ms.is_empty() || !ms.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("interval must be a whole number of milliseconds"));
        }
        match ms.parse::<u64>() {
            Ok(ms @ 1..=MAX_INTERVAL_MS) => Ok(Durability::Interval(Duration::from_millis(ms))),
            _ => Err(bad("interval must be between 1 and 60000 milliseconds")),
        }
    }
}

impl fmt::Display for Durability {
    /// The text `from_str` accepts; sub-millisecond parts of an interval are dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Durability::Fsync => f.write_str("fsync"),
            Durability::Interval(d) => write!(f, "interval:{}", d.as_millis()),
        }
    }
}

/// How a `Wal` writes and checks its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// When appends are acknowledged.
    pub durability: Durability,
    /// A new file is started before a record would make the active file larger than this
    /// (a single larger record gets a file of its own).
    pub max_file_bytes: u64,
    /// Largest payload accepted by `append` and read back by replay.
    pub max_record_bytes: u32,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            max_file_bytes: 64 << 20,
            max_record_bytes: 64 << 20,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_the_same_text() {
        for s in ["fsync", "interval:1", "interval:250", "interval:60000"] {
            let d: Durability = s.parse().unwrap();
            assert_eq!(d.to_string(), s);
        }
        assert_eq!(
            "interval:5".parse::<Durability>().unwrap(),
            Durability::Interval(Duration::from_millis(5))
        );
    }

    #[test]
    fn refuses_bad_text_and_names_it() {
        for s in [
            "",
            "Fsync",
            "fsync ",
            " fsync",
            "interval",
            "interval:",
            "interval:0",
            "interval:60001",
            "interval:-5",
            "interval:+5",
            "interval:1.5",
            "interval:5ms",
            "interval:99999999999999999999999",
            "interval: 5",
            "sync",
        ] {
            let e = s.parse::<Durability>().unwrap_err();
            assert!(e.to_string().contains(&format!("`{s}`")), "{s}: {e}");
        }
    }

    #[test]
    fn defaults() {
        let o = WalOptions::default();
        assert_eq!(o.durability, Durability::Fsync);
        assert_eq!(o.max_file_bytes, 64 * 1024 * 1024);
        assert_eq!(o.max_record_bytes, 64 * 1024 * 1024);
    }
}
