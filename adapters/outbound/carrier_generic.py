"""The ``generic`` carrier format: ``POST {api_url}/{carrier}/shipments`` books a waybill (the
fulfilment id as ``Idempotency-Key``; the answer's ``label_url`` is kept when given),
``POST .../trackers`` subscribes to a parcel's tracking."""
from __future__ import annotations

from adapters.outbound.carrier import party
from adapters.outbound.policy import outbound_retry, send
from services.ports import Booking


class GenericCarrier:
    @outbound_retry
    def book_shipment(self, carrier: dict, payload: dict) -> Booking:
        body = send(party(carrier), "POST", f"{_base(carrier)}/shipments", json=payload,
                    token=carrier.get("api_token"), idempotency_key=payload["fulfilment_id"])
        return Booking(body["tracking_number"], body.get("label_url"))

    @outbound_retry
    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None:
        send(party(carrier), "POST", f"{_base(carrier)}/trackers",
             json={"tracking_number": tracking_number, "fulfilment_id": fulfilment_id},
             token=carrier.get("api_token"), idempotency_key=f"{fulfilment_id}:tracker:{tracking_number}")


def _base(carrier: dict) -> str:
    return f"{carrier['api_url'].rstrip('/')}/{carrier['_id']}"
