"""The ``canonical`` channel format: the router's own notices, JSON to ``{api_url}/orders/{id}/...``."""
from __future__ import annotations

from adapters.outbound.channel import ChannelCall, ChannelProvider, refund_reason


class CanonicalChannel(ChannelProvider):
    def shipped(self, c: ChannelCall) -> None:
        c.send("POST", f"/orders/{c.oid}/fulfilments",
               {"fulfilment_id": c.entry["fulfilment_id"], "carrier": c.entry.get("carrier_id") or "",
                "tracking_number": c.entry["tracking_number"]})

    def cancelled(self, c: ChannelCall) -> None:
        c.send("POST", f"/orders/{c.oid}/cancel", {})

    def refunded(self, c: ChannelCall) -> None:
        c.send("POST", f"/orders/{c.oid}/refunds", {"case_id": c.entry["case_id"], "amount": c.entry["amount"],
                                                    "currency": c.order["currency"], "reason": refund_reason(c),
                                                    "lines": c.entry.get("lines", [])})
