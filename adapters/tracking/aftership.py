"""AfterShip tracking webhooks (``{"event": "tracking_update", "event_id", "msg": <Tracking>}``).

In: the webhook body. Out: one TrackingUpdate, the tracking's current ``tag`` with its
latest checkpoint. Its time is that checkpoint's (``checkpoint_time``, else ``created_at``);
without a checkpoint, the webhook's ``ts`` (Unix seconds of the event), then the tracking's
``updated_at``, and only then when it was received. Raised: PayloadError; BadSignature from :func:`verify`.
``tag`` words: Pending (no information yet: status None), InfoReceived, InTransit,
OutForDelivery, AttemptFail, Delivered, AvailableForPickup, Exception, Expired; the
``subtag`` (``Exception_011``) and its message give the exception reason.
"""

from __future__ import annotations

from datetime import datetime, timezone

from adapters.native import Native, occurred, verify_hmac
from adapters.tracking.tracking_update import TrackingFormat, TrackingUpdate, place
from router.statuses import TrackingStatus as T

SIGNATURE_HEADER = "aftership-hmac-sha256"
_NONE = datetime.min.replace(tzinfo=timezone.utc)  # "no checkpoint time" (never a real event's)
_YEAR_10000 = 253_402_300_800
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


def verify(headers, raw_body: bytes, secret: str | bytes, query=None) -> None:
    """Check ``aftership-hmac-sha256`` = base64(HMAC-SHA256(webhook secret, raw body)) as AfterShip
    documents it; raises BadSignature. Only the body is signed (``query`` is ignored); its ``ts`` is
    the event's time, the same on AfterShip's retries, so it is not a freshness check."""
    verify_hmac(headers, SIGNATURE_HEADER, raw_body, secret)


def _sent_at(node: Native) -> datetime | None:
    """The webhook's ``ts`` (UTC Unix seconds of the event) as an aware time; None when absent."""
    seconds = node.integer()
    if seconds is None:
        return None
    if not 0 < seconds < _YEAR_10000:
        raise node.fail("must be Unix seconds")
    return datetime.fromtimestamp(seconds, timezone.utc)


def parse(payload, received_at: datetime | None = None) -> list[TrackingUpdate]:
    """Map an AfterShip webhook to ``[TrackingUpdate]``; raises PayloadError."""
    root = Native(payload)
    msg = root.req("msg")
    tag = msg.req("tag").text()
    checkpoints = msg.get("checkpoints").items()
    last = checkpoints[-1] if checkpoints else Native({}, "msg.checkpoints")
    last.mapping()
    status = TAGS.get(tag)
    when = occurred([last.get("checkpoint_time"), last.get("created_at")], _NONE, last)
    if when is _NONE:  # no checkpoint (Pending, Expired...): the webhook's own ``ts``, not its arrival
        when = _sent_at(root.get("ts")) or occurred([msg.get("updated_at")], received_at, msg.get("updated_at"))
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
