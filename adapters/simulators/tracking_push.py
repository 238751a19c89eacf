"""What a tracking platform posts to its subscriber, as its public documentation shows it: the
webhook body and the signature headers, and no bearer token (none of them sends one).

- AfterShip (``tracking_update`` webhook): ``{"event", "event_id", "is_tracking_first_tag",
  "msg": <Tracking with checkpoints>, "ts": <Unix seconds>}``, signed ``aftership-hmac-sha256``
  = base64 HMAC-SHA256 of the raw body with the webhook secret.
- EasyPost (Event ``tracker.updated`` whose ``result`` is a Tracker with ``tracking_details``),
  signed ``X-Hmac-Signature: hmac-sha256-hex=<hex HMAC-SHA256(NFKD(webhook secret), body)>``.
- 17TRACK (v2 push ``TRACKING_UPDATED``: ``data.number``, ``data.track_info.latest_status``,
  ``latest_event``), signed ``sign`` = hex SHA-256 of ``body + "/" + security key``.

Used by the carrier, EasyPost and 17TRACK simulators; each status word is the first native word the router's own
mapping (adapters/tracking/) reads as that canonical status.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import unicodedata
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from adapters.simulators.callbacks import Callback
from adapters.tracking import aftership, easypost, seventeen_track
from router.statuses import TrackingStatus

FORMATS = ("aftership", "easypost", "17track")
# A parcel's way once the platform tracks it: what the platform simulators push unless told otherwise.
PROGRESS = (TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED)


def _first_words(table: dict) -> dict[TrackingStatus, str]:
    words: dict[TrackingStatus, str] = {}
    for word, status in table.items():
        if status is not None:
            words.setdefault(status, word)
    return words


WORDS = {"aftership": _first_words(aftership.TAGS), "easypost": _first_words(easypost.STATUSES),
         "17track": _first_words(seventeen_track.STATUSES)}


def encode(body: dict) -> bytes:
    """The body as the platform sends it: compact UTF-8 JSON."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def webhook(fmt: str, number: str, status: str, at: datetime, description: str = "", location: str = "",
            event_id: str | None = None) -> dict:
    """One tracking update of parcel ``number`` to canonical ``status`` (a TrackingStatus word)
    happening ``at`` (aware), in format ``fmt``; raises KeyError for another format or a status
    the format has no word for."""
    word = WORDS[fmt][TrackingStatus(status)]
    at = at.astimezone(timezone.utc)
    iso = at.isoformat(timespec="seconds").replace("+00:00", "Z")
    if fmt == "aftership":
        return _aftership(number, word, at, iso, description, location, event_id)
    if fmt == "easypost":
        return _easypost(number, word, iso, description, location, event_id)
    if fmt == "17track":
        return _seventeen_track(number, word, at, iso, description, location)
    raise KeyError(fmt)


def _aftership(number, word, at, iso, description, location, event_id) -> dict:
    checkpoint = {"slug": "sim-express", "created_at": iso, "checkpoint_time": at.isoformat(timespec="seconds"),
                  "location": location or None, "city": location or None, "country_name": None,
                  "message": description or word, "tag": word, "subtag": f"{word}_001",
                  "subtag_message": description or word}
    return {"event": "tracking_update", "event_id": event_id or str(uuid.uuid4()), "is_tracking_first_tag": False,
            "msg": {"id": uuid.uuid5(uuid.NAMESPACE_URL, number).hex, "tracking_number": number,
                    "slug": "sim-express", "tag": word, "subtag": f"{word}_001", "subtag_message": description or word,
                    "updated_at": iso, "checkpoints": [checkpoint]},
            "ts": int(at.timestamp())}


def _easypost(number, word, iso, description, location, event_id) -> dict:
    detail = {"object": "TrackingDetail", "message": description or word, "description": "", "status": word,
              "status_detail": word, "datetime": iso, "source": "SIM",
              "tracking_location": {"object": "TrackingLocation", "city": location or None, "state": None,
                                    "country": None, "zip": None}}
    return {"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "Event", "mode": "test",
            "description": "tracker.updated", "created_at": iso, "updated_at": iso,
            "result": {"id": f"trk_{uuid.uuid5(uuid.NAMESPACE_URL, number).hex}", "object": "Tracker",
                       "mode": "test", "tracking_code": number, "status": word, "status_detail": word,
                       "updated_at": iso, "carrier": "SIM", "tracking_details": [detail]}}


def _seventeen_track(number, word, at, iso, description, location) -> dict:
    event = {"time_iso": at.isoformat(timespec="seconds"), "time_utc": iso, "description": description or word,
             "location": location or None, "stage": word, "sub_status": f"{word}_Other"}
    return {"event": "TRACKING_UPDATED",
            "data": {"number": number, "carrier": 0, "param": None, "tag": None,
                     "track_info": {"latest_status": {"status": word, "sub_status": f"{word}_Other",
                                                      "sub_status_descr": None},
                                    "latest_event": event}}}


def signature_headers(fmt: str, raw: bytes, secret: str) -> dict[str, str]:
    """The headers the platform signs ``raw`` (the exact body bytes) with."""
    if fmt == "aftership":
        digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
        return {aftership.SIGNATURE_HEADER: base64.b64encode(digest).decode()}
    if fmt == "easypost":
        key = unicodedata.normalize("NFKD", secret).encode()
        return {easypost.SIGNATURE_HEADER: "hmac-sha256-hex=" + hmac.new(key, raw, hashlib.sha256).hexdigest()}
    if fmt == "17track":
        return {seventeen_track.SIGNATURE_HEADER: hashlib.sha256(raw + b"/" + secret.encode()).hexdigest()}
    raise KeyError(fmt)


def updates(fmt: str, url: str, number: str, steps: Sequence[str], secret: str) -> list[Callback]:
    """The signed ``fmt`` updates taking parcel ``number`` through ``steps`` (TrackingStatus words),
    to post to ``url`` in this order (a CallingParty's chain): one second apart, all in the past."""
    start = datetime.now(timezone.utc) - timedelta(seconds=len(steps) + 1)
    chain = []
    for i, status in enumerate(steps):
        body = webhook(fmt, number, status, start + timedelta(seconds=i))
        raw = encode(body)
        chain.append(Callback(url, body, signature_headers(fmt, raw, secret), content=raw, kind=str(status)))
    return chain
