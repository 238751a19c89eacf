"""The ``taobao`` channel format: ``taobao.logistics.offline.send`` for a shipment. A refund is
unsupported (TOP has no seller-initiated refund: the buyer starts it). A cancellation goes out in
the canonical form, as it always has: no TOP seller-cancel call is built."""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from adapters.channels import taobao
from adapters.outbound.channel import ChannelCall
from adapters.outbound.channel_canonical import CanonicalChannel


class TaobaoChannel(CanonicalChannel):
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {
        "refunded": "Taobao's open platform has no seller-initiated refund: a refund starts with the "
                    "buyer's request, which the seller then agrees to",
    }

    def shipped(self, c: ChannelCall) -> None:
        tracking, carrier = c.entry["tracking_number"], c.entry.get("carrier_id") or ""
        c.send("POST", "/router/rest", taobao.offline_consignment(c.oid, carrier, tracking))
