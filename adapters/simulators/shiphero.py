"""A simulated ShipHero account: its public GraphQL API and its ``Shipment Update`` webhook.

- ``POST /auth/refresh`` ``{"refresh_token"}``: a new access token ``{"access_token",
  "expires_in", "scope", "token_type": "Bearer"}`` (the refresh token stays), else 401.
- ``POST /graphql`` ``{"query", "variables"}`` with ``Authorization: Bearer <access token>``;
  a missing, unknown or expired token is 401 (``expire_token`` ends the current one). The
  operation is known by its root field and its variables are checked against the input types as
  GraphQL would (an unknown field, a missing required one or a wrong type is an error, HTTP 200
  with ``errors`` and no data, nothing done): ``orders(partner_order_id:)``, ``order_create``
  (``CreateOrderInput``), ``order_cancel`` (``CancelOrderInput``), ``order_update``
  (``UpdateOrderInput``). ShipHero keeps no idempotency key: each ``order_create`` makes an order
  (``created`` counts them), so a client that creates twice is seen; ``drop_creates`` makes the
  next ones land and close unanswered (a lost answer).
- ``ship(partner_order_id, tracking_number=None)``: the warehouse ships the order in one box and
  posts ShipHero's ``Shipment Update`` webhook to ``{callback_url}/v1/wms/{warehouse_id}/events``,
  signed ``x-shiphero-hmac-sha256`` (base64 HMAC-SHA256 of the body with the account's webhook
  secret), without a bearer token; the carrier is the order's ``shipping_lines.carrier``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets as token_source
import time
from dataclasses import dataclass, field
from typing import Any

from adapters.simulators.callbacks import Callback, CallingParty
from adapters.simulators.server import Request, Response
from adapters.wms_formats import shiphero

TOKEN_LIFETIME = 2419200  # 28 days, as ShipHero's access tokens

_STRING, _INT, _BOOL, _STRINGS = "String", "Int", "Boolean", "[String]"
ADDRESS = {name: _STRING for name in ("first_name", "last_name", "company", "address1", "address2", "city", "state",
                                      "state_code", "zip", "country", "country_code", "email", "phone")}
SHIPPING_LINES = {"title": _STRING, "price": _STRING, "carrier": _STRING, "method": _STRING}
LINE_ITEM = {"sku": _STRING, "partner_line_item_id": _STRING, "quantity": _INT, "price": _STRING,
             "product_name": _STRING, "option_title": _STRING, "fulfillment_status": _STRING,
             "quantity_pending_fulfillment": _INT, "custom_barcode": _STRING, "barcode": _STRING,
             "warehouse_id": _STRING, "locked_to_warehouse_id": _STRING, "drop_ship": _BOOL}
LINE_ITEM_REQUIRED = {"sku", "partner_line_item_id", "quantity", "price"}
ORDER_FIELDS = {"order_number": _STRING, "partner_order_id": _STRING, "shop_name": _STRING,
                "fulfillment_status": _STRING, "order_date": _STRING, "total_tax": _STRING, "subtotal": _STRING,
                "total_discounts": _STRING, "total_price": _STRING, "email": _STRING, "profile": _STRING,
                "packing_note": _STRING, "gift_note": _STRING, "required_ship_date": _STRING, "tags": _STRINGS,
                "shipping_lines": SHIPPING_LINES, "shipping_address": ADDRESS, "billing_address": ADDRESS,
                "customer_account_id": _STRING, "priority_flag": _BOOL, "allow_partial": _BOOL,
                "allow_split": _BOOL, "require_signature": _BOOL, "line_items": [LINE_ITEM]}
INPUTS: dict[str, tuple[str, dict[str, Any], set[str]]] = {
    "order_create": ("CreateOrderInput", ORDER_FIELDS, {"order_number"}),
    "order_cancel": ("CancelOrderInput", {"order_id": _STRING, "reason": _STRING, "void_on_platform": _BOOL,
                                          "force": _BOOL, "customer_account_id": _STRING}, {"order_id"}),
    "order_update": ("UpdateOrderInput", {"order_id": _STRING, **{k: v for k, v in ORDER_FIELDS.items()
                                                                  if k != "line_items"}}, {"order_id"}),
}
_ROOT = re.compile(r"\b(orders|order_create|order_cancel|order_update)\s*\(")


@dataclass
class ShipHeroOrder:
    id: str
    legacy_id: int
    data: dict[str, Any]
    fulfillment_status: str = "pending"
    shipments: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def node(self) -> dict[str, Any]:
        return {"id": self.id, "legacy_id": self.legacy_id, "order_number": self.data.get("order_number"),
                "partner_order_id": self.data.get("partner_order_id"), "fulfillment_status": self.fulfillment_status}


class ShipHeroSimulator(CallingParty):
    """One ShipHero account serving our warehouse ``warehouse_id``; see the module docstring."""

    def __init__(self, callback_url: str | None, warehouse_id: str, *, access_token: str, refresh_token: str,
                 webhook_secret: str, step_delay: float = 0.02, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(callback_url, step_delay=step_delay, host=host, port=port)
        self.warehouse_id, self.refresh_token, self.webhook_secret = warehouse_id, refresh_token, webhook_secret
        self.tokens_valid: dict[str, float] = {access_token: time.time() + TOKEN_LIFETIME}
        self.orders: dict[str, ShipHeroOrder] = {}  # ShipHero order id -> order
        self.created = 0
        self.refreshes = 0
        self.drop_creates = 0  # this many order_create calls make the order, then close unanswered
        self._ids = itertools.count(100579698)

    # -- controls ------------------------------------------------------------------------------
    def expire_token(self) -> None:
        """Every access token issued so far has expired (the refresh token still works)."""
        with self.lock:
            self.tokens_valid = {t: 0.0 for t in self.tokens_valid}

    def by_partner_id(self, partner_order_id: str) -> ShipHeroOrder | None:
        with self.lock:
            return next((o for o in self.orders.values() if o.data.get("partner_order_id") == partner_order_id), None)

    def ship(self, partner_order_id: str, tracking_number: str | None = None) -> str:
        """Ship the order in one box and post its ``Shipment Update`` webhook; returns the
        tracking number. Raises KeyError for an order the account does not hold."""
        order = self.by_partner_id(partner_order_id)
        if order is None:
            raise KeyError(partner_order_id)
        if not self.callback_url:
            raise RuntimeError("ShipHeroSimulator has no callback_url")
        carrier = (order.data.get("shipping_lines") or {}).get("carrier") or "ups"
        with self.lock:
            number = tracking_number or f"1Z{self._rng.randrange(10**15, 10**16)}"
            shipment_id = 800_000 + next(self._numbers)
            order.fulfillment_status = "fulfilled"
        lines = [{"sku": i["sku"], "quantity": i["quantity"], "partner_line_item_id": i["partner_line_item_id"]}
                 for i in order.data.get("line_items") or []]
        body = {"test": "0", "webhook_type": shiphero.WEBHOOK_TYPE,
                "fulfillment": {"shipment_id": shipment_id, "warehouse": self.warehouse_id,
                                "order_id": order.legacy_id, "order_uuid": order.id,
                                "order_number": order.data.get("order_number"),
                                "partner_order_id": order.data.get("partner_order_id"),
                                "shipping_carrier": carrier,
                                "shipping_method": (order.data.get("shipping_lines") or {}).get("method"),
                                "tracking_number": number, "line_items": lines, "completed": True},
                "total_packages": 1,
                "packages": [{"name": "Box 1", "line_items": [{"sku": x["sku"], "quantity": x["quantity"]}
                                                              for x in lines]}]}
        order.shipments.append(body)
        raw = json.dumps(body, separators=(",", ":")).encode()
        digest = hmac.new(self.webhook_secret.encode(), raw, hashlib.sha256).digest()
        self.callbacks.submit([Callback(f"{self.callback_url}/v1/wms/{self.warehouse_id}/events", body,
                                        {shiphero.SIGNATURE_HEADER: base64.b64encode(digest).decode()},
                                        content=raw, kind="shipped")])
        return number

    # -- serving -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/auth/refresh":
            return self._refresh(request.body)
        if request.method != "POST" or request.path != "/graphql":
            return Response(404, {"message": "Not Found"})
        auth = request.headers.get("authorization") or ""
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        with self.lock:
            valid_until = self.tokens_valid.get(token or "")
        if valid_until is None:
            return Response(401, {"code": 401, "message": "Invalid token"})
        if valid_until < time.time():
            return Response(401, {"code": 401, "message": "Expired token"})
        body = request.body if isinstance(request.body, dict) else {}
        query, variables = body.get("query"), body.get("variables") or {}
        root = _ROOT.search(query) if isinstance(query, str) else None
        if root is None or not isinstance(variables, dict):
            return _errors("Syntax Error: a query or mutation on orders, order_create, order_cancel or order_update "
                           "is expected")
        name = root.group(1)
        if name == "orders":
            return self._orders(variables)
        data = variables.get("data")
        problem = _check(data, *INPUTS[name][1:], INPUTS[name][0], "$data")
        if problem:
            return _errors(f'Variable "$data" got invalid value: {problem}')
        return {"order_create": self._create, "order_cancel": self._cancel, "order_update": self._update}[name](data)

    def _refresh(self, body: Any) -> Response:
        if not isinstance(body, dict) or body.get("refresh_token") != self.refresh_token:
            return Response(401, {"error": "access_denied", "error_description": "Unauthorized"})
        token = token_source.token_urlsafe(24)
        with self.lock:
            self.tokens_valid[token] = time.time() + TOKEN_LIFETIME
            self.refreshes += 1
        return Response(200, {"access_token": token, "expires_in": TOKEN_LIFETIME,
                              "scope": "openid profile offline_access", "token_type": "Bearer"})

    def _orders(self, variables: dict) -> Response:
        wanted = variables.get("partner_order_id")
        with self.lock:
            nodes = [o.node() for o in self.orders.values()
                     if wanted is None or o.data.get("partner_order_id") == wanted]
        return _data("orders", {"data": {"pageInfo": {"hasNextPage": False, "endCursor": None},
                                         "edges": [{"node": n, "cursor": n["id"]} for n in nodes[:1]]}})

    def _create(self, data: dict) -> Response:
        with self.lock:
            legacy = next(self._ids)
            order = ShipHeroOrder(base64.b64encode(f"Order:{legacy}".encode()).decode(), legacy, data)
            self.orders[order.id] = order
            self.created += 1
            if self.drop_creates > 0:  # the order is made; the caller never hears of it
                self.drop_creates -= 1
                self.drop_after_success_next(1, "/graphql", "POST")
        return _data("order_create", {"order": order.node()})

    def _cancel(self, data: dict) -> Response:
        with self.lock:
            order = self.orders.get(data["order_id"])
            if order is None:
                return _errors("Order not found")
            if order.fulfillment_status == "fulfilled":
                return _errors(f"Order {order.data.get('order_number')} is already fulfilled and cannot be canceled")
            order.fulfillment_status = "canceled"
            return _data("order_cancel", {"order": order.node()})

    def _update(self, data: dict) -> Response:
        with self.lock:
            order = self.orders.get(data["order_id"])
            if order is None:
                return _errors("Order not found")
            order.updates.append(data)
            order.data.update({k: v for k, v in data.items() if k != "order_id"})
            return _data("order_update", {"order": order.node()})


def _data(field_name: str, result: dict) -> Response:
    return Response(200, {"data": {field_name: {"request_id": token_source.token_hex(12), "complexity": 10,
                                                **result}}})


def _errors(message: str) -> Response:
    return Response(200, {"errors": [{"message": message, "locations": [{"line": 1, "column": 1}]}], "data": None})


def _check(value: Any, fields: dict[str, Any], required: set[str], type_name: str, path: str) -> str | None:
    """Why ``value`` is not a valid ``type_name`` input object (None when it is)."""
    if not isinstance(value, dict):
        return f'{path}: expected type "{type_name}" to be an object'
    for name in value:
        if name not in fields:
            return f'{path}: field "{name}" is not defined by type "{type_name}"'
    for name in required:
        if value.get(name) in (None, ""):
            return f'{path}: field "{name}" of required type is missing'
    for name, kind in fields.items():
        if value.get(name) is None:
            continue
        problem = _check_value(value[name], kind, f"{path}.{name}")
        if problem:
            return problem
    return None


def _check_value(value: Any, kind: Any, path: str) -> str | None:
    if kind == _STRING:
        return None if isinstance(value, str) else f"{path}: String cannot represent {value!r}"
    if kind == _INT:
        return None if isinstance(value, int) and not isinstance(value, bool) else f"{path}: Int cannot represent {value!r}"
    if kind == _BOOL:
        return None if isinstance(value, bool) else f"{path}: Boolean cannot represent {value!r}"
    if kind == _STRINGS:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else f"{path}: expected a list of String"
    if isinstance(kind, list):  # a list of input objects (GraphQL also takes one object for a list)
        items = value if isinstance(value, list) else [value]
        required = LINE_ITEM_REQUIRED if kind[0] is LINE_ITEM else set()
        for i, item in enumerate(items):
            problem = _check(item, kind[0], required, "CreateLineItemInput", f"{path}[{i}]")
            if problem:
                return problem
        return None
    return _check(value, kind, set(), "input", path)
