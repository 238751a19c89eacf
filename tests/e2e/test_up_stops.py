"""``orderrouter up`` stopped by a signal leaves nothing running: the API (gunicorn and its worker),
the ``orderrouter worker`` supervisor and its Dramatiq processes, the scheduler and the embedded
database all end within a bounded time. SIGTERM sent twice (``timeout`` sends it to the command,
then to its process group) once broke the stopping off half way and left the API and the worker
supervisor running as orphans; SIGKILL of ``up`` itself leaves nothing for long either, since every
child gets SIGTERM from the kernel when ``up`` dies (adapters/lifeline.py).

The whole ``up`` as a user runs it, on private ports, a throwaway data directory, its own queue
prefix, and the embedded database it starts itself (ROUTER_MONGO_URL unset)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

import config
from actors.queues import delete_queues
from adapters.stack import descendants
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _identity(pid: int) -> tuple[int, str] | None:
    """(pid, start time) of a live process, None once it is gone (or a zombie waiting to be reaped):
    the start time tells a process from a later one given the same pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else (pid, fields[19])


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


@pytest.fixture
def up(broker, tmp_path):
    """A running ``orderrouter up``: (process, base URL, data directory)."""
    port, prefix = _free_port(), f"upstop{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k != "ROUTER_MONGO_URL"}  # the embedded server, as on a laptop
    env.update(ROUTER_DATA_DIR=str(tmp_path / "data"), ROUTER_HTTP_ADDR=f"127.0.0.1:{port}",
               ROUTER_PUBLIC_URL=f"http://127.0.0.1:{port}", ROUTER_QUEUE_PREFIX=prefix,
               ROUTER_WORKER_METRICS_ADDR=f"127.0.0.1:{_free_port()}", ROUTER_WORKER_PROCESSES="1",
               ROUTER_WORKER_THREADS="2", dramatiq_prom_db=str(tmp_path / "prometheus"), PYTHONPATH=str(ROOT))
    with open(tmp_path / "up.out", "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "up", "--no-simulators"], cwd=ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    tree: list[int] = []
    try:
        yield process, f"http://127.0.0.1:{port}", tmp_path / "data", tree
    finally:
        for pid in [process.pid, *tree]:  # whatever a failing test left behind goes too
            if _identity(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        delete_queues(prefix, config.get_settings().amqp_url)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("signals", [
    pytest.param([signal.SIGTERM], id="SIGTERM"),
    pytest.param([signal.SIGTERM, signal.SIGTERM], id="SIGTERM-twice-as-timeout-sends-it"),
    pytest.param([signal.SIGINT], id="SIGINT"),
    pytest.param([signal.SIGKILL], id="SIGKILL-of-up-itself"),
])
def test_up_stopped_by_a_signal_leaves_no_process_of_its_tree_running(up, signals, tmp_path):
    process, base, data, tree = up
    # Given a healthy `up` and every process below it
    eventually(lambda: _healthy(base) or process.poll() is not None, timeout=90, what="orderrouter up healthy")
    assert process.poll() is None, (tmp_path / "up.out").read_text()[-3000:]
    children = {pid: _command(pid) for pid in descendants(process.pid) if pid != process.pid}
    tree.extend(children)
    commands = " | ".join(children.values())
    for part in ("documents.embedded_server", "gunicorn", "adapters.cli worker", "dramatiq adapters.worker", "adapters.cli scheduler"):
        assert part in commands, f"no {part} under up: {commands}"
    alive_before = {pid: _identity(pid) for pid in children}

    # When it is sent the signal (a second one once it is stopping: what broke the stopping off)
    process.send_signal(signals[0])
    for signum in signals[1:]:
        eventually(lambda: b"stopping" in (tmp_path / "up.out").read_bytes(), what="up stopping")
        process.send_signal(signum)

    # Then every one of them ends, up too, within a bounded time
    remaining: dict[int, str] = {}

    def all_gone() -> bool:
        remaining.clear()
        remaining.update({pid: children[pid] for pid, ident in alive_before.items() if ident and _identity(pid) == ident})
        if process.poll() is None:
            remaining[process.pid] = "orderrouter up"
        return not remaining

    try:
        eventually(all_gone, timeout=45, interval=0.2, what="every process of up's tree gone")
    except AssertionError:
        pytest.fail(f"still running 45 s after {[s.name for s in signals]}: {remaining}")
    if signals[0] != signal.SIGKILL:
        assert process.returncode == 0, (tmp_path / "up.out").read_text()[-3000:]
        assert not (data / "mongo.url").exists()  # a later `orderrouter seed` is not sent to a dead server
