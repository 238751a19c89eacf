"""Helpers shared by the benchmarks: machine facts, percentiles, CPU accounting, results files."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_info() -> dict:
    """What the numbers were measured on."""
    info = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
            "platform": platform.platform(), "load_average_1m": round(os.getloadavg()[0], 2)}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_mb"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    return info


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (and their reaped children), from /proc."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLOCK_TICKS


def pids_named(fragment: str) -> list[int]:
    """Pids whose command line contains ``fragment`` (for reading /proc only, never to signal)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if fragment in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


class CpuMeter:
    """CPU seconds used by named groups of processes between start() and stop()."""

    def __init__(self, groups: dict[str, callable]):
        self.groups = groups  # name -> () -> list of pids (re-evaluated: workers fork late)
        self.begin: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self.t0 = self.t1 = 0.0

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.begin = {name: cpu_seconds(get()) for name, get in self.groups.items()}

    def stop(self) -> dict:
        self.t1 = time.monotonic()
        self.used = {name: round(cpu_seconds(get()) - self.begin[name], 2) for name, get in self.groups.items()}
        wall = self.t1 - self.t0
        return {"wall_s": round(wall, 2), "cpu_s": self.used,
                "cpu_share_of_machine": {k: round(v / (wall * (os.cpu_count() or 1)), 3) for k, v in self.used.items()}}


def write_result(name: str, result: dict, out: str | Path | None = None) -> Path:
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so that a stopped benchmark still runs its cleanup (stops the
    router, simulators and database it started) instead of leaving them running beside the next
    run (a stopped 10,000-order run's workers took 40% of a core from the next one)."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
