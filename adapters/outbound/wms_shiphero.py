"""The ``shiphero`` WMS format: ShipHero's public GraphQL API (``POST {wms_url}/graphql``).

- A delivery order is a ShipHero order made by ``order_create``, with the fulfilment id as both
  ``order_number`` (what its ``Shipment Update`` webhook names, adapters/wms_formats/shiphero.py)
  and ``partner_order_id``. ShipHero takes no idempotency key, so the order is first looked up by
  ``orders(partner_order_id: ...)``: a retry (an answer lost after the order was made) finds it and
  makes nothing twice. Line items carry our line number as ``partner_line_item_id``, the carrier
  and method go in ``shipping_lines``.
- A cancel after dispatch is ``order_cancel`` of that order (intercepted when ShipHero answers the
  order ``canceled``; an error, e.g. the order already shipped, is "could not stop it").
- An address change is ``order_update`` with the order's new ``shipping_address``.

Authentication as ShipHero documents it: ``Authorization: Bearer <access token>`` (the warehouse's
``wms_token``). An access token expires (28 days); when ShipHero answers 401 and the warehouse has a
``refresh_token``, ``POST {wms_url}/auth/refresh`` with ``{"refresh_token"}`` gives a new
``access_token`` (``expires_in`` seconds), kept in this process until it expires, and the call is
made once more. GraphQL errors come back as HTTP 200 with ``errors``: a throttled operation
(``code`` 30, not enough credits, ``time_remaining``) is retried after that time; any other is a
refusal (not retried).
"""
from __future__ import annotations

import re
import threading
import time
from typing import Any

from adapters.outbound.policy import OutboundError, RateLimited, outbound_retry, send
from adapters.outbound.wms import party

THROTTLED = 30  # ShipHero's error code for an operation over the account's credits

FIND = """query find($partner_order_id: String) {
  orders(partner_order_id: $partner_order_id) {
    request_id
    complexity
    data(first: 1) { edges { node { id order_number partner_order_id fulfillment_status } } }
  }
}"""

CREATE = """mutation create($data: CreateOrderInput!) {
  order_create(data: $data) {
    request_id
    complexity
    order { id order_number partner_order_id fulfillment_status }
  }
}"""

CANCEL = """mutation cancel($data: CancelOrderInput!) {
  order_cancel(data: $data) {
    request_id
    complexity
    order { id order_number partner_order_id fulfillment_status }
  }
}"""

UPDATE = """mutation update($data: UpdateOrderInput!) {
  order_update(data: $data) {
    request_id
    complexity
    order { id order_number partner_order_id fulfillment_status }
  }
}"""


class ShipHeroWms:
    """Delivery orders as ShipHero orders, over GraphQL with a bearer access token."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}  # warehouse id -> (access token, expires at)
        self._lock = threading.Lock()

    @outbound_retry
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        """``payload`` is the generic delivery order (services.dispatch.delivery_order); returns
        ``{"wms_order_id"}``: the ShipHero order id. Raises OutboundError."""
        existing = self._find(warehouse, payload["fulfilment_id"])
        if existing is not None:
            return {"wms_order_id": existing["id"]}
        made = self.graphql(warehouse, CREATE, {"data": order_create_input(payload)})
        order = ((made.get("order_create") or {}).get("order")) or {}
        if not order.get("id"):
            raise OutboundError(party(warehouse), "order_create answered no order", retryable=False)
        return {"wms_order_id": order["id"]}

    @outbound_retry
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool:
        """True when ShipHero cancelled the order (an error, e.g. already shipped: it could not)."""
        existing = self._find(warehouse, fulfilment_id)
        if existing is None:
            return False
        if existing.get("fulfillment_status") == "canceled":
            return True
        try:
            answer = self.graphql(warehouse, CANCEL, {"data": {"order_id": existing["id"], "reason": "order cancelled",
                                                               "void_on_platform": False}})
        except OutboundError as exc:
            if exc.retryable:
                raise
            return False
        return ((answer.get("order_cancel") or {}).get("order") or {}).get("fulfillment_status") == "canceled"

    @outbound_retry
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None:
        existing = self._find(warehouse, fulfilment_id)
        if existing is None:
            raise OutboundError(party(warehouse), f"no ShipHero order {fulfilment_id}", retryable=False)
        self.graphql(warehouse, UPDATE, {"data": {"order_id": existing["id"], "shipping_address": address_input(address)}})

    def _find(self, warehouse: dict, fulfilment_id: str) -> dict | None:
        answer = self.graphql(warehouse, FIND, {"partner_order_id": fulfilment_id})
        edges = (((answer.get("orders") or {}).get("data") or {}).get("edges")) or []
        nodes = [e.get("node") for e in edges if isinstance(e, dict) and isinstance(e.get("node"), dict)]
        return next((n for n in nodes if n.get("partner_order_id") == fulfilment_id), None)

    # -- the wire ------------------------------------------------------------------------------
    def graphql(self, warehouse: dict, query: str, variables: dict) -> dict:
        """One GraphQL operation; returns its ``data``. Raises OutboundError (RateLimited when
        throttled), refreshing the access token once on a 401."""
        url = f"{warehouse['wms_url'].rstrip('/')}/graphql"
        body = {"query": query, "variables": variables}
        try:
            answer = send(party(warehouse), "POST", url, json=body, token=self.access_token(warehouse))
        except OutboundError as exc:
            if exc.status != 401 or not warehouse.get("refresh_token"):
                raise
            answer = send(party(warehouse), "POST", url, json=body, token=self.refresh(warehouse))
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            raise _graphql_error(party(warehouse), errors)
        return (answer.get("data") if isinstance(answer, dict) else None) or {}

    def access_token(self, warehouse: dict) -> str:
        with self._lock:
            token, expires = self._tokens.get(warehouse["_id"], (None, 0.0))
        if token and expires > self.clock():
            return token
        if token and warehouse.get("refresh_token"):
            return self.refresh(warehouse)
        return warehouse.get("wms_token") or ""

    def refresh(self, warehouse: dict) -> str:
        """A new access token from ShipHero's ``/auth/refresh`` (kept until it expires)."""
        answer = send(party(warehouse), "POST", f"{warehouse['wms_url'].rstrip('/')}/auth/refresh",
                      json={"refresh_token": warehouse["refresh_token"]})
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not token:
            raise OutboundError(party(warehouse), "auth/refresh answered no access_token", retryable=False)
        lifetime = float(answer.get("expires_in") or 0)
        with self._lock:
            self._tokens[warehouse["_id"]] = (token, self.clock() + max(0.0, lifetime - 60))
        return token


def _graphql_error(who: str, errors: Any) -> OutboundError:
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    message = str(first.get("message") or errors)[:300]
    if first.get("code") == THROTTLED:
        waited = re.match(r"\s*(\d+(?:\.\d+)?)", str(first.get("time_remaining") or ""))
        return RateLimited(who, f"throttled: {message}", 200, float(waited.group(1)) if waited else None)
    return OutboundError(who, f"GraphQL: {message}", retryable=False)


def order_create_input(payload: dict) -> dict:
    """``CreateOrderInput`` of a generic delivery order."""
    carrier, method = payload.get("carrier_id") or "", payload.get("shipping_method") or "standard"
    data: dict[str, Any] = {
        "order_number": payload["fulfilment_id"],
        "partner_order_id": payload["fulfilment_id"],
        "shop_name": "orderrouter",
        "fulfillment_status": "pending",
        "shipping_lines": {"title": f"{carrier} {method}".strip(), "carrier": carrier, "method": method,
                           "price": "0.00"},
        "shipping_address": address_input(payload["ship_to"]),
        "line_items": [{"sku": line["sku"], "partner_line_item_id": str(line["line_no"]),
                        "quantity": int(line["quantity"]), "price": "0.00", "product_name": line["sku"]}
                       for line in payload["lines"]],
    }
    if payload.get("cash_on_delivery"):
        data["tags"] = [f"cod:{payload['cash_on_delivery']}"]
    return data


def address_input(address: dict) -> dict:
    """``CreateOrderAddressInput`` of one of our addresses (names as the customer wrote them)."""
    name = (address.get("name") or "").strip()
    first, _, last = name.rpartition(" ") if " " in name else (name, "", "")
    street = [line for line in address.get("lines") or [] if line]
    region_code = address.get("region_code") or ""
    return {"first_name": first, "last_name": last, "address1": street[0] if street else "",
            "address2": ", ".join(street[1:]), "city": address.get("city") or "",
            "state": address.get("region") or "", "state_code": region_code.split("-")[-1] if region_code else "",
            "zip": address.get("postcode") or "", "country": address.get("country") or "",
            "country_code": address.get("country") or "", "email": address.get("email") or "",
            "phone": address.get("phone") or ""}
