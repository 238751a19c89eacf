"""The router's own WMS event format (what adapters/simulators/wms.py posts).

In: ``{"event_id", "fulfilment_id", "type", "carrier_id"?, "tracking_number"?,
"occurred_at"?, "lines"?: [{"line_no"?, "sku", "quantity"}]}`` with ``type`` a
WmsEventType word, or a list of such objects. Out: a list of WmsUpdate. Raised:
PayloadError. An unknown ``type`` gives ``type=None`` with ``raw_type`` kept; without
``occurred_at`` the event takes ``received_at``. Authentication: bearer token (HTTP layer).
"""

from __future__ import annotations

from datetime import datetime

from adapters.native import Native, occurred
from adapters.wms_formats.wms_update import WmsFormat, WmsUpdate
from router.statuses import WmsEventType

_WORDS = {t.value: t for t in WmsEventType}


def parse(payload, received_at: datetime | None = None) -> list[WmsUpdate]:
    """Map one event (or a list of events); raises PayloadError naming the field."""
    root = Native(payload)
    return [_event(e, received_at) for e in (root.items() if isinstance(payload, list) else [root])]


def _event(event: Native, received_at: datetime | None) -> WmsUpdate:
    event.mapping()
    word = event.req("type").text()
    lines = []
    for line in event.get("lines").items():
        quantity = line.req("quantity").integer()
        if quantity < 0:
            raise line.get("quantity").fail("must not be negative")
        lines.append((line.get("line_no").integer(), line.req("sku").text(), quantity))
    return WmsUpdate(
        event_id=event.req("event_id").text(),
        fulfilment_id=event.req("fulfilment_id").text(),
        type=_WORDS.get(word.lower()),
        raw_type=word,
        occurred_at=occurred([event.get("occurred_at")], received_at, event.get("occurred_at")),
        tracking_number=event.get("tracking_number").text() or None,
        carrier_id=event.get("carrier_id").text() or None,
        lines=lines,
    )


FORMAT = WmsFormat("generic", parse)
