"""Trackers at 17TRACK, for a carrier whose ``tracking_format`` is ``17track``: its Tracking API
v2.2 ``register`` (``POST {tracking_api_url}/track/v2.2/register``, default
``https://api.17track.net``), authenticated by the ``17token`` header (the carrier's
``tracking_api_token``), with a JSON array of ``{"number", "carrier"?, "tag"}`` (the carrier's
``tracking_carrier_code`` when set, else 17TRACK detects it; the fulfilment id as ``tag``).
17TRACK then pushes ``TRACKING_UPDATED`` webhooks (adapters/tracking/seventeen_track.py).

The answer is ``{"code": 0, "data": {"accepted": [...], "rejected": [{"number", "error": {"code",
"message"}}]}}``: a number 17TRACK already tracks is rejected with ``-18019901`` ("has been
registered"), which is what a retry wants, so it counts as registered; any other rejection, or a
``code`` other than 0, is a refusal (not retried). A 429 is retried after its ``Retry-After``.
"""
from __future__ import annotations

from adapters.outbound.carrier import party
from adapters.outbound.policy import OutboundError, outbound_retry, send
from services.ports import Booking

DEFAULT_API = "https://api.17track.net"
ALREADY_REGISTERED = -18019901


class SeventeenTrack:
    def book_shipment(self, carrier: dict, payload: dict) -> Booking:
        raise OutboundError(party(carrier), "17TRACK tracks parcels, it books none", retryable=False)

    @outbound_retry
    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None:
        item: dict = {"number": tracking_number, "tag": fulfilment_id}
        if carrier.get("tracking_carrier_code"):
            item["carrier"] = int(carrier["tracking_carrier_code"])
        url = f"{(carrier.get('tracking_api_url') or DEFAULT_API).rstrip('/')}/track/v2.2/register"
        answer = send(party(carrier), "POST", url, json=[item],
                      headers={"17token": carrier.get("tracking_api_token") or ""})
        if not isinstance(answer, dict) or answer.get("code") != 0:
            raise OutboundError(party(carrier), f"17TRACK register refused: {str(answer)[:200]}", retryable=False)
        data = answer.get("data") or {}
        if any(a.get("number") == tracking_number for a in data.get("accepted") or [] if isinstance(a, dict)):
            return
        for rejected in data.get("rejected") or []:
            if isinstance(rejected, dict) and rejected.get("number") == tracking_number:
                error = rejected.get("error") or {}
                if error.get("code") == ALREADY_REGISTERED:
                    return
                raise OutboundError(party(carrier), f"17TRACK rejected {tracking_number}: {error.get('message')}",
                                    retryable=False)
        raise OutboundError(party(carrier), f"17TRACK answered nothing about {tracking_number}", retryable=False)
