"""Carriers: book a shipment (waybill / tracking number, and a label) and subscribe to its
tracking. One provider per outbound carrier format, each implementing
:class:`services.ports.CarrierClient`, found in a :class:`~adapters.outbound.registry.Registry`
that :class:`CarrierProviders` looks up.

- Booking goes by the carrier's ``booking_format`` (default ``generic``): ``generic``
  (:mod:`adapters.outbound.carrier_generic`, the router's own protocol) or ``easypost``
  (:mod:`adapters.outbound.carrier_easypost`: create a shipment, buy a rate, read the label).
- A tracker is registered where the carrier's events come from: at 17TRACK (``register``,
  :mod:`adapters.outbound.carrier_17track`) for a carrier whose ``tracking_format`` is ``17track``
  and that has a 17TRACK API token (``tracking_api_token``), else with the provider that books it
  (an EasyPost Tracker, or the generic ``trackers`` call).
  A carrier's ``tracking_format`` still names how its inbound events read (adapters/tracking/).
"""
from __future__ import annotations

from adapters.outbound.registry import Registry
from services.ports import Booking, CarrierClient

TRACKING_PLATFORMS = ("17track",)  # tracking formats whose trackers are registered at the platform itself


def carrier_format(carrier: dict) -> str:
    """The outbound format ``carrier`` is booked in."""
    return carrier.get("booking_format") or "generic"


def tracker_format(carrier: dict) -> str:
    """The outbound format ``carrier``'s trackers are registered in: the tracking platform's when
    its events come from one and the carrier has that platform's API token, else its booking's."""
    tracking = carrier.get("tracking_format") or "generic"
    if tracking in TRACKING_PLATFORMS and carrier.get("tracking_api_token"):
        return tracking
    return carrier_format(carrier)


def party(carrier: dict) -> str:
    return f"carrier:{carrier['_id']}"


class CarrierProviders:
    """:class:`services.ports.CarrierClient` for every carrier: a booking goes to the provider of
    the carrier's booking format, a tracker to the provider of its tracker format."""

    def __init__(self, registry: Registry[CarrierClient]):
        self.registry = registry

    def provider(self, carrier: dict) -> CarrierClient:
        return self.registry.provider(party(carrier), carrier_format(carrier))

    def tracker_provider(self, carrier: dict) -> CarrierClient:
        return self.registry.provider(party(carrier), tracker_format(carrier))

    def book_shipment(self, carrier: dict, payload: dict) -> Booking:
        return self.provider(carrier).book_shipment(carrier, payload)

    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None:
        self.tracker_provider(carrier).register_tracker(carrier, tracking_number, fulfilment_id)
