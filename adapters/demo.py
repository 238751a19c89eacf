"""``orderrouter demo``: a whole router on loopback, with simulated warehouses and carriers, and N
generated orders pushed through its real HTTP API (its ``.run/demo-<id>/`` directory is removed
when done, kept with its logs only when no order got delivered); or, with ``--url``, N generated
orders pushed into a router already running (``orderrouter up``), where they stay to be seen. Also the engine of ``bench/e2e.py``, which
reuses the router, the order generator and the pusher; the harnesses' database settle poll lives
with the tests (tests/settle_poll.py), not in the product."""
from __future__ import annotations

import random
import secrets
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import structlog

from actors.queues import delete_queues
from adapters.seed import load_world, read
from adapters.simulators.carrier import CarrierSimulator
from adapters.simulators.wms import WmsSimulator
from adapters.stack import Stack, child_env, wait_http
from config import get_settings
from documents.connection import connect, drop_database
from documents.indexes import ensure_indexes

REGIONS = [("SH", "上海市", "浦东新区", 31.22, 121.54), ("GD", "广州市", "天河区", 23.13, 113.33),
           ("BJ", "北京市", "朝阳区", 39.92, 116.44), ("SC", "成都市", "武侯区", 30.64, 104.04),
           ("ZJ", "杭州市", "西湖区", 30.26, 120.13), ("JS", "南京市", "鼓楼区", 32.07, 118.77)]
log = structlog.get_logger(__name__)
NAMES = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏"]
TERMINAL = {"cancelled", "closed", "rejected", "on_hold", "completed"}


@dataclass
class Running:
    api: str
    mongo_url: str
    db_name: str
    stack: object
    wms: object
    carrier: object
    seed: dict
    api_pid: int = 0
    worker_pid: int = 0
    admin_token: str = ""
    payments_token: str = ""
    log_dir: Path | None = None
    keep_logs: bool = False  # set by the caller to keep log_dir (e.g. the run went wrong)

    @property
    def admin_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def payment_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.payments_token}"}


def _delete_queues(prefix: str, amqp_url: str) -> None:
    try:
        delete_queues(prefix, amqp_url)
    except Exception as exc:  # noqa: BLE001 - leftover empty queues are untidy, not a failure
        log.warning("queues_not_deleted", prefix=prefix, error=f"{type(exc).__name__}: {exc}")


@contextmanager
def running_router(workers: int = 2, threads: int = 8, seed_path: str = "examples/seed.yaml", step_delay=0.02,
                   wms_fail_rate: float = 0.0, remove_logs: bool = False):
    """Start an embedded database (unless ROUTER_MONGO_URL is set), simulators, the API and workers
    in a fresh database and queue namespace; yield a :class:`Running`; stop everything after, and
    with ``remove_logs`` remove its ``demo-<id>`` directory too unless the caller set
    ``keep_logs`` on the :class:`Running`."""
    # The embedded server is an optional extra (GPL, for laptops and tests): imported only here.
    from documents.embedded import EmbeddedMongo, free_port

    settings = get_settings()
    run_id = uuid.uuid4().hex[:8]
    log_dir = Path(settings.data_dir) / f"demo-{run_id}"
    log_dir.mkdir(parents=True, exist_ok=True)
    embedded = None if settings.mongo_url else EmbeddedMongo(":memory:", log_path=str(log_dir / "mongo.log")).start()
    mongo_url = settings.mongo_url or embedded.url
    db_name = f"demo_{run_id}"
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    world = read(seed_path)
    tokens = {w["id"]: w.get("token") for w in world["warehouses"]} | {c["id"]: c.get("token") for c in world["carriers"]}
    wms = WmsSimulator(callback_url=api, tokens=tokens, auto_progress=True, step_delay=step_delay,
                       callback_workers=8).start()
    if wms_fail_rate:
        wms.fail_rate(wms_fail_rate, seed=1)
    carrier = CarrierSimulator(callback_url=api, tokens=tokens, auto_progress=True, step_delay=step_delay,
                               callback_workers=8).start()
    for w in world["warehouses"]:
        w["wms_url"] = wms.url
    for c in world["carriers"]:
        c["api_url"] = carrier.url
    connect(mongo_url, db_name)
    ensure_indexes()
    load_world(world)
    admin_token, payments_token = secrets.token_hex(16), secrets.token_hex(16)
    env = child_env(mongo_url, ROUTER_MONGO_DB=db_name, ROUTER_QUEUE_PREFIX=f"demo{run_id}",
                    ROUTER_HTTP_ADDR=f"127.0.0.1:{port}", ROUTER_PUBLIC_URL=api, ROUTER_LOG_LEVEL="WARNING",
                    ROUTER_WORKER_METRICS="0", ROUTER_API_TOKENS=f"demo:admin:{admin_token}",
                    ROUTER_PAYMENTS_TOKEN=payments_token,
                    # a throwaway router pushed as fast as it goes: no per-caller limit
                    ROUTER_RATE_LIMIT_PER_SECOND="0")
    running: Running | None = None
    stack = Stack(env, log_dir)
    api_part = stack.add("api", "serve")
    worker_part = stack.add("worker", "worker", "--processes", str(workers), "--threads", str(threads)) \
        if workers else None  # none: the API tier alone (its messages wait in RabbitMQ)
    stack.start()
    try:
        wait_http(f"{api}/healthz", timeout=60)
        running = Running(api, mongo_url, db_name, stack, wms, carrier, world, api_part.process.pid,
                          worker_part.process.pid if worker_part else 0, admin_token, payments_token, log_dir)
        yield running
    finally:
        stack.stop()
        wms.stop()
        carrier.stop()
        _delete_queues(f"demo{run_id}", settings.amqp_url)
        try:
            drop_database(db_name)
        except Exception as exc:  # noqa: BLE001 - a big database outlasts the client's timeout; never lose the results
            log.warning("database_not_dropped", database=db_name, error=f"{type(exc).__name__}: {exc}")
        if embedded:
            embedded.stop()
        if remove_logs and not (running is not None and running.keep_logs):
            shutil.rmtree(log_dir, ignore_errors=True)


def generate_orders(world: dict, n: int, seed: int = 42, prefix: str = "DEMO") -> list[dict]:
    """N canonical orders over the seeded SKUs: 1-4 lines, several merchants, CN addresses; their
    channel order ids are ``<prefix>-<seed>-<i>``."""
    rng = random.Random(seed)
    skus = [s for s in world["skus"] if sum(s.get("stock", {}).values()) > 0]
    orders = []
    now = datetime.now(timezone.utc).isoformat()
    for i in range(n):
        region, city, district, lat, lon = rng.choice(REGIONS)
        lines = {}
        for sku in rng.sample(skus, rng.choice([1, 1, 1, 2, 2, 3, 4])):
            lines[sku["sku"]] = {"sku": sku["sku"], "merchant_id": sku["merchant_id"], "quantity": rng.choice([1, 1, 2]),
                                 "unit_price": str(sku["price"]), "name": sku.get("name", "")}
        method = rng.choices(["online", "cod", "prepaid"], [7, 2, 1])[0]
        name = rng.choice(NAMES)
        orders.append({
            "channel_order_id": f"{prefix}-{seed}-{i}",
            "currency": "CNY",
            "customer": {"id": f"c{rng.randrange(n // 3 + 1)}", "name": name, "phone": "13800138000"},
            "shipping_address": {"name": name, "phone": "13800138000", "country": "CN", "region": region,
                                 "city": city, "district": district, "postcode": "200000",
                                 "lines": [f"{rng.randint(1, 999)}号"], "lat": lat, "lon": lon},
            "lines": list(lines.values()),
            "discounts": [{"code": "WELCOME", "amount": "5.00"}] if rng.random() < 0.2 else [],
            "payment": {"method": "cod" if method == "cod" else "online",
                        "status": "paid" if method == "prepaid" else "unpaid"},
            "placed_at": now,
        })
    return orders


@dataclass
class DemoResult:
    accepted: int = 0
    refused: int = 0
    first_accepted: float = 0.0
    last_accepted: float = 0.0
    statuses: dict = field(default_factory=dict)
    shipment: dict = field(default_factory=dict)
    orders: list = field(default_factory=list)


def push_orders(api: str, orders: list[dict], concurrency: int = 8, token: str | None = None,
                progress: bool = True, result: DemoResult | None = None) -> DemoResult:
    """POST every order through the HTTP API. ``result``: filled as orders are accepted (another
    thread may watch ``result.orders`` grow)."""
    from tqdm import tqdm

    result = DemoResult() if result is None else result
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(base_url=api, timeout=30, limits=limits, headers=headers) as client:
        def one(order: dict):
            r = client.post("/v1/channels/manual/orders", json=order)
            if r.status_code not in (200, 202):
                return None
            return r.json()["order_id"]

        result.first_accepted = time.time()
        with ThreadPoolExecutor(concurrency) as pool, tqdm(total=len(orders), desc="orders in", unit="order",
                                                           disable=not progress) as bar:
            for order, order_id in zip(orders, pool.map(one, orders), strict=True):
                bar.update(1)
                if order_id is None:
                    result.refused += 1
                    continue
                result.accepted += 1
                result.orders.append((order_id, order))
        result.last_accepted = time.time()
    return result


def pay(api: str, result: DemoResult, concurrency: int = 8, headers: dict | None = None) -> None:
    """Send the payment notice for every online unpaid order, once its amount is known
    (``headers``: the payment service's token, which may also read orders as an admin's)."""
    with httpx.Client(base_url=api, timeout=30, headers=headers) as client, ThreadPoolExecutor(concurrency) as pool:
        def one(item):
            order_id, order = item
            if order["payment"]["method"] != "online" or order["payment"]["status"] == "paid":
                return
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                o = client.get(f"/v1/orders/{order_id}").json()
                if o.get("routing", {}).get("state") != "received":
                    break
                time.sleep(0.2)
            client.post("/v1/payments", json={"order_id": order_id, "transaction_id": f"tx-{order_id}",
                                              "type": "paid", "amount": o["amounts"]["payable"]})
        list(pool.map(one, result.orders))


def fetch_all(api: str, headers: dict | None = None, query: dict | None = None) -> list[dict]:
    out, cursor = [], None
    with httpx.Client(base_url=api, timeout=60, headers=headers) as client:
        while True:
            params = {"limit": 500, **(query or {}), **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/orders", params=params).json()
            out.extend(page["orders"])
            cursor = page["next_cursor"]
            if not cursor:
                return out


def settled(order: dict) -> bool:
    """Delivered, ended, or parked by routing (backordered, held, rejected), or every fulfilment
    it has delivered or cancelled with units still waiting for stock (a partial backorder): nothing
    more happens to it by itself."""
    routing = order.get("routing") or {}
    waiting = routing.get("backordered") or order.get("backordered")
    return order.get("shipment_status") == "delivered" or order.get("status") in TERMINAL or (
        routing.get("state") in ("backordered", "held", "rejected")) or bool(
        waiting and all(f.get("status") in ("delivered", "cancelled") for f in order.get("fulfilments") or []))


def wait_settled(api: str, n: int, timeout: float, progress: bool = True, headers: dict | None = None,
                 ids: set[str] | None = None, query: dict | None = None) -> list[dict]:
    """Poll the order list until ``n`` orders settled (``ids``: only those orders count, found with
    the list's ``query``, for a router holding others too)."""
    from tqdm import tqdm

    deadline = time.monotonic() + timeout
    with tqdm(total=n, desc="settled", unit="order", disable=not progress) as bar:
        while True:
            orders = [o for o in fetch_all(api, headers, query) if ids is None or o["order_id"] in ids]
            done = sum(settled(o) for o in orders)
            bar.update(done - bar.n)
            if done >= n or time.monotonic() > deadline:
                return orders
            time.sleep(1)


def latencies(orders: list[dict], stamp: str) -> list[float]:
    """Seconds from acceptance to the last fulfilment's ``<stamp>_at``, per order that has it."""
    out = []
    for o in orders:
        times = [f.get(f"{stamp}_at") for f in o.get("fulfilments", [])]
        if times and all(times):
            end = max(datetime.fromisoformat(t) for t in times)
            out.append((end - datetime.fromisoformat(o["created_at"])).total_seconds())
    return out


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def channel_token(world: dict, channel: str = "manual") -> str | None:
    return next((c.get("token") for c in world.get("channels", []) if c["id"] == channel), None)


def run_demo(n: int, concurrency: int = 8, workers: int = 2, timeout: int = 300) -> None:
    """A throwaway router: N orders through it, a summary; its directory removed after (kept with
    the logs, and said where, when no order got delivered)."""
    from rich.console import Console

    console = Console()
    with running_router(workers=workers, remove_logs=True) as router:
        console.print(f"router on {router.api}; simulated WMS {router.wms.url}, carriers {router.carrier.url}")
        orders = generate_orders(router.seed, n)
        started = time.time()
        result = push_orders(router.api, orders, concurrency, token=channel_token(router.seed))
        pay(router.api, result, concurrency, router.admin_headers)  # an admin may read orders and record payments
        final = wait_settled(router.api, result.accepted, timeout, headers=router.admin_headers)
        elapsed = time.time() - started
        router.keep_logs = not latencies(final, "delivered")
    _summary(console, n, result, final, elapsed)
    if router.keep_logs:
        console.print(f"[yellow]no order reached delivered: see the logs in {router.log_dir}/[/yellow]")


def push_demo(url: str, token: str, n: int, concurrency: int = 8, timeout: int = 300,
              seed_path: str = "examples/seed.yaml") -> DemoResult:
    """N generated orders pushed into a router already running at ``url`` (``orderrouter up``,
    seeded with ``seed_path``), as the operator whose ``token`` is given, on the manual channel:
    online orders are paid (when the token may record payments), and the summary waits for these
    orders only. They stay in that router, its console and its reports."""
    from rich.console import Console

    console = Console()
    run_id = uuid.uuid4().hex[:6].upper()
    headers = {"Authorization": f"Bearer {token}"}
    base = url.rstrip("/")
    health = httpx.get(f"{base}/healthz", timeout=10)
    if health.status_code != 200:
        raise RuntimeError(f"no router answers at {base} (/healthz: {health.status_code})")
    since = datetime.now(timezone.utc).isoformat()
    orders = generate_orders(read(seed_path), n, prefix=f"DEMO-{run_id}")
    started = time.time()
    result = push_orders(base, orders, concurrency, token=token)
    if result.refused:
        console.print(f"[yellow]{result.refused} order(s) refused: check the token's role (operator or admin) "
                      f"and that the router was seeded with {seed_path}[/yellow]")
    pay(base, result, concurrency, headers)
    ids = {order_id for order_id, _ in result.orders}
    final = wait_settled(base, len(ids), timeout, headers=headers, ids=ids,
                         query={"channel": "manual", "placed_from": since[:19] + "Z"})
    _summary(console, n, result, final, time.time() - started)
    console.print(f"channel order ids DEMO-{run_id}-*: see them at {base}/console/orders?channel=manual")
    return result


def _summary(console, n: int, result: DemoResult, final: list[dict], elapsed: float) -> None:
    from rich.table import Table

    by_status: dict[str, int] = {}
    for o in final:
        key = (o["status"], o["shipment_status"])
        by_status[key] = by_status.get(key, 0) + 1
    table = Table("status", "shipment", "orders", title=f"{n} orders, {result.accepted} accepted, {result.refused} refused")
    for (status, shipment), count in sorted(by_status.items()):
        table.add_row(status, shipment, str(count))
    console.print(table)
    delivered = latencies(final, "delivered")
    summary = Table("figure", "value")
    summary.add_row("throughput (orders delivered / s)", f"{len(delivered) / elapsed:.1f}")
    for p in (50, 90, 99):
        summary.add_row(f"p{p} accepted -> delivered", f"{percentile(delivered, p):.2f} s")
    summary.add_row("elapsed", f"{elapsed:.1f} s")
    console.print(summary)
