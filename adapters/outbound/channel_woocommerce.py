"""The ``woocommerce`` channel format: REST API v3 order notes, status updates and refunds."""
from __future__ import annotations

from decimal import Decimal

from adapters.channels import woocommerce
from adapters.outbound.channel import ChannelCall, ChannelProvider, refund_reason


class WooCommerceChannel(ChannelProvider):
    def shipped(self, c: ChannelCall) -> None:
        tracking, carrier = c.entry["tracking_number"], c.entry.get("carrier_id") or ""
        c.send("POST", f"/wp-json/wc/v3/orders/{c.oid}/notes", woocommerce.shipped_note(tracking, carrier))
        if c.entry.get("order_shipped"):
            c.send("PUT", f"/wp-json/wc/v3/orders/{c.oid}", woocommerce.status_update("completed"), ":status")

    def cancelled(self, c: ChannelCall) -> None:
        c.send("PUT", f"/wp-json/wc/v3/orders/{c.oid}", woocommerce.status_update("cancelled"))

    def refunded(self, c: ChannelCall) -> None:
        c.send("POST", f"/wp-json/wc/v3/orders/{c.oid}/refunds",
               woocommerce.refund_request(Decimal(c.entry["amount"]), refund_reason(c)))
