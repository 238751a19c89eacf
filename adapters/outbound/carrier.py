"""Carriers: book a shipment (waybill / tracking number) and subscribe to its tracking."""
from __future__ import annotations

from typing import Protocol

from adapters.outbound.policy import outbound_retry, send


class CarrierClient(Protocol):
    def book_shipment(self, carrier: dict, payload: dict) -> str: ...
    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None: ...


class HttpCarrierClient:
    @outbound_retry
    def book_shipment(self, carrier: dict, payload: dict) -> str:
        body = send(f"carrier:{carrier['_id']}", "POST", f"{_base(carrier)}/shipments", json=payload,
                    token=carrier.get("api_token"), idempotency_key=payload["fulfilment_id"])
        return body["tracking_number"]

    @outbound_retry
    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None:
        send(f"carrier:{carrier['_id']}", "POST", f"{_base(carrier)}/trackers",
             json={"tracking_number": tracking_number, "fulfilment_id": fulfilment_id},
             token=carrier.get("api_token"), idempotency_key=f"{fulfilment_id}:tracker:{tracking_number}")


def _base(carrier: dict) -> str:
    return f"{carrier['api_url'].rstrip('/')}/{carrier['_id']}"
