"""The ``shopify`` channel format: Admin REST API fulfilments, cancel, and refunds
(``refunds/calculate.json`` for the parent transaction, then ``refunds.json`` capped at the case
amount; the refund's line items are the raw order's ``line_items`` ids, by SKU)."""
from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from adapters.channels import shopify
from adapters.outbound.channel import ChannelCall, ChannelProvider, refund_reason

SHOPIFY_API = "/admin/api/2024-07"


class ShopifyChannel(ChannelProvider):
    NEEDS_RAW: ClassVar[frozenset[str]] = frozenset({"refunded"})

    def shipped(self, c: ChannelCall) -> None:
        tracking, carrier = c.entry["tracking_number"], c.entry.get("carrier_id") or ""
        c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/fulfillments.json", shopify.fulfillment_request(c.oid, tracking, carrier))

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
