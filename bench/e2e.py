"""End to end: N orders through the whole router (HTTP API, RabbitMQ, Dramatiq workers, MongoDB,
simulated WMS and carriers), against a no-op baseline measured in the same run on the same servers.

Prints and writes ``bench/results/e2e.json``: orders per second from first accepted to last
dispatched and to last delivered, p50/p99 latency (accepted -> dispatched, accepted -> delivered),
peak RSS of the API and the workers, CPU seconds per process group, Dramatiq messages and MongoDB
round trips per order (counted inside the API and worker processes by bench/shim/sitecustomize.py,
a pymongo CommandListener plus counters around Actor.send/call and httpx, loaded via PYTHONPATH,
no product change), and the baseline (bench/baseline.py: the same hops and round trips per order
with no-op actors and raw pymongo) with the ratio ours / baseline. With ``--reference``, also the
reference pipeline (bench/reference.py: the minimum an order needs, one message and one small
guarded write per step and per external event) through the same orders after ours, on the same
servers, with the ratios ours / reference. Benchmarks never assert.

    python bench/e2e.py [--orders N] [--workers P] [--threads T] [--quick] [--repeat K]
                        [--profile] [--no-baseline] [--reference] [--seed S]
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.chdir(REPO)

import config  # noqa: E402
from bench.common import CpuMeter, machine_info, median, percentile, pids_named, write_result  # noqa: E402
from tests.settle_poll import next_slice, wait_settled_in_db  # noqa: E402

SHIM = REPO / "bench" / "shim"
RESULTS = REPO / "bench" / "results"
READS = {"find", "getMore", "aggregate", "count", "distinct"}
UPDATES = {"update", "findAndModify", "delete", "bulkWrite"}
INSERTS = {"insert"}
AFTER_DISPATCH = ("dispatched_at", "accepted_at", "picked_at", "packed_at", "shipped_at", "in_transit_at",
                  "out_for_delivery_at", "delivered_at")
# The router's actors in pipeline order (the baseline's chain follows it).
CHAIN = ("process_order", "apply_payment", "dispatch_fulfilment", "apply_wms_event", "register_tracking",
         "apply_carrier_event")
EXTERNAL = {"apply_payment", "apply_wms_event", "apply_carrier_event"}  # published by the API


def port_of(url: str) -> str:
    from urllib.parse import urlsplit

    return str(urlsplit(url).port)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def bench_seed(factor: int = 100) -> str:
    """The example world with every stock level multiplied, so N orders do not run out of stock
    (an order backordered for lack of stock would skip most of the pipeline)."""
    from adapters.seed import read

    world = read(str(REPO / "examples" / "seed.yaml"))
    for sku in world["skus"]:
        sku["stock"] = {w: q * factor for w, q in (sku.get("stock") or {}).items()}
    path = Path(tempfile.mkdtemp(prefix="bench-seed-")) / "seed.json"
    path.write_text(json.dumps(world, default=str))
    return str(path)


def to_dt(v) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v if v.tzinfo else v.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------------- ours

class Payer(threading.Thread):
    """The payment service: pays each online, unpaid order of ``pushed`` (a DemoResult filled as
    orders are accepted) once routing has priced it. It reads those orders by ``_id``, 200 per poll
    and going round them, never by a query on state: at 10,000 orders a query on routed orders made
    the embedded server decode every routed order (its compound index drops the time bound), 17 s
    per poll and most of the measured server's work."""

    def __init__(self, api: str, db, concurrency: int, headers: dict | None, pushed):
        super().__init__(daemon=True, name="payer")
        self.api, self.db, self.concurrency, self.pushed = api, db, concurrency, pushed
        self.headers = headers
        self.stop_event = threading.Event()
        self.paid: set[str] = set()
        self.errors = 0

    def run(self) -> None:
        import httpx

        fields = {"routing.state": 1, "amounts.payable": 1, "payment_status": 1}
        with httpx.Client(base_url=self.api, timeout=30, headers=self.headers) as client, \
                ThreadPoolExecutor(self.concurrency) as pool:
            def pay(o) -> None:
                try:
                    r = client.post("/v1/payments", json={"order_id": o["_id"], "transaction_id": f"tx-{o['_id']}",
                                                          "type": "paid", "amount": str(o["amounts"]["payable"])})
                    if r.status_code < 500:
                        self.paid.add(o["_id"])  # taken, or refused (would be refused again)
                        self.errors += r.status_code not in (200, 202)
                        return
                except httpx.HTTPError:  # a kept-alive connection the server closed: pay on a later poll
                    pass
                self.errors += 1

            at = ""
            while not self.stop_event.is_set():
                unpaid = [oid for oid, order in list(self.pushed.orders)
                          if order["payment"]["method"] == "online" and order["payment"]["status"] != "paid"
                          and oid not in self.paid]
                window = next_slice(unpaid, at)
                if window:
                    at = window[-1]
                    try:
                        docs = list(self.db.orders.find({"_id": {"$in": window}}, fields))
                    except Exception:  # noqa: BLE001 - a slow poll is made again
                        docs = []
                    due = [d for d in docs if (d.get("routing") or {}).get("state") == "routed"
                           and d.get("payment_status") == "unpaid"]
                    self.paid.update(d["_id"] for d in docs if d.get("payment_status") not in (None, "unpaid"))
                    list(pool.map(pay, due))
                self.stop_event.wait(0.5)


def start_profilers(router, duration: int) -> list[tuple[str, subprocess.Popen, Path]]:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        log("py-spy not installed in this venv: no profile (pip install py-spy)")
        return []
    mongo_port = port_of(router.mongo_url)
    db_pids = pids_named(f"--port {mongo_port} ")
    jobs = [("worker-svg", router.worker_pid, RESULTS / "profile-worker.svg", []),
            ("worker", router.worker_pid, RESULTS / "profile-worker.txt", ["--format", "raw"]),
            ("api", router.api_pid, RESULTS / "profile-api.txt", ["--format", "raw"])]
    if db_pids:
        jobs.append(("db", db_pids[0], RESULTS / "profile-db.txt", ["--format", "raw"]))
    out = []
    for name, pid, path, extra in jobs:
        argv = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--duration", str(duration),
                "--rate", "50", "--nonblocking", "-o", str(path), *extra]
        out.append((name, subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path))
    return out


PROJECT_FRAMES = tuple(f"{a}{d}/" for a in ("(", "/work/main/") for d in ("actors", "documents", "router", "adapters")) \
    + ("secantus/",)  # and the embedded database server's own code


def summarise_profile(path: Path, top: int = 15) -> dict:
    """Top self-time frames and top inclusive frames of the project's own code (and of the embedded
    database server), from py-spy raw output."""
    self_t: dict[str, int] = defaultdict(int)
    incl: dict[str, int] = defaultdict(int)
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        n = int(n)
        total += n
        frames = stack.split(";")
        # py-spy frames look like "function (path/to/file.py:line)"; the first one is the process/thread
        leaf = frames[-1]
        self_t[_shorten(leaf)] += n
        seen = set()
        for f in frames:
            s = _shorten(f, lines=False)
            if any(p in f for p in PROJECT_FRAMES) and s not in seen:
                seen.add(s)
                incl[s] += n
    pct = lambda v: round(100 * v / total, 1) if total else 0  # noqa: E731
    return {"samples": total,
            "self_top": [[k, pct(v)] for k, v in sorted(self_t.items(), key=lambda kv: -kv[1])[:top]],
            "project_inclusive_top": [[k, pct(v)] for k, v in sorted(incl.items(), key=lambda kv: -kv[1])[:top]]}


def _shorten(frame: str, lines: bool = True) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    if not lines:
        where = where.rsplit(":", 1)[0]
    return f"{name} ({where})" if where else name


def read_counts(count_dir: Path) -> dict[str, dict]:
    """Sum the shim's per-process files by role."""
    roles: dict[str, dict] = {}
    for path in count_dir.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        agg = roles.setdefault(data["role"], defaultdict(lambda: defaultdict(float)))
        for key, table in data.items():
            if isinstance(table, dict):
                for k, v in table.items():
                    agg[key][k] += v
    return {r: {k: dict(v) for k, v in agg.items()} for r, agg in roles.items()}


def round_trips(db_counts: dict, db_us: dict, orders: int) -> dict:
    """MongoDB commands per order, by actor and by kind (read / update / insert / other)."""
    by_actor: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for key, n in db_counts.items():
        actor, cmd = key.split("|", 1)
        kind = "reads" if cmd in READS else "updates" if cmd in UPDATES else "inserts" if cmd in INSERTS else "other"
        by_actor[actor][kind] += n
        by_actor[actor]["total"] += n
        by_actor[actor]["db_ms"] += db_us.get(key, 0) / 1000
    return {a: {k: round(v, 1) for k, v in d.items()} for a, d in by_actor.items()}


class MemorySampler(threading.Thread):
    """Resident memory of the worker processes (now, not peak) every ``every`` seconds, beside the
    number of orders settled so far (from ``progress``, kept by :func:`run_ours`: no read of its own
    on the server being measured)."""

    def __init__(self, worker_pid: int, progress: dict, every: float = 10.0):
        super().__init__(daemon=True, name="rss-sampler")
        self.worker_pid, self.progress, self.every = worker_pid, progress, every
        self.samples: list[dict] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        from adapters.stack import descendants

        t0 = time.monotonic()
        while not self.stop_event.wait(self.every):
            rss = 0
            for pid in descendants(self.worker_pid):
                try:
                    rss += next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                                if line.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    continue
            self.samples.append({"t_s": round(time.monotonic() - t0, 1), "rss_mb": round(rss / 1024, 1),
                                 "settled": self.progress.get("settled", 0)})


def memory_growth(samples: list[dict]) -> dict:
    """Worker RSS once warmed up (after a fifth of the run) against the end of the run."""
    if len(samples) < 3:
        return {}
    warm = samples[max(1, len(samples) // 5)]
    last = samples[-1]
    return {"warm_rss_mb": warm["rss_mb"], "final_rss_mb": last["rss_mb"], "max_rss_mb": max(s["rss_mb"] for s in samples),
            "growth_mb": round(last["rss_mb"] - warm["rss_mb"], 1),
            "orders_between": last["settled"] - warm["settled"]}


def run_ours(args, router, count_dir: Path, progress: dict | None = None) -> dict:
    """``progress``, when given, is kept up to date with the number of orders settled."""
    from mongoengine import get_db

    from adapters.demo import DemoResult, channel_token, generate_orders, push_orders
    from adapters.stack import descendants, peak_rss_mb

    db = get_db()
    mongo_port = port_of(router.mongo_url)
    meter = CpuMeter({
        "db": lambda: pids_named(f"--port {mongo_port} "),
        "api": lambda: descendants(router.api_pid),
        "workers": lambda: descendants(router.worker_pid),
        "harness_and_simulators": lambda: [os.getpid()],
        "rabbitmq": lambda: pids_named("beam.smp"),
    })
    progress = {} if progress is None else progress
    seed = args.seed if args.seed is not None else int(time.time()) % 100000
    orders = generate_orders(router.seed, args.orders, seed=seed)
    result = DemoResult()  # filled as orders are accepted; the payer watches it
    payer = Payer(router.api, db, args.concurrency, router.payment_headers, result)
    profilers = []
    meter.start()
    payer.start()
    t_push = time.time()

    def push():
        push_orders(router.api, orders, args.concurrency, token=channel_token(router.seed), progress=False,
                    result=result)

    pusher = threading.Thread(target=push)
    pusher.start()
    if args.profile:
        time.sleep(3)
        profilers = start_profilers(router, args.profile_duration)
        log(f"profiling workers, API and database for {args.profile_duration}s")
    pusher.join()
    log(f"pushed {result.accepted} accepted, {result.refused} refused in {result.last_accepted - t_push:.1f}s")
    last_log = [0.0]

    def on_poll(done: int, total: int) -> None:
        progress["settled"] = done
        if time.monotonic() - last_log[0] > 10:
            log(f"settled {done}/{total}")
            last_log[0] = time.monotonic()

    # only this run's orders (bench/scale.py runs with history already in the database), and of
    # those only the ones not yet settled: the poll runs on the server being measured, so a long
    # run polls less often (every 10 s at 10,000 orders; the figures come from the orders' own
    # timestamps, not from when the poll saw them)
    ids = [order_id for order_id, _ in result.orders]
    wait_settled_in_db(ids, args.timeout, poll=max(3.0, len(ids) / 1000), on_poll=on_poll)
    payer.stop_event.set()
    cpu = meter.stop()
    time.sleep(1.5)  # let the shim write its last counts
    rss = {"api_mb": round(peak_rss_mb(router.api_pid), 1), "workers_mb": round(peak_rss_mb(router.worker_pid), 1)}
    wait_for_profilers(profilers, args.profile_duration + 30)

    db = batch_client(router.mongo_url)[db.name]
    docs = list(db.orders.find({"_id": {"$in": ids}},
                               {"created_at": 1, "status": 1, "shipment_status": 1, "routing.state": 1,
                                "payment_method": 1, "payment_status": 1, "fulfilments": 1, "version": 1,
                                "payments": 1}))
    n = len(docs)
    flow = order_flow(docs)
    # events ride their messages and are recorded on the order that applied them (a payment, a
    # tracking entry with its event id); the inbox keeps those not applied
    inbox: dict[str, int] = defaultdict(int)
    for o in docs:
        inbox["payment"] += sum(1 for p in o.get("payments", []) if p.get("method") != "cod")
        tracked = [t for f in o.get("fulfilments", []) for t in f.get("tracking", []) if t.get("event_id")]
        inbox["wms_or_carrier"] += len(tracked)
        inbox["wms_or_carrier_direct"] += sum(1 for t in tracked if t.get("direct"))
    for e in db.inbox.find({}, {"kind": 1}):
        inbox[f"{e['kind']}_not_applied"] += 1

    counts = read_counts(count_dir)
    worker, api = counts.get("worker", {}), counts.get("api", {})
    done = {a: int(v) for a, v in worker.get("done", {}).items()}
    sent = messages_sent(worker, api)
    w_rt = round_trips(worker.get("db", {}), worker.get("db_us", {}), n)
    a_rt = round_trips(api.get("db", {}), api.get("db_us", {}), n)
    messages_from_data = n + sum(inbox.values()) - 2 * inbox["wms_or_carrier_direct"]  # counted in both
    # every update that lands bumps the order's version: the rest of the order updates were
    # guarded updates that lost a race (and were retried after a fresh read)
    landed = sum(o.get("version", 0) for o in docs) / n
    api_total = sum(d.get("total", 0) for d in a_rt.values())
    disp_rate, disp_span = throughput(flow.dispatched, flow.first)
    deliv_rate, deliv_span = throughput(flow.delivered, flow.first)
    return {
        "seed": seed,
        "orders_pushed": len(orders), "accepted": result.accepted, "refused": result.refused, "orders_in_db": n,
        "push_seconds": round(result.last_accepted - t_push, 2),
        "fulfilments_per_order": round(flow.fulfilments / n, 3),
        "orders_dispatched": len(flow.dispatched), "orders_delivered": len(flow.delivered),
        "statuses": flow.statuses, "payments_sent": len(payer.paid), "payment_errors": payer.errors,
        "throughput_to_dispatched_per_s": disp_rate, "span_to_last_dispatched_s": disp_span,
        "throughput_to_delivered_per_s": deliv_rate, "span_to_last_delivered_s": deliv_span,
        "latency_dispatched_s": latency_percentiles(flow.dispatched),
        "latency_delivered_s": latency_percentiles(flow.delivered),
        "peak_rss": rss,
        "cpu": cpu,
        "messages": {
            "processed_per_order": round(sum(done.values()) / n, 3),
            "sent_per_order": round(sum(sent.values()) / n, 3),
            "from_data_per_order": round(messages_from_data / n, 3),
            "from_data_formula": "1 process_order + 1 per event not applied at the edge (an in-stage WMS or carrier"
                                 " event lands on its order from the API, its tracking entry marked direct:"
                                 " services/direct_events.py; the actor that makes the order ready, process_order or"
                                 " the payment's, dispatches its fulfilments itself, and the shipped event registers its"
                                 " parcels' tracking itself; dispatch_fulfilment and register_tracking only retry one"
                                 " that failed)",
            "events_per_order": {k: round(v / n, 3) for k, v in inbox.items()},
            "processed_by_actor": done, "sent_by_actor": dict(sent),
        },
        "db_round_trips_per_order": {
            "workers": round(sum(d.get("total", 0) for d in w_rt.values()) / n, 2),
            "api": round(api_total / n, 2),
            "api_reads": round(sum(d.get("reads", 0) for d in a_rt.values()) / n, 2),
            "api_updates": round(sum(d.get("updates", 0) for d in a_rt.values()) / n, 2),
            "api_inserts": round(sum(d.get("inserts", 0) for d in a_rt.values()) / n, 2),
            "api_db_ms_per_order": round(sum(d.get("db_ms", 0) for d in a_rt.values()) / n, 2),
            "by_command_workers": _by_command(worker.get("db", {}), n),
            "by_command_api": _by_command(api.get("db", {}), n),
            "histogram": db_histogram({"worker": worker.get("db_coll", {}), "api": api.get("db_coll", {})}, n),
        },
        "cpu_ms_per_order": {k: round(1000 * v / n, 1) for k, v in cpu["cpu_s"].items()},
        "order_updates_per_order": {
            "landed": round(landed, 2),
            "sent": round(sum(v for k, v in worker.get("db_coll", {}).items() if k.endswith("|update|orders")) / n, 2),
            "unmodified_by_actor": {a: round(v / n, 2) for a, v in worker.get("db_unmodified", {}).items()},
        },
        "actors": actor_costs(done, worker, w_rt, n),
        "profiles": {name: str(path.relative_to(REPO)) for name, _, path in profilers},
    }


def wait_for_profilers(profilers: list, timeout: float) -> None:
    """Let each py-spy write its profile; one still running after ``timeout`` is stopped."""
    for _name, proc, _path in profilers:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()


def batch_client(mongo_url: str):
    """A client for reading a finished run's results, with a batch timeout (the embedded server
    decodes every match of a find before its first batch: ~1 ms per order, 130,000 inbox entries
    at 10,000 orders)."""
    import pymongo

    from documents.connection import BATCH_SOCKET_TIMEOUT_MS

    return pymongo.MongoClient(mongo_url, socketTimeoutMS=BATCH_SOCKET_TIMEOUT_MS, tz_aware=True)


@dataclass
class OrderFlow:
    """What the stored orders say of a run: when each order was last dispatched and delivered."""
    first: datetime | None = None  # the first order created
    fulfilments: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    dispatched: list[tuple[datetime, datetime]] = field(default_factory=list)  # (created, last dispatched)
    delivered: list[tuple[datetime, datetime]] = field(default_factory=list)  # (created, last delivered)


def order_flow(docs: list[dict]) -> OrderFlow:
    """An order counts as dispatched (delivered) once all its fulfilments are, at the last of them."""
    flow = OrderFlow(first=min(to_dt(o["created_at"]) for o in docs))
    statuses: dict[str, int] = defaultdict(int)
    for o in docs:
        statuses[f"{o['status']}/{o['shipment_status']}/{o['routing']['state']}"] += 1
        fs = o.get("fulfilments") or []
        flow.fulfilments += len(fs)
        if not fs:
            continue
        created = to_dt(o["created_at"])
        disp = [min((to_dt(f[k]) for k in AFTER_DISPATCH if f.get(k)), default=None) for f in fs]
        if all(disp):
            flow.dispatched.append((created, max(disp)))
        deliv = [to_dt(f.get("delivered_at")) for f in fs]
        if all(deliv):
            flow.delivered.append((created, max(deliv)))
    flow.statuses = dict(statuses)
    return flow


def throughput(pairs: list[tuple[datetime, datetime]], first: datetime) -> tuple[float | None, float | None]:
    """Orders per second from ``first`` to the last end of ``pairs``, and that span in seconds."""
    if not pairs:
        return None, None
    span = (max(e for _, e in pairs) - first).total_seconds()
    return round(len(pairs) / span, 2), round(span, 2)


def latencies(pairs: list[tuple[datetime, datetime]]) -> list[float]:
    return [(e - s).total_seconds() for s, e in pairs]


def latency_percentiles(pairs: list[tuple[datetime, datetime]]) -> dict:
    return {"p50": _r(percentile(latencies(pairs), 50)), "p99": _r(percentile(latencies(pairs), 99))}


def messages_sent(*counts: dict) -> dict[str, int]:
    """Messages sent, by receiving actor, from the processes' counts."""
    sent: dict[str, int] = defaultdict(int)
    for c in counts:
        for edge, v in c.get("sent", {}).items():
            sent[edge.split(">", 1)[1]] += int(v)
    return sent


def actor_costs(done: dict[str, int], worker: dict, w_rt: dict, n: int) -> dict:
    """Per actor, in pipeline order: its messages and what one cost (round trips, time)."""
    actors = {}
    for a in sorted(done, key=lambda a: CHAIN.index(a) if a in CHAIN else 99):
        m = done[a]
        rt = w_rt.get(a, {})
        actors[a] = {
            "messages": m, "per_order": round(m / n, 3),
            "db_round_trips_per_message": round(rt.get("total", 0) / m, 2),
            "reads_per_message": round(rt.get("reads", 0) / m, 3),
            "updates_per_message": round(rt.get("updates", 0) / m, 3),
            "inserts_per_message": round(rt.get("inserts", 0) / m, 3),
            "wall_ms_per_message": round(1000 * worker.get("run_s", {}).get(a, 0) / m, 2),
            "db_ms_per_message": round(rt.get("db_ms", 0) / m, 2),
            "http_out_ms_per_message": round(1000 * worker.get("http_s", {}).get(a, 0) / m, 2),
            "http_out_calls_per_message": round(worker.get("http", {}).get(a, 0) / m, 2),
            "publish_ms_per_message": round(1000 * worker.get("send_s", {}).get(a, 0) / m, 2),
        }
    return actors


def db_histogram(tables: dict[str, dict], n: int) -> dict:
    """Round trips per order keyed ``role actor command collection``, most first."""
    out = {}
    for role, table in tables.items():
        for key, v in table.items():
            out[f"{role} {key.replace('|', ' ')}"] = round(v / n, 3)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _by_command(db_counts: dict, n: int) -> dict:
    out: dict[str, float] = defaultdict(float)
    for key, v in db_counts.items():
        out[key.split("|", 1)[1]] += v
    return {k: round(v / n, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def _r(v):
    return None if v is None else round(v, 3)


# ------------------------------------------------------------------------------------ baseline

def baseline_hops(ours: dict) -> tuple[list[dict], dict]:
    """The baseline chain from our counts: each actor's messages per order and round trips per
    message; the API's round trips are done by the driver (one insert per order: the order) and by
    the hops standing for externally published messages (the rest), so totals per order match."""
    actors, rt = ours["actors"], ours["db_round_trips_per_order"]
    ext_per_order = sum(a["per_order"] for name, a in actors.items() if name in EXTERNAL) or 1
    api_extra = {"finds": rt["api_reads"], "updates": rt["api_updates"], "inserts": max(rt["api_inserts"] - 1, 0)}
    hops = []
    for name in sorted(actors, key=lambda a: CHAIN.index(a) if a in CHAIN else 99):
        a = actors[name]
        hop = {"kind": name, "per_order": a["per_order"], "finds": a["reads_per_message"],
               "updates": a["updates_per_message"], "inserts": a["inserts_per_message"]}
        if name in EXTERNAL:
            for k, v in api_extra.items():
                hop[k] += v / ext_per_order
        hops.append(hop)
    return hops, {"driver_inserts_per_order": 1, "api_ops_spread_over_external_hops": api_extra}


def run_baseline(args, router, hops: list[dict], log_dir: Path) -> dict:
    import pymongo

    from config import get_settings
    from adapters.stack import descendants, peak_rss_mb

    prefix = f"bench-baseline-{os.getpid()}"
    db_name = f"baseline_{uuid.uuid4().hex[:8]}"
    os.environ.update(BASELINE_AMQP_URL=get_settings().amqp_url, BASELINE_MONGO_URL=router.mongo_url,
                      BASELINE_QUEUE_PREFIX=prefix, BASELINE_DB=db_name)
    baseline = importlib.import_module("bench.baseline")
    env = {k: v for k, v in os.environ.items() if k != "BENCH_COUNT_DIR"}
    with open(log_dir / f"baseline-{db_name}.log", "ab") as out:  # the workers hold their own copy
        proc = subprocess.Popen([sys.executable, "-m", "dramatiq", "bench.baseline", "--path", str(REPO),
                                 "--processes", str(args.workers), "--threads", str(args.threads)],
                                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    from documents.connection import BATCH_SOCKET_TIMEOUT_MS

    # the driver polls and reads whole collections: a batch timeout (its writes are as fast either way)
    client = pymongo.MongoClient(router.mongo_url, **{**baseline.CLIENT_OPTIONS, "socketTimeoutMS": BATCH_SOCKET_TIMEOUT_MS})
    db = client[db_name]
    try:
        db.orders.insert_one({"_id": "warm-up", "created_at": datetime.now(timezone.utc), "version": 0})
        baseline.send("warm-up", [["noop", 1, 1, 1]], 0)
        deadline = time.monotonic() + 60
        while not db.orders.find_one({"_id": "warm-up", "done_at": {"$exists": True}}):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"baseline workers did not start: see {out.name}")
            time.sleep(0.2)
        db.orders.delete_one({"_id": "warm-up"})
        n = args.baseline_orders or args.orders  # its rate does not depend on the count
        plans = baseline.build_plans(n, hops)
        mongo_port = port_of(router.mongo_url)
        meter = CpuMeter({"db": lambda: pids_named(f"--port {mongo_port} "),
                          "workers": lambda: descendants(proc.pid), "driver": lambda: [os.getpid()],
                          "rabbitmq": lambda: pids_named("beam.smp")})
        meter.start()

        def one(i):
            oid = f"B{i:06d}"
            db.orders.insert_one({"_id": oid, "created_at": datetime.now(timezone.utc), "version": 0})
            baseline.send(oid, plans[i], 0)

        t0 = time.time()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(one, range(n)))
        log(f"baseline: pushed {n} in {time.time() - t0:.1f}s")
        deadline = time.monotonic() + args.timeout
        while db.orders.count_documents({"done_at": {"$exists": True}}) < n and time.monotonic() < deadline:
            time.sleep(3)
        cpu = meter.stop()
        docs = list(db.orders.find({}, {"created_at": 1, "done_at": 1, "t_dispatch_fulfilment": 1}))
        rss = round(peak_rss_mb(proc.pid), 1)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        client.drop_database(db_name)
        client.close()
    first = min(to_dt(d["created_at"]) for d in docs)
    done = [(to_dt(d["created_at"]), to_dt(d["done_at"])) for d in docs if d.get("done_at")]
    disp = [(to_dt(d["created_at"]), to_dt(d["t_dispatch_fulfilment"])) for d in docs if d.get("t_dispatch_fulfilment")]
    span = lambda pairs: (max(e for _, e in pairs) - first).total_seconds() if pairs else None  # noqa: E731
    lat = lambda pairs: [(e - s).total_seconds() for s, e in pairs]  # noqa: E731
    return {
        "orders": n, "completed": len(done),
        "hops_per_order": round(sum(len(p) for p in plans) / len(plans), 3),
        "db_round_trips_per_order": round(1 + sum(sum(h[1:]) for p in plans for h in p) / len(plans), 2),
        "throughput_to_done_per_s": round(len(done) / span(done), 2) if done else None,
        "throughput_to_dispatched_per_s": round(len(disp) / span(disp), 2) if disp else None,
        "latency_done_s": {"p50": _r(percentile(lat(done), 50)), "p99": _r(percentile(lat(done), 99))},
        "peak_rss_workers_mb": rss, "cpu": cpu,
    }


def delete_baseline_queues() -> None:
    """Remove this process's baseline queues (and their .DQ / .XQ) from RabbitMQ."""
    import pika

    from config import get_settings

    prefix = f"bench-baseline-{os.getpid()}"
    try:
        conn = pika.BlockingConnection(pika.URLParameters(get_settings().amqp_url))
        ch = conn.channel()
        for q in ("orders", "dispatch", "events"):
            for suffix in ("", ".DQ", ".XQ"):
                ch.queue_delete(f"{prefix}.{q}{suffix}")
        conn.close()
    except Exception as exc:  # tidying only
        log(f"could not delete baseline queues: {exc!r}")


# ---------------------------------------------------------------------------------------- main

def run_once(args, k: int) -> dict:

    count_dir = Path(tempfile.mkdtemp(prefix="bench-counts-"))
    os.environ["BENCH_COUNT_DIR"] = str(count_dir)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(SHIM)]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(SHIM), *paths])
    embedded = None
    if args.no_retry_writes:  # our own embedded server, reached with retryWrites=false by everyone
        from documents.embedded import EmbeddedMongo

        embedded = EmbeddedMongo(":memory:").start()
        os.environ["ROUTER_MONGO_URL"] = embedded.url + "?retryWrites=false"
        config.use(None)
    try:
        return _run_once(args, k, count_dir)
    finally:
        if embedded:
            embedded.stop()
            os.environ.pop("ROUTER_MONGO_URL", None)
            config.use(None)


def _run_once(args, k: int, count_dir: Path) -> dict:
    from adapters.demo import running_router

    log(f"run {k + 1}/{args.repeat}: starting the router ({args.workers} worker processes x {args.threads} threads)")
    with running_router(workers=args.workers, threads=args.threads, seed_path=bench_seed()) as router:
        log_dir = Path(router.stack.log_dir)
        time.sleep(2)  # let the worker processes boot and connect
        progress: dict = {}
        sampler = MemorySampler(router.worker_pid, progress) if args.sample_memory else None
        if sampler:
            sampler.start()
        ours = run_ours(args, router, count_dir, progress)
        if sampler:
            sampler.stop_event.set()
            sampler.join(timeout=15)
            ours["memory_samples"], ours["memory"] = sampler.samples, memory_growth(sampler.samples)
            log(f"worker memory: {ours['memory']}")
        log(f"ours: {ours['throughput_to_dispatched_per_s']}/s to dispatched, "
            f"{ours['throughput_to_delivered_per_s']}/s to delivered ({ours['orders_delivered']} delivered)")
        base = ref = None
        if not args.no_baseline or args.reference:
            # the baseline and the reference share the database and broker: our workers must not
            # still be working through a backlog beside them (they were, after a run that reached
            # its timeout)
            for part in router.stack.parts:
                if part.name.startswith("worker"):
                    part.stop()
        if not args.no_baseline:
            hops, spread = baseline_hops(ours)
            base = run_baseline(args, router, hops, log_dir)
            base["model"] = {"hops": hops, **spread}
            log(f"baseline: {base['throughput_to_done_per_s']}/s ({base['completed']} done)")
        if args.reference:
            ref = run_reference_after(args, router, ours, log_dir)
    run = {"ours": ours, "baseline": base}
    if ref:
        run["reference"] = ref["run"]
        run["reference_summary"] = ref["summary"]
        run["ratios_vs_reference"] = reference_ratios(ours_flat(ours), ref["summary"])
    if base and ours["throughput_to_delivered_per_s"] and base["throughput_to_done_per_s"]:
        run["ratio_delivered_vs_baseline"] = round(ours["throughput_to_delivered_per_s"] / base["throughput_to_done_per_s"], 3)
        if base["throughput_to_dispatched_per_s"] and ours["throughput_to_dispatched_per_s"]:
            run["ratio_dispatched_vs_baseline_dispatched"] = round(
                ours["throughput_to_dispatched_per_s"] / base["throughput_to_dispatched_per_s"], 3)
    return run


def run_reference_after(args, router, ours: dict, log_dir: Path) -> dict:
    """The reference pipeline (bench/reference.py) through the same orders as ours (the same world
    and seed), on the same database server and RabbitMQ, with the same workers, threads and
    concurrency."""
    from adapters.demo import generate_orders
    from bench.reference import run_reference
    from config import get_settings

    orders = generate_orders(router.seed, args.orders, seed=ours["seed"])
    log(f"reference: {len(orders)} orders (seed {ours['seed']})")
    ref = run_reference(orders, router.seed, router.mongo_url, get_settings().amqp_url, workers=args.workers,
                        threads=args.threads, concurrency=args.concurrency, timeout=args.timeout, log_dir=log_dir)
    s = ref["summary"]
    log(f"reference: {s['throughput_to_dispatched_per_s']}/s to dispatched, {s['throughput_to_delivered_per_s']}/s "
        f"to delivered ({ref['run']['orders_delivered']} delivered)")
    return ref


def ours_flat(ours: dict) -> dict:
    """Our figures under the keys bench/reference.flat gives the reference's."""
    rt, cpu = ours["db_round_trips_per_order"], ours["cpu_ms_per_order"]
    return {"throughput_to_delivered_per_s": ours["throughput_to_delivered_per_s"],
            "throughput_to_dispatched_per_s": ours["throughput_to_dispatched_per_s"],
            "db_round_trips_per_order": round(rt["workers"] + rt["api"], 2),
            "messages_per_order": ours["messages"]["processed_per_order"],
            "cpu_ms_per_order_db": cpu.get("db"), "cpu_ms_per_order_workers": cpu.get("workers"),
            "cpu_ms_per_order_api": cpu.get("api"),
            "cpu_ms_per_order": round(sum(cpu.get(k) or 0 for k in ("db", "workers", "api")), 1)}


def reference_ratios(ours: dict, ref: dict) -> dict:
    from bench.reference import ratios

    return ratios(ours, ref)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="300 orders")
    ap.add_argument("--workers", type=int, default=2, help="Dramatiq worker processes (ours and baseline)")
    ap.add_argument("--threads", type=int, default=8, help="threads per worker process (ours and baseline)")
    ap.add_argument("--concurrency", type=int, default=8, help="HTTP clients pushing orders and payments")
    ap.add_argument("--repeat", type=int, default=1, help="runs; the medians are reported")
    ap.add_argument("--timeout", type=int, default=300, help="seconds to wait for orders to settle")
    ap.add_argument("--profile", action="store_true", help="py-spy the workers, API and database during the run")
    ap.add_argument("--profile-duration", type=int, default=20)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--reference", action="store_true",
                    help="also run the reference pipeline (bench/reference.py) through the same orders after ours, "
                         "and print ours / reference")
    ap.add_argument("--baseline-orders", type=int, default=None,
                    help="orders of the baseline run (default: --orders); its throughput does not depend on it")
    ap.add_argument("--sample-memory", action="store_true",
                    help="sample the workers' resident memory every 10 s: does it grow over the run?")
    ap.add_argument("--no-retry-writes", action="store_true",
                    help="connect everyone with retryWrites=false (the embedded server slows down past 10,000 "
                         "retryable writes in 30 minutes; see the report)")
    ap.add_argument("--seed", type=int, default=None,
                    help="order generator seed (default: the clock); fix it to compare runs order for order")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick and args.orders == 2000:
        args.orders = 300
    return args


def median_at(runs: list[dict], path: tuple[str, ...]):
    """The median over the runs of the figure at ``path`` (None where a run lacks it)."""
    vals = []
    for r in runs:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        vals.append(v)
    return _r(median(vals))


def summarise(runs: list[dict]) -> dict:
    def med(path):
        return median_at(runs, path)

    summary = {
        "throughput_to_dispatched_per_s": med(("ours", "throughput_to_dispatched_per_s")),
        "throughput_to_delivered_per_s": med(("ours", "throughput_to_delivered_per_s")),
        "latency_dispatched_p50_s": med(("ours", "latency_dispatched_s", "p50")),
        "latency_dispatched_p99_s": med(("ours", "latency_dispatched_s", "p99")),
        "latency_delivered_p50_s": med(("ours", "latency_delivered_s", "p50")),
        "latency_delivered_p99_s": med(("ours", "latency_delivered_s", "p99")),
        "peak_rss_api_mb": med(("ours", "peak_rss", "api_mb")),
        "peak_rss_workers_mb": med(("ours", "peak_rss", "workers_mb")),
        "messages_per_order": med(("ours", "messages", "processed_per_order")),
        "order_updates_landed_per_order": med(("ours", "order_updates_per_order", "landed")),
        "order_updates_sent_per_order": med(("ours", "order_updates_per_order", "sent")),
        "cpu_ms_per_order_db": med(("ours", "cpu_ms_per_order", "db")),
        "cpu_ms_per_order_workers": med(("ours", "cpu_ms_per_order", "workers")),
        "cpu_ms_per_order_api": med(("ours", "cpu_ms_per_order", "api")),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "db_round_trips_per_order_workers": med(("ours", "db_round_trips_per_order", "workers")),
        "db_round_trips_per_order_api": med(("ours", "db_round_trips_per_order", "api")),
        "baseline_throughput_per_s": med(("baseline", "throughput_to_done_per_s")),
        "baseline_throughput_to_dispatched_per_s": med(("baseline", "throughput_to_dispatched_per_s")),
        "ratio_ours_vs_baseline": med(("ratio_delivered_vs_baseline",)),
        "ratio_dispatched_vs_baseline_dispatched": med(("ratio_dispatched_vs_baseline_dispatched",)),
        "aim_ratio": 0.5,
    }
    if any(r.get("reference_summary") for r in runs):
        from bench.reference import RATIO_FIGURES

        for _, key in RATIO_FIGURES:
            summary[f"reference_{key}"] = med(("reference_summary", key))
        summary["reference_fulfilments_per_order"] = med(("reference_summary", "fulfilments_per_order"))
        summary["fulfilments_per_order"] = med(("ours", "fulfilments_per_order"))
        summary["ratios_vs_reference"] = {key: med(("ratios_vs_reference", key)) for _, key in RATIO_FIGURES}
        summary["ratio_ours_vs_reference"] = summary["ratios_vs_reference"]["throughput_to_delivered_per_s"]
    memory = [r["ours"].get("memory") for r in runs if r["ours"].get("memory")]
    if memory:
        summary["worker_memory"] = memory[-1]
    return summary


def print_round_trips(run: dict) -> None:
    print("\nDB round trips per order by role, actor, command, collection:")
    for key, v in run["ours"]["db_round_trips_per_order"]["histogram"].items():
        if v >= 0.05:
            print(f"  {v:7.2f}  {key}")


def profile_summaries(run: dict) -> dict:
    profiles = {}
    for name, rel in run["ours"]["profiles"].items():
        if rel.endswith(".txt") and (REPO / rel).exists():
            profiles[name] = summarise_profile(REPO / rel)
    return profiles


def print_report(summary: dict, profiles: dict, path: Path) -> None:
    print()
    for k, v in summary.items():
        print(f"{k:>42}: {v}")
    for name, prof in profiles.items():
        print(f"\nprofile {name} ({prof['samples']} samples), self time:")
        for frame, p in prof["self_top"][:10]:
            print(f"  {p:5.1f}%  {frame}")
        print("  project code, inclusive:")
        for frame, p in prof["project_inclusive_top"][:10]:
            print(f"  {p:5.1f}%  {frame}")
    print(f"\nwrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()
    runs = []
    try:
        for k in range(args.repeat):
            runs.append(run_once(args, k))
    finally:
        if not args.no_baseline:
            delete_baseline_queues()
    summary = summarise(runs)
    if runs:
        print_round_trips(runs[-1])
    profiles = profile_summaries(runs[-1]) if args.profile and runs else {}
    result = {"benchmark": "e2e", "orders": args.orders, "workers": args.workers, "threads": args.threads,
              "concurrency": args.concurrency, "repeat": args.repeat, "profiled": args.profile,
              "retry_writes": not args.no_retry_writes,
              "seconds": round(time.time() - started, 1), "machine": machine_info(), "summary": summary,
              "runs": runs, "profile_summary": profiles}
    print_report(summary, profiles, write_result("e2e", result, args.out))
    if runs and runs[-1].get("reference_summary"):
        from bench.reference import ratio_table

        print(f"\nours against the reference pipeline (last run; medians over runs above):\n"
              f"{ratio_table(ours_flat(runs[-1]['ours']), runs[-1]['reference_summary'])}")
    return 0


if __name__ == "__main__":
    from bench.common import exit_on_sigterm

    exit_on_sigterm()
    raise SystemExit(main())
