"""Every benchmark of the project in one command: routing, ingest, end to end, console, and in a
full run also scale (bench/scale.py) and the end-to-end curve over 1, 2 and 4 worker processes.

Each writes its own ``bench/results/<name>.json``; this adds ``bench/results/summary.md``, a short
table with each throughput beside its baseline from the same run, the machine's core count and
the versions used. Numbers are printed, never asserted.

    python bench/run.py [--quick] [--only routing,ingest,e2e,console,scale,workers]
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bench.common import RESULTS, machine_info  # noqa: E402

# The quick e2e run also runs the reference pipeline (bench/reference.py) through its 150 orders:
# about 20 s more.
QUICK = {"routing": ["--quick"], "ingest": ["--quick"], "e2e": ["--orders", "150", "--timeout", "150", "--reference"],
         "console": ["--orders", "5000", "--runs", "5"]}
# The full run: the 10,000-order e2e run also samples worker memory (scale's own 10,000-order memory
# series would repeat it) and measures its baseline on 2,000 orders (the no-op pipeline's rate does
# not depend on the count); scale and the worker curve compare cost per order and ratios, for which
# 300 new orders per point are enough; ingest as in the quick run. About 70 minutes on 2 cores.
FULL = {"e2e": ["--orders", "10000", "--repeat", "1", "--timeout", "3600", "--sample-memory", "--baseline-orders", "2000"],
        "ingest": ["--quick"], "scale": ["--orders", "300", "--series", "history", "network"],
        "workers": ["--orders", "300", "--timeout", "900"], "routing": [], "console": ["--orders", "100000"]}
CURVE = (1, 2, 4)  # worker processes


def run_curve(args: list[str]) -> tuple[int, float]:
    """The end-to-end benchmark (with its baseline) once per worker count in ``CURVE``."""
    started, worst = time.monotonic(), 0
    for n in CURVE:
        code, _ = run("e2e", [*args, "--workers", str(n), "--out", str(RESULTS / f"e2e-workers-{n}.json")])
        worst = worst or code
    return worst, time.monotonic() - started


def run(name: str, args: list[str]) -> tuple[int, float]:
    started = time.monotonic()
    print(f"== {name} {' '.join(args)}", flush=True)
    code = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *args])
    return code, time.monotonic() - started


def _load(name: str) -> dict:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _end_to_end_rows(s: dict) -> list[str]:
    """The end-to-end run's rows, from its summary ``s`` (none when it did not run)."""
    if s.get("throughput_to_delivered_per_s") is None:
        return []
    lines = [
        f"| end to end | orders/s accepted -> delivered | {s.get('throughput_to_delivered_per_s')} | "
        f"{s.get('baseline_throughput_per_s')} | {s.get('ratio_ours_vs_baseline')} |",
        f"| end to end | orders/s accepted -> dispatched | {s.get('throughput_to_dispatched_per_s')} | "
        f"{s.get('baseline_throughput_to_dispatched_per_s')} | "
        f"{s.get('ratio_dispatched_vs_baseline_dispatched')} |",
        f"| end to end | latency to delivered p50 / p99 s | {s.get('latency_delivered_p50_s')} / "
        f"{s.get('latency_delivered_p99_s')} | | |",
        f"| end to end | DB round trips per order (workers + API), messages per order | "
        f"{s.get('db_round_trips_per_order_workers')} + {s.get('db_round_trips_per_order_api')}, "
        f"{s.get('messages_per_order')} | | |",
    ]
    if s.get("cpu_ms_per_order_db") is not None:
        lines.append(f"| end to end | CPU ms per order: database, workers, API (load average "
                     f"{s.get('load_average_1m_at_end')}) | {s.get('cpu_ms_per_order_db')}, "
                     f"{s.get('cpu_ms_per_order_workers')}, {s.get('cpu_ms_per_order_api')} | | |")
    if s.get("reference_throughput_to_delivered_per_s") is not None:
        lines.append(f"| end to end | orders/s accepted -> delivered, against the reference pipeline (the minimum "
                     f"an order needs; its column is the reference's) | {s.get('throughput_to_delivered_per_s')} | "
                     f"{s.get('reference_throughput_to_delivered_per_s')} | {s.get('ratio_ours_vs_reference')} |")
        lines.append(f"| end to end | reference pipeline: DB round trips, messages, CPU ms (database, workers, API) "
                     f"per order | {s.get('reference_db_round_trips_per_order')}, "
                     f"{s.get('reference_messages_per_order')}, {s.get('reference_cpu_ms_per_order_db')}, "
                     f"{s.get('reference_cpu_ms_per_order_workers')}, {s.get('reference_cpu_ms_per_order_api')} | | |")
    return lines


def summary(ran: dict[str, tuple[int, float]], quick: bool) -> str:
    info = machine_info()
    versions = {p: md.version(p) for p in ("dramatiq", "pika", "pymongo", "mongoengine", "marshmallow", "flask",
                                          "gunicorn", "SecantusDB")}
    lines = [f"# Benchmarks ({'quick' if quick else 'full'} run)", "",
             f"Machine: {info.get('cpus')} cores, {info.get('cpu_model', '?')}, Python {info.get('python')}, "
             f"load average {info.get('load_average_1m')} at the end.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), "",
             "| benchmark | figure | ours | baseline | ours / baseline |", "|---|---|---|---|---|"]
    ingest = _load("ingest")
    for clients, cell in (ingest.get("cells") or {}).items():
        lines.append(f"| ingest | req/s at {clients} clients (p50 / p99 ms: {cell['ours']['p50_ms']} / "
                     f"{cell['ours']['p99_ms']}; CPU ms per request API / DB: {cell['ours'].get('api_cpu_ms_per_request')} / "
                     f"{cell['ours'].get('db_cpu_ms_per_request')}) | {cell['ours']['rps']} | {cell['baseline']['rps']} | {cell['ratio']} |")
    e2e = _load("e2e")
    s = e2e.get("summary", e2e)
    lines += _end_to_end_rows(s)
    routing = _load("routing")
    for cell in routing.get("cells") or []:
        if (cell["lines"], cell["warehouses"]) in ((1, 10), (10, 100), (10, 1000), (50, 1000)):
            lines.append(f"| routing | decision ms p50 / p99, {cell['lines']} lines x {cell['warehouses']} warehouses | "
                         f"{cell.get('p50_ms')} / {cell.get('p99_ms')} | | |")
    for n in CURVE:
        curve = _load(f"e2e-workers-{n}").get("summary") or {}
        if curve.get("throughput_to_delivered_per_s") is not None:
            lines.append(f"| worker curve | orders/s accepted -> delivered, {n} worker process(es) | "
                         f"{curve.get('throughput_to_delivered_per_s')} | {curve.get('baseline_throughput_per_s')} | "
                         f"{curve.get('ratio_ours_vs_baseline')} |")
    scale = _load("scale")
    for series in ("history", "network"):
        for row in (scale.get(series) or {}).get("rows", []):
            c = row["cpu_ms_per_order"]
            lines.append(f"| scale | CPU ms per order (workers / API / db), {row['label']} | "
                         f"{c['workers']} / {c['api']} / {c['db']} | | |")
    memory = [(s["worker_memory"], e2e.get("orders"))] if s.get("worker_memory") else []
    if (scale.get("memory") or {}).get("memory"):
        memory.append((scale["memory"]["memory"], scale["memory"]["orders"]))
    for m, orders in memory:
        lines.append(f"| memory | worker RSS MB once warm -> at the end, over {orders} orders | "
                     f"{m['warm_rss_mb']} -> {m['final_rss_mb']} (max {m['max_rss_mb']}) | | |")
    console = _load("console")
    for name, cell in list((console.get("filters") or {}).items())[:6]:
        lines.append(f"| console | order list p95 ms, {name} | {cell.get('p95_ms')} | | |")
    lines += ["", "Runs: " + ", ".join(f"{n} {'ok' if c == 0 else f'exit {c}'} in {t:.0f} s" for n, (c, t) in ran.items())]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a few minutes in all (CI runs this)")
    ap.add_argument("--only", default=None, help="comma-separated; default: all of the run's plan")
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    names = args.only.split(",") if args.only else list(plan)
    ran = {name: (run_curve if name == "workers" else lambda a, n=name: run(n, a))(plan[name]) for name in names}
    text = summary(ran, args.quick)
    (RESULTS / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
