"""Load a TSBS cpu-only CSV into a fresh DuckDB file; print JSON {seconds, cpu_seconds, bytes, ...}.

Usage: duckdb_load.py <csv> <db-file>
"""
import json
import os
import resource
import sys
import time

import duckdb

TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
        "service_version", "service_environment"]
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq",
          "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]


def peak_rss_kib():
    """VmHWM of this process. Not ru_maxrss: on Linux that carries the parent's peak across
    fork + exec, so it would report the benchmark driver's memory."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def main():
    csv, db = sys.argv[1], sys.argv[2]
    cols = {"time": "TIMESTAMP"}
    cols.update({t: "VARCHAR" for t in TAGS})
    cols.update({f: "DOUBLE" for f in FIELDS})
    spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"
    con = duckdb.connect(db)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE cpu AS SELECT * FROM read_csv('{csv}', header=true, columns={spec})")
    con.execute("CHECKPOINT")
    seconds = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    rows = con.execute("SELECT count(*) FROM cpu").fetchone()[0]
    con.close()
    size = os.path.getsize(db)
    wal = db + ".wal"
    if os.path.exists(wal):
        size += os.path.getsize(wal)
    print(json.dumps({
        "seconds": seconds,
        "cpu_seconds": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "bytes": size,
        "rows": rows,
        "max_rss_kib": peak_rss_kib(),
        "version": duckdb.__version__,
    }))


if __name__ == "__main__":
    main()
