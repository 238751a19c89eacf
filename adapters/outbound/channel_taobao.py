"""The ``taobao`` channel format: a shipment is ``taobao.logistics.offline.send`` (``tid``,
``out_sid`` the waybill, ``company_code`` the carrier's Taobao code: its seed ``taobao_code``,
else its id), signed as TOP documents (adapters/outbound/top.py). A fulfilment that carries only
some of the trade's sub-orders names them (``is_split`` 1, ``sub_tid`` their ``oid``s, matched by
SKU in the raw trade). TOP takes no idempotency key: when a consignment is refused, the trade is
read back (``taobao.trade.fullinfo.get``) and a consignment already made under this waybill (the
answer to an earlier try was lost) counts as sent.

Unsupported, as TOP has no such seller call for a paid trade: a refund (the buyer asks for it and
the seller agrees on Taobao; the poller then records it, adapters/pollers/taobao.py) and a
cancellation (``taobao.trade.close`` closes only an unpaid trade)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from adapters.channels import taobao
from adapters.outbound import top
from adapters.outbound.channel import ChannelCall, ChannelProvider
from adapters.outbound.policy import OutboundError
from documents import reference


class TaobaoChannel(ChannelProvider):
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {
        "refunded": "Taobao's open platform has no seller-initiated refund: a refund starts with the "
                    "buyer's request, which the seller then agrees to",
        "cancelled": "Taobao's open platform has no seller cancellation of a paid trade (the buyer asks for "
                     "a refund, the seller agrees to it); taobao.trade.close closes only an unpaid trade",
    }
    NEEDS_RAW: ClassVar[frozenset[str]] = frozenset({"shipped"})

    def shipped(self, c: ChannelCall) -> None:
        tracking = c.entry["tracking_number"]
        carrier_id = c.entry.get("carrier_id") or ""
        carrier = reference.cached("carriers", carrier_id) or {}
        oids = _split(c)
        params = taobao.offline_consignment(c.oid, carrier.get("taobao_code") or carrier_id, tracking, oids)
        try:
            top.call(c.channel, taobao.OFFLINE_SEND, params)
        except top.TopCallError as exc:
            if exc.retryable:
                raise
            trade = top.call(c.channel, "taobao.trade.fullinfo.get",
                             {"tid": c.oid, "fields": "tid,status,orders"})
            if taobao.consigned_with(trade, oids or [], tracking):
                return  # an earlier try landed; its answer was lost
            raise OutboundError(c.party, f"{taobao.OFFLINE_SEND} refused: {exc.error}", retryable=False) from exc


def _split(c: ChannelCall) -> list[str] | None:
    """The sub-orders this fulfilment carries, when it does not carry the whole trade."""
    fulfilment = next((f for f in c.order.get("fulfilments", []) if f["id"] == c.entry["fulfilment_id"]), None)
    raw = c.order.get("raw") or {}
    if fulfilment is None or not raw:
        return None
    mine = taobao.sub_orders_of(raw, [line["sku"] for line in fulfilment["lines"]])
    every = taobao.sub_orders_of(raw, [line["sku"] for line in c.order.get("lines", [])])
    return mine if mine and set(mine) != set(every) else None
