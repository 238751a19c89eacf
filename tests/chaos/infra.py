"""Private infrastructure a chaos run may stop, kill and restart: a RabbitMQ node of its own
(never the machine's shared one) and the MongoDB-wire server on a storage directory (so its
data survives a restart)."""
from __future__ import annotations

import json
import os
import random
import secrets
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from documents.embedded import EmbeddedMongo

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def restartable_port() -> int:
    """A free loopback port below the kernel's ephemeral range, for a server that goes down and must
    come back on the same port. A port from the ephemeral range (what binding port 0 gives) can be
    taken while its server is down as the local end of any outgoing connection, the clients'
    reconnects to it included; the server then cannot listen again (RabbitMQ exits 0 on that
    ``eaddrinuse``: the CI failure of session 4's chaos run)."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randrange(10000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in 10000-{low - 1}")

RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class PrivateRabbit:
    """A RabbitMQ node in ``base`` (mnesia, logs, HOME with its own Erlang cookie) listening on a
    free loopback port, management plugin off. ``restart`` keeps durable queues and persistent
    messages."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.port, self.dist_port = restartable_port(), restartable_port()
        self.node = f"chaos{os.getpid()}@localhost"
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        for d in ("home", "mnesia", "log"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
                                                 "loopback_users.guest = true\n")
        (self.base / "enabled_plugins").write_text("[].\n")
        return {**os.environ, "HOME": str(self.base / "home"), "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"), "RABBITMQ_LOG_BASE": str(self.base / "log"),
                "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
                "RABBITMQ_DIST_PORT": str(self.dist_port)}

    def start(self, timeout: float = 90.0, attempts: int = 3) -> "PrivateRabbit":
        """Start the node; when it exits at once (its distribution port was taken meanwhile by some
        process's outgoing connection), try again on a fresh distribution port. The AMQP port,
        which clients reconnect to, stays."""
        for attempt in range(attempts):
            env = self._env()
            with open(self.base / "server.out", "ab") as out:
                self.process = subprocess.Popen([RABBITMQ_SERVER], env=env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)
            try:
                self._wait(timeout)
                return self
            except RuntimeError:
                if attempt == attempts - 1 or self.process.poll() is None:
                    raise
                self.dist_port = restartable_port()
        return self

    def _wait(self, timeout: float) -> None:
        import pika

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited {self.process.returncode}; see {self.base}/server.out")
            try:
                pika.BlockingConnection(pika.URLParameters(self.url + "?connection_attempts=1&socket_timeout=1")).close()
                return
            except Exception:
                time.sleep(0.5)
        raise RuntimeError(f"private RabbitMQ not up on {self.port} within {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self, down_for: float = 0.0) -> float:
        """Stop, stay down ``down_for`` seconds, start; returns seconds the broker was unreachable."""
        started = time.monotonic()
        self.stop()
        time.sleep(down_for)
        self.start()
        self.restarts += 1
        return time.monotonic() - started


RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"  # not /usr/sbin's wrapper: it switches to the rabbitmq user and HOME
# Two cores are shared by several test runs: each node gets one scheduler that sleeps when idle
# (the default busy-waits, which three nodes on two cores would feel).
QUIET_ERLANG = "+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none"


class ClusterNode(PrivateRabbit):
    """One node of a :class:`RabbitCluster`: a private node whose HOME holds the cluster's Erlang
    cookie (nodes and ``rabbitmqctl`` authenticate to each other with it)."""

    def __init__(self, base: Path, node: str, cookie: str):
        super().__init__(base)
        self.node, self.cookie = node, cookie

    def _env(self) -> dict[str, str]:
        env = super()._env()
        cookie = self.base / "home" / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        return {**env, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": QUIET_ERLANG}

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """``rabbitmqctl -n <this node> args`` with the cluster's cookie; its output (raises on failure)."""
        done = subprocess.run([RABBITMQCTL, "-n", self.node, *args], env=self._env(), capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.node} {' '.join(args)} exited {done.returncode}: "
                               f"{done.stdout[-2000:]} {done.stderr[-2000:]}")
        return done.stdout

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class RabbitCluster:
    """Three (``size``) private RabbitMQ nodes on this machine joined into one cluster: distinct node
    names, AMQP and distribution ports below the ephemeral range, one Erlang cookie, the second and
    later nodes ``rabbitmqctl join_cluster`` the first. ``url`` lists every node's AMQP URL (what
    ``ROUTER_AMQP_URL`` takes for a cluster). Use as a context manager: every node is stopped on the
    way out, whatever happened."""

    def __init__(self, base: Path, size: int = 3):
        self.base = Path(base)
        cookie = secrets.token_hex(16).upper()
        tag = f"{os.getpid()}{secrets.token_hex(2)}"
        self.nodes = [ClusterNode(self.base / f"node{i}", f"q{tag}n{i}@localhost", cookie) for i in range(size)]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def start(self, timeout: float = 90.0) -> "RabbitCluster":
        """Start every node (at once: each takes about 10 s), then join the others to the first."""
        first, *others = self.nodes
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            list(pool.map(lambda node: node.start(timeout), self.nodes))
        for node in others:
            self._join(node, first, time.monotonic() + timeout)
        first.ctl("await_online_nodes", str(len(self.nodes)), "--timeout", str(int(timeout)), timeout=timeout + 10)
        return self

    @staticmethod
    def _join(node: ClusterNode, first: ClusterNode, deadline: float) -> None:
        """``node`` joins ``first``'s cluster; tried again until ``deadline`` (a node just started
        may still be settling its database)."""
        while True:
            try:
                node.ctl("stop_app")
                node.ctl("join_cluster", first.node)
                node.ctl("start_app")
                return
            except (RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def running_nodes(self, via: ClusterNode | None = None) -> list[str]:
        """The cluster's running nodes as ``via`` (default: the first live node) sees them."""
        via = via or next(node for node in self.nodes if node.alive())
        status = json.loads(via.ctl("cluster_status", "--formatter", "json"))
        return sorted(status.get("running_nodes", []))

    def list_queues(self, *columns: str) -> list[dict]:
        """``rabbitmqctl list_queues`` on a live node, as dicts of ``columns``."""
        via = next(node for node in self.nodes if node.alive())
        return json.loads(via.ctl("list_queues", "--formatter", "json", *columns))

    def kill(self, index: int) -> None:
        """Lose node ``index`` as a crash would: SIGKILL to its whole process group."""
        self.nodes[index].stop(sig=signal.SIGKILL, timeout=30)

    def stop(self) -> None:
        for node in self.nodes:
            with suppress(Exception):  # stop the others whatever one did
                node.stop()

    def __enter__(self) -> "RabbitCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


class DurableMongo(EmbeddedMongo):
    """The wire server on a storage directory and a fixed port, restartable with its data."""

    restarts = 0

    def __init__(self, storage: str, port: int | None = None, log_path: str | None = None):
        super().__init__(storage, port=port or restartable_port(), log_path=log_path)

    def restart(self, down_for: float = 0.0) -> float:
        started = time.monotonic()
        self.stop()
        time.sleep(down_for)
        self.start()
        self.restarts += 1
        return time.monotonic() - started
