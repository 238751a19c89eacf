"""A simulated sales channel API, for the router's outbound sync.

It accepts any POST, PUT, PATCH or DELETE under its base URL (Shopify fulfilment
creation, WooCommerce order notes, Taobao consignment, ...) and records it; a POST
answers 201 {"id": "CH-..."} and the same Idempotency-Key again answers 200 with the
same id, so a test can tell calls (retries) from effects (`effects`). Like Shopify's,
its refunds.json ignores the Idempotency-Key (every POST is a new refund) and GET on it lists
the refunds made; any other GET answers 404. Bearer tokens are not checked: channels authenticate in their own ways, so a
test asserts on the recorded headers instead.
"""
from __future__ import annotations

import itertools

from adapters.simulators.server import Request, Response, SimulatorServer, error

SHOPIFY_REFUNDS = "/refunds.json"


class ChannelSimulator(SimulatorServer):
    """Simulated channel API; `effects` maps each distinct idempotency key (or, for
    calls without one, a generated id) to the request that produced it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.effects: dict[str, Request] = {}
        self.replies: dict[str, dict] = {}
        self._ids: dict[str, str] = {}
        self._numbers = itertools.count(1)

    def reply(self, path_suffix: str, body: dict) -> None:
        """Answer writes to paths ending with `path_suffix` with 200 and `body` (a calculation,
        e.g. Shopify's refunds/calculate.json), recorded as calls but not as effects."""
        with self.lock:
            self.replies[path_suffix] = body

    def handle(self, request: Request) -> Response:
        """Record the effect of a write; answer 201 for a new POST, 200 otherwise."""
        refunds = request.path.endswith(SHOPIFY_REFUNDS)
        if request.method == "GET" and refunds:
            with self.lock:
                return Response(200, {"refunds": [{"id": self._ids[k], **(r.body or {}).get("refund", {})}
                                                  for k, r in self.effects.items()
                                                  if r.path == request.path and r.method == "POST"]})
        if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return error(404, "not_found", request.path)
        with self.lock:
            canned = next((body for suffix, body in self.replies.items() if request.path.endswith(suffix)), None)
            if canned is not None:
                return Response(200, canned)
            key = request.idempotency_key
            if key is not None and refunds:  # no idempotency there: a second POST is a second refund
                key = key if key not in self._ids else f"{key}#{sum(k.startswith(key) for k in self._ids) + 1}"
            if key is not None and key in self._ids:
                return Response(200, {"id": self._ids[key]})
            new_id = f"CH-{next(self._numbers):06d}"
            self._ids[key or new_id] = new_id
            self.effects[key or new_id] = request
        return Response(201 if request.method == "POST" else 200, {"id": new_id})

    def received(self, contains: str = "") -> list:
        """Bodies of write calls whose path contains `contains`, in arrival order, retries included."""
        return [c.body for c in self.calls_to(contains=contains) if c.method != "GET"]
