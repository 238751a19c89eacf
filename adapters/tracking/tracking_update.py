"""The canonical tracking update every carrier format maps onto, and the parts they share.

Kept apart from ``adapters/tracking/__init__.py`` so the format modules can import it
without importing the registry that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from datetime import datetime

from router.statuses import TrackingStatus


@dataclass(frozen=True)
class TrackingUpdate:
    """One tracking event of one parcel.

    ``event_id`` is the idempotency key (the carrier's, or built from number, status and
    time when it has none); ``status`` the canonical word, None when the carrier's word
    (kept in ``raw_status``) has no canonical meaning or is unknown; ``occurred_at`` an
    aware datetime; ``exception_reason`` the carrier's reason for an exception or a
    failed delivery, else "".
    """

    event_id: str
    tracking_number: str
    status: TrackingStatus | None
    raw_status: str
    occurred_at: datetime
    description: str = ""
    location: str = ""
    exception_reason: str = ""


def place(*parts: str) -> str:
    """Location parts joined with ", ", empty ones and repeats left out."""
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return ", ".join(seen)


@dataclass(frozen=True)
class TrackingFormat:
    """One carrier event format: ``parse(payload, received_at=None) -> list[TrackingUpdate]``
    (raises PayloadError) and ``verify(headers, raw_body, secret, query=None)`` (raises
    BadSignature; returns the signed timestamp when the format signs one, else None), None for
    formats authenticated by the HTTP layer (bearer token). A format with ``verify`` is
    authenticated by its signature alone."""

    name: str
    parse: Callable[..., list[TrackingUpdate]]
    verify: Callable[..., datetime | None] | None = None
