"""The embedded MongoDB-wire server (SecantusDB) for local runs and tests.

Production points ``ROUTER_MONGO_URL`` at a real ``mongod``; when it is unset, ``orderrouter up``
and the test suite start this server as a child process on a free loopback port. The rest of the
code never knows which one it talks to. SecantusDB is GPL-2.0 and beta, so it is an optional extra.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pymongo


class EmbeddedMongoUnavailable(RuntimeError):
    """The embedded server is not installed or did not come up."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ":memory:" keeps the whole database in the server's WiredTiger cache (1 GB unless told): past it
# every write fails with WT_CACHE_FULL (the console benchmark's 100,000 orders of about 7 KB did,
# while rebuilding their list rows). A cap, not an allocation. On disk the cache evicts instead.
MEMORY_CACHE_SIZE = "4G"


class EmbeddedMongo:
    """A SecantusDB server process. ``storage`` is a directory or ``":memory:"``; ``cache_size``
    (e.g. ``"4G"``) defaults to ``MEMORY_CACHE_SIZE`` for ``":memory:"``, the server's own otherwise;
    ``launch_with`` wraps the server's command line (``orderrouter up`` ties the server's life to its
    own with ``adapters.lifeline.tied_to_this_process``)."""

    def __init__(self, storage: str = ":memory:", port: int | None = None, log_path: str | None = None,
                 standalone: bool = True, cache_size: str | None = None,
                 launch_with: Callable[[list[str]], list[str]] | None = None):
        self.storage = storage
        self.cache_size = cache_size or (MEMORY_CACHE_SIZE if storage == ":memory:" else None)
        self.standalone = standalone
        self.port = port or free_port()
        self.log_path = log_path
        self.launch_with = launch_with
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        # Retryable writes off for this server only: it keeps a record per retryable write and,
        # past 10,000 of them, re-sorts them all on every write (measured 24x slower updates).
        # A real mongod keeps retryable writes on.
        return f"mongodb://127.0.0.1:{self.port}/?retryWrites=false"

    def _command(self) -> list[str]:
        exe = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
        if not Path(exe).exists():
            raise EmbeddedMongoUnavailable(
                "secantusd-py not found: install the 'embedded' extra or set ROUTER_MONGO_URL")
        # SecantusDB's server run through documents/embedded_server.py: its own entry point, with
        # the write path's _id-first lookup (a third of a guarded update's cost on that server)
        # --standalone: no replica-set advertisement, hence no oplog. Nothing here reads one (no
        # change streams, no transactions), and keeping it cost a write per modified document,
        # then a prune per write once it held its 100,000 entries (bench/oplog.py: 0.66 ms of
        # server CPU per small update at first, up to 1.08 ms past 100,000, 0.43-0.72 standalone);
        # one cause of a 10,000-order run slowing from 37 to 17 events/s over its hour. A real
        # mongod runs as a replica set (docker-compose.yml).
        return [sys.executable, "-m", "documents.embedded_server", "--host", "127.0.0.1", "--port", str(self.port),
                "--storage-path", self.storage,
                "--log-level", "WARNING", *(["--standalone"] if self.standalone else []),
                *(["--cache-size", self.cache_size] if self.cache_size else [])]

    def start(self, timeout: float = 30.0) -> "EmbeddedMongo":
        if self.storage != ":memory:":
            os.makedirs(self.storage, exist_ok=True)
        # the server holds its own copy of the log's descriptor
        with open(self.log_path, "ab") if self.log_path else contextlib.nullcontext(subprocess.DEVNULL) as out:
            command = self.launch_with(self._command()) if self.launch_with else self._command()
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EmbeddedMongoUnavailable(f"secantusd-py exited with {self.process.returncode}")
            try:
                pymongo.MongoClient(self.url, serverSelectionTimeoutMS=300).admin.command("ping")
                return self
            except pymongo.errors.PyMongoError:
                time.sleep(0.1)
        self.stop()
        raise EmbeddedMongoUnavailable(f"secantusd-py did not answer on port {self.port} in {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> "EmbeddedMongo":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
