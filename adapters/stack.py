"""Starting and supervising the router's processes for ``orderrouter up`` and ``demo``.

Each part runs as its own child process (the embedded database, the API under gunicorn, the
Dramatiq workers, the scheduler); a part that dies is restarted with a short backoff, and
stopping the stack stops them all. Production runs the same parts under docker compose or systemd.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from adapters.lifeline import tied_to_this_process
from config import get_settings

log = structlog.get_logger(__name__)


# How long the parts get to stop after SIGTERM before their process groups are SIGKILLed: past
# gunicorn's graceful timeout (20 s, adapters.cli.gunicorn_argv), so a request in hand may finish.
STOP_TIMEOUT = 25.0


@dataclass
class Part:
    """One child process in a session (and process group) of its own, tied to the life of the process
    that started it (adapters.lifeline): it gets SIGTERM when that process dies, even by SIGKILL."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        with open(self.log_path, "ab") as out:  # the child holds its own copy of the descriptor
            self.process = subprocess.Popen(tied_to_this_process(self.argv), env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send ``signum`` to the part's whole process group, the leader dead or not: what a dead
        leader started (gunicorn's worker, the Dramatiq processes) may still be in it, and while a
        group has members its number is not given to another process."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def wait(self, deadline: float) -> None:
        """Wait for the leader until ``deadline`` (monotonic); past it, SIGKILL the whole group."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            log.warning("killing", part=self.name, pid=self.process.pid)
            self.signal_group(signal.SIGKILL)
            self.process.wait(timeout=5)
        self.signal_group(signal.SIGKILL)  # stragglers of a leader that exited first

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        self.signal_group(signal.SIGTERM)
        self.wait(time.monotonic() + timeout)


@dataclass
class Stack:
    env: dict[str, str]
    log_dir: Path
    parts: list[Part] = field(default_factory=list)

    def add(self, name: str, *args: str) -> Part:
        part = Part(name, [sys.executable, "-m", "adapters.cli", *args], self.env, self.log_dir / f"{name}.log")
        self.parts.append(part)
        return part

    def start(self) -> None:
        for part in self.parts:
            part.start()
            log.info("started", part=part.name, pid=part.process.pid, log=str(part.log_path))

    def supervise_once(self) -> None:
        """Restart any part that died (backoff: a part that dies young waits a little longer); what its
        dead leader left in its process group is told to stop first."""
        for part in self.parts:
            if not part.alive():
                code = part.process.returncode if part.process else None
                part.signal_group(signal.SIGTERM)
                if time.monotonic() - part.started_at < 5 and part.restarts:
                    time.sleep(min(2 ** part.restarts, 30) / 10)
                part.restarts += 1
                log.warning("restarting", part=part.name, exit_code=code, restarts=part.restarts)
                part.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every part at once, wait for them all until one shared deadline, then SIGKILL the
        process groups of those still running: bounded by ``timeout`` plus a few seconds."""
        for part in self.parts:
            part.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for part in reversed(self.parts):
            part.wait(deadline)


def child_env(mongo_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["ROUTER_MONGO_URL"] = mongo_url
    env.setdefault("dramatiq_prom_db", str(Path(get_settings().data_dir).resolve() / "prometheus"))
    env.update(extra)
    return env


def wait_http(url: str, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc; Linux only)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def peak_rss_mb(pid: int) -> float:
    """Sum of peak resident memory (VmHWM) of ``pid`` and its descendants, in MiB."""
    total = 0
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024
