"""Inbound channel formats: native order payloads -> canonical orders, plus their signature checks.

``CHANNEL_FORMATS`` maps a channel format name to its :class:`ChannelFormat`:

- ``verify(headers, raw_body, secret) -> None``, raises BadSignature;
- ``dedupe_key(headers, payload) -> str | None``, the delivery's idempotency key;
- ``to_canonical(payload, merchant_id) -> ChannelOrder``, raises PayloadError.

Each format module also exports its pure outbound builders (Shopify fulfilment, WooCommerce
note and status, Taobao offline consignment). CSV imports are in ``csv_import``: they are
not a webhook and have no signature.
"""

from __future__ import annotations

from adapters.channels import amazon, shopify, taobao, woocommerce
from adapters.channels.channel_order import ChannelFormat, ChannelOrder

CHANNEL_FORMATS: dict[str, ChannelFormat] = {
    module.FORMAT.name: module.FORMAT for module in (shopify, woocommerce, amazon, taobao)
}

__all__ = ["CHANNEL_FORMATS", "ChannelFormat", "ChannelOrder"]
