"""Shared fixtures: the real pieces, started once per session and isolated per test.

- MongoDB: ``ROUTER_TEST_MONGO_URL`` if set, else the embedded MongoDB-wire server (one per
  session); every test gets a fresh database.
- RabbitMQ: ``ROUTER_AMQP_URL`` (default 127.0.0.1:5672); queues are prefixed per session so that
  parallel runs on one broker never see each other's messages.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import uuid

import dramatiq
import pytest
from hypothesis import settings as hypothesis_settings
from werkzeug.serving import WSGIRequestHandler, make_server

import config
from actors import queues
from actors.queues import delete_queues
from adapters import wiring
from adapters.http.app import create_app

# CI draws the same examples every run, so a red run is a real finding and never luck; a failure
# found locally (random draws, kept in .hypothesis/) is pinned with @example beside its test.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

os.environ.setdefault("ROUTER_QUEUE_PREFIX", f"test{os.getpid()}")
os.environ.setdefault("ROUTER_MAX_RETRIES", "3")
os.environ.setdefault("ROUTER_OUTBOUND_ATTEMPTS", "3")
os.environ.setdefault("ROUTER_HTTP_TIMEOUT", "2")
os.environ.setdefault("dramatiq_prom_db", "/tmp/orderrouter-test-prom")
# Nothing is open without a token: the tests act as these operators and as the payment service.
os.environ.setdefault("ROUTER_API_TOKENS", "admin:admin:test-admin,op:operator:test-operator,viewer:viewer:test-viewer")
os.environ.setdefault("ROUTER_PAYMENTS_TOKEN", "test-payments")


# Every test carries exactly one tier marker (pyproject.toml declares them), and the tier matches
# the folder the test lives in: ``-m unit`` and friends select by marker, so an unmarked test would
# silently run in no tier. tests/fuzz/ is a technique, not a tier: its files declare their own.
TIERS = ("unit", "service", "integration", "e2e", "chaos", "browser")
FOLDER_TIERS = {tier: {tier} for tier in TIERS} | {"fuzz": set(TIERS)}
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.hookimpl(tryfirst=True)  # before -m / -k deselect: an unmarked test must not just vanish
def pytest_collection_modifyitems(config, items):
    problems = []
    for item in items:
        tiers = sorted({mark.name for mark in item.iter_markers()} & set(TIERS))
        if len(tiers) != 1:
            problems.append(f"{item.nodeid}: {'no tier marker' if not tiers else 'tiers ' + ', '.join(tiers)}")
            continue
        folder = _top_folder(item)
        if folder is None:
            continue  # not a file under tests/ (a path given on the command line from elsewhere)
        allowed = FOLDER_TIERS.get(folder)
        if allowed is None:
            where = f"tests/{folder}/" if folder else "tests/ itself"
            problems.append(f"{item.nodeid}: {where} is not a tier folder (use one of: {', '.join(FOLDER_TIERS)})")
        elif tiers[0] not in allowed:
            problems.append(f"{item.nodeid}: marked {tiers[0]} but lives in tests/{folder}/")
    if problems:
        raise pytest.UsageError(
            "every test needs exactly one tier marker matching its folder (module-level "
            "`pytestmark = pytest.mark.<tier>`, tiers: " + ", ".join(TIERS) + "); "
            f"{len(problems)} do not:\n  " + "\n  ".join(problems))


def _top_folder(item) -> str | None:
    """The folder directly under tests/ holding ``item``'s file, or None when it is elsewhere."""
    path = getattr(item, "path", None)
    if path is None:
        return None
    try:
        parts = os.path.relpath(os.path.abspath(str(path)), TESTS_DIR).split(os.sep)
    except ValueError:  # another drive (Windows)
        return None
    if parts[0] == os.pardir:
        return None
    return parts[0] if len(parts) > 1 else ""  # "": a test file directly in tests/


def _rabbit_reachable() -> bool:
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("ROUTER_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"))
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 5672), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def mongo_url():
    url = os.environ.get("ROUTER_TEST_MONGO_URL")
    if url:
        yield url
        return
    from documents.embedded import EmbeddedMongo

    server = EmbeddedMongo(":memory:").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def db(mongo_url):
    """A fresh database for this test, with every index."""
    from documents import connection, indexes, reference

    name = f"t_{uuid.uuid4().hex[:12]}"
    database = connection.connect(mongo_url, name)
    indexes.ensure_indexes()
    reference.network_cache.clear()
    yield database
    connection.database().client.drop_database(name)  # the test may have reconnected (the CLI does)


@pytest.fixture(scope="session", autouse=True)
def _session_queues_deleted():
    """This session's queues go when it ends (each session has its own prefix)."""
    yield
    prefix = os.environ["ROUTER_QUEUE_PREFIX"]
    if prefix == f"test{os.getpid()}" and _rabbit_reachable():
        delete_queues(prefix, config.get_settings().amqp_url)


@pytest.fixture(scope="session", autouse=True)
def wired():
    """The test process is wired once, as an entry point would (adapters.wiring.setup): a RabbitMQ
    broker (it connects on first use), the actors bound to it, the real outbound clients; its
    in-process workers dispatch inline, as a worker process does."""
    return wiring.setup(inline_dispatch=True)


@pytest.fixture
def settings_with():
    """Put settings with some fields changed in force for this test (``settings_with(api_tokens="")``)."""
    before = config.get_settings()

    def change(**fields):
        config.use(config.get_settings().with_(**fields))
    yield change
    config.use(before)


@pytest.fixture
def broker(wired):
    if not _rabbit_reachable():
        pytest.fail("RabbitMQ is not reachable: start it with 'rabbitmq-server -detached'")
    return dramatiq.get_broker()  # a test of the CLI may have wired the process again


@pytest.fixture
def worker(broker, db):
    """A real Dramatiq worker (threads in this process) consuming from RabbitMQ."""
    logging.getLogger("pika.channel").setLevel(logging.ERROR)  # flushing a queue not yet created is fine
    # This thread's connection may have died of missed heartbeats while a long test kept the
    # thread busy; start from a fresh one.
    for attribute in ("channel", "connection"):
        with contextlib.suppress(Exception):  # never connected, or already gone
            delattr(broker, attribute)
    for queue in queues.names(config.get_settings().queue_prefix):
        broker.declare_queue(queue)
        broker.flush(queue)
    w = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    w.start()
    yield w
    w.stop(timeout=10_000)


class PathOnlyRequestHandler(WSGIRequestHandler):
    """werkzeug's request log without the query string (which may carry a search for an e-mail
    address or a token), as gunicorn's access log in production (adapters/cli.py)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "").split("?", 1)[0]
        self.log("info", '"%s %s %s" %s %s', getattr(self, "command", "-"), path,
                 getattr(self, "request_version", "-"), code, size)


@pytest.fixture
def api(db, broker):
    """The HTTP API on a real loopback socket; yields its base URL."""
    server = make_server("127.0.0.1", 0, create_app(wire=False), threaded=True,
                         request_handler=PathOnlyRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


# Simulated third parties on loopback and a seeded world (used by e2e and integration tests).
from adapters.simulators.carrier import CarrierSimulator  # noqa: E402
from adapters.simulators.wms import WmsSimulator  # noqa: E402
from tests import factories  # noqa: E402


@pytest.fixture
def wms(api):
    sim = WmsSimulator(callback_url=api, tokens=factories.TOKENS, secrets=factories.SECRETS, auto_progress=False,
                       step_delay=0.02)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def carrier(api):
    sim = CarrierSimulator(callback_url=api, tokens=factories.TOKENS, secrets=factories.SECRETS, auto_progress=False,
                           step_delay=0.02)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def seeded(db, wms, carrier):
    from adapters.seed import load_world

    load_world(factories.world(wms.url, carrier.url))
    return factories
