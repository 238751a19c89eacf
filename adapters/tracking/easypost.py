"""EasyPost tracker webhooks (an Event whose ``result`` is a Tracker).

In: the Event body (``{"id": "evt_...", "description": "tracker.updated", "result":
{"object": "Tracker", "tracking_code", "status", "status_detail", "tracking_details"}}``).
Out: one TrackingUpdate for the tracker's current status (none for events that are not
about a tracker). Raised: PayloadError; BadSignature from :func:`verify`.

``status`` words: pre_transit, in_transit, out_for_delivery, delivered,
available_for_pickup, return_to_sender and cancelled (exceptions), failure (a failed
delivery), error and unknown (no canonical meaning: status None).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime

from adapters.errors import BadSignature
from adapters.native import Native, header, occurred
from adapters.tracking.tracking_update import TrackingFormat, TrackingUpdate, place
from router.statuses import TrackingStatus as T

SIGNATURE_HEADER = "X-Hmac-Signature"
STATUSES = {
    "pre_transit": T.LABEL_CREATED,
    "in_transit": T.IN_TRANSIT,
    "out_for_delivery": T.OUT_FOR_DELIVERY,
    "delivered": T.DELIVERED,
    "available_for_pickup": T.AVAILABLE_FOR_PICKUP,
    "return_to_sender": T.EXCEPTION,
    "failure": T.DELIVERY_FAILED,
    "cancelled": T.EXCEPTION,
    "error": None,
    "unknown": None,
}


def verify(headers, raw_body: bytes, secret: str | bytes, query=None) -> None:
    """Check ``X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(NFKD(secret), body)>``, as
    EasyPost's client libraries' ``validate_webhook`` does; raises BadSignature. Only the body
    is signed (``query`` is ignored)."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    if not secret:
        raise BadSignature("no signing secret configured")
    key = unicodedata.normalize("NFKD", secret).encode() if isinstance(secret, str) else bytes(secret)
    body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
    expected = "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace")):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match the body")


def parse(payload, received_at: datetime | None = None) -> list[TrackingUpdate]:
    """Map an EasyPost Event to ``[TrackingUpdate]`` (``[]`` when not a tracker's); raises PayloadError."""
    event = Native(payload)
    tracker = event.req("result")
    if tracker.get("object").text() not in ("Tracker", ""):
        return []
    word = tracker.req("status").text()
    detail = tracker.get("status_detail").text()
    details = tracker.get("tracking_details").items()
    last = details[-1] if details else Native({}, "result.tracking_details")
    last.mapping()
    where = last.get("tracking_location")
    location = (
        place(*(where.get(k).text() for k in ("city", "state", "zip", "country"))) if where.present else ""
    )
    status = STATUSES.get(word)
    when = occurred(
        [last.get("datetime"), tracker.get("updated_at"), event.get("created_at")],
        received_at,
        tracker.get("updated_at"),
    )
    number = tracker.req("tracking_code").text()
    return [
        TrackingUpdate(
            event_id=event.get("id").text() or f"{number}:{word}:{when.isoformat()}",
            tracking_number=number,
            status=status,
            raw_status=word,
            occurred_at=when,
            description=last.get("message").text() or last.get("description").text(),
            location=location,
            exception_reason=(detail or word) if status in (T.EXCEPTION, T.DELIVERY_FAILED) else "",
        )
    ]


FORMAT = TrackingFormat("easypost", parse, verify)
