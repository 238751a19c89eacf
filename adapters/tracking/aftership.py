"""AfterShip tracking webhooks (``{"event": "tracking_update", "event_id", "msg": <Tracking>}``).

In: the webhook body. Out: one TrackingUpdate, the tracking's current ``tag`` with its
latest checkpoint. Raised: PayloadError; BadSignature from :func:`verify`.
``tag`` words: Pending (no information yet: status None), InfoReceived, InTransit,
OutForDelivery, AttemptFail, Delivered, AvailableForPickup, Exception, Expired; the
``subtag`` (``Exception_011``) and its message give the exception reason.
"""

from __future__ import annotations

from datetime import datetime

from adapters.native import Native, occurred, verify_hmac
from adapters.tracking.tracking_update import TrackingFormat, TrackingUpdate, place
from router.statuses import TrackingStatus as T

SIGNATURE_HEADER = "aftership-hmac-sha256"
TAGS = {
    "Pending": None,
    "InfoReceived": T.LABEL_CREATED,
    "InTransit": T.IN_TRANSIT,
    "OutForDelivery": T.OUT_FOR_DELIVERY,
    "AttemptFail": T.DELIVERY_FAILED,
    "Delivered": T.DELIVERED,
    "AvailableForPickup": T.AVAILABLE_FOR_PICKUP,
    "Exception": T.EXCEPTION,
    "Expired": T.EXPIRED,
}


def verify(headers, raw_body: bytes, secret: str | bytes) -> None:
    """Check ``aftership-hmac-sha256`` = base64(HMAC-SHA256(secret, raw body)); raises BadSignature."""
    verify_hmac(headers, SIGNATURE_HEADER, raw_body, secret)


def parse(payload, received_at: datetime | None = None) -> list[TrackingUpdate]:
    """Map an AfterShip webhook to ``[TrackingUpdate]``; raises PayloadError."""
    root = Native(payload)
    msg = root.req("msg")
    tag = msg.req("tag").text()
    checkpoints = msg.get("checkpoints").items()
    last = checkpoints[-1] if checkpoints else Native({}, "msg.checkpoints")
    last.mapping()
    status = TAGS.get(tag)
    when = occurred(
        [last.get("checkpoint_time"), last.get("created_at"), msg.get("updated_at")],
        received_at,
        msg.get("updated_at"),
    )
    number = msg.req("tracking_number").text()
    reason = ""
    if status in (T.EXCEPTION, T.DELIVERY_FAILED, T.EXPIRED):
        reason = msg.get("subtag_message").text() or msg.get("subtag").text() or last.get("message").text()
    event_id = root.get("event_id").text() or f"{number}:{msg.get('subtag').text() or tag}:{when.isoformat()}"
    location = last.get("location").text() or place(
        last.get("city").text(), last.get("state").text(), last.get("country_name").text()
    )
    return [
        TrackingUpdate(
            event_id=event_id,
            tracking_number=number,
            status=status,
            raw_status=tag,
            occurred_at=when,
            description=last.get("message").text() or msg.get("subtag_message").text(),
            location=location,
            exception_reason=reason,
        )
    ]


FORMAT = TrackingFormat("aftership", parse, verify)
