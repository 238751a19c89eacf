"""A simulated Amazon Selling Partner API, Orders v0: what the poller reads and the shipment
confirmations the router sends back.

- `GET /orders/v0/orders?LastUpdatedAfter=...` (or `?NextToken=...`): `{"payload": {"Orders",
  "NextToken"?}}`, orders updated after the time, one per page so paging is exercised.
- `GET /orders/v0/orders/{orderId}/orderItems`: `{"payload": {"OrderItems": [...]}}`.
- `POST /orders/v0/orders/{orderId}/shipmentConfirmation` (confirmShipment): 204 with no body.
  The body is checked as the API documents it: `marketplaceId`, and `packageDetail` with
  `packageReferenceId` (positive digits), `carrierCode` (`carrierName` too when it is
  "Other"), `trackingNumber`, `shipDate` (ISO 8601), `orderItems` of `{orderItemId, quantity}`
  naming items of the order; 400 `{"errors": [...]}` otherwise, 404 for an unknown order.
  Confirming again with the same `packageReferenceId` edits that package (Amazon's own
  idempotency), so `confirmations` maps `(orderId, packageReferenceId)` to the last body.

Orders are the `entries` given: `{"order": <Order>, "items": [<OrderItem>...]}`.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from adapters.simulators.server import Request, Response, SimulatorServer, error


class AmazonSimulator(SimulatorServer):
    """Simulated SP-API; `confirmations` holds each confirmed package (see the module doc)."""

    def __init__(self, entries: list[dict[str, Any]] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.entries: list[dict[str, Any]] = list(entries or [])
        self.confirmations: dict[tuple[str, str], dict[str, Any]] = {}

    def handle(self, request: Request) -> Response:
        seg = request.segments
        if seg[:3] != ["orders", "v0", "orders"]:
            return error(404, "not_found", request.path)
        if request.method == "GET" and len(seg) == 3:
            return self._orders(request.query)
        entry = self._entry(seg[3]) if len(seg) == 5 else None
        if entry is None:
            return error(404, "not_found", request.path)
        if request.method == "GET" and seg[4] == "orderItems":
            return Response(200, {"payload": {"AmazonOrderId": seg[3], "OrderItems": entry["items"]}})
        if request.method == "POST" and seg[4] == "shipmentConfirmation":
            return self._confirm(seg[3], entry, request.body)
        return error(404, "not_found", request.path)

    def confirmed(self, order_id: str) -> list[dict[str, Any]]:
        """The packages confirmed for an order, as last sent."""
        with self.lock:
            return [body for (oid, _), body in self.confirmations.items() if oid == order_id]

    def _entry(self, order_id: str) -> dict[str, Any] | None:
        with self.lock:
            return next((e for e in self.entries if e["order"]["AmazonOrderId"] == order_id), None)

    def _orders(self, query: dict[str, str]) -> Response:
        since = query.get("LastUpdatedAfter")
        with self.lock:
            found = [e["order"] for e in self.entries if not since or e["order"]["LastUpdateDate"] > since]
        if "NextToken" in query:
            return Response(200, {"payload": {"Orders": found[1:]}})
        return Response(200, {"payload": {"Orders": found[:1], **({"NextToken": "p2"} if len(found) > 1 else {})}})

    def _confirm(self, order_id: str, entry: dict[str, Any], body: Any) -> Response:
        problems = _confirmation_problems(body, {i["OrderItemId"] for i in entry["items"]})
        if problems:
            return Response(400, {"errors": [{"code": "InvalidInput", "message": p} for p in problems]})
        with self.lock:
            self.confirmations[(order_id, body["packageDetail"]["packageReferenceId"])] = body
        return Response(204, b"")


def _confirmation_problems(body: Any, item_ids: set[str]) -> list[str]:
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = [] if body.get("marketplaceId") else ["marketplaceId is required"]
    package = body.get("packageDetail")
    if not isinstance(package, dict):
        return problems + ["packageDetail is required"]
    for name in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate"):
        if not isinstance(package.get(name), str) or not package[name]:
            problems.append(f"packageDetail.{name} is required")
    if not str(package.get("packageReferenceId", "")).isdigit() or str(package.get("packageReferenceId")) == "0":
        problems.append("packageDetail.packageReferenceId must be a positive number")
    if package.get("carrierCode") == "Other" and not package.get("carrierName"):
        problems.append("packageDetail.carrierName is required when carrierCode is Other")
    try:
        datetime.fromisoformat(str(package.get("shipDate", "")).replace("Z", "+00:00"))
    except ValueError:
        problems.append("packageDetail.shipDate must be ISO 8601")
    items = package.get("orderItems")
    if not isinstance(items, list) or not items:
        problems.append("packageDetail.orderItems is required")
    else:
        for i, item in enumerate(items):
            if not isinstance(item, dict) or item.get("orderItemId") not in item_ids:
                problems.append(f"packageDetail.orderItems.{i}.orderItemId is not an item of the order")
            elif not isinstance(item.get("quantity"), int) or item["quantity"] < 1:
                problems.append(f"packageDetail.orderItems.{i}.quantity must be a positive integer")
    return problems
