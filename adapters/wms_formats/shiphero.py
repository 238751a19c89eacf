"""ShipHero ``Shipment Update`` webhooks: a fulfilment left the warehouse.

In: ``{"webhook_type": "Shipment Update", "fulfillment": {"order_number",
"partner_order_id"?, "shipment_id", "shipping_carrier", "shipping_method",
"tracking_number", "line_items": [{"sku", "quantity", "partner_line_item_id"?}]},
"packages": [...]}``. Out: ``[WmsUpdate]`` of type shipped (``[]`` for other webhook
types, and for ``"test": "1"`` pings). Raised: PayloadError; BadSignature from :func:`verify`.

``order_number`` is our fulfilment id (we create ShipHero orders under it); the event id
is ``"shipment:<shipment_id>"``. A partial shipment (``"completed": false``: some line items left,
more shipments follow) is ``final=False``; every package's ``tracking_number``, when it has one,
is kept in ``packages``. The webhook carries no event time: ``created_at`` when
present with a zone, else ``received_at``.
"""

from __future__ import annotations

from datetime import datetime

from adapters.native import Native, occurred, verify_hmac
from adapters.wms_formats.wms_update import WmsFormat, WmsUpdate, line_no
from router.statuses import WmsEventType

SIGNATURE_HEADER = "x-shiphero-hmac-sha256"
WEBHOOK_TYPE = "Shipment Update"


def verify(headers, raw_body: bytes, secret: str | bytes, query=None) -> None:
    """Check ``x-shiphero-hmac-sha256`` = base64(HMAC-SHA256(secret, raw body)), ShipHero's webhook
    signature (the secret is the account's API secret); raises BadSignature. Nothing else is
    signed, so there is no timestamp to check (``query`` is ignored)."""
    verify_hmac(headers, SIGNATURE_HEADER, raw_body, secret)


def parse(payload, received_at: datetime | None = None) -> list[WmsUpdate]:
    """Map a Shipment Update webhook; raises PayloadError naming the field."""
    root = Native(payload)
    if root.req("webhook_type").text() != WEBHOOK_TYPE or root.get("test").text() == "1":
        return []
    shipment = root.req("fulfillment")
    fulfilment_id = shipment.first("order_number", "partner_order_id")
    if not fulfilment_id.present:
        raise shipment.get("order_number").fail("is required")
    tracking = shipment.get("tracking_number").text() or None
    shipment_id = shipment.get("shipment_id").text()
    lines = []
    for item in shipment.get("line_items").items():
        quantity = item.req("quantity").integer()
        if quantity < 0:
            raise item.get("quantity").fail("must not be negative")
        lines.append((line_no(item.get("partner_line_item_id").text()), item.req("sku").text(), quantity))
    carrier = shipment.get("shipping_carrier").text() or None
    boxes: list[tuple[str, str | None]] = [(tracking, carrier)] if tracking else []
    for package in root.get("packages").items():
        package.mapping()
        number = package.get("tracking_number").text()
        if number and all(number != n for n, _ in boxes):
            boxes.append((number, package.get("shipping_carrier").text() or carrier))
    completed = shipment.get("completed")
    return [
        WmsUpdate(
            event_id=f"shipment:{shipment_id}" if shipment_id else f"{fulfilment_id.text()}:{tracking}",
            fulfilment_id=fulfilment_id.text(),
            type=WmsEventType.SHIPPED,
            raw_type=WEBHOOK_TYPE,
            occurred_at=occurred([shipment.get("created_at")], received_at, shipment.get("created_at")),
            tracking_number=tracking,
            carrier_id=carrier,
            lines=lines,
            final=not completed.present or completed.flag(),
            packages=boxes if len(boxes) > 1 else [],
        )
    ]


FORMAT = WmsFormat("shiphero", parse, verify)
