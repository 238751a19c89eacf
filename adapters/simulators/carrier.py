"""A simulated carrier API serving several carriers.

Server side of the router's generic carrier protocol, under `{url}/{carrier_id}/`:

- `POST shipments` (Idempotency-Key required): 201 {"tracking_number":
  "<CARRIER>-<12 digits>", "label_url"} the first time, 200 with the same answer for
  the same key; 400 without a key, 401 on a wrong bearer token.
- `POST trackers` {"tracking_number", "fulfilment_id"}: 201 the first time, 200 again
  for the same tracking number; with `auto_progress=True` it starts the parcel's
  events label_created, in_transit, out_for_delivery, delivered, posted to
  `{callback_url}/v1/carriers/{carrier_id}/events`.
- `GET labels/{tracking_number}.pdf`: a tiny fake label.

`out_of_order=True` adds a late in_transit scan (new event id) after delivered: in the generic
format with a later occurred_at, in a platform's format with an event time before delivered (it
happened earlier and arrives late); `duplicate_rate` repeats some events with the same event id.

Events go out in the router's generic format with the carrier's bearer token, or, for a carrier
whose `formats` entry names a tracking platform (`aftership`, `easypost`, `17track`), in that
platform's documented webhook shape, signed its way with the carrier's secret and no bearer token
(adapters/simulators/tracking_push.py).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from adapters.simulators import tracking_push
from adapters.simulators.callbacks import Callback, CallingParty, Parties, utc_now
from adapters.simulators.server import Request, Response, bearer_ok, error
from router.statuses import TrackingStatus

PROGRESS = (TrackingStatus.LABEL_CREATED, TrackingStatus.IN_TRANSIT,
            TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED)
_WHERE = {
    TrackingStatus.LABEL_CREATED: ("origin depot", "Shipment information received"),
    TrackingStatus.IN_TRANSIT: ("sorting centre", "In transit"),
    TrackingStatus.OUT_FOR_DELIVERY: ("delivery depot", "Out for delivery"),
    TrackingStatus.DELIVERED: ("destination", "Delivered"),
}


@dataclass
class Shipment:
    """A booked shipment: the request as received and the answer given."""

    fulfilment_id: str
    carrier_id: str
    tracking_number: str
    label_url: str
    request: dict[str, Any]


@dataclass
class Tracker:
    """A tracked parcel and the statuses posted for it so far."""

    carrier_id: str
    tracking_number: str
    fulfilment_id: str | None
    statuses_sent: list[str] = field(default_factory=list)


class CarrierSimulator(CallingParty):
    """Simulated carriers. `tokens` maps carrier id to its bearer token (used both ways);
    `shipments` maps fulfilment id to `Shipment`, `trackers` tracking number to `Tracker`;
    `formats` maps carrier id to the tracking format its events are posted in (default generic),
    `secrets` to what it signs them with (default its token); either may be a callable giving the
    current mapping (adapters/simulators/callbacks.Parties)."""

    def __init__(self, callback_url: str | None = None, tokens: Parties | None = None,
                 auto_progress: bool = False, step_delay: float = 0.05,
                 duplicate_rate: float = 0.0, out_of_order: bool = False, seed: int = 0,
                 host: str = "127.0.0.1", port: int = 0, callback_workers: int = 4,
                 callback_attempts: int = 4, *, formats: dict[str, str] | None = None,
                 secrets: Parties | None = None) -> None:
        super().__init__(callback_url, tokens, auto_progress, step_delay, duplicate_rate, seed, host, port,
                         callback_workers, callback_attempts, secrets=secrets)
        self.formats = dict(formats or {})
        self.out_of_order = out_of_order
        self.shipments: dict[str, Shipment] = {}
        self.trackers: dict[str, Tracker] = {}
        self.reissued: list[str] = []  # numbers the next bookings get again (see reissue)

    def handle(self, request: Request) -> Response:
        """Route one request of the carrier protocol."""
        seg, method = request.segments, request.method
        if method == "GET" and len(seg) == 3 and seg[1] == "labels":
            return Response(200, b"%PDF-1.4\n% simulated label\n", "application/pdf")
        if len(seg) != 2 or method != "POST" or seg[1] not in ("shipments", "trackers"):
            return error(404, "not_found", request.path)
        if not bearer_ok(request, self.tokens.get(seg[0])):
            return error(401, "unauthorised", "wrong or missing bearer token")
        if not isinstance(request.body, dict):
            return error(422, "invalid_body", "a JSON object is required")
        if seg[1] == "shipments":
            return self._book(seg[0], request)
        return self._track(seg[0], request.body)

    def track(self, tracking_number: str, steps=PROGRESS) -> None:
        """Post the statuses `steps` for a tracked parcel, in order (as auto_progress does).

        Raises KeyError for an unknown tracker, RuntimeError without a callback_url.
        """
        tracker = self.trackers[tracking_number]
        chain: list[Callback] = []
        start = utc_now() - timedelta(seconds=len(steps) + 1)  # a platform's events carry their own times
        times = {status: start + timedelta(seconds=i) for i, status in enumerate(steps)}
        for status in steps:
            chain.append(self._event(tracker, status, at=times[status]))
            with self.lock:
                if self._rng.random() < self.duplicate_rate:
                    chain.append(chain[-1])  # the same object: same event_id, same occurred_at
        if self.out_of_order and TrackingStatus.IN_TRANSIT in steps:
            late = times[TrackingStatus.IN_TRANSIT] + timedelta(milliseconds=500)  # scanned then, arrives now
            chain.append(self._event(tracker, TrackingStatus.IN_TRANSIT, "late scan", at=late))
        self.callbacks.submit(chain, on_step=lambda cb: self._on_step(tracker, cb))

    def send_event(self, tracking_number: str, status: str, at: datetime | None = None,
                   edit: Callable[[dict], None] | None = None, **fields: Any) -> None:
        """Post one event (any status, e.g. "exception"): in the generic format with extra body
        `fields`; in a platform's format happening `at` (default now), its body first passed to
        `edit` (to shape it as a documented variant, e.g. without checkpoints) and then signed."""
        tracker = self.trackers[tracking_number]
        callback = self._event(tracker, status, at=at, edit=edit)
        if callback.content is None:
            callback.body.update(fields)
        self.callbacks.submit([callback], on_step=lambda cb: self._on_step(tracker, cb))

    def reissue(self, tracking_number: str) -> None:
        """The next new booking gets ``tracking_number`` again, as a carrier re-issuing a number does."""
        with self.lock:
            self.reissued.append(tracking_number)

    def format_of(self, carrier_id: str) -> str:
        """The tracking format `carrier_id`'s events are posted in."""
        return self.formats.get(carrier_id) or "generic"

    def _book(self, carrier_id: str, request: Request) -> Response:
        key = request.idempotency_key
        if not key:
            return error(400, "missing_idempotency_key", "Idempotency-Key header is required")
        with self.lock:
            shipment = self.shipments.get(key)
            if shipment is not None:
                if shipment.carrier_id != carrier_id:
                    return error(409, "idempotency_key_reused", "key used for another carrier")
                status = 200
            else:
                number = self.reissued.pop(0) if self.reissued else \
                    f"{carrier_id.upper()}-{100_000_000_000 + next(self._numbers)}"
                shipment = Shipment(key, carrier_id, number,
                                    f"{self.url}/{carrier_id}/labels/{number}.pdf", request.body)
                self.shipments[key] = shipment
                status = 201
        return Response(status, {"tracking_number": shipment.tracking_number,
                                 "label_url": shipment.label_url})

    def _track(self, carrier_id: str, body: dict[str, Any]) -> Response:
        number = body.get("tracking_number")
        if not number:
            return error(422, "invalid_body", "tracking_number is required")
        with self.lock:
            tracker = self.trackers.get(number)
            created = tracker is None
            if created:
                tracker = Tracker(carrier_id, number, body.get("fulfilment_id"))
                self.trackers[number] = tracker
        if created and self.auto_progress:
            self.track(number)
        return Response(201 if created else 200, {"tracking_number": number})

    def _event(self, tracker: Tracker, status: str, note: str | None = None, at: datetime | None = None,
               edit: Callable[[dict], None] | None = None) -> Callback:
        if not self.callback_url:
            raise RuntimeError("CarrierSimulator has no callback_url")
        location, description = _WHERE.get(status, ("", str(status)))
        description = f"{description} ({note})" if note else description
        url = f"{self.callback_url}/v1/carriers/{tracker.carrier_id}/events"
        fmt = self.format_of(tracker.carrier_id)
        if fmt != "generic":  # the platform's own webhook, signed its way, without a bearer token
            body = tracking_push.webhook(fmt, tracker.tracking_number, status, at or utc_now(), description,
                                         location)
            if edit is not None:
                edit(body)
            raw = tracking_push.encode(body)
            headers = tracking_push.signature_headers(fmt, raw, self.secret_of(tracker.carrier_id))
            return Callback(url, body, headers, content=raw, kind=str(status))
        body = {"event_id": uuid.uuid4().hex, "tracking_number": tracker.tracking_number,
                "status": str(status), "location": location, "description": description}
        token = self.tokens.get(tracker.carrier_id)
        return Callback(url, body, {"Authorization": f"Bearer {token}"} if token else {}, kind=str(status))

    def _on_step(self, tracker: Tracker, callback: Callback) -> bool:
        with self.lock:
            tracker.statuses_sent.append(callback.kind or callback.body["status"])
        return True
