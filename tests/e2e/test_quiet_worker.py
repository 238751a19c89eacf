"""No warning noise in a quiet system (issue 19, item 5): a Dramatiq worker process (``dramatiq
adapters.worker``, as ``orderrouter up`` runs it) given every sweep the scheduler sends, a few
ticks' worth, with nothing to do, logs no warning (it logged three every 30 s: sweep actors
returned a value with no Results middleware)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import config
from actors import sweeps
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_a_quiet_worker_running_every_sweep_logs_no_warning(db, mongo_url, broker, tmp_path):
    settings = config.get_settings()
    env = {**os.environ, "ROUTER_MONGO_URL": mongo_url, "ROUTER_MONGO_DB": db.name,
           "ROUTER_QUEUE_PREFIX": settings.queue_prefix, "ROUTER_AMQP_URL": settings.amqp_url,
           "ROUTER_WORKER_METRICS": "0", "ROUTER_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)}
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:  # -v: Dramatiq's debug lines say when each message is acknowledged
        worker = subprocess.Popen([sys.executable, "-m", "dramatiq", "adapters.worker", "--processes", "1",
                                   "--threads", "2", "-v"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    sent = 0
    try:
        for _ in range(3):  # three scheduler ticks
            for job in sweeps.SCHEDULED:
                job.send()
                sent += 1
        eventually(lambda: log_path.read_text(errors="replace").count("Acknowledging message") >= sent,
                   timeout=90, what=f"{sent} sweeps processed")
        time.sleep(1)
        text = log_path.read_text(errors="replace")  # before the stop, whose "Killing worker" is a warning
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    noisy = [line for line in text.splitlines() if "warning" in line.lower() or "returned a value" in line]
    assert not noisy, "\n".join(noisy[:20])
