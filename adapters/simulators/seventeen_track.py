"""A simulated 17TRACK account (Tracking API v2.2) and its push webhooks, for one of our carriers.

- ``POST /track/v2.2/register`` with the ``17token`` header (``api_key``; anything else is 401) and
  a JSON array of 1 to 40 ``{"number", "carrier"?, "tag"?}``: each number is accepted
  (``{"origin", "number", "carrier", "tag"}``) or rejected with an error: ``-18019901`` for a number
  already registered ("has been registered, don't need to repeat registration"), ``-18010012`` for
  one that is not a tracking number (5 to 50 letters, digits or ``-``). A body that is not such an
  array is answered ``code`` -18010001 with nothing registered.
- ``push(number, steps)``: ``TRACKING_UPDATED`` webhooks for a registered number to
  ``{callback_url}/v1/carriers/{carrier_id}/events``, signed ``sign`` = hex SHA-256 of
  ``body + "/" + security key`` (adapters/simulators/tracking_push.py), no bearer token.
"""
from __future__ import annotations

import re
from typing import Any

from adapters.simulators import tracking_push
from adapters.simulators.callbacks import CallingParty
from adapters.simulators.server import Request, Response

ALREADY_REGISTERED = -18019901
NOT_A_NUMBER = -18010012
BAD_REQUEST = -18010001
DETECTED_CARRIER = 100003  # what the simulator "detects" when no carrier code is given
_NUMBER = re.compile(r"^[A-Za-z0-9-]{5,50}$")


class SeventeenTrackSimulator(CallingParty):
    """See the module docstring; ``registered`` maps number to what was registered."""

    def __init__(self, callback_url: str | None, carrier_id: str, *, api_key: str, security_key: str,
                 step_delay: float = 0.02, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(callback_url, step_delay=step_delay, host=host, port=port)
        self.carrier_id, self.api_key, self.security_key = carrier_id, api_key, security_key
        self.registered: dict[str, dict[str, Any]] = {}

    def push(self, number: str, steps=tracking_push.PROGRESS) -> None:
        """Push ``TRACKING_UPDATED`` for ``number`` through ``steps``; KeyError when not registered."""
        if number not in self.registered:
            raise KeyError(number)
        if not self.callback_url:
            raise RuntimeError("SeventeenTrackSimulator has no callback_url")
        url = f"{self.callback_url}/v1/carriers/{self.carrier_id}/events"
        self.callbacks.submit(tracking_push.updates("17track", url, number, steps, self.security_key))

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or request.path != "/track/v2.2/register":
            return Response(404, {"code": 404, "data": {"errors": [{"code": 404, "message": "Not Found"}]}})
        if request.headers.get("17token") != self.api_key:
            return Response(401, {"code": 401, "data": {"errors": [{"code": 401, "message": "Invalid 17token"}]}})
        items = request.body
        if not isinstance(items, list) or not 1 <= len(items) <= 40 or not all(isinstance(i, dict) for i in items):
            return Response(200, {"code": BAD_REQUEST, "data": {"errors": [
                {"code": BAD_REQUEST, "message": "The request body must be an array of 1 to 40 items."}]}})
        accepted, rejected = [], []
        with self.lock:
            for item in items:
                number = item.get("number")
                if not isinstance(number, str) or not _NUMBER.match(number):
                    rejected.append({"number": number, "error": {
                        "code": NOT_A_NUMBER, "message": f"The tracking number '{number}' is invalid."}})
                elif number in self.registered:
                    rejected.append({"number": number, "error": {
                        "code": ALREADY_REGISTERED,
                        "message": f"The tracking number '{number}' has been registered, don't need to repeat "
                                   f"registration."}})
                else:
                    entry = {"origin": 1, "number": number, "carrier": item.get("carrier") or DETECTED_CARRIER,
                             "tag": item.get("tag")}
                    self.registered[number] = entry
                    accepted.append(entry)
        return Response(200, {"code": 0, "data": {"accepted": accepted, "rejected": rejected}})
