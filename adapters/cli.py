"""``orderrouter``: the one command line of the router (click)."""
from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import click
import httpx
from apscheduler.schedulers.blocking import BlockingScheduler
from marshmallow import ValidationError
from rich.console import Console
from rich.table import Table
from tqdm import tqdm

import config
from actors import sweeps
from adapters import wiring
from adapters.channels.csv_import import RowError, parse_csv
from adapters.customer.cli import token_group
from adapters.demo import push_demo, run_demo
from adapters.http import parties
from adapters.intake import accept_order
from adapters.lifeline import tied_to_this_process
from adapters.logging import configure_logging
from adapters.pollers.amazon import poll as poll_amazon_once
from adapters.pollers.taobao import poll as poll_taobao_once
from adapters.schemas import field_errors
from adapters.seed import load_world, read
from adapters.simulators.carrier import CarrierSimulator
from adapters.simulators.wms import WmsSimulator
from adapters.stack import Stack, child_env, wait_http
from config import get_settings
from documents import dead_letters, invariants, order_list, reference
from documents.connection import BATCH_SOCKET_TIMEOUT_MS, connect
from services.replay import replay


def _mongo_url() -> str:
    """ROUTER_MONGO_URL, else the URL of the embedded server a running ``orderrouter up`` wrote down."""
    settings = get_settings()
    if settings.mongo_url:
        return settings.mongo_url
    marker = Path(settings.data_dir) / "mongo.url"
    if marker.exists():
        return marker.read_text().strip()
    raise click.ClickException("ROUTER_MONGO_URL is not set and no 'orderrouter up' is running here")


def _connect(batch: bool = False) -> None:
    """Wire this process and connect the database. ``batch``: an operator's job reading whole
    collections, with a long socket timeout."""
    settings = get_settings().with_(mongo_url=_mongo_url())
    wiring.setup(settings, connect_db=True, indexes=True)
    if batch:
        connect(settings.mongo_url, settings.mongo_db, settings.slow_command_ms, BATCH_SOCKET_TIMEOUT_MS,
                settings.mongo_reports_read_preference)


@click.group()
def main() -> None:
    """Omnichannel order router: channels in, warehouses and carriers out."""
    configure_logging()


@main.command()
@click.option("--seed", "seed_file", type=click.Path(exists=True, dir_okay=False),
              help="Load this seed file first (default: examples/seed.yaml when the database is empty).")
@click.option("--workers", default=None, type=int, help="Worker processes (ROUTER_WORKER_PROCESSES).")
@click.option("--simulators/--no-simulators", default=True, show_default=True,
              help="Run simulated WMS (127.0.0.1:9101) and carriers (127.0.0.1:9102), as examples/seed.yaml expects.")
def up(seed_file: str | None, workers: int | None, simulators: bool) -> None:
    """Run everything for local use: API, workers, scheduler, and the embedded MongoDB when
    ROUTER_MONGO_URL is unset. Ctrl-C (or SIGTERM) stops it all."""
    # The embedded server is an optional extra (GPL, for laptops and tests): imported only here.
    from documents.embedded import EmbeddedMongo

    _stop_on_signals()  # from the first child on: a signal during start-up must stop what started
    settings = get_settings()
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    embedded, sims, stack = None, [], None
    try:
        url = settings.mongo_url
        if not url:
            embedded = EmbeddedMongo(str((data / "mongo").resolve()), log_path=str(data / "mongo.log"),
                                     launch_with=tied_to_this_process)
            url = embedded.start().url
            (data / "mongo.url").write_text(url)
            click.echo(f"embedded MongoDB-wire server on {url} (data in {data / 'mongo'})")
        os.environ["ROUTER_MONGO_URL"] = url
        config.use(None)
        _local_tokens(data)
        _connect()
        seed_path = seed_file or ("examples/seed.yaml" if not reference.all_of("warehouses")
                                  and Path("examples/seed.yaml").exists() else None)
        if seed_path:
            _seed(seed_path)
        sims = _start_simulators(settings.public_url) if simulators else []
        stack = Stack(child_env(url), data)
        stack.add("api", "serve")
        stack.add("worker", "worker", *(["--processes", str(workers)] if workers else []))
        stack.add("scheduler", "scheduler")
        stack.start()
        wait_http(f"http://{settings.http_addr}/healthz")
        click.echo(f"order router up: http://{settings.http_addr}  (OpenAPI: /openapi.json, logs in {data}/)")
        while True:
            stack.supervise_once()
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        _ignore_stop_signals()  # an error on the way here: a signal now must not cut the stop short
        if stack:
            stack.stop()
        for sim in sims:
            sim.stop()
        if embedded:
            embedded.stop()
            (data / "mongo.url").unlink(missing_ok=True)


def _stop_on_signals() -> None:
    """SIGTERM (docker, systemd, ``timeout``) and SIGINT (Ctrl-C, ``kill -INT``, honoured even where a
    shell started ``up`` in the background with SIGINT ignored) raise KeyboardInterrupt, once: the
    first one also ignores those that follow, so that a second signal (``timeout`` sends SIGTERM to
    the command, then to its whole process group) cannot break off the stopping and leave children
    running. The stopping is bounded (adapters.stack.STOP_TIMEOUT)."""
    def interrupt(signum, frame):
        _ignore_stop_signals()
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, interrupt)


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)


def _local_tokens(data: Path) -> None:
    """Nothing is open without a token: for a local run with none configured, make an admin token
    and a payment-service token, keep them in the data directory, and say where."""
    path = data / "tokens.env"
    if os.environ.get("ROUTER_API_TOKENS"):
        return
    if not path.exists():
        path.write_text(f"ROUTER_API_TOKENS=local:admin:{secrets.token_hex(16)}\n"
                        f"ROUTER_PAYMENTS_TOKEN={secrets.token_hex(16)}\n")
        path.chmod(0o600)
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        os.environ.setdefault(key, value)
    admin = os.environ["ROUTER_API_TOKENS"].split(":", 2)[2]
    click.echo(f"operator token (admin): {admin}   (kept in {path}; set ROUTER_API_TOKENS to use your own)")


def _start_simulators(callback_url: str, wms_port: int = 9101, carrier_port: int = 9102,
                      step_delay: float = 2.0) -> list:
    """Simulated WMS and carriers on their seed-file ports, calling back with each party's token
    and secret as the reference data holds them when they call (a party seeded after ``up``
    started is known to them too)."""
    tokens, secrets = _party_credentials()
    wms = WmsSimulator(callback_url=callback_url, tokens=tokens, secrets=secrets, auto_progress=True,
                       step_delay=step_delay, port=wms_port)
    carrier = CarrierSimulator(callback_url=callback_url, tokens=tokens, secrets=secrets, auto_progress=True,
                               step_delay=step_delay * 1.5, port=carrier_port)
    started = [wms.start(), carrier.start()]
    click.echo(f"simulated WMS on 127.0.0.1:{wms.port}, carriers on 127.0.0.1:{carrier.port}")
    return started


PARTY_TTL = 2.0  # seconds the simulators keep the parties' credentials before reading them again


def _party_credentials():
    """Two callables giving the warehouses' and carriers' current tokens and signing secrets (the
    seed's, or ROUTER_PARTY_SECRETS'), read from the reference data at most every ``PARTY_TTL``."""
    lock = threading.Lock()
    state: dict = {"at": None, "tokens": {}, "secrets": {}}

    def read(which: str):
        with lock:
            if state["at"] is None or time.monotonic() - state["at"] > PARTY_TTL:
                records = [(kind, d) for kind in ("warehouses", "carriers") for d in reference.all_of(kind)]
                state["tokens"] = {d["_id"]: d.get("token") for _, d in records}
                state["secrets"] = {d["_id"]: parties.secret_of(kind, d["_id"], d) for kind, d in records}
                state["at"] = time.monotonic()
            return state[which]

    return (lambda: read("tokens")), (lambda: read("secrets"))


# gunicorn's access log: the path without its query string (%(U)s; a search for an e-mail address
# or a token sent in a query would otherwise be logged in clear), and no referrer or user agent.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'


def gunicorn_argv(bind: str, threads: int) -> list[str]:
    """The API's gunicorn command line (``orderrouter serve``; the log scan test runs it too)."""
    return [sys.executable, "-m", "gunicorn", "adapters.wsgi:app", "--bind", bind,
            "--worker-class", "gthread", "--workers", "1", "--threads", str(threads), "--timeout", "60",
            "--graceful-timeout", "20", "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]


@main.command()
@click.option("--threads", default=16, show_default=True)
def serve(threads: int) -> None:
    """Serve the HTTP API with gunicorn (gthread workers) on ROUTER_HTTP_ADDR."""
    os.environ.setdefault("ROUTER_MONGO_URL", _mongo_url())
    os.execv(sys.executable, gunicorn_argv(get_settings().http_addr, threads))


@main.command()
@click.option("--processes", default=None, type=int, help="Worker processes (ROUTER_WORKER_PROCESSES).")
@click.option("--threads", default=None, type=int, help="Threads per process (ROUTER_WORKER_THREADS).")
@click.option("--metrics-addr", default=None, help="host:port of the workers' Prometheus metrics "
              "(ROUTER_WORKER_METRICS_ADDR, default 127.0.0.1:9191; one per router on a host).")
def worker(processes: int | None, threads: int | None, metrics_addr: str | None) -> None:
    """Run Dramatiq worker processes, each on its own and restarted on its own if it dies.

    Dramatiq stops a whole process group when one of its processes dies; one group per process
    keeps the others working (a worker OOM-killed or SIGKILLed costs only its own messages, which
    RabbitMQ re-delivers). The first group serves the Prometheus metrics of all of them on
    ROUTER_WORKER_METRICS_ADDR (actors/metrics.py)."""
    if metrics_addr:
        os.environ["ROUTER_WORKER_METRICS_ADDR"] = metrics_addr
        config.use(None)  # read again: the option wins over the environment
    settings = get_settings()
    os.environ["ROUTER_WORKER_METRICS_ADDR"] = settings.worker_metrics_addr  # the children serve it there
    os.environ.setdefault("ROUTER_MONGO_URL", _mongo_url())
    os.environ.setdefault("ROUTER_WORKER_METRICS", "1")
    # SIM112: dramatiq's Prometheus middleware reads this exact lowercase name
    default_prom_db = str(Path(settings.data_dir).resolve() / "prometheus")
    prom_db = os.environ.setdefault("dramatiq_prom_db", default_prom_db)  # noqa: SIM112
    Path(prom_db).mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "dramatiq", "adapters.worker", "--processes", "1",
            "--threads", str(threads or settings.worker_threads)]
    groups = [_WorkerGroup(argv, {**os.environ, "ROUTER_WORKER_METRICS_SERVER": "1" if i == 0 else "0"}, i)
              for i in range(processes or settings.worker_processes)]
    stopping = []
    for signum in (signal.SIGTERM, signal.SIGINT):  # a second one changes nothing: the stop is bounded
        signal.signal(signum, lambda *_: stopping.append(True))
    while not stopping and any([g.alive_or_restarted() for g in groups]):  # a list: check every group
        time.sleep(0.2)
    for g in groups:
        g.terminate()  # all at once: Dramatiq finishes the messages in hand, then exits
    deadline = time.monotonic() + WORKER_STOP_TIMEOUT
    for g in groups:
        g.wait(deadline)


WORKER_STOP_TIMEOUT = 20.0  # seconds the Dramatiq processes get to finish their messages; then SIGKILL


class _WorkerGroup:
    """One supervised ``dramatiq --processes 1``: restarted when it exits with an error; a crash
    loop at boot (a bad config, the broker down) backs off, never past 5 s."""

    def __init__(self, argv: list[str], env: dict, index: int):
        self.argv, self.env, self.index = argv, env, index
        self.backoff, self.restart_at = 0.5, 0.0
        self.started = time.monotonic()
        self.child: subprocess.Popen | None = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        # tied to this supervisor: a SIGKILLed ``orderrouter worker`` leaves no Dramatiq process consuming
        return subprocess.Popen(tied_to_this_process(self.argv), env=self.env)

    def alive_or_restarted(self) -> bool:
        """False once the group has exited cleanly (code 0) and is done."""
        now = time.monotonic()
        if self.child is None:
            if now >= self.restart_at:
                self.started, self.child = now, self._spawn()
            return True
        code = self.child.poll()
        if code is None:
            return True
        if code == 0:
            return False
        self.backoff = 0.5 if now - self.started > 10 else min(self.backoff * 2, 5.0)
        click.echo(f"worker {self.index} exited with {code}; restarting in {self.backoff:.1f}s", err=True)
        self.child, self.restart_at = None, now + self.backoff
        return True

    def terminate(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.terminate()

    def wait(self, deadline: float) -> None:
        """Wait for the Dramatiq main process until ``deadline`` (monotonic), then SIGKILL it."""
        if self.child is None:
            return
        try:
            self.child.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait(timeout=5)


@main.command()
@click.option("--interval", default=30, show_default=True, help="Seconds between sweeps.")
def scheduler(interval: int) -> None:
    """Send the periodic sweeps (timers, reconciler). Safe to run more than one."""
    wiring.setup(get_settings().with_(mongo_url=_mongo_url()))
    sched = BlockingScheduler(timezone="UTC")
    for job in sweeps.SCHEDULED:
        sched.add_job(job.send, "interval", seconds=interval, max_instances=1, coalesce=True, id=job.actor_name)
    click.echo(f"scheduler: {', '.join(j.actor_name for j in sweeps.SCHEDULED)} every {interval}s")
    with contextlib.suppress(KeyboardInterrupt):
        sched.start()


def _seed(path: str) -> None:
    try:
        counts = load_world(read(path))
    except ValidationError as exc:
        errors = field_errors(exc.messages)
        raise click.ClickException("invalid seed file:\n" + "\n".join(f"  {k}: {'; '.join(v)}"
                                                                       for k, v in errors.items())) from exc
    click.echo("seeded " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def seed(file: str) -> None:
    """Load merchants, channels, warehouses, carriers, SKUs, stock and rules from YAML or JSON."""
    _connect()
    _seed(file)


@main.group()
def dlq() -> None:
    """Dead letters: messages that failed for good."""


@dlq.command("list")
@click.option("--limit", default=50, show_default=True)
def dlq_list(limit: int) -> None:
    _connect()
    table = Table("message id", "actor", "order", "failed at", "error")
    for d in dead_letters.pending(limit):
        table.add_row(d["_id"], d["actor"], d.get("order_id") or "", d["failed_at"].isoformat(timespec="seconds"),
                      (d.get("error") or "").strip().splitlines()[-1][:80] if d.get("error") else "")
    Console().print(table)


@dlq.command("replay")
@click.argument("message_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter not yet replayed.")
def dlq_replay(message_id: str | None, replay_all: bool) -> None:
    """Send a dead letter's message again (its actor is idempotent)."""
    if not message_id and not replay_all:
        raise click.UsageError("give a MESSAGE_ID or --all")
    _connect()
    replayed = replay(None if replay_all else message_id)
    click.echo(f"replayed {len(replayed)} message(s)")


@main.command()
@click.option("--orders", "n", default=200, show_default=True, help="How many orders to push.")
@click.option("--concurrency", default=8, show_default=True)
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
@click.option("--timeout", default=300, show_default=True, help="Seconds to wait for the orders to settle.")
@click.option("--url", default=None, help="Push into the router running at this URL (orderrouter up) "
              "instead of a throwaway one; needs --token.")
@click.option("--token", default=None, help="With --url: an operator's API token (admin also pays the online orders).")
@click.option("--seed", "seed_path", default="examples/seed.yaml", show_default=True,
              help="With --url: the seed file that router was seeded with (its SKUs are ordered).")
def demo(n: int, concurrency: int, workers: int, timeout: int, url: str | None, token: str | None,
         seed_path: str) -> None:
    """Push N generated orders through the whole system with simulated WMS and carriers: a
    throwaway router (removed after), or with --url a running one, where the orders stay."""
    if url is None:
        run_demo(n, concurrency=concurrency, workers=workers, timeout=timeout)
        return
    if not token:
        raise click.UsageError("--url needs --token (an operator's API token for that router)")
    try:
        push_demo(url, token, n, concurrency=concurrency, timeout=timeout, seed_path=seed_path)
    except (RuntimeError, httpx.HTTPError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--repair", is_flag=True, help="Fix what is safe to fix (stock counters, orphan holds) and say what.")
@click.option("--require-timers", is_flag=True, help="Also flag live orders with no due_at scheduled.")
def check(repair: bool, require_timers: bool) -> None:
    """Check the invariants (stock conserved, holds match fulfilments, money adds up, nothing
    stuck or duplicated); print what is wrong and exit 1 if anything is."""
    _connect(batch=True)
    violations = invariants.check_all(require_timers=require_timers)
    for v in violations:
        click.echo(str(v))
    if repair and violations:
        report = invariants.repair(violations)
        for line in report.done:
            click.echo(f"repaired: {line}")
        violations = invariants.check_all(require_timers=require_timers)
        click.echo(f"{len(report.done)} repair(s); {len(violations)} violation(s) left")
        for v in violations:
            click.echo(f"left: {v}")
    elif not violations:
        click.echo("all invariants hold")
    if violations:
        sys.exit(1)


@main.command("rebuild-list")
def rebuild_list() -> None:
    """Make the order list's rows (documents/order_list.py) match the orders again: write missing
    or differing rows, delete rows of orders that are gone. Safe while the system runs."""
    _connect(batch=True)
    result = order_list.rebuild()
    click.echo(f"{result['orders']} orders: {result['written']} row(s) written, {result['deleted']} deleted")


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--channel", default="manual", show_default=True, help="The channel the orders came from.")
@click.option("--merchant", default=None, help="Merchant for rows without one.")
def import_csv(file: str, channel: str, merchant: str | None) -> None:
    """Import orders from a CSV file (one row per order line). Bad rows are reported and skipped;
    the good orders go in. Importing the same file again changes nothing."""
    _connect()
    if reference.get("channels", channel) is None:  # channels exist by configuration only (as over HTTP)
        raise click.BadParameter(f"unknown channel {channel!r}: not in the reference data (orderrouter seed)",
                                 param_hint="--channel")
    orders, errors = parse_csv(Path(file).read_text(encoding="utf-8"), merchant_id=merchant)
    accepted = duplicates = 0
    for order in tqdm(orders, desc="importing", unit="order"):
        try:
            result = accept_order(channel, order)
        except ValidationError as exc:
            errors.extend(RowError(0, path, "; ".join(messages), order["channel_order_id"])
                          for path, messages in field_errors(exc.messages).items())
            continue
        accepted += not result.duplicate
        duplicates += result.duplicate
    click.echo(f"{accepted} orders imported, {duplicates} already there, {len(errors)} problems")
    for e in errors:
        click.echo(f"  row {e.row}: {e.field}: {e.message}" + (f" (order {e.channel_order_id})" if e.channel_order_id else ""))
    if errors:
        raise SystemExit(1)


@main.group()
def poll() -> None:
    """Fetch orders from channels that are polled rather than pushing."""


@poll.command("amazon")
@click.option("--channel", default="amazon", show_default=True)
@click.option("--every", default=0, help="Seconds between polls; 0 polls once.")
def poll_amazon(channel: str, every: int) -> None:
    """Read new and updated Amazon orders (SP-API getOrders / getOrderItems)."""
    _connect()
    while True:
        result = poll_amazon_once(channel)
        click.echo(f"{result.orders} orders seen, {result.accepted} new, {result.duplicates} known, "
                   f"{result.errors} errors, watermark {result.watermark}")
        if not every:
            return
        time.sleep(every)


@poll.command("taobao")
@click.option("--channel", default="taobao", show_default=True)
@click.option("--every", default=0, help="Seconds between polls; 0 polls once.")
def poll_taobao(channel: str, every: int) -> None:
    """Read new and updated Taobao trades and buyers' refunds from TOP
    (taobao.trades.sold.increment.get / taobao.trade.fullinfo.get / taobao.refunds.receive.get)."""
    _connect()
    while True:
        result = poll_taobao_once(channel)
        click.echo(f"{result.trades} trades seen, {result.accepted} new, {result.duplicates} known, "
                   f"{result.refunds} refunds, {result.errors} errors, watermark {result.watermark}")
        if not every:
            return
        time.sleep(every)


main.add_command(token_group(_connect))  # orderrouter token customer|order (adapters/customer/cli.py)


if __name__ == "__main__":
    main()
