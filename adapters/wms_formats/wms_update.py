"""The canonical warehouse event every WMS format maps onto, and the parts they share.

Kept apart from ``adapters/wms_formats/__init__.py`` so the format modules can import it
without importing the registry that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from router.statuses import WmsEventType


@dataclass(frozen=True)
class WmsUpdate:
    """One warehouse event about one fulfilment (delivery order).

    ``event_id`` is the idempotency key (Qimen's ``outBizCode``); ``type`` the canonical
    word, None when the WMS's word (kept in ``raw_type``) has none; ``lines`` are
    ``(line_no or None, sku, quantity)`` as the warehouse reports them (quantities actually
    shipped for a shipment); ``final`` is False for a partial confirmation that more
    will follow (Qimen ``confirmType`` 1); ``packages`` are the ``(tracking_number,
    carrier_id or None)`` of every parcel the event reports, in its order (one entry per
    tracking number), empty when the WMS reports none.
    """

    event_id: str
    fulfilment_id: str
    type: WmsEventType | None
    raw_type: str
    occurred_at: datetime
    tracking_number: str | None = None
    carrier_id: str | None = None
    lines: list[tuple[int | None, str, int]] = field(default_factory=list)
    final: bool = True
    packages: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class WmsFormat:
    """One WMS event format: ``parse(payload, received_at=None) -> list[WmsUpdate]`` (raises
    PayloadError) and ``verify(headers, raw_body, secret, query=None)`` (raises BadSignature;
    returns the signed timestamp when the format signs one, e.g. Qimen's ``timestamp``, else
    None), None for formats authenticated by the HTTP layer (bearer token). A format with
    ``verify`` is authenticated by its signature alone."""

    name: str
    parse: Callable[..., list[WmsUpdate]]
    verify: Callable[..., datetime | None] | None = None


def line_no(text: str) -> int | None:
    """Our 1-based line number when the WMS echoes it back as digits, else None."""
    return int(text) if text.isdigit() and len(text) < 10 else None
