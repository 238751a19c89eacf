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

Qimen: any POST carrying a `method` query parameter is a Qimen call (the warehouse is its
`customerId`, the `sign` is checked with the warehouse's token as app secret, and a `timestamp`
more than 10 minutes from now is refused, as the Qimen / TOP gateway does):
`deliveryorder.create` (idempotent on `deliveryOrderCode`: the same code answers with the
same `deliveryOrderId`) and `order.cancel` (flag failure once shipped). A Qimen delivery
order reports back in Qimen's own words: `orderprocess.report` (ACCEPT, PICK, PACKAGE) and
`deliveryorder.confirm` (see `confirm`: several packages, partial then final), signed as the
gateway signs them (system parameters in the query string, `sign` over them and the body with
the app secret, a fresh `timestamp` on every attempt) and without a bearer token.

ShipHero: `shiphero_shipment` posts a `Shipment Update` webhook for a delivery order, signed
`x-shiphero-hmac-sha256` (base64 HMAC-SHA256 of the body with the account's secret: `secrets`,
default the warehouse's token), without a bearer token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from adapters.simulators.callbacks import Callback, CallingParty
from adapters.errors import BadSignature
from adapters.simulators.server import Request, Response, bearer_ok, error
from adapters.wms_formats import qimen, shiphero
from router.statuses import WmsEventType

PROGRESS = (WmsEventType.ACCEPTED, WmsEventType.PICKED, WmsEventType.PACKED, WmsEventType.SHIPPED)
QIMEN_CLOCK_SKEW = timedelta(minutes=10)  # what the Qimen / TOP gateway tolerates on `timestamp`


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
    format: str = "generic"
    parcels: list[str] = field(default_factory=list)  # tracking numbers confirmed so far (Qimen)


class WmsSimulator(CallingParty):
    """Simulated WMS. `tokens` maps warehouse id to its bearer token (used both ways);
    `delivery_orders` maps fulfilment id to `DeliveryOrder` (distinct effects)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.delivery_orders: dict[str, DeliveryOrder] = {}

    def handle(self, request: Request) -> Response:
        """Route one request of the WMS protocol."""
        seg, method = request.segments, request.method
        if method == "POST" and request.query.get("method"):
            return self._qimen(request)
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
            chain.append(self._qimen_event(order, kind) if order.format == "qimen" else self._event(order, kind))
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

    def confirm(self, fulfilment_id: str, packages: int = 1, final: bool = True,
                lines: list[tuple[int, str, int]] | None = None) -> list[str]:
        """Post one Qimen `deliveryorder.confirm` for a Qimen delivery order: `packages` boxes,
        each with its own tracking number (the first box of the order keeps the waybill the
        router sent), `final` False for a partial confirmation (confirmType 1); `lines` are
        `(line_no, sku, quantity shipped)`, all the order's lines by default. Returns the
        tracking numbers of this confirmation's packages."""
        order = self.delivery_orders[fulfilment_id]
        callback, numbers = self._qimen_confirm(order, packages, final, lines)
        self.callbacks.submit([callback], on_step=lambda cb: self._on_step(order, cb))
        return numbers

    def shiphero_shipment(self, fulfilment_id: str, tracking_number: str | None = None) -> str:
        """Post a ShipHero `Shipment Update` webhook: the delivery order left in one box, all its
        lines, under `tracking_number` (default: the waybill the router sent, else a new one).
        Returns the tracking number. Raises KeyError for an unknown fulfilment."""
        order = self.delivery_orders[fulfilment_id]
        if not self.callback_url:
            raise RuntimeError("WmsSimulator has no callback_url")
        with self.lock:
            number = tracking_number or order.tracking_number or \
                f"{(order.carrier_id or 'SIM').upper()}-{self._rng.randrange(10**11, 10**12)}"
            shipment_id = 800_000 + next(self._numbers)
        lines = [{"sku": line.get("sku"), "quantity": line.get("quantity"),
                  "partner_line_item_id": str(line.get("line_no", ""))} for line in order.request.get("lines") or []]
        body = {"test": "0", "webhook_type": shiphero.WEBHOOK_TYPE,
                "fulfillment": {"shipment_id": shipment_id, "warehouse": order.warehouse_id,
                                "order_number": order.fulfilment_id, "partner_order_id": order.fulfilment_id,
                                "shipping_carrier": order.carrier_id, "shipping_method": "ground",
                                "tracking_number": number, "line_items": lines, "completed": True},
                "total_packages": 1,
                "packages": [{"name": "Box 1", "line_items": [{"sku": x["sku"], "quantity": x["quantity"]}
                                                              for x in lines]}]}
        raw = json.dumps(body, separators=(",", ":")).encode()
        digest = hmac.new(self.secret_of(order.warehouse_id).encode(), raw, hashlib.sha256).digest()
        callback = Callback(f"{self.callback_url}/v1/wms/{order.warehouse_id}/events", body,
                            {shiphero.SIGNATURE_HEADER: base64.b64encode(digest).decode()}, content=raw,
                            kind=str(WmsEventType.SHIPPED))
        self.callbacks.submit([callback], on_step=lambda cb: self._on_step(order, cb))
        return number

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

    def _qimen(self, request: Request) -> Response:
        """One Qimen call: ``deliveryorder.create`` or ``order.cancel``."""
        warehouse_id, method = request.query.get("customerId", ""), request.query["method"]
        secret = self.tokens.get(warehouse_id)
        if secret is not None:
            try:
                signed_at = qimen.verify(request.headers, request.raw, secret, request.query)
            except BadSignature as exc:
                return _qimen_answer(False, "sign-check-failure", str(exc))
            if abs(datetime.now(timezone.utc) - signed_at) > QIMEN_CLOCK_SKEW:
                return _qimen_answer(False, "invalid-timestamp", "timestamp is more than 10 minutes from now")
        body = request.body if isinstance(request.body, dict) else {}
        if method == "deliveryorder.create":
            head = body.get("deliveryOrder") or {}
            code = head.get("deliveryOrderCode")
            if not code or not body.get("orderLines"):
                return _qimen_answer(False, "400", "deliveryOrder.deliveryOrderCode and orderLines are required")
            with self.lock:
                existing = self.delivery_orders.get(code)
                if existing is None:
                    existing = DeliveryOrder(code, warehouse_id, f"QM-{next(self._numbers):06d}", body,
                                             head.get("expressCode"), head.get("logisticsCode"), format="qimen")
                    self.delivery_orders[code] = existing
                    created = True
                else:
                    created = False
            if created and self.auto_progress:
                self.progress(code)
            return _qimen_answer(True, "0", "", deliveryOrderId=existing.wms_order_id)
        if method == "order.cancel":
            with self.lock:
                order = self.delivery_orders.get(body.get("orderCode") or "")
                if order is None or order.warehouse_id != warehouse_id:
                    return _qimen_answer(False, "404", "no such order")
                if order.state == "created":
                    order.state = "cancelled"
                ok = order.state == "cancelled"
            return _qimen_answer(ok, "0" if ok else "SHIPPED", "" if ok else "already shipped")
        return _qimen_answer(False, "400", f"method {method} is not supported")

    def _qimen_event(self, order: DeliveryOrder, kind: str) -> Callback:
        if kind == WmsEventType.SHIPPED:
            return self._qimen_confirm(order, 1, True, None)[0]
        word = {WmsEventType.ACCEPTED: "ACCEPT", WmsEventType.PICKED: "PICK", WmsEventType.PACKED: "PACKAGE",
                WmsEventType.REJECTED: "REJECT"}.get(kind, str(kind).upper())
        body = {"order": {"orderCode": order.fulfilment_id, "orderId": order.wms_order_id, "orderType": "JYCK",
                          "warehouseCode": order.warehouse_id},
                "process": {"processStatus": word, "operateTime": _china_now()}}
        return self._qimen_callback(order, "orderprocess.report", body, str(kind))

    def _qimen_confirm(self, order: DeliveryOrder, packages: int, final: bool,
                       lines: list[tuple[int, str, int]] | None) -> tuple[Callback, list[str]]:
        planned = ((order.request.get("orderLines") or {}).get("orderLine")) or []
        planned = planned if isinstance(planned, list) else [planned]
        if lines is None:
            lines = [(int(l["orderLineNo"]), l["itemCode"], int(l["planQty"])) for l in planned]
        carrier = order.carrier_id or "SIM"
        with self.lock:
            numbers = []
            for _ in range(packages):
                if order.tracking_number and order.tracking_number not in order.parcels + numbers:
                    numbers.append(order.tracking_number)
                else:
                    numbers.append(f"{carrier.upper()}-{self._rng.randrange(10**11, 10**12)}")
            order.parcels += numbers
        now = _china_now()
        boxes = [{"logisticsCode": carrier, "expressCode": n, "packageCode": f"BOX-{i + 1}",
                  "items": {"item": [{"itemCode": sku, "quantity": str(q)} for _, sku, q in lines]}}
                 for i, n in enumerate(numbers)]
        body = {"deliveryOrder": {"deliveryOrderCode": order.fulfilment_id, "deliveryOrderId": order.wms_order_id,
                                  "warehouseCode": order.warehouse_id, "orderType": "JYCK",
                                  "status": "DELIVERED" if final else "PARTDELIVERED",
                                  "outBizCode": uuid.uuid4().hex, "confirmType": 0 if final else 1,
                                  "orderConfirmTime": now, "logisticsCode": carrier},
                "packages": {"package": boxes},
                "orderLines": {"orderLine": [{"orderLineNo": str(n), "itemCode": sku, "actualQty": str(q)}
                                             for n, sku, q in lines]}}
        kind = WmsEventType.SHIPPED if final else "partially_shipped"
        return self._qimen_callback(order, "deliveryorder.confirm", body, str(kind)), numbers

    def _qimen_callback(self, order: DeliveryOrder, method: str, body: dict, kind: str) -> Callback:
        if not self.callback_url:
            raise RuntimeError("WmsSimulator has no callback_url")
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        # Qimen has one app secret per app, both ways: the warehouse's token here, as in `_qimen`
        base, secret = f"{self.callback_url}/v1/wms/{order.warehouse_id}/events", self.tokens.get(order.warehouse_id, "")

        def sign(content: bytes) -> tuple[str, dict[str, str]]:  # every attempt anew, with its own timestamp
            params = qimen.request_params(method, order.warehouse_id, secret, content, datetime.now(timezone.utc))
            return f"{base}?{urlencode(params)}", {}

        return Callback(sign(raw)[0], body, {}, content=raw, kind=kind, sign=sign)

    def _on_step(self, order: DeliveryOrder, callback: Callback) -> bool:
        """Apply an event to the simulated warehouse; False ends the chain (cancelled)."""
        with self.lock:
            if callback.content is not None:  # a platform's own signed callback (Qimen, ShipHero)
                if order.state == "cancelled":
                    return False
                if callback.kind == WmsEventType.SHIPPED:
                    order.state = "shipped"
                order.events_sent.append(callback.kind)
                return True
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


def _qimen_answer(ok: bool, code: str, message: str, **extra: Any) -> Response:
    return Response(200, {"response": {"flag": "success" if ok else "failure", "code": code, "message": message,
                                       **extra}})


def _china_now() -> str:
    """China time now, as Qimen writes times."""
    return datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
