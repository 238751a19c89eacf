"""The router's own carrier event format (what adapters/simulators/carrier.py posts).

In: ``{"event_id", "tracking_number", "status", "occurred_at"?, "description"?,
"location"?, "exception_reason"?}`` with ``status`` a canonical TrackingStatus word, or a
list of such objects. Out: a list of TrackingUpdate. Raised: PayloadError. A word that is
not canonical gives ``status=None`` with the word kept in ``raw_status``. Without
``occurred_at`` the event takes ``received_at``. Authentication: the HTTP layer's bearer token.
"""

from __future__ import annotations

from datetime import datetime

from adapters.native import Native, occurred
from adapters.tracking.tracking_update import TrackingFormat, TrackingUpdate
from router.statuses import TrackingStatus

_WORDS = {s.value: s for s in TrackingStatus}


def parse(payload, received_at: datetime | None = None) -> list[TrackingUpdate]:
    """Map one event (or a list of events); raises PayloadError naming the field."""
    root = Native(payload)
    events = root.items() if isinstance(payload, list) else [root]
    return [_event(e, received_at) for e in events]


def _event(event: Native, received_at: datetime | None) -> TrackingUpdate:
    event.mapping()
    word = event.req("status").text()
    number = event.req("tracking_number").text()
    when = occurred([event.get("occurred_at")], received_at, event.get("occurred_at"))
    return TrackingUpdate(
        # without the carrier's own id, the same scan is the same number, status and time
        event_id=event.get("event_id").text() or f"{number}:{word}:{when.isoformat()}",
        tracking_number=number,
        status=_WORDS.get(word.lower()),
        raw_status=word,
        occurred_at=when,
        description=event.get("description").text(),
        location=event.get("location").text(),
        exception_reason=event.get("exception_reason").text(),
    )


FORMAT = TrackingFormat("generic", parse)
