"""The ``amazon`` channel format: SP-API ``confirmShipment``
(``POST /orders/v0/orders/{id}/shipmentConfirmation``): one package per fulfilment, the
fulfilment's position in the order as ``packageReferenceId`` (a repeat edits rather than
doubles), items by ``SellerSKU`` from the raw order, ``carrierCode`` from the carrier's
``amazon_code`` (else ``Other`` with its name), authorised and paced as every SP-API call
(adapters/outbound/sp_api.py: a Login with Amazon access token in ``x-amz-access-token``, the
operation's rate, backoff on 429). Cancel and refund are unsupported: the Orders API has neither."""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from adapters.channels import amazon
from adapters.outbound import sp_api
from adapters.outbound.channel import ChannelCall, ChannelProvider
from documents import reference


class AmazonChannel(ChannelProvider):
    UNSUPPORTED: ClassVar[Mapping[str, str]] = {
        "cancelled": "the SP-API Orders API has no seller cancellation (Seller Central or an order "
                     "acknowledgement feed cancels)",
        "refunded": "the SP-API Orders API has no refund call (Seller Central or a payment adjustment "
                    "feed refunds)",
    }
    NEEDS_RAW: ClassVar[frozenset[str]] = frozenset({"shipped"})

    def shipped(self, c: ChannelCall) -> None:
        tracking, carrier = c.entry["tracking_number"], c.entry.get("carrier_id") or ""
        sp_api.call(c.channel, "confirmShipment", "POST", f"/orders/v0/orders/{c.oid}/shipmentConfirmation",
                    json=_confirmation(c, tracking, carrier))


def _confirmation(c: ChannelCall, tracking: str, carrier_id: str) -> dict:
    fulfilments = c.order["fulfilments"]
    position, f = next((i, f) for i, f in enumerate(fulfilments, 1) if f["id"] == c.entry["fulfilment_id"])
    carrier = reference.cached("carriers", carrier_id) or {}
    return amazon.shipment_confirmation(
        c.order.get("raw") or {}, [(l["sku"], l["quantity"]) for l in f["lines"]],
        package_reference_id=position, tracking_number=tracking, carrier_code=carrier.get("amazon_code"),
        carrier_name=carrier.get("name") or carrier_id, ship_date=f.get("shipped_at") or c.order["updated_at"],
        shipping_method=c.order.get("shipping_method") or "", marketplace_id=c.channel.get("marketplace_id"))
