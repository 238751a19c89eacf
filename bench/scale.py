"""Scale: does the cost of an order stay flat as the business grows? Runs the end-to-end benchmark's
pipeline (bench/e2e.py, same harness, no baseline) in three series and prints the cost per order:

- history: the same batch of new orders with 10,000 and then 100,000 orders already in the database;
- network: the same batch routed over 10 and then 1,000 warehouses;
- memory: worker resident memory sampled through one long run (default 10,000 orders).

Cost per order is CPU milliseconds per order of the workers, the API and the database server (from
/proc, so it does not depend on how busy the machine is the way wall-clock throughput does), MongoDB
round trips per order and messages per order; throughput and latency are printed beside them.
Writes ``bench/results/scale.json``. Benchmarks never assert.

    python bench/scale.py [--orders 1000] [--history 10000 100000] [--warehouses 10 1000]
                          [--memory-orders 10000] [--series history network memory] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.chdir(REPO)

from bench import e2e  # noqa: E402
from bench.common import machine_info, write_result  # noqa: E402

PROVINCES = ("SH", "GD", "BJ", "SC", "ZJ", "JS", "HB", "HN", "FJ", "SD", "HE", "SN", "CQ", "TJ", "LN", "AH")


def network_seed(warehouses: int, seed: int = 3) -> str:
    """The example world grown to ``warehouses`` warehouses (the example's own plus generated ones
    spread over China, each stocking a random tenth of the SKUs), stock high enough for any run."""
    from adapters.seed import read

    rng = random.Random(seed)
    world = read(str(REPO / "examples" / "seed.yaml"))
    model = world["warehouses"][0]
    merchants = [m["id"] for m in world["merchants"]]
    for i in range(max(0, warehouses - len(world["warehouses"]))):
        wid = f"WH-X{i:04d}"
        world["warehouses"].append({**model, "id": wid, "name": f"Generated DC {i}", "merchant_ids": merchants,
                                    "region": rng.choice(PROVINCES), "city": f"City {i}",
                                    "lat": round(rng.uniform(22.0, 41.0), 3), "lon": round(rng.uniform(102.0, 122.0), 3),
                                    "rank": 3 + i % 5, "token": f"wms-{wid.lower()}", "wms_token": f"wms-{wid.lower()}"})
    extra = [w["id"] for w in world["warehouses"][4:]]
    for sku in world["skus"]:
        stock = {w: q * 100 for w, q in (sku.get("stock") or {}).items()}
        for wid in rng.sample(extra, k=len(extra) // 10):
            stock[wid] = 10_000
        sku["stock"] = stock
    path = Path(tempfile.mkdtemp(prefix="bench-network-")) / "seed.json"
    path.write_text(json.dumps(world, default=str))
    return str(path)


def preload(router, history: int) -> float:
    """Insert ``history`` finished orders (the console benchmark's generator) straight into the
    router's database; returns the seconds it took. Its own client has the batch socket timeout: a
    1,000-order batch outlasted the router's 5 s one at 100,000 orders, and the driver's retry of it
    was answered with an internal error."""
    from pymongo import MongoClient

    from bench.console import insert_generated
    from documents.connection import BATCH_SOCKET_TIMEOUT_MS

    started = time.monotonic()
    client = MongoClient(router.mongo_url, socketTimeoutMS=BATCH_SOCKET_TIMEOUT_MS)
    try:
        insert_generated(client[router.db_name].orders, history, datetime.now(timezone.utc), seed=11)
    finally:
        client.close()
    return time.monotonic() - started


def one_run(label: str, orders: int, args, seed_path: str, history: int = 0, sample_memory: bool = False) -> dict:
    from adapters.demo import running_router

    count_dir = Path(tempfile.mkdtemp(prefix="bench-counts-"))
    os.environ["BENCH_COUNT_DIR"] = str(count_dir)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(e2e.SHIM)]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(e2e.SHIM), *paths])
    run_args = argparse.Namespace(orders=orders, concurrency=args.concurrency, profile=False, profile_duration=0, seed=7,
                                  timeout=args.timeout)
    e2e.log(f"{label}: {orders} orders, {history} already in the database, {args.workers} workers")
    with running_router(workers=args.workers, threads=args.threads, seed_path=seed_path) as router:
        loaded = preload(router, history) if history else 0.0
        time.sleep(2)
        progress: dict = {}
        sampler = e2e.MemorySampler(router.worker_pid, progress) if sample_memory else None
        if sampler:
            sampler.start()
        ours = e2e.run_ours(run_args, router, count_dir, progress)
        if sampler:
            sampler.stop_event.set()
            sampler.join(timeout=15)
        sizes = stored_sizes(router)
    cpu = ours["cpu"]["cpu_s"]
    n = ours["orders_in_db"]  # this run's orders only
    row = {
        "label": label, "orders": n, "history": history, "preload_s": round(loaded, 1),
        "cpu_ms_per_order": {k: round(1000 * cpu.get(k, 0) / n, 1) for k in ("workers", "api", "db")},
        "db_round_trips_per_order": round(ours["db_round_trips_per_order"]["workers"]
                                          + ours["db_round_trips_per_order"]["api"], 1),
        "messages_per_order": ours["messages"]["processed_per_order"],
        "throughput_to_delivered_per_s": ours["throughput_to_delivered_per_s"],
        "latency_delivered_p50_s": ours["latency_delivered_s"]["p50"],
        "orders_delivered": ours["orders_delivered"],
        "peak_rss_workers_mb": ours["peak_rss"]["workers_mb"],
        "stored_kb": sizes,
        "load_average": os.getloadavg()[0],
    }
    row["cpu_ms_per_order"]["total"] = round(sum(row["cpu_ms_per_order"].values()), 1)
    if sampler:
        row["memory_samples"] = sampler.samples
        row["memory"] = e2e.memory_growth(sampler.samples)
    e2e.log(f"{label}: {json.dumps({k: v for k, v in row.items() if k != 'memory_samples'})}")
    return row


def stored_sizes(router, sample: int = 100) -> dict:
    """Mean stored size (KB) of the newest ``sample`` orders and of their routing decisions'
    recorded inputs (``routing_inputs``, network records apart)."""
    from bson.codec_options import CodecOptions
    from bson.raw_bson import RawBSONDocument
    from pymongo import MongoClient

    from documents.connection import BATCH_SOCKET_TIMEOUT_MS

    raw = CodecOptions(document_class=RawBSONDocument)
    client = MongoClient(router.mongo_url, socketTimeoutMS=BATCH_SOCKET_TIMEOUT_MS)
    try:
        db = client[router.db_name]
        out = {}
        for name, query, newest in (("orders", {}, "placed_at"), ("routing_inputs", {"kind": "decision"}, "created_at")):
            docs = list(db.get_collection(name, codec_options=raw).find(query).sort(newest, -1).limit(sample))
            out[name] = round(sum(len(d.raw) for d in docs) / len(docs) / 1024, 1) if docs else None
        return out
    finally:
        client.close()


def flatness(rows: list[dict]) -> dict:
    """Cost per order at the largest size over the smallest (1.0 = perfectly flat)."""
    first, last = rows[0], rows[-1]
    out = {}
    for key in ("workers", "db", "total"):
        a, b = first["cpu_ms_per_order"][key], last["cpu_ms_per_order"][key]
        out[f"cpu_{key}"] = round(b / a, 2) if a else None
    if first["db_round_trips_per_order"]:
        out["db_round_trips"] = round(last["db_round_trips_per_order"] / first["db_round_trips_per_order"], 2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1000, help="new orders per run of the history and network series")
    ap.add_argument("--history", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--warehouses", type=int, nargs="+", default=[10, 1000])
    ap.add_argument("--memory-orders", type=int, default=10_000)
    ap.add_argument("--series", nargs="+", default=["history", "network", "memory"],
                    choices=["history", "network", "memory"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--quick", action="store_true", help="200 orders, history 2,000 and 20,000, memory 1,000")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.orders, args.history, args.memory_orders = 200, [2_000, 20_000], 1_000
    started = time.time()
    result: dict = {"benchmark": "scale", "machine": machine_info(), "workers": args.workers, "threads": args.threads}
    if "history" in args.series:
        rows = [one_run(f"history {h:,}", args.orders, args, e2e.bench_seed(), history=h) for h in args.history]
        result["history"] = {"rows": rows, "flatness": flatness(rows)}
    if "network" in args.series:
        rows = [one_run(f"warehouses {w:,}", args.orders, args, network_seed(w)) for w in args.warehouses]
        result["network"] = {"rows": rows, "flatness": flatness(rows)}
    if "memory" in args.series:
        result["memory"] = one_run(f"memory {args.memory_orders:,}", args.memory_orders, args, e2e.bench_seed(),
                                   sample_memory=True)
    result["seconds"] = round(time.time() - started, 1)
    path = write_result("scale", result, args.out)
    print()
    print("| series | size | CPU ms/order (workers / API / db) | DB round trips/order | msgs/order | "
          "orders/s to delivered | p50 s | KB per order / routing inputs |")
    print("|---|---|---|---|---|---|---|---|")
    for series in ("history", "network"):
        for row in result.get(series, {}).get("rows", []):
            c = row["cpu_ms_per_order"]
            print(f"| {series} | {row['label'].split(' ', 1)[1]} | {c['workers']} / {c['api']} / {c['db']} | "
                  f"{row['db_round_trips_per_order']} | {row['messages_per_order']} | "
                  f"{row['throughput_to_delivered_per_s']} | {row['latency_delivered_p50_s']} | "
                  f"{row['stored_kb']['orders']} / {row['stored_kb']['routing_inputs']} |")
        if series in result:
            print(f"| {series} | largest / smallest | {result[series]['flatness']} | | | | | |")
    if "memory" in result:
        print(f"\nmemory over {args.memory_orders:,} orders: {result['memory'].get('memory')}")
    print(f"\nwrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    from bench.common import exit_on_sigterm

    exit_on_sigterm()
    sys.exit(main())
