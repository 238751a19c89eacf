"""Telling a channel what happened to its order: shipped (with carrier and tracking number),
cancelled, refunded. Each call carries an idempotency key (outbox entry id), so a retried notice
has one effect at a channel that honours it. Only channels with an ``api_url`` are notified, and
only of what their API can take (:func:`unsupported`).

Refunds: the channel took the customer's payment, so it is asked to pay the case amount back
through it: Shopify ``refunds/calculate.json`` for the parent transaction, then
``refunds.json`` with that transaction capped at the amount; WooCommerce ``orders/{id}/refunds``
with ``api_refund``. Amazon's shipment confirmation is ``confirmShipment`` (one package per
fulfilment, the fulfilment's position in the order as ``packageReferenceId``, so a repeat edits
rather than doubles).
"""
from __future__ import annotations

from decimal import Decimal

from adapters.channels import amazon, shopify, taobao, woocommerce
from adapters.errors import PayloadError
from adapters.outbound.policy import OutboundError, outbound_retry, send
from documents import reference

SHOPIFY_API = "/admin/api/2024-07"
# (format, kind) -> why that channel's API cannot take the notice: recorded on the order, not sent.
UNSUPPORTED = {
    ("amazon", "cancelled"): "the SP-API Orders API has no seller cancellation (Seller Central or an order "
                             "acknowledgement feed cancels)",
    ("amazon", "refunded"): "the SP-API Orders API has no refund call (Seller Central or a payment adjustment "
                            "feed refunds)",
    ("taobao", "refunded"): "Taobao's open platform has no seller-initiated refund: a refund starts with the "
                            "buyer's request, which the seller then agrees to",
}
NEEDS_RAW = {("amazon", "shipped"), ("shopify", "refunded")}  # the channel's own item ids are in the raw order


def unsupported(channel: dict, kind: str) -> str | None:
    """Why ``channel``'s API cannot take a ``kind`` notice, or None when it can."""
    return UNSUPPORTED.get((channel.get("format") or "canonical", kind))


def needs_raw(channel: dict, kind: str) -> bool:
    """Whether notifying ``kind`` needs the order's raw channel payload (its item ids)."""
    return (channel.get("format") or "canonical", kind) in NEEDS_RAW


class ChannelClient:
    """Notices to channels, each in its channel's ``format``."""

    def unsupported(self, channel: dict, kind: str) -> str | None:
        return unsupported(channel, kind)

    def needs_raw(self, channel: dict, kind: str) -> bool:
        return needs_raw(channel, kind)

    @outbound_retry
    def notify(self, channel: dict, entry: dict, order: dict) -> None:
        """Deliver one outbox ``entry`` (kind ``shipped``, ``cancelled`` or ``refunded``) for
        ``order`` (with ``raw`` when :func:`needs_raw`). Raises OutboundError."""
        fmt = channel.get("format") or "canonical"
        party = f"channel:{channel['_id']}"
        if unsupported(channel, entry["kind"]):
            raise OutboundError(party, unsupported(channel, entry["kind"]), retryable=False)
        try:
            {"shipped": _shipped, "cancelled": _cancelled, "refunded": _refunded}[entry["kind"]](
                fmt, _Call(channel, entry, order))
        except PayloadError as exc:
            raise OutboundError(party, f"{entry['kind']} notice: {exc}", retryable=False) from exc


class _Call:
    """What every notice needs: the channel's base URL, our party name, its token, the order."""

    def __init__(self, channel: dict, entry: dict, order: dict):
        self.base, self.party, self.token = channel["api_url"].rstrip("/"), f"channel:{channel['_id']}", channel.get("api_token")
        self.channel, self.entry, self.order, self.oid, self.key = channel, entry, order, order["channel_order_id"], entry["id"]

    def send(self, method: str, path: str, body: dict | None, key_suffix: str = "") -> dict:
        return send(self.party, method, f"{self.base}{path}", json=body, token=self.token,
                    idempotency_key=f"{self.key}{key_suffix}")


def _shipped(fmt: str, c: _Call) -> None:
    tracking, carrier = c.entry["tracking_number"], c.entry.get("carrier_id") or ""
    if fmt == "shopify":
        c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/fulfillments.json", shopify.fulfillment_request(c.oid, tracking, carrier))
    elif fmt == "woocommerce":
        c.send("POST", f"/wp-json/wc/v3/orders/{c.oid}/notes", woocommerce.shipped_note(tracking, carrier))
        if c.entry.get("order_shipped"):
            c.send("PUT", f"/wp-json/wc/v3/orders/{c.oid}", woocommerce.status_update("completed"), ":status")
    elif fmt == "taobao":
        c.send("POST", "/router/rest", taobao.offline_consignment(c.oid, carrier, tracking))
    elif fmt == "amazon":
        c.send("POST", f"/orders/v0/orders/{c.oid}/shipmentConfirmation", _amazon_confirmation(c, tracking, carrier))
    else:
        c.send("POST", f"/orders/{c.oid}/fulfilments",
               {"fulfilment_id": c.entry["fulfilment_id"], "carrier": carrier, "tracking_number": tracking})


def _amazon_confirmation(c: _Call, tracking: str, carrier_id: str) -> dict:
    fulfilments = c.order["fulfilments"]
    position, f = next((i, f) for i, f in enumerate(fulfilments, 1) if f["id"] == c.entry["fulfilment_id"])
    carrier = reference.cached("carriers", carrier_id) or {}
    return amazon.shipment_confirmation(
        c.order.get("raw") or {}, [(l["sku"], l["quantity"]) for l in f["lines"]],
        package_reference_id=position, tracking_number=tracking, carrier_code=carrier.get("amazon_code"),
        carrier_name=carrier.get("name") or carrier_id, ship_date=f.get("shipped_at") or c.order["updated_at"],
        shipping_method=c.order.get("shipping_method") or "", marketplace_id=c.channel.get("marketplace_id"))


def _cancelled(fmt: str, c: _Call) -> None:
    if fmt == "shopify":
        c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/cancel.json", {})
    elif fmt == "woocommerce":
        c.send("PUT", f"/wp-json/wc/v3/orders/{c.oid}", woocommerce.status_update("cancelled"))
    else:
        c.send("POST", f"/orders/{c.oid}/cancel", {})


def _refunded(fmt: str, c: _Call) -> None:
    amount, reason = Decimal(c.entry["amount"]), c.entry.get("note") or f"after-sales case {c.entry['case_id']}"
    if fmt == "shopify":
        # Shopify's refunds take no idempotency key: the note carries ours, and a refund already
        # made under it (an answer lost after the refund landed) is not made again.
        marker = f"[router {c.key}]"
        made = c.send("GET", f"{SHOPIFY_API}/orders/{c.oid}/refunds.json", None)
        if any(marker in (r.get("note") or "") for r in made.get("refunds") or [] if isinstance(r, dict)):
            return
        lines = _shopify_refund_lines(c)
        calculated = c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/refunds/calculate.json",
                            shopify.refund_calculation(c.order["currency"], lines), ":calculate")
        c.send("POST", f"{SHOPIFY_API}/orders/{c.oid}/refunds.json",
               shopify.refund_request(calculated, amount, c.order["currency"], lines, f"{reason} {marker}"))
    elif fmt == "woocommerce":
        c.send("POST", f"/wp-json/wc/v3/orders/{c.oid}/refunds", woocommerce.refund_request(amount, reason))
    else:
        c.send("POST", f"/orders/{c.oid}/refunds", {"case_id": c.entry["case_id"], "amount": c.entry["amount"],
                                                    "currency": c.order["currency"], "reason": reason,
                                                    "lines": c.entry.get("lines", [])})


def _shopify_refund_lines(c: _Call) -> list[tuple[str, int]]:
    """The case's ``(line_no, quantity)`` as Shopify ``(line_item_id, quantity)``, by SKU."""
    skus = {l["line_no"]: l["sku"] for l in c.order["lines"]}
    items = [i for i in (c.order.get("raw") or {}).get("line_items") or [] if isinstance(i, dict)]
    out = []
    for line_no, quantity in c.entry.get("lines") or []:
        item = next((i for i in items if i.get("sku") == skus.get(line_no) and i.get("id") is not None), None)
        if item is not None:
            out.append((str(item["id"]), quantity))
    return out
