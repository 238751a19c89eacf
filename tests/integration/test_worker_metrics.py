"""The workers' Prometheus metrics (issue 18, item 3): served on ROUTER_WORKER_METRICS_ADDR,
loopback by default, on any port; a second router on the host takes its own port, and one given a
port already taken logs it and goes on working."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from actors import metrics
from actors.queues import delete_queues
from config import get_settings
from config.settings import Settings, from_env, host_port

pytestmark = pytest.mark.integration
BOOT_S = 90  # a worker group imports the router, connects RabbitMQ and MongoDB (2 shared cores)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> set[str]:
    """The local addresses listening on TCP ``port`` (from /proc: IPv4 and IPv6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port and len(address) == width:
                found.add(_address(address))
    return found


def _address(hexed: str) -> str:
    if len(hexed) == 8:  # little-endian IPv4
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hexed)[::-1])
    words = [bytes.fromhex(hexed[i:i + 8])[::-1] for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, b"".join(words))


def test_the_address_defaults_to_loopback_and_is_read_from_the_environment(monkeypatch):
    monkeypatch.delenv("ROUTER_WORKER_METRICS_ADDR", raising=False)
    assert Settings.worker_metrics_addr == "127.0.0.1:9191" and from_env().worker_metrics_addr == "127.0.0.1:9191"
    monkeypatch.setenv("ROUTER_WORKER_METRICS_ADDR", "127.0.0.1:9300")
    assert from_env().worker_metrics_addr == "127.0.0.1:9300"
    assert host_port("[::1]:9191") == ("::1", 9191) and host_port("0.0.0.0:0") == ("0.0.0.0", 0)
    for bad in ("9191", "localhost", ":9191", "host:port", "127.0.0.1:70000"):
        with pytest.raises(ValueError):
            host_port(bad)
    monkeypatch.setenv("ROUTER_WORKER_METRICS_ADDR", "nonsense")
    with pytest.raises(Exception, match="WORKER_METRICS_ADDR"):
        from_env()


def test_the_server_binds_the_address_given_and_a_taken_address_is_no_failure(tmp_path, monkeypatch):
    # Given the metrics server on a free loopback port
    monkeypatch.setenv("dramatiq_prom_db", str(tmp_path))  # noqa: SIM112 - Dramatiq's own lowercase name
    server = metrics.bind("127.0.0.1:0")
    assert server is not None
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # Then it listens on loopback only, and serves the Prometheus page
        assert host == "127.0.0.1" and _listening(port) == {"127.0.0.1"}
        page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
        # And a second server given the same address gets None (logged), not an exception
        assert metrics.bind(f"127.0.0.1:{port}") is None
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Router:
    """``orderrouter worker --processes 1`` with its own queue prefix and metrics directory."""

    def __init__(self, mongo_url: str, workdir: Path, metrics_addr: str):
        self.prefix = f"wm{uuid.uuid4().hex[:8]}"
        workdir.mkdir()
        self.log_path = workdir / "worker.log"
        env = {**os.environ, "ROUTER_MONGO_URL": mongo_url, "ROUTER_QUEUE_PREFIX": self.prefix,
               "ROUTER_MONGO_DB": f"t_{self.prefix}", "dramatiq_prom_db": str(workdir / "prometheus"),
               "ROUTER_WORKER_METRICS_ADDR": metrics_addr, "ROUTER_DATA_DIR": str(workdir)}
        env.pop("ROUTER_WORKER_METRICS", None)  # `orderrouter worker` turns them on
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "adapters.cli", "worker", "--processes", "1", "--threads", "1"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        delete_queues(self.prefix, get_settings().amqp_url)


def _until(check, what: str, routers: list[_Router], timeout: float = BOOT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    logs = "\n".join(f"--- {r.prefix}\n{r.log()[-3000:]}" for r in routers)
    raise AssertionError(f"{what} within {timeout}s\n{logs}")


def _serves(port: int) -> bool:
    try:
        page = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.HTTPError:
        return False
    return page.status_code == 200


def test_two_routers_on_one_host_serve_worker_metrics_on_their_own_loopback_ports(broker, mongo_url, tmp_path):
    # Given two routers' workers on one host, each given its own port, and a third given the
    # first one's port by mistake
    first, second = _free_port(), _free_port()
    routers = [_Router(mongo_url, tmp_path / "a", f"127.0.0.1:{first}"),
               _Router(mongo_url, tmp_path / "b", f"127.0.0.1:{second}")]
    try:
        # Then each serves its workers' metrics on loopback at its own port, and on nothing else
        _until(lambda: _serves(first) and _serves(second), "both routers' metrics answered", routers)
        assert _listening(first) == {"127.0.0.1"} and _listening(second) == {"127.0.0.1"}
        assert all(r.process.poll() is None for r in routers)

        # When a third starts on the first one's address
        routers.append(_Router(mongo_url, tmp_path / "c", f"127.0.0.1:{first}"))
        clash = routers[-1]
        _until(lambda: "worker_metrics_address_in_use" in clash.log(), "the clash was logged", routers)
        # Then it says so and keeps working, and the first still serves its own metrics
        _until(lambda: "is ready for action" in clash.log() or "Worker process is ready" in clash.log(),
               "the third router's worker booted", routers)
        time.sleep(1)
        assert clash.process.poll() is None, clash.log()[-3000:]
        assert "Address already in use" not in clash.log() and "Traceback" not in clash.log()
        assert _serves(first) and _listening(first) == {"127.0.0.1"}
    finally:
        for router in routers:
            router.stop()
