//! Process and machine figures from `/proc` (Linux only).

use std::path::Path;

/// Clock ticks per second for `/proc/<pid>/stat`; from `getconf CLK_TCK`, else 100.
pub(crate) fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime in ticks from the text of a `/proc/<pid>/stat` file.
pub(crate) fn stat_ticks(stat: &str) -> Option<u64> {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU seconds (user + system, all threads) of this process so far.
pub(crate) fn self_cpu_seconds(tck: f64) -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| stat_ticks(&s))
        .map_or(0.0, |t| t as f64 / tck)
}

/// Reset this process's peak RSS (`echo 5 > /proc/self/clear_refs`); false if refused.
pub(crate) fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set of this process in KiB (`VmHWM`).
pub(crate) fn peak_rss_kib() -> Option<u64> {
    status_kib("/proc/self/status", "VmHWM:")
}

/// CPU seconds (user + system, all threads) of process `pid` so far.
pub(crate) fn pid_cpu_seconds(pid: u32, tck: f64) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat_ticks(&s)? as f64 / tck)
}

/// Resident set (`VmRSS`) of process `pid` in KiB.
pub(crate) fn pid_rss_kib(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// Peak resident set (`VmHWM`) of process `pid` in KiB.
pub(crate) fn pid_peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(&format!("/proc/{pid}/status"), "VmHWM:")
}

/// Raise this process's open-file limit (RLIMIT_NOFILE) to its hard limit with util-linux
/// `prlimit` (children inherit it); returns the soft limit in force afterwards.
pub(crate) fn raise_nofile() -> Option<u64> {
    let pid = std::process::id().to_string();
    let read = || -> Option<(u64, u64)> {
        let out = std::process::Command::new("prlimit")
            .args([
                "--pid",
                &pid,
                "--nofile",
                "--noheadings",
                "--raw",
                "--output=SOFT,HARD",
            ])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace().map(|v| match v {
            "unlimited" => Some(u64::MAX),
            v => v.parse().ok(),
        });
        Some((it.next()??, it.next()??))
    };
    let (soft, hard) = read()?;
    if soft < hard {
        let _ = std::process::Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={hard}:{hard}")])
            .status();
    }
    read().map(|(s, _)| s)
}

fn status_kib(path: &str, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(path).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// Total size of the regular files under `dir`, and of those under a `rollup` directory.
pub(crate) fn dir_bytes(dir: &Path) -> (u64, u64) {
    let (mut all, mut rollup) = (0, 0);
    let mut stack = vec![(dir.to_path_buf(), false)];
    while let Some((d, in_rollup)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            let is_rollup = in_rollup || e.file_name().to_string_lossy().contains("rollup");
            if md.is_dir() {
                stack.push((e.path(), is_rollup));
            } else {
                all += md.len();
                if is_rollup {
                    rollup += md.len();
                }
            }
        }
    }
    (all, rollup)
}

/// One line describing the machine: CPU model, cores, memory, kernel.
pub(crate) fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU", str::trim)
        .to_owned();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = status_kib("/proc/meminfo", "MemTotal:").map_or(0.0, |k| k as f64 / 1048576.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores available (nproc), {mem:.1} GiB RAM, Linux {}",
        kernel.trim()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_stat() {
        let s = "12 (a b) c) S 1 1 1 0 -1 4194304 100 0 0 0 250 30 0 0 20 0 1 0";
        assert_eq!(super::stat_ticks(s), Some(280));
    }
}
