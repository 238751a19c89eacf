"""The embedded server's cost per write over a long run, with and without its oplog.

Started as a replica set (its default) SecantusDB writes an oplog entry per modified document
and, once the oplog holds ``--oplog-max-entries`` (100,000), prunes it on every write; started
``--standalone`` (how documents/embedded.py starts it) it keeps none. Each mode gets a fresh
server; one client updates 1,000 small documents round robin (each update modifies one) and the
server's CPU milliseconds per write are printed for each slice of ``--slice`` writes. Writes
``bench/results/oplog.json``. Benchmarks never assert.

    python bench/oplog.py [--writes 150000] [--slice 10000]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.chdir(REPO)

from bench.common import cpu_seconds, exit_on_sigterm, machine_info, write_result  # noqa: E402


def run(standalone: bool, writes: int, slice_: int) -> list[dict]:
    from pymongo import MongoClient

    from documents.embedded import EmbeddedMongo

    server = EmbeddedMongo(":memory:", standalone=standalone).start()
    client = MongoClient(server.url, socketTimeoutMS=60_000)
    try:
        coll = client.bench.counters
        coll.insert_many([{"_id": i, "n": 0} for i in range(1000)])
        pid, rows = server.process.pid, []
        for start in range(0, writes, slice_):
            t0, c0 = time.perf_counter(), cpu_seconds([pid])
            for i in range(start, min(start + slice_, writes)):
                coll.update_one({"_id": i % 1000}, {"$inc": {"n": 1}})
            n = min(slice_, writes - start)
            row = {"writes_before": start, "server_cpu_ms_per_write": round(1000 * (cpu_seconds([pid]) - c0) / n, 3),
                   "wall_ms_per_write": round(1000 * (time.perf_counter() - t0) / n, 3)}
            rows.append(row)
            print(f"{'standalone' if standalone else 'replica set':<12} after {start:>7,} writes: "
                  f"server CPU {row['server_cpu_ms_per_write']:.3f} ms, wall {row['wall_ms_per_write']:.3f} ms per write",
                  flush=True)
        return rows
    finally:
        client.close()
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=150_000)
    ap.add_argument("--slice", type=int, default=10_000)
    args = ap.parse_args()
    exit_on_sigterm()
    result = {"benchmark": "oplog", "writes": args.writes, "machine": machine_info(),
              "replica_set": run(False, args.writes, args.slice), "standalone": run(True, args.writes, args.slice)}
    for mode in ("replica_set", "standalone"):
        rows = result[mode]
        result[f"{mode}_last_over_first"] = round(rows[-1]["server_cpu_ms_per_write"]
                                                  / max(rows[0]["server_cpu_ms_per_write"], 1e-9), 2)
    print(f"last slice over first: replica set {result['replica_set_last_over_first']}x, "
          f"standalone {result['standalone_last_over_first']}x")
    print(f"wrote {write_result('oplog', result)}")


if __name__ == "__main__":
    main()
