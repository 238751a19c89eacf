"""17TRACK webhooks, API v2 (``{"event": "TRACKING_UPDATED", "data": {"number", "track_info"}}``).

In: the webhook body. Out: one TrackingUpdate from ``track_info.latest_status`` and
``latest_event`` (``[]`` for ``TRACKING_STOPPED``, which carries no status). Raised:
PayloadError; BadSignature from :func:`verify`. 17TRACK sends no event id: it is built as
``"<number>:<status>:<event time>"``, the same on every redelivery of that event.

``status`` words: NotFound (status None), InfoReceived, InTransit, Expired,
AvailableForPickup, OutForDelivery, DeliveryFailure, Delivered, Exception; the
``sub_status`` (``Exception_Returning``) is the exception reason.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from adapters.errors import BadSignature
from adapters.native import Native, header, occurred
from adapters.tracking.tracking_update import TrackingFormat, TrackingUpdate, place
from router.statuses import TrackingStatus as T

SIGNATURE_HEADER = "sign"
STATUSES = {
    "NotFound": None,
    "InfoReceived": T.LABEL_CREATED,
    "InTransit": T.IN_TRANSIT,
    "Expired": T.EXPIRED,
    "AvailableForPickup": T.AVAILABLE_FOR_PICKUP,
    "OutForDelivery": T.OUT_FOR_DELIVERY,
    "DeliveryFailure": T.DELIVERY_FAILED,
    "Delivered": T.DELIVERED,
    "Exception": T.EXCEPTION,
}


def verify(headers, raw_body: bytes, secret: str | bytes, query=None) -> None:
    """Check the ``sign`` header = hex SHA-256 of ``body + "/" + secret`` (17TRACK's push scheme,
    the secret being the account's security key); raises BadSignature. Only the body is signed
    (``query`` is ignored)."""
    given = header(headers, SIGNATURE_HEADER)
    if not given:
        raise BadSignature(f"missing {SIGNATURE_HEADER} header")
    if not secret:
        raise BadSignature("no signing secret configured")
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
    expected = hashlib.sha256(body + b"/" + key).hexdigest()
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace")):
        raise BadSignature(f"{SIGNATURE_HEADER} does not match the body")


def parse(payload, received_at: datetime | None = None) -> list[TrackingUpdate]:
    """Map a 17TRACK v2 webhook to ``[TrackingUpdate]``; raises PayloadError."""
    root = Native(payload)
    if root.get("event").text() == "TRACKING_STOPPED":
        return []
    data = root.req("data")
    number = data.req("number").text()
    info = data.req("track_info")
    latest = info.req("latest_status")
    word = latest.req("status").text()
    event = info.get("latest_event")
    if not event.present:
        event = Native({}, event.path)
    event.mapping()
    when = occurred([event.get("time_iso"), event.get("time_utc")], received_at, event.get("time_iso"))
    status = STATUSES.get(word)
    address = event.get("address")
    location = event.get("location").text() or (
        place(*(address.get(k).text() for k in ("city", "state", "country"))) if address.present else ""
    )
    stamp = event.get("time_utc").text() or when.isoformat()
    return [
        TrackingUpdate(
            event_id=f"{number}:{word}:{stamp}",
            tracking_number=number,
            status=status,
            raw_status=word,
            occurred_at=when,
            description=event.get("description").text(),
            location=location,
            exception_reason=(latest.get("sub_status_descr").text() or latest.get("sub_status").text())
            if status in (T.EXCEPTION, T.DELIVERY_FAILED, T.EXPIRED)
            else "",
        )
    ]


FORMAT = TrackingFormat("17track", parse, verify)
