"""The ``shopify`` channel format: Admin REST API fulfilments through fulfillment orders, cancel,
and refunds (``refunds/calculate.json`` for the parent transaction, then ``refunds.json`` capped at
the case amount; the refund's line items are the raw order's ``line_items`` ids, by SKU).

Authentication: the channel's ``api_token`` is the app's Admin API access token, sent as
``X-Shopify-Access-Token`` (Shopify takes no bearer token).

A shipment: ``GET /orders/{id}/fulfillment_orders.json``, then ``POST /fulfillments.json`` with
``line_items_by_fulfillment_order`` (each fulfillment order line item of the fulfilment's lines, by
the raw order's ``line_items`` ids per SKU, up to its ``fulfillable_quantity``), ``tracking_info``
(number, company: the carrier's name) and ``notify_customer``. Shopify takes no idempotency key
there, so ``GET /orders/{id}/fulfillments.json`` first: a fulfillment already holding the tracking
number (an answer lost after it landed) is not made again.

Rate limits (Shopify's leaky bucket, REST Admin API): every answer carries
``X-Shopify-Shop-Api-Call-Limit: <used>/<size>``; once the bucket is 80 % full the next call to that
shop waits until it has leaked below that (2 calls a second, the standard plan's rate, so never
faster than any plan). A 429 carries ``Retry-After`` (seconds), which the shared retry policy waits
before the next attempt.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from adapters.channels import shopify
from adapters.errors import PayloadError
from adapters.outbound.channel import ChannelCall, ChannelProvider, refund_reason
from adapters.outbound.policy import send
from documents import reference

SHOPIFY_API = "/admin/api/2024-07"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
LEAK_PER_SECOND = 2.0  # the REST bucket of a standard plan leaks 2 calls a second (Plus: 20)
FULL = 0.8  # back off once the bucket is this full


class CallLimit:
    """When each shop may next be called, from the call-limit header of its last answer."""

    def __init__(self, clock=time.monotonic, sleep=time.sleep):
        self.clock, self.sleep = clock, sleep
        self._next: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    @staticmethod
    def wait_for(header: str | None) -> float:
        """Seconds to wait before the next call after an answer with ``header`` (``"32/40"``):
        0 below 80 % full, else until the bucket has leaked back below it."""
        try:
            used, size = (int(x) for x in (header or "").split("/"))
        except ValueError:
            return 0.0
        if size <= 0 or used < FULL * size:
            return 0.0
        return (used - FULL * size + 1) / LEAK_PER_SECOND

    def before(self, shop: str) -> None:
        with self._lock:
            due = self._next[shop] - self.clock()
        if due > 0:
            self.sleep(due)

    def after(self, shop: str, response: httpx.Response) -> None:
        wait = self.wait_for(response.headers.get(CALL_LIMIT_HEADER))
        if wait:
            with self._lock:
                self._next[shop] = max(self._next[shop], self.clock() + wait)


call_limit = CallLimit()


class ShopifyCall(ChannelCall):
    """A call to the Admin REST API with the access token, paced by the shop's call limit."""

    def send(self, method: str, path: str, body: dict | None, key_suffix: str = "") -> Any:
        call_limit.before(self.base)
        return send(self.party, method, f"{self.base}{path}", json=body,
                    headers={"X-Shopify-Access-Token": self.token or ""},
                    idempotency_key=f"{self.key}{key_suffix}",
                    on_response=lambda response: call_limit.after(self.base, response))


class ShopifyChannel(ChannelProvider):
    NEEDS_RAW: ClassVar[frozenset[str]] = frozenset({"shipped", "refunded"})
    CALL: ClassVar[type[ChannelCall]] = ShopifyCall

    def shipped(self, c: ChannelCall) -> None:
        tracking = c.entry["tracking_number"]
        made = c.send("GET", f"{SHOPIFY_API}/orders/{c.oid}/fulfillments.json", None)
        if any(tracking == f.get("tracking_number") or tracking in (f.get("tracking_numbers") or [])
               for f in made.get("fulfillments") or [] if isinstance(f, dict)):
            return  # made already (the answer to our POST was lost)
        open_orders = c.send("GET", f"{SHOPIFY_API}/orders/{c.oid}/fulfillment_orders.json", None)
        groups = fulfillment_lines(_wanted(c), _line_item_ids(c), open_orders.get("fulfillment_orders") or [])
        if not groups:
            raise PayloadError("fulfillment_orders", "no open fulfillment order line is left for this shipment")
        carrier_id = c.entry.get("carrier_id") or ""
        carrier = reference.cached("carriers", carrier_id) or {} if carrier_id else {}
        c.send("POST", f"{SHOPIFY_API}/fulfillments.json",
               shopify.fulfillment_for_orders(groups, tracking, carrier.get("name") or carrier_id))

    def cancelled(self, c: ChannelCall) -> None:
        c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/cancel.json", {})

    def refunded(self, c: ChannelCall) -> None:
        amount, reason = Decimal(c.entry["amount"]), refund_reason(c)
        # Shopify's refunds take no idempotency key: the note carries ours, and a refund already
        # made under it (an answer lost after the refund landed) is not made again.
        marker = f"[router {c.key}]"
        made = c.send("GET", f"{SHOPIFY_API}/orders/{c.oid}/refunds.json", None)
        if any(marker in (r.get("note") or "") for r in made.get("refunds") or [] if isinstance(r, dict)):
            return
        lines = _refund_lines(c)
        calculated = c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/refunds/calculate.json",
                            shopify.refund_calculation(c.order["currency"], lines), ":calculate")
        c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/refunds.json",
               shopify.refund_request(calculated, amount, c.order["currency"], lines, f"{reason} {marker}"))


def fulfillment_lines(wanted: list[tuple[str, int]], item_ids: dict[str, list[str]],
                      fulfillment_orders: list) -> list[tuple[Any, list[tuple[Any, int]]]]:
    """``(fulfillment_order_id, [(fulfillment_order_line_item_id, quantity)])`` covering ``wanted``
    (``(sku, quantity)``), from the open fulfillment orders' line items whose ``line_item_id`` is
    one of the SKU's order line items (``item_ids``), each up to its ``fulfillable_quantity``."""
    left = defaultdict(int)
    for sku, quantity in wanted:
        left[sku] += quantity
    sku_of = {str(item_id): sku for sku, ids in item_ids.items() for item_id in ids}
    groups = []
    for fo in fulfillment_orders:
        if not isinstance(fo, dict) or fo.get("status") not in ("open", "in_progress"):
            continue
        taken = []
        for item in fo.get("line_items") or []:
            sku = sku_of.get(str(item.get("line_item_id")))
            quantity = min(left.get(sku, 0) if sku else 0, int(item.get("fulfillable_quantity") or 0))
            if quantity > 0:
                taken.append((item["id"], quantity))
                left[sku] -= quantity
        if taken:
            groups.append((fo["id"], taken))
    return groups


def _wanted(c: ChannelCall) -> list[tuple[str, int]]:
    f = next((f for f in c.order.get("fulfilments") or [] if f["id"] == c.entry.get("fulfilment_id")), None)
    if f is None:
        raise PayloadError("fulfilment_id", f"no fulfilment {c.entry.get('fulfilment_id')} in the order")
    return [(line["sku"], int(line["quantity"])) for line in f["lines"]]


def _line_item_ids(c: ChannelCall) -> dict[str, list[str]]:
    """The raw order's ``line_items`` ids by SKU."""
    out: dict[str, list[str]] = defaultdict(list)
    for item in (c.order.get("raw") or {}).get("line_items") or []:
        if isinstance(item, dict) and item.get("id") is not None and item.get("sku"):
            out[str(item["sku"])].append(str(item["id"]))
    return out


def _refund_lines(c: ChannelCall) -> list[tuple[int | str, int]]:
    """The case's ``(line_no, quantity)`` as Shopify ``(line_item_id, quantity)``, by SKU."""
    skus = {l["line_no"]: l["sku"] for l in c.order["lines"]}
    items = [i for i in (c.order.get("raw") or {}).get("line_items") or [] if isinstance(i, dict)]
    out: list[tuple[int | str, int]] = []
    for line_no, quantity in c.entry.get("lines") or []:
        item = next((i for i in items if i.get("sku") == skus.get(line_no) and i.get("id") is not None), None)
        if item is not None:
            out.append((str(item["id"]), quantity))
    return out
