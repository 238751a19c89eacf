"""Database commands slower than a threshold are logged with their shape: command, collection
and filter with every value replaced by its type, so a log line names the query to index or
bound and never carries personal data. ``ROUTER_SLOW_COMMAND_MS`` sets the threshold (0: off)."""
from __future__ import annotations

import threading
from collections.abc import Mapping

import structlog
from pymongo import monitoring

log = structlog.get_logger(__name__)
MAX_SHAPE = 400  # characters of a shape in the log
FILTER_KEYS = {"find": "filter", "count": "query", "distinct": "query", "delete": "deletes",
               "update": "updates", "findAndModify": "query", "aggregate": "pipeline"}


def shape(value, depth: int = 0):
    """``value`` with every leaf replaced by its type name, a list by its first item's shape and its
    length: ``{"_id": {"$in": ["O1", "O2"]}}`` -> ``{"_id": {"$in": ["str", 2]}}``."""
    if depth > 6:
        return "..."
    if isinstance(value, dict):
        return {k: shape(v, depth + 1) for k, v in list(value.items())[:20]}
    if isinstance(value, (list, tuple)):
        return [shape(value[0], depth + 1), len(value)] if value else []
    return type(value).__name__


def _filter_of(command_name: str, command: Mapping):
    key = FILTER_KEYS.get(command_name)
    if key is None:
        return None
    value = command.get(key)
    if command_name in ("update", "delete") and value:  # bulk statements: the first one's filter
        value = value[0].get("q")
    return shape(value)


class SlowCommandLogger(monitoring.CommandListener):
    def __init__(self, threshold_ms: float):
        self.threshold_us = threshold_ms * 1000
        self._started: dict[tuple, tuple[str, str, object]] = {}
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        entry = (name, str(event.command.get(name, "")), _filter_of(name, event.command))
        with self._lock:
            self._started[(event.connection_id, event.request_id)] = entry

    def _finished(self, event, failed: bool) -> None:
        with self._lock:
            entry = self._started.pop((event.connection_id, event.request_id), None)
        if entry is None or event.duration_micros < self.threshold_us:
            return
        name, collection, filter_ = entry
        log.warning("slow_db_command", command=name, collection=collection, ms=round(event.duration_micros / 1000),
                    shape=str(filter_)[:MAX_SHAPE], failed=failed)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._finished(event, False)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._finished(event, True)
