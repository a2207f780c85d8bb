"""TSBS query subset on DuckDB.

Usage:
  duckdb_query.py load <csv> <db-file>          load the CSV (as duckdb_load.py does)
  duckdb_query.py run <db-file> <queries.json>  run every query once untimed, then timed;
                                                print JSON {"<kind>": [ms, ...], ...}

queries.json: {"<kind>": ["<sql>", ...], ...}. Timing covers execute + fetchall.
"""
import json
import sys
import time

import duckdb

TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
        "service_version", "service_environment"]
FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq",
          "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]


def load(csv, db):
    cols = {"time": "TIMESTAMP"}
    cols.update({t: "VARCHAR" for t in TAGS})
    cols.update({f: "DOUBLE" for f in FIELDS})
    spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"
    con = duckdb.connect(db)
    con.execute(f"CREATE TABLE cpu AS SELECT * FROM read_csv('{csv}', header=true, columns={spec})")
    con.execute("CHECKPOINT")
    con.close()
    print(json.dumps({"version": duckdb.__version__}))


def run(db, queries_file):
    with open(queries_file) as f:
        queries = json.load(f)
    con = duckdb.connect(db, read_only=True)
    for sqls in queries.values():
        for q in sqls:
            con.execute(q).fetchall()
    out = {}
    for kind, sqls in queries.items():
        times = []
        for q in sqls:
            t0 = time.perf_counter()
            rows = con.execute(q).fetchall()
            times.append((time.perf_counter() - t0) * 1000.0)
            if not rows:
                raise SystemExit(f"no rows for {kind}: {q}")
        out[kind] = times
    con.close()
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[2], sys.argv[3])
