"""A simulated Amazon Selling Partner API, Orders v0, with its Login with Amazon token endpoint:
what the poller reads and the shipment confirmations the router sends back, refused as Amazon
refuses them.

- `POST /auth/o2/token` (LWA; form `grant_type=refresh_token`, `refresh_token`, `client_id`,
  `client_secret`): `{"access_token": "Atza|...", "refresh_token", "token_type": "bearer",
  "expires_in": token_lifetime}`; a wrong client is 401 `invalid_client`, a wrong refresh token 400
  `invalid_grant`, another grant type 400 `unsupported_grant_type`. `token_calls` counts the
  exchanges; `expire_tokens()` makes every token issued so far expired.
- Every SP-API call must carry a live token in `x-amz-access-token`: without one, or with one
  unknown (a bearer token is none), 403 `{"errors": [{"code": "Unauthorized", "message": "Access to
  requested resource is denied.", "details": ...}]}`, "The access token you provided has expired."
  for an expired one.
- Each operation is rate limited as documented (`rates`: getOrders 0.0167/s burst 20,
  getOrderItems 0.5/s burst 30, confirmShipment 2/s burst 10; a test sets its own): a call beyond
  is 429 `QuotaExceeded`; every answer says the rate in `x-amzn-RateLimit-Limit`. `throttled`
  counts the 429s per operation.
- `GET /orders/v0/orders?MarketplaceIds=...&LastUpdatedAfter=...` (or `NextToken=...`):
  `{"payload": {"Orders", "NextToken"?, "LastUpdatedBefore"}}`, orders updated after the time,
  `page_size` a page (1 by default, so paging is exercised); `MarketplaceIds` is required.
- `GET /orders/v0/orders/{orderId}/orderItems` (`NextToken` too, `items_page_size` a page):
  `{"payload": {"AmazonOrderId", "OrderItems", "NextToken"?}}`.
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

import base64
import json
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from adapters.simulators.server import Request, Response, SimulatorServer

TOKEN_PATH = "/auth/o2/token"
RATES: dict[str, tuple[float, int]] = {"getOrders": (0.0167, 20), "getOrderItems": (0.5, 30),
                                       "confirmShipment": (2.0, 10)}
DENIED = "Access to requested resource is denied."


class AmazonSimulator(SimulatorServer):
    """Simulated LWA and SP-API; `confirmations` holds each confirmed package (see the module doc)."""

    def __init__(self, entries: list[dict[str, Any]] | None = None, host: str = "127.0.0.1", port: int = 0,
                 client_id: str = "amzn1.application-oa2-client.simulated", client_secret: str = "lwa-client-secret",
                 refresh_token: str = "Atzr|simulated-refresh-token", token_lifetime: float = 3600.0,
                 page_size: int = 1) -> None:
        super().__init__(host, port)
        self.entries: list[dict[str, Any]] = list(entries or [])
        self.confirmations: dict[tuple[str, str], dict[str, Any]] = {}
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.token_lifetime, self.page_size, self.items_page_size = token_lifetime, page_size, 100
        self.rates: dict[str, tuple[float, int]] = dict(RATES)
        self.tokens: dict[str, float] = {}  # access token -> expiry (time.monotonic())
        self.token_calls = 0
        self.throttled: dict[str, int] = {}
        self.refused_tokens = 0
        self._buckets: dict[str, tuple[float, float]] = {}  # operation -> (tokens, at)

    def lwa_settings(self) -> dict[str, str]:
        """The channel seed keys that log in here."""
        return {"lwa_client_id": self.client_id, "lwa_client_secret": self.client_secret,
                "lwa_refresh_token": self.refresh_token, "lwa_token_url": f"{self.url}{TOKEN_PATH}"}

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on."""
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def handle(self, request: Request) -> Response:
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request.body if isinstance(request.body, dict) else {})
        seg = request.segments
        if seg[:3] != ["orders", "v0", "orders"]:
            return _errors(404, "NotFound", "Resource not found", request.path)
        operation = ("getOrders" if request.method == "GET" and len(seg) == 3 else
                     "getOrderItems" if request.method == "GET" and len(seg) == 5 and seg[4] == "orderItems" else
                     "confirmShipment" if request.method == "POST" and len(seg) == 5
                     and seg[4] == "shipmentConfirmation" else None)
        if operation is None:
            return _errors(404, "NotFound", "Resource not found", request.path)
        refused = self._unauthorized(request.headers.get("x-amz-access-token"))
        if refused is not None:
            return refused
        rate = self.rates.get(operation, (1.0, 1))[0]
        if not self._take(operation):
            with self.lock:
                self.throttled[operation] = self.throttled.get(operation, 0) + 1
            return _limited(_errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource."), rate)
        if operation == "getOrders":
            return _limited(self._orders(request.query), rate)
        entry = self._entry(seg[3])
        if entry is None:
            return _limited(_errors(404, "NotFound", f"Order {seg[3]} not found"), rate)
        if operation == "getOrderItems":
            return _limited(self._items(seg[3], entry, request.query), rate)
        return _limited(self._confirm(seg[3], entry, request.body), rate)

    def confirmed(self, order_id: str) -> list[dict[str, Any]]:
        """The packages confirmed for an order, as last sent."""
        with self.lock:
            return [body for (oid, _), body in self.confirmations.items() if oid == order_id]

    # --- Login with Amazon ------------------------------------------------------------------------

    def _token(self, form: dict[str, str]) -> Response:
        with self.lock:
            self.token_calls += 1
        if form.get("grant_type") != "refresh_token":
            return Response(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Response(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        if form.get("refresh_token") != self.refresh_token:
            return Response(400, {"error": "invalid_grant",
                                  "error_description": "The request has an invalid grant parameter : refresh_token"})
        token = "Atza|" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.token_lifetime
        return Response(200, {"access_token": token, "refresh_token": self.refresh_token, "token_type": "bearer",
                              "expires_in": int(self.token_lifetime)})

    def _unauthorized(self, token: str | None) -> Response | None:
        with self.lock:
            expiry = self.tokens.get(token or "")
        if expiry is not None and time.monotonic() < expiry:
            return None
        with self.lock:
            self.refused_tokens += 1
        details = "The access token you provided has expired." if expiry is not None else \
            "The access token you provided is revoked, malformed or invalid." if token else ""
        return _errors(403, "Unauthorized", DENIED, details)

    def _take(self, operation: str) -> bool:
        rate, burst = self.rates.get(operation, (1.0, 1))
        now = time.monotonic()
        with self.lock:
            tokens, at = self._buckets.get(operation, (float(burst), now))
            tokens = min(float(burst), tokens + (now - at) * rate)
            if tokens < 1:
                self._buckets[operation] = (tokens, now)
                return False
            self._buckets[operation] = (tokens - 1, now)
            return True

    # --- Orders API -------------------------------------------------------------------------------

    def _entry(self, order_id: str) -> dict[str, Any] | None:
        with self.lock:
            return next((e for e in self.entries if e["order"]["AmazonOrderId"] == order_id), None)

    def _orders(self, query: dict[str, str]) -> Response:
        if not query.get("MarketplaceIds"):
            return _errors(400, "InvalidInput", "MarketplaceIds is required")
        cursor = _cursor(query.get("NextToken"))
        if query.get("NextToken") and cursor is None:
            return _errors(400, "InvalidInput", "Invalid NextToken")
        since = cursor["since"] if cursor else query.get("LastUpdatedAfter")
        if not since:
            return _errors(400, "InvalidInput", "Either CreatedAfter or LastUpdatedAfter is required")
        offset = cursor["offset"] if cursor else 0
        with self.lock:
            found = sorted((e["order"] for e in self.entries if e["order"]["LastUpdateDate"] > since),
                           key=lambda o: o["LastUpdateDate"])
        page = found[offset:offset + self.page_size]
        payload: dict[str, Any] = {"Orders": page,
                                   "LastUpdatedBefore": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        if offset + self.page_size < len(found):
            payload["NextToken"] = _token_for({"since": since, "offset": offset + self.page_size})
        return Response(200, {"payload": payload})

    def _items(self, order_id: str, entry: dict[str, Any], query: dict[str, str]) -> Response:
        cursor = _cursor(query.get("NextToken"))
        offset = cursor["offset"] if cursor else 0
        items = entry["items"][offset:offset + self.items_page_size]
        payload: dict[str, Any] = {"AmazonOrderId": order_id, "OrderItems": items}
        if offset + self.items_page_size < len(entry["items"]):
            payload["NextToken"] = _token_for({"offset": offset + self.items_page_size})
        return Response(200, {"payload": payload})

    def _confirm(self, order_id: str, entry: dict[str, Any], body: Any) -> Response:
        problems = _confirmation_problems(body, {i["OrderItemId"] for i in entry["items"]})
        if problems:
            return Response(400, {"errors": [{"code": "InvalidInput", "message": p} for p in problems]})
        with self.lock:
            self.confirmations[(order_id, body["packageDetail"]["packageReferenceId"])] = body
        return Response(204, b"")


def _errors(status: int, code: str, message: str, details: str = "") -> Response:
    return Response(status, {"errors": [{"code": code, "message": message, "details": details}]})


def _limited(response: Response, rate: float) -> Response:
    response.headers["x-amzn-RateLimit-Limit"] = f"{rate:g}"
    return response


def _token_for(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()


def _cursor(token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        cursor = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return None
    return cursor if isinstance(cursor, dict) and isinstance(cursor.get("offset"), int) else None


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
