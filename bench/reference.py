"""The reference pipeline's benchmark (issue 16, item 4): the minimum an order needs
(bench/reference_app.py: one insert and one message at intake, one guarded update and a message per
fulfilment at routing, one WMS call and one guarded update per dispatch, one message and one update
guarded by the event's id per external event), driven by bench/e2e.py's load generator: the same
generated orders (same world, same seed), pushed by the same pusher at the same concurrency, paid
by the same payment service, with simulated warehouses and carriers of the same kind and pace
posting the same WMS and carrier events (accepted, picked, packed, shipped; label_created,
in_transit, out_for_delivery, delivered). It reports the figures e2e reports for the router:
orders per second to dispatched and to delivered, latencies, DB round trips and messages per order
(counted in its API and workers by bench/shim/sitecustomize.py, as for the router), CPU
milliseconds per order of the database, workers and API.

``bench/e2e.py --reference`` runs it after the router in the same run, on the same database server
and RabbitMQ, and prints ours / reference; ``bench/compare.py`` runs it once per round. Alone:

    python bench/reference.py [--orders N] [--seed S] [--workers P] [--threads T] [--concurrency C]

on the database server of ``ROUTER_MONGO_URL`` (unset: an embedded one started here) and the
machine's RabbitMQ, each run in a database and a queue namespace of its own (dropped after).
Writes ``bench/results/reference.json``. Benchmarks never assert.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import CpuMeter, exit_on_sigterm, machine_info, pids_named, write_result  # noqa: E402

SHIM = REPO / "bench" / "shim"
API_THREADS = 16  # as `orderrouter serve`
STEP_DELAY = 0.02  # the simulators' pace, as adapters/demo.running_router starts them for e2e
CALLBACK_WORKERS = 8


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def reference_world(world: dict, wms_url: str, carrier_url: str, payments_token: str) -> dict:
    """What the reference's processes need of the seeded ``world`` (bench/reference_app.world)."""
    from adapters.demo import channel_token

    tokens = {w["id"]: w.get("token") for w in world["warehouses"]} | {c["id"]: c.get("token") for c in world["carriers"]}
    ranked = sorted(world["warehouses"], key=lambda w: (w.get("rank", 99), w["id"]))
    warehouse_of = {m["id"]: next(w["id"] for w in ranked if m["id"] in (w.get("merchant_ids") or []))
                    for m in world["merchants"] if any(m["id"] in (w.get("merchant_ids") or []) for w in ranked)}
    carrier = min(world["carriers"], key=lambda c: (c.get("rank", 99), c["id"]))
    return {"tokens": tokens, "channel_tokens": {"manual": channel_token(world)}, "payments_token": payments_token,
            "wms_url": wms_url, "carrier_url": carrier_url, "warehouse_of": warehouse_of, "carrier_id": carrier["id"]}


def _minus(after: dict, before: dict) -> dict:
    """Counts (bench.e2e.read_counts) of ``after`` less those of ``before``."""
    out: dict = {}
    for role, tables in after.items():
        out[role] = {}
        for key, table in tables.items():
            prior = (before.get(role) or {}).get(key) or {}
            out[role][key] = {k: v - prior.get(k, 0) for k, v in table.items()}
    return out


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def delete_reference_queues(prefix: str, amqp_url: str) -> None:
    import pika

    try:
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        ch = conn.channel()
        for q in ("orders", "dispatch", "events"):
            for suffix in ("", ".DQ", ".XQ"):
                ch.queue_delete(f"{prefix}.{q}{suffix}")
        conn.close()
    except Exception as exc:  # noqa: BLE001 - tidying only
        log(f"could not delete the reference's queues: {exc!r}")


def _wait_delivered(db, ids: list[str], timeout: float, poll: float) -> set[str]:
    """Wait until every order of ``ids`` has all its fulfilments delivered, reading the next slice
    of those not yet seen so (as bench/e2e.py waits for ours: tests/settle_poll)."""
    from tests.settle_poll import next_slice

    deadline = time.monotonic() + timeout
    pending, at, last_log = set(ids), "", time.monotonic()
    while pending:
        window = next_slice(pending, at)
        at = window[-1]
        with contextlib.suppress(Exception):  # a slow poll is made again
            pending -= {d["_id"] for d in db.orders.find({"_id": {"$in": window}}, {"n_fulfilments": 1, "n_delivered": 1})
                        if d.get("n_fulfilments") and d.get("n_delivered", 0) >= d["n_fulfilments"]}
        if time.monotonic() - last_log > 10:
            log(f"reference: delivered {len(ids) - len(pending)}/{len(ids)}")
            last_log = time.monotonic()
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(poll)
    return pending


def run_reference(orders: list[dict], world: dict, mongo_url: str, amqp_url: str, *, workers: int = 2,
                  threads: int = 8, concurrency: int = 8, timeout: float = 300, log_dir: Path | None = None) -> dict:
    """The reference pipeline through ``orders`` (bench/e2e.py's generated orders) on the database
    server at ``mongo_url`` and the broker at ``amqp_url``; its figures, shaped as bench/e2e.py's
    (``run``) and flat as its summary (``summary``)."""
    import httpx
    import pymongo

    from adapters.demo import DemoResult, channel_token, push_orders
    from adapters.simulators.carrier import CarrierSimulator
    from adapters.simulators.wms import WmsSimulator
    from adapters.stack import descendants, peak_rss_mb, wait_http
    from bench import e2e
    from documents.embedded import free_port

    run_id = uuid.uuid4().hex[:8]
    prefix, db_name = f"bench-reference-{os.getpid()}-{run_id}", f"reference_{run_id}"
    own_log_dir = log_dir is None  # removed after a run that went well
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="bench-reference-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    count_dir = Path(tempfile.mkdtemp(prefix="bench-reference-counts-"))
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    tokens = {w["id"]: w.get("token") for w in world["warehouses"]} | {c["id"]: c.get("token") for c in world["carriers"]}
    wms = carrier = api_proc = worker_proc = client = None
    try:
        wms = WmsSimulator(callback_url=api, tokens=tokens, auto_progress=True, step_delay=STEP_DELAY,
                           callback_workers=CALLBACK_WORKERS).start()
        carrier = CarrierSimulator(callback_url=api, tokens=tokens, auto_progress=True, step_delay=STEP_DELAY,
                                   callback_workers=CALLBACK_WORKERS).start()
        payments_token = secrets.token_hex(16)
        world_path = log_dir / f"reference-world-{run_id}.json"
        world_path.write_text(json.dumps(reference_world(world, wms.url, carrier.url, payments_token)))
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in (str(SHIM), str(REPO))]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SHIM), str(REPO), *paths]),
               "BENCH_COUNT_DIR": str(count_dir), "REFERENCE_AMQP_URL": amqp_url, "REFERENCE_MONGO_URL": mongo_url,
               "REFERENCE_DB": db_name, "REFERENCE_QUEUE_PREFIX": prefix, "REFERENCE_WORLD": str(world_path)}
        with open(log_dir / f"reference-api-{run_id}.log", "ab") as out:
            api_proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "bench.reference_app:app", "--bind", f"127.0.0.1:{port}",
                 "--worker-class", "gthread", "--workers", "1", "--threads", str(API_THREADS), "--timeout", "60"],
                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        with open(log_dir / f"reference-workers-{run_id}.log", "ab") as out:
            worker_proc = subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "bench.reference_app", "--path", str(REPO),
                 "--processes", str(workers), "--threads", str(threads)],
                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_http(f"{api}/healthz", timeout=60)
        client = pymongo.MongoClient(mongo_url, tz_aware=True, socketTimeoutMS=120_000)
        db = client[db_name]

        # warm up: one cash-on-delivery order all the way to delivered (workers booted, connected)
        warm = {**orders[0], "channel_order_id": f"warm-up-{run_id}", "payment": {"method": "cod", "status": "unpaid"}}
        r = httpx.post(f"{api}/v1/channels/manual/orders", json=warm, timeout=30,
                       headers={"Authorization": f"Bearer {channel_token(world)}"})
        r.raise_for_status()
        if _wait_delivered(db, [r.json()["order_id"]], 90, 0.2):
            raise RuntimeError(f"the reference's warm-up order was not delivered: see {log_dir}")
        db.orders.delete_one({"_id": r.json()["order_id"]})
        time.sleep(1.5)  # let the counters write the warm-up's counts, taken off below
        warm_counts = e2e.read_counts(count_dir)

        mongo_port = e2e.port_of(mongo_url)
        meter = CpuMeter({
            "db": lambda: pids_named(f"--port {mongo_port} "),
            "api": lambda: descendants(api_proc.pid),
            "workers": lambda: descendants(worker_proc.pid),
            "harness_and_simulators": lambda: [os.getpid()],
            "rabbitmq": lambda: pids_named("beam.smp"),
        })
        result = DemoResult()
        payer = e2e.Payer(api, db, concurrency, {"Authorization": f"Bearer {payments_token}"}, result)
        meter.start()
        payer.start()
        t_push = time.time()
        pusher = threading.Thread(target=lambda: push_orders(api, orders, concurrency, token=channel_token(world),
                                                             progress=False, result=result))
        pusher.start()
        pusher.join()
        log(f"reference: pushed {result.accepted} accepted, {result.refused} refused in "
            f"{result.last_accepted - t_push:.1f}s")
        ids = [order_id for order_id, _ in result.orders]
        left = _wait_delivered(db, ids, timeout, poll=max(3.0, len(ids) / 1000))
        payer.stop_event.set()
        cpu = meter.stop()
        time.sleep(1.5)  # let the counters write their last counts
        rss = {"api_mb": round(peak_rss_mb(api_proc.pid), 1), "workers_mb": round(peak_rss_mb(worker_proc.pid), 1)}
        docs = list(db.orders.find({"_id": {"$in": ids}}, {"created_at": 1, "routing.state": 1, "payment_status": 1,
                                                          "fulfilments": 1, "n_fulfilments": 1, "n_delivered": 1}))
        counts = _minus(e2e.read_counts(count_dir), warm_counts)
    except BaseException:
        log(f"reference: logs kept in {log_dir}")
        own_log_dir = False
        raise
    finally:
        _stop(api_proc)
        _stop(worker_proc)
        for sim in (wms, carrier):
            if sim is not None:
                sim.stop()
        if client is not None:
            try:
                client.drop_database(db_name)
            except Exception as exc:  # noqa: BLE001 - never lose the results over tidying
                log(f"could not drop {db_name}: {exc!r}")
            client.close()
        delete_reference_queues(prefix, amqp_url)
        shutil.rmtree(count_dir, ignore_errors=True)
        if own_log_dir:
            shutil.rmtree(log_dir, ignore_errors=True)
    return figures(orders, result, docs, counts, cpu, rss, len(left), t_push, payer)


def figures(orders, result, docs, counts, cpu, rss, unsettled, t_push, payer) -> dict:
    from bench import e2e

    n = len(docs) or 1
    for d in docs:  # what e2e.order_flow reads: the reference keeps no order-level statuses
        delivered = d.get("n_fulfilments") and d.get("n_delivered", 0) >= d["n_fulfilments"]
        d["status"], d["shipment_status"] = ("delivered", "delivered") if delivered else ("open", "-")
    flow = e2e.order_flow(docs) if docs else e2e.OrderFlow()
    worker, api = counts.get("worker", {}), counts.get("api", {})
    done = {a: int(v) for a, v in worker.get("done", {}).items()}
    sent = e2e.messages_sent(worker, api)
    w_rt = e2e.round_trips(worker.get("db", {}), worker.get("db_us", {}), n)
    a_rt = e2e.round_trips(api.get("db", {}), api.get("db_us", {}), n)
    disp_rate, disp_span = e2e.throughput(flow.dispatched, flow.first) if docs else (None, None)
    deliv_rate, deliv_span = e2e.throughput(flow.delivered, flow.first) if docs else (None, None)
    http_out: dict[str, float] = defaultdict(float)
    for role in (worker, api):
        for a, v in role.get("http", {}).items():
            http_out[a] += v
    run = {
        "orders_pushed": len(orders), "accepted": result.accepted, "refused": result.refused, "orders_in_db": len(docs),
        "unsettled_at_timeout": unsettled, "push_seconds": round(result.last_accepted - t_push, 2),
        "fulfilments_per_order": round(flow.fulfilments / n, 3),
        "orders_dispatched": len(flow.dispatched), "orders_delivered": len(flow.delivered), "statuses": flow.statuses,
        "payments_sent": len(payer.paid), "payment_errors": payer.errors,
        "throughput_to_dispatched_per_s": disp_rate, "span_to_last_dispatched_s": disp_span,
        "throughput_to_delivered_per_s": deliv_rate, "span_to_last_delivered_s": deliv_span,
        "latency_dispatched_s": e2e.latency_percentiles(flow.dispatched),
        "latency_delivered_s": e2e.latency_percentiles(flow.delivered),
        "peak_rss": rss, "cpu": cpu,
        "messages": {"processed_per_order": round(sum(done.values()) / n, 3),
                     "sent_per_order": round(sum(sent.values()) / n, 3),
                     "processed_by_actor": done, "sent_by_actor": dict(sent)},
        "db_round_trips_per_order": {
            "workers": round(sum(d.get("total", 0) for d in w_rt.values()) / n, 2),
            "api": round(sum(d.get("total", 0) for d in a_rt.values()) / n, 2),
            "by_command_workers": e2e._by_command(worker.get("db", {}), n),
            "by_command_api": e2e._by_command(api.get("db", {}), n),
            "by_actor_workers": {a: round(d.get("total", 0) / n, 2) for a, d in w_rt.items()},
        },
        "http_out_calls_per_order": {a: round(v / n, 2) for a, v in http_out.items()},
        "cpu_ms_per_order": {k: round(1000 * v / n, 1) for k, v in cpu["cpu_s"].items()},
    }
    return {"run": run, "summary": flat(run)}


def flat(run: dict) -> dict:
    """The reference's figures under bench/e2e.py's summary keys (what compare.py reads)."""
    rt, cpu = run["db_round_trips_per_order"], run["cpu_ms_per_order"]
    return {
        "throughput_to_dispatched_per_s": run["throughput_to_dispatched_per_s"],
        "throughput_to_delivered_per_s": run["throughput_to_delivered_per_s"],
        "latency_dispatched_p50_s": run["latency_dispatched_s"]["p50"],
        "latency_dispatched_p99_s": run["latency_dispatched_s"]["p99"],
        "latency_delivered_p50_s": run["latency_delivered_s"]["p50"],
        "latency_delivered_p99_s": run["latency_delivered_s"]["p99"],
        "fulfilments_per_order": run["fulfilments_per_order"],
        "messages_per_order": run["messages"]["processed_per_order"],
        "db_round_trips_per_order_workers": rt["workers"], "db_round_trips_per_order_api": rt["api"],
        "db_round_trips_per_order": round(rt["workers"] + rt["api"], 2),
        "cpu_ms_per_order_db": cpu.get("db"), "cpu_ms_per_order_workers": cpu.get("workers"),
        "cpu_ms_per_order_api": cpu.get("api"),
        "cpu_ms_per_order": round(sum(cpu.get(k) or 0 for k in ("db", "workers", "api")), 1),
        "peak_rss_api_mb": run["peak_rss"]["api_mb"], "peak_rss_workers_mb": run["peak_rss"]["workers_mb"],
    }


# What ours / reference is printed for: (label, summary key).
RATIO_FIGURES = (
    ("delivered orders/s", "throughput_to_delivered_per_s"),
    ("dispatched orders/s", "throughput_to_dispatched_per_s"),
    ("DB round trips / order", "db_round_trips_per_order"),
    ("messages / order", "messages_per_order"),
    ("CPU ms / order: database", "cpu_ms_per_order_db"),
    ("CPU ms / order: workers", "cpu_ms_per_order_workers"),
    ("CPU ms / order: API", "cpu_ms_per_order_api"),
    ("CPU ms / order (sum)", "cpu_ms_per_order"),
)


def ratios(ours: dict, ref: dict) -> dict:
    """ours / reference for each figure of RATIO_FIGURES (None where either lacks it)."""
    return {key: (round(ours[key] / ref[key], 3) if ours.get(key) is not None and ref.get(key) else None)
            for _, key in RATIO_FIGURES}


def ratio_table(ours: dict, ref: dict) -> str:
    r = ratios(ours, ref)
    lines = [f"{'figure':<28}{'ours':>10}{'reference':>11}{'ours / ref':>12}"]
    for label, key in RATIO_FIGURES:
        fmt = lambda v: "-" if v is None else f"{v:,.2f}"  # noqa: E731
        lines.append(f"{label:<28}{fmt(ours.get(key)):>10}{fmt(ref.get(key)):>11}{fmt(r[key]):>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42, help="order generator seed (as bench/e2e.py --seed)")
    ap.add_argument("--workers", type=int, default=2, help="Dramatiq worker processes")
    ap.add_argument("--threads", type=int, default=8, help="threads per worker process")
    ap.add_argument("--concurrency", type=int, default=8, help="HTTP clients pushing orders and payments")
    ap.add_argument("--timeout", type=int, default=300, help="seconds to wait for orders to be delivered")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)

    import config
    from adapters.demo import generate_orders
    from adapters.seed import read
    from bench.e2e import bench_seed

    started = time.time()
    settings = config.get_settings()
    world = read(bench_seed())
    orders = generate_orders(world, args.orders, seed=args.seed)
    embedded = None
    mongo_url = settings.mongo_url
    if not mongo_url:
        from documents.embedded import EmbeddedMongo

        embedded = EmbeddedMongo(":memory:").start()
        mongo_url = embedded.url
    try:
        log(f"reference: {args.orders} orders, {args.workers} worker processes x {args.threads} threads")
        got = run_reference(orders, world, mongo_url, settings.amqp_url, workers=args.workers, threads=args.threads,
                            concurrency=args.concurrency, timeout=args.timeout)
    finally:
        if embedded:
            embedded.stop()
    result = {"benchmark": "reference", "orders": args.orders, "seed": args.seed, "workers": args.workers,
              "threads": args.threads, "concurrency": args.concurrency, "seconds": round(time.time() - started, 1),
              "machine": machine_info(), "summary": got["summary"], "run": got["run"]}
    path = write_result("reference", result, args.out)
    print()
    for k, v in got["summary"].items():
        print(f"{k:>36}: {v}")
    print(f"\nwrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    exit_on_sigterm()
    raise SystemExit(main())
