"""Private infrastructure a chaos run may stop, kill and restart: a RabbitMQ node of its own
(never the machine's shared one) and the MongoDB-wire server on a storage directory (so its
data survives a restart)."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
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
