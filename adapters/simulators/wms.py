"""A simulated warehouse management system serving several warehouses.

Server side of the router's generic WMS protocol, under `{url}/{warehouse_id}/`:

- `POST delivery-orders` (Idempotency-Key required): 201 {"wms_order_id"} the first
  time, 200 with the same id for the same key, 400 without a key, 401 on a wrong
  bearer token for a warehouse that has one, 409 if the key was used for another
  warehouse.
- `POST delivery-orders/{fulfilment_id}/cancel`: 200 {"intercepted": bool}; true
  unless the simulation already shipped it; idempotent. 404 if unknown.
- `PATCH delivery-orders/{fulfilment_id}/address`: 200 {"updated": bool}, recorded
  either way; false once shipped. 404 if unknown.

With `auto_progress=True`, each new delivery order walks accepted, picked, packed,
shipped as events posted to `{callback_url}/v1/wms/{warehouse_id}/events`.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from adapters.simulators.callbacks import Callback, CallingParty
from adapters.simulators.server import Request, Response, bearer_ok, error
from router.statuses import WmsEventType

PROGRESS = (WmsEventType.ACCEPTED, WmsEventType.PICKED, WmsEventType.PACKED, WmsEventType.SHIPPED)


@dataclass
class DeliveryOrder:
    """A delivery order as the warehouse holds it. `state`: created, shipped or cancelled."""

    fulfilment_id: str
    warehouse_id: str
    wms_order_id: str
    request: dict[str, Any]
    tracking_number: str | None
    carrier_id: str | None
    state: str = "created"
    address_updates: list[dict[str, Any]] = field(default_factory=list)
    events_sent: list[str] = field(default_factory=list)


class WmsSimulator(CallingParty):
    """Simulated WMS. `tokens` maps warehouse id to its bearer token (used both ways);
    `delivery_orders` maps fulfilment id to `DeliveryOrder` (distinct effects)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.delivery_orders: dict[str, DeliveryOrder] = {}

    def handle(self, request: Request) -> Response:
        """Route one request of the WMS protocol."""
        seg, method = request.segments, request.method
        if len(seg) < 2 or seg[1] != "delivery-orders":
            return error(404, "not_found", request.path)
        if not bearer_ok(request, self.tokens.get(seg[0])):
            return error(401, "unauthorised", "wrong or missing bearer token")
        if method == "POST" and len(seg) == 2:
            return self._create(seg[0], request)
        if method == "POST" and len(seg) == 4 and seg[3] == "cancel":
            return self._cancel(seg[0], seg[2])
        if method == "PATCH" and len(seg) == 4 and seg[3] == "address":
            return self._change_address(seg[0], seg[2], request.body)
        return error(404, "not_found", request.path)

    def progress(self, fulfilment_id: str, steps=PROGRESS) -> None:
        """Post the events `steps` for a delivery order, in order (as auto_progress does).

        Raises KeyError for an unknown fulfilment, RuntimeError without a callback_url.
        """
        order = self.delivery_orders[fulfilment_id]
        chain = []
        for kind in steps:
            chain.append(self._event(order, kind))
            with self.lock:
                if self._rng.random() < self.duplicate_rate:
                    chain.append(chain[-1])  # the same object: same event_id, same occurred_at
        self.callbacks.submit(chain, on_step=lambda cb: self._on_step(order, cb))

    def send_event(self, fulfilment_id: str, kind: str, **fields: Any) -> None:
        """Post one event (any type, e.g. "short_picked") with extra body `fields`."""
        order = self.delivery_orders[fulfilment_id]
        callback = self._event(order, kind)
        callback.body.update(fields)
        self.callbacks.submit([callback], on_step=lambda cb: self._on_step(order, cb))

    def ship(self, fulfilment_id: str) -> None:
        """Mark a delivery order shipped without posting anything (cancel then fails)."""
        with self.lock:
            self.delivery_orders[fulfilment_id].state = "shipped"

    def _create(self, warehouse_id: str, request: Request) -> Response:
        key, body = request.idempotency_key, request.body
        if not key:
            return error(400, "missing_idempotency_key", "Idempotency-Key header is required")
        if not isinstance(body, dict):
            return error(422, "invalid_body", "a JSON object is required")
        with self.lock:
            existing = self.delivery_orders.get(key)
            if existing is not None:
                if existing.warehouse_id != warehouse_id:
                    return error(409, "idempotency_key_reused", "key used for another warehouse")
                return Response(200, {"wms_order_id": existing.wms_order_id})
            order = DeliveryOrder(key, warehouse_id, f"WMS-{next(self._numbers):06d}", body,
                                  body.get("tracking_number"), body.get("carrier_id"))
            self.delivery_orders[key] = order
        if self.auto_progress:
            self.progress(key)
        return Response(201, {"wms_order_id": order.wms_order_id})

    def _cancel(self, warehouse_id: str, fulfilment_id: str) -> Response:
        with self.lock:
            order = self.delivery_orders.get(fulfilment_id)
            if order is None or order.warehouse_id != warehouse_id:
                return error(404, "not_found", f"no delivery order {fulfilment_id}")
            if order.state == "created":
                order.state = "cancelled"
            return Response(200, {"intercepted": order.state == "cancelled"})

    def _change_address(self, warehouse_id: str, fulfilment_id: str, body: Any) -> Response:
        with self.lock:
            order = self.delivery_orders.get(fulfilment_id)
            if order is None or order.warehouse_id != warehouse_id:
                return error(404, "not_found", f"no delivery order {fulfilment_id}")
            order.address_updates.append(body)
            return Response(200, {"updated": order.state == "created"})

    def _event(self, order: DeliveryOrder, kind: str) -> Callback:
        if not self.callback_url:
            raise RuntimeError("WmsSimulator has no callback_url")
        token = self.tokens.get(order.warehouse_id)
        body = {"event_id": uuid.uuid4().hex, "fulfilment_id": order.fulfilment_id,
                "type": str(kind), "carrier_id": order.carrier_id}
        return Callback(f"{self.callback_url}/v1/wms/{order.warehouse_id}/events", body,
                        {"Authorization": f"Bearer {token}"} if token else {})

    def _on_step(self, order: DeliveryOrder, callback: Callback) -> bool:
        """Apply an event to the simulated warehouse; False ends the chain (cancelled)."""
        with self.lock:
            kind = callback.body["type"]
            if order.state == "cancelled" and kind in PROGRESS:
                return False
            if kind == WmsEventType.SHIPPED:
                order.state = "shipped"
                if not order.tracking_number:
                    prefix = (order.carrier_id or "SIM").upper()
                    order.tracking_number = f"{prefix}-{self._rng.randrange(10**11, 10**12)}"
                callback.body["tracking_number"] = order.tracking_number
            order.events_sent.append(kind)
            return True
