"""Per-caller rate limits on intake and commands, so one misbehaving caller cannot starve the others.

A token bucket per caller identity (``channel:<id>``, ``warehouses:<id>``, ``carriers:<id>``,
``payment``, ``operator:<name>``), held in this API process: each of several API processes
allows the rate on its own. A caller may make ``ROUTER_RATE_LIMIT_BURST`` calls at once, then
``ROUTER_RATE_LIMIT_PER_SECOND`` a second (0 turns limits off). Only calls that change something
are counted (POST, PUT, PATCH, DELETE), once per request, after the caller proved who it is, so a
stranger cannot spend a channel's allowance. Over the limit the API answers 429 with
``Retry-After``; the sender tries again after it.
"""
from __future__ import annotations

import math
import threading
import time

from flask import current_app, request

from adapters.http.errors import ApiError
from config import get_settings

COUNTED_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_CHARGED = "orderrouter.rate_charged"  # per request (flask.g is shared with the console's sub-requests)
MAX_CALLERS = 10_000  # identities are authenticated, so few; a bound all the same


class Buckets:
    """Token buckets by identity (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # identity -> (tokens, at)

    def take(self, identity: str, rate: float, burst: int, now: float | None = None) -> float:
        """Take one call from ``identity``'s bucket: 0 when allowed, else the seconds to wait."""
        if rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        capacity = max(1.0, float(burst))
        with self._lock:
            tokens, at = self._buckets.get(identity, (capacity, now))
            tokens = min(capacity, tokens + max(0.0, now - at) * rate)
            if tokens >= 1.0:
                self._put(identity, tokens - 1.0, now)
                return 0.0
            self._put(identity, tokens, now)
            return (1.0 - tokens) / rate

    def _put(self, identity: str, tokens: float, at: float) -> None:
        if identity not in self._buckets and len(self._buckets) >= MAX_CALLERS:
            self._buckets.clear()  # only under a flood of identities: everyone starts full again
        self._buckets[identity] = (tokens, at)


def install(app) -> None:
    app.extensions["rate_limits"] = Buckets()


def charge(identity: str) -> None:
    """Count this request against ``identity`` if it changes something; 429 when over the limit."""
    if request.method not in COUNTED_METHODS or request.environ.get(_CHARGED):
        return
    request.environ[_CHARGED] = True
    buckets = current_app.extensions.get("rate_limits")
    if buckets is None:
        return
    settings = get_settings()
    wait = buckets.take(identity, settings.rate_limit_per_second, settings.rate_limit_burst)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ApiError(429, "rate_limited", f"too many calls from {identity}: retry after {seconds} s",
                       {"retry_after": seconds}, headers={"Retry-After": str(seconds)})
