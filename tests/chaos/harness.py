"""A chaos run: the whole router on private infrastructure, orders pushed and paid through its
HTTP API while workers are SIGKILLed, RabbitMQ and the database are restarted and the WMS fails
or hangs; then the system settles and the invariants are checked. Used by tests/chaos/ (small)
and bench/chaos.py (big).

The router's processes are started like ``adapters.demo.running_router`` does, with what that
lacks: a private broker URL, an existing database URL, the scheduler as an extra part, and a
supervisor that restarts any part that dies.
"""
from __future__ import annotations

import random
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from config.settings import split_urls
from tests.chaos.infra import DurableMongo, PrivateRabbit
from tests.settle_poll import read_orders, wait_settled_in_db

ADMIN_TOKEN = "chaos-admin"  # the run acts as an operator: pushes phone orders, records payments


@dataclass
class ChaosConfig:
    orders: int = 60
    seed: int = 7
    concurrency: int = 8
    workers: int = 2
    threads: int = 8
    wms_fail_rate: float = 0.3
    kill_every: tuple[float, float] = (6.0, 12.0)  # seconds between worker SIGKILLs
    broker_restart_at: float = 8.0  # seconds into the load
    mongo_restart_at: float = 20.0
    hang_every: float = 7.0  # the WMS hangs 2 calls past the client timeout this often
    settle_timeout: float = 150.0
    sweep_interval: int = 5


@dataclass
class ChaosResult:
    orders: int = 0
    accepted: int = 0
    kills: int = 0
    broker_restarts: int = 0
    mongo_restarts: int = 0
    wms_calls: int = 0
    wms_retries: int = 0
    wms_hangs: int = 0
    delivery_orders: int = 0
    dead_letters: int = 0
    dead_letters_in_broker: int = 0
    unrecorded_dead_letters: list[str] = field(default_factory=list)
    unsettled: list = field(default_factory=list)
    double_dispatched: list = field(default_factory=list)
    missing_orders: list = field(default_factory=list)
    violations: list = field(default_factory=list)
    statuses: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {k: (v if not isinstance(v, list) or len(v) < 50 else v[:50] + [f"... {len(v) - 50} more"])
                for k, v in self.__dict__.items()}


@dataclass
class ChaosRouter:
    api: str
    mongo: DurableMongo
    rabbit: PrivateRabbit
    stack: object
    wms: object
    carrier: object
    seed: dict
    db_name: str
    prefix: str


@contextmanager
def chaos_router(config: ChaosConfig, base: Path | None = None, rabbit=None, extra_env: dict | None = None):
    """Private broker and database, simulators, API, workers and scheduler; yields a ChaosRouter.
    ``rabbit``: a broker already started to use instead of a private node (the caller stops it; a
    :class:`tests.chaos.infra.RabbitCluster`, whose ``url`` lists its nodes); ``extra_env``: more
    ``ROUTER_*`` variables for the router's processes."""
    from adapters.seed import load_world, read
    from adapters.simulators.carrier import CarrierSimulator
    from adapters.simulators.wms import WmsSimulator
    from adapters.stack import Stack, child_env, wait_http
    from documents.connection import connect
    from documents.indexes import ensure_indexes
    from documents.embedded import free_port

    base = Path(base or tempfile.mkdtemp(prefix="chaos-"))
    own_rabbit = rabbit is None
    rabbit = PrivateRabbit(base / "rabbit").start() if own_rabbit else rabbit
    mongo = DurableMongo(str(base / "mongo"), log_path=str(base / "mongo.log")).start()
    run_id = uuid.uuid4().hex[:8]
    db_name, prefix, port = f"chaos_{run_id}", f"chaos{run_id}", free_port()
    api = f"http://127.0.0.1:{port}"
    world = read("examples/seed.yaml")
    tokens = {w["id"]: w.get("token") for w in world["warehouses"]} | {c["id"]: c.get("token") for c in world["carriers"]}
    # Real senders retry for hours; 12 attempts with doubling backoff ride out ~3 minutes of outage.
    wms = WmsSimulator(callback_url=api, tokens=tokens, auto_progress=True, step_delay=0.05, callback_workers=8,
                       callback_attempts=12).start()
    carrier = CarrierSimulator(callback_url=api, tokens=tokens, auto_progress=True, step_delay=0.05,
                               callback_workers=8, callback_attempts=12).start()
    for w in world["warehouses"]:
        w["wms_url"] = wms.url
    for c in world["carriers"]:
        c["api_url"] = carrier.url
    connect(mongo.url, db_name)
    ensure_indexes()
    load_world(world)
    env = child_env(mongo.url, ROUTER_MONGO_DB=db_name, ROUTER_QUEUE_PREFIX=prefix, ROUTER_AMQP_URL=rabbit.url,
                    ROUTER_HTTP_ADDR=f"127.0.0.1:{port}", ROUTER_PUBLIC_URL=api, ROUTER_LOG_LEVEL="WARNING",
                    ROUTER_WORKER_METRICS="0", ROUTER_API_TOKENS=f"chaos:admin:{ADMIN_TOKEN}", ROUTER_MAX_RETRIES="10",
                    ROUTER_HTTP_TIMEOUT="2", ROUTER_OUTBOUND_ATTEMPTS="3", ROUTER_DATA_DIR=str(base),
                    ROUTER_RATE_LIMIT_PER_SECOND="0", **(extra_env or {}))  # 16 clients on one token, full speed
    stack = Stack(env, base)
    stack.add("api", "serve")
    stack.add("worker", "worker", "--processes", str(config.workers), "--threads", str(config.threads))
    stack.add("scheduler", "scheduler", "--interval", str(config.sweep_interval))
    stack.start()
    stop = threading.Event()
    supervisor = threading.Thread(target=_supervise, args=(stack, stop), daemon=True)
    supervisor.start()
    try:
        wait_http(f"{api}/healthz", timeout=60)
        yield ChaosRouter(api, mongo, rabbit, stack, wms, carrier, world, db_name, prefix)
    finally:
        stop.set()
        supervisor.join(timeout=5)
        stack.stop()
        wms.stop()
        carrier.stop()
        mongo.stop()
        if own_rabbit:
            rabbit.stop()


def _supervise(stack, stop: threading.Event) -> None:
    while not stop.wait(0.5):
        with suppress(Exception):  # keep supervising whatever one restart did
            stack.supervise_once()


def worker_processes(stack) -> list[int]:
    """The Dramatiq worker processes (leaves under the ``orderrouter worker`` part)."""
    from adapters.stack import descendants

    part = next(p for p in stack.parts if p.name == "worker")
    tree = descendants(part.process.pid)
    return [pid for pid in tree if descendants(pid) == [pid] and _parent(pid) in tree and _parent(pid) != tree[0]]


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


# --- load ---------------------------------------------------------------------------------------

def _post_until_taken(client: httpx.Client, path: str, body: dict, deadline: float) -> httpx.Response | None:
    """POST until the router takes it (200/202) or refuses it (4xx); retry 5xx and connection
    errors as a channel or payment service would. None when the deadline passed."""
    while time.monotonic() < deadline:
        try:
            r = client.post(path, json=body)
            if r.status_code < 500:
                return r
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return None


def push_and_pay(api: str, orders: list[dict], token: str | None, concurrency: int, deadline: float):
    """Push every order and, on a second pool, pay each online unpaid one once it is routed (its
    payable then includes freight); returns {order_id: order} of the accepted ones."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    accepted: dict[str, dict] = {}
    lock = threading.Lock()
    with httpx.Client(base_url=api, timeout=15, headers=headers,
                      limits=httpx.Limits(max_connections=concurrency * 5)) as client, \
            ThreadPoolExecutor(concurrency * 4) as payers:
        def pay(order_id: str) -> None:
            payable = None
            while time.monotonic() < deadline and payable is None:
                try:
                    o = client.get(f"/v1/orders/{order_id}").json()
                    if o.get("routing", {}).get("state") not in (None, "received"):
                        payable = o["amounts"]["payable"]
                except (httpx.HTTPError, ValueError, KeyError):
                    pass
                if payable is None:
                    time.sleep(2.0)  # each poll is an order read: keep the harness off the database
            if payable is not None:
                _post_until_taken(client, "/v1/payments", {"order_id": order_id, "transaction_id": f"tx-{order_id}",
                                                          "type": "paid", "amount": payable}, deadline)

        def push(order: dict) -> None:
            r = _post_until_taken(client, "/v1/channels/manual/orders", order, deadline)
            if r is None or r.status_code not in (200, 202):
                return
            order_id = r.json()["order_id"]
            with lock:
                accepted[order_id] = order
            if order["payment"]["method"] == "online" and order["payment"]["status"] != "paid":
                payers.submit(pay, order_id)

        with ThreadPoolExecutor(concurrency) as pushers:
            list(pushers.map(push, orders))
    return accepted


# --- faults ---------------------------------------------------------------------------------------

def inject_faults(router: ChaosRouter, config: ChaosConfig, result: ChaosResult, stop: threading.Event) -> None:
    """Until ``stop``: SIGKILL a worker process every few seconds, hang the WMS now and then,
    restart the broker once and the database once at their times."""
    import os
    import signal

    rng = random.Random(config.seed)
    started = time.monotonic()
    next_kill = started + rng.uniform(*config.kill_every)
    next_hang = started + config.hang_every
    broker_done = mongo_done = False
    while not stop.wait(0.2):
        now = time.monotonic()
        if now >= next_kill:
            pids = worker_processes(router.stack)
            if pids:
                try:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    result.kills += 1
                except ProcessLookupError:
                    pass
            next_kill = now + rng.uniform(*config.kill_every)
        if now >= next_hang:
            router.wms.hang_next(2, 3.0)
            result.wms_hangs += 2
            next_hang = now + config.hang_every
        if not broker_done and now - started >= config.broker_restart_at:
            result.seconds["broker_down"] = round(router.rabbit.restart(down_for=2.0), 1)
            result.broker_restarts += 1
            broker_done = True
        if not mongo_done and now - started >= config.mongo_restart_at:
            result.seconds["mongo_down"] = round(router.mongo.restart(down_for=2.0), 1)
            result.mongo_restarts += 1
            mongo_done = True


# --- settle and check -----------------------------------------------------------------------------

def dead_letters_in_broker(router: ChaosRouter) -> dict[str, str]:
    """The messages still sitting in the broker's ``.XQ`` dead-letter queues of this run, id to actor
    name (read without acknowledging, so they stay there). A periodic sweep that failed is left out:
    by design it is never listed for operators (the next tick runs it again) and the reconciler's
    next harvest acknowledges it."""
    import dramatiq
    import pika

    from actors.queues import names
    from actors.sweeps import SCHEDULED

    periodic = {job.actor_name for job in SCHEDULED}
    letters = {}
    connection = pika.BlockingConnection([pika.URLParameters(url) for url in split_urls(router.rabbit.url)])
    try:
        channel = connection.channel()
        for queue in names(router.prefix):
            name = queue + ".XQ"
            try:
                while (got := channel.basic_get(name, auto_ack=False))[0] is not None:
                    try:
                        message = dramatiq.Message.decode(got[2])
                    except Exception:
                        letters[f"undecodable in {name}"] = ""
                        continue
                    if message.actor_name not in periodic:
                        letters[message.message_id] = message.actor_name
            except pika.exceptions.ChannelClosedByBroker:
                channel = connection.channel()
    finally:
        connection.close()  # unacknowledged: back in their queues
    return letters


def unrecorded_dead_letters(router: ChaosRouter, harvest_within: float) -> tuple[int, list[str]]:
    """How many dead letters the broker holds, and those of them not in the operators' list, given
    ``harvest_within`` seconds (a few reconciler ticks) to copy across what failed while the database
    was down: polled, so a letter dead-lettered just before the check is not reported as lost."""
    from documents.dead_letters import DeadLetter

    deadline = time.monotonic() + harvest_within
    while True:
        in_broker = dead_letters_in_broker(router)
        recorded = {d["_id"] for d in DeadLetter._get_collection().find({"_id": {"$in": list(in_broker)}},
                                                                         {"_id": 1})}
        missing = sorted(f"{mid} ({actor})" for mid, actor in in_broker.items() if mid not in recorded)
        if not missing or time.monotonic() >= deadline:
            return len(in_broker), missing
        time.sleep(1.0)


def check(router: ChaosRouter, accepted: dict[str, dict], result: ChaosResult, harvest_within: float) -> None:
    """Fill ``result`` with what is wrong after the run (empty lists: nothing)."""
    from adapters.demo import settled
    from documents import invariants
    from documents.connection import BATCH_SOCKET_TIMEOUT_MS, connect
    from documents.dead_letters import DeadLetter

    connect(router.mongo.url, router.db_name, socket_timeout_ms=BATCH_SOCKET_TIMEOUT_MS)  # reads every order
    docs = {d["_id"]: d for d in read_orders()}
    result.missing_orders = sorted(set(accepted) - set(docs))
    result.unsettled = sorted(f"{d['_id']}: {d.get('status')}/{d.get('shipment_status')}/"
                              f"{d.get('routing', {}).get('state')} "
                              f"{[f['status'] for f in d.get('fulfilments', [])]}"
                              for d in docs.values() if not settled(d))
    for d in docs.values():
        key = (d.get("status"), d.get("shipment_status"))
        result.statuses[f"{key[0]}/{key[1]}"] = result.statuses.get(f"{key[0]}/{key[1]}", 0) + 1
    # One delivery order per fulfilment that reached the warehouse, none for any other id.
    dispatched = {f["id"] for d in docs.values() for f in d.get("fulfilments", [])
                  if f["status"] not in ("planned", "reserved", "dispatch_failed")
                  and not (f["status"] == "cancelled" and not f.get("wms_order_id"))}
    at_wms = set(router.wms.delivery_orders)
    result.delivery_orders = len(at_wms)
    result.double_dispatched = sorted(at_wms - dispatched) + [f"never reached the WMS: {f}" for f in
                                                              sorted(dispatched - at_wms)]
    result.wms_calls = sum(router.wms.keys.values())
    result.wms_retries = result.wms_calls - len(router.wms.keys)
    result.dead_letters = DeadLetter._get_collection().count_documents({})
    result.dead_letters_in_broker, result.unrecorded_dead_letters = unrecorded_dead_letters(router, harvest_within)
    result.violations = [str(v) for v in invariants.check_all(require_timers=True)]


def run(config: ChaosConfig, base: Path | None = None, progress=print) -> ChaosResult:
    """The whole chaos run; returns its result (the caller asserts or reports)."""
    from adapters.demo import generate_orders

    result = ChaosResult(orders=config.orders)
    t0 = time.monotonic()
    with chaos_router(config, base) as router:
        router.wms.fail_rate(config.wms_fail_rate, seed=config.seed)
        orders = generate_orders(router.seed, config.orders, seed=config.seed)
        stop = threading.Event()
        faults = threading.Thread(target=inject_faults, args=(router, config, result, stop), daemon=True)
        faults.start()
        progress(f"chaos: pushing {config.orders} orders to {router.api} under faults")
        accepted = push_and_pay(router.api, orders, ADMIN_TOKEN, config.concurrency,
                                deadline=time.monotonic() + max(300.0, config.orders * 0.6))
        # keep the faults on until the broker and database restarts have both happened
        while faults.is_alive() and (not result.broker_restarts or not result.mongo_restarts):
            time.sleep(0.5)
        stop.set()
        faults.join(timeout=120)
        router.wms.clear_faults()
        result.accepted = len(accepted)
        result.seconds["load"] = round(time.monotonic() - t0, 1)
        progress(f"chaos: {result.accepted} accepted, {result.kills} kills; settling")
        left = wait_settled_in_db(accepted, config.settle_timeout)
        progress(f"chaos: {len(left)} orders unsettled after {round(time.monotonic() - t0)} s; checking")
        result.seconds["settle"] = round(time.monotonic() - t0 - result.seconds["load"], 1)
        check(router, accepted, result, harvest_within=4 * config.sweep_interval)
    result.seconds["total"] = round(time.monotonic() - t0, 1)
    return result
