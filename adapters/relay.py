"""Publishing what intake stored, off the request's path (the relay of a transactional outbox).

A webhook's only durable act is its insert (the order, or the inbox entry); that stored row is
the outbox entry, and its own state says whether it still needs its message: an order still in
routing state ``received``, an inbox entry still unprocessed. So the request answers as soon as
the insert lands, and one thread per process publishes (publisher confirms on) behind it. If the
process dies first, or the broker refuses, the reconciler re-sends from that state after a
minute (actors/sweeps.py): nothing accepted is lost, and a message sent twice is harmless since
every actor is idempotent. Through a broker outage the relay neither queues without bound nor
waits on each message: after a failed publish it stops trying for a few seconds, and beyond
``MAX_PENDING`` queued messages it takes no more; the reconciler sends those later.

Off until :func:`start` (the HTTP app starts it): the CLI, pollers and imports publish inline.
"""
from __future__ import annotations

import atexit
import os
import queue
import threading
import time

import structlog

from services import messages

log = structlog.get_logger(__name__)

_queue: queue.SimpleQueue = queue.SimpleQueue()
_state = {"pid": None, "pending": 0, "down_until": 0.0, "skipped": 0}
MAX_PENDING = 10_000  # beyond this (the broker is down or slow) messages are left to the reconciler
PAUSE_AFTER_FAILURE = 5.0  # seconds of not trying after a failed publish: the backlog drains at once
_lock = threading.Lock()
_idle = threading.Condition(_lock)


def start() -> None:
    """Publish through the relay thread from now on (idempotent; again in a forked child)."""
    with _lock:
        if _state["pid"] == os.getpid():
            return
        _state.update(pid=os.getpid(), pending=0)
    threading.Thread(target=_run, daemon=True, name="intake-relay").start()


def running() -> bool:
    return _state["pid"] == os.getpid()


def publish(step: messages.Step) -> bool:
    """Send ``step``: queued for the relay thread when it runs, else now (with confirms). False
    when an inline publish failed (the reconciler re-sends it)."""
    if not running():
        return send_now(step)
    with _lock:
        if _state["pending"] >= MAX_PENDING:  # memory stays bounded through a broker outage
            _state["skipped"] += 1
            return False
        _state["pending"] += 1
    _queue.put(step)
    return True


def send_now(step: messages.Step) -> bool:
    try:
        messages.send(step)
        return True
    except Exception:  # noqa: BLE001 - any broker failure: the stored state is the outbox
        log.warning("publish_failed", step=type(step).__name__, key=step.args()[0] if step.args() else None,
                    exc_info=True)
        return False


def drain(timeout: float = 10.0) -> bool:
    """Wait until everything queued so far was sent (or given up); False on timeout."""
    deadline = time.monotonic() + timeout
    with _idle:
        while _state["pending"]:
            left = deadline - time.monotonic()
            if left <= 0 or not _idle.wait(left):
                return False
    return True


def _run() -> None:
    while True:
        step = _queue.get()
        try:
            if time.monotonic() < _state["down_until"]:  # the broker just failed us: leave it to the reconciler
                _state["skipped"] += 1
            elif not send_now(step):  # logged; the reconciler re-sends from stored state
                _state["down_until"] = time.monotonic() + PAUSE_AFTER_FAILURE
            elif _state["skipped"]:
                log.warning("publish_skipped", count=_state["skipped"], reason="broker unavailable; reconcile re-sends")
                _state["skipped"] = 0
        finally:
            with _idle:
                _state["pending"] -= 1
                if not _state["pending"]:
                    _idle.notify_all()


atexit.register(lambda: running() and drain(5.0))
