"""Carriers: book a shipment (waybill / tracking number) and subscribe to its tracking. One
provider per outbound carrier format, each implementing :class:`services.ports.CarrierClient`,
found in a :class:`~adapters.outbound.registry.Registry` that :class:`CarrierProviders` looks up.

Every carrier is booked in one format today, ``generic`` (:mod:`adapters.outbound.carrier_generic`):
a carrier's ``tracking_format`` names how its inbound tracking events read (adapters/tracking/),
not how it is booked, so no seed key chooses the outbound format yet.
"""
from __future__ import annotations

from adapters.outbound.registry import Registry
from services.ports import CarrierClient


def carrier_format(carrier: dict) -> str:
    """The outbound format ``carrier`` is called in: the one there is."""
    return "generic"


def party(carrier: dict) -> str:
    return f"carrier:{carrier['_id']}"


class CarrierProviders:
    """:class:`services.ports.CarrierClient` for every carrier: each call goes to the provider of
    the carrier's outbound format."""

    def __init__(self, registry: Registry[CarrierClient]):
        self.registry = registry

    def provider(self, carrier: dict) -> CarrierClient:
        return self.registry.provider(party(carrier), carrier_format(carrier))

    def book_shipment(self, carrier: dict, payload: dict) -> str:
        return self.provider(carrier).book_shipment(carrier, payload)

    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None:
        self.provider(carrier).register_tracker(carrier, tracking_number, fulfilment_id)
