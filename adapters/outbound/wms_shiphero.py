"""The ``shiphero`` WMS format: only its inbound webhooks are read (adapters/wms_formats/);
pushing a delivery order to a ShipHero warehouse is refused, not retried (the fulfilment becomes
``dispatch_failed``), until its GraphQL ``order_create`` is built."""
from __future__ import annotations

from adapters.outbound.policy import OutboundError, outbound_retry
from adapters.outbound.wms import party, wms_format
from adapters.outbound.wms_generic import GenericWms


class ShipHeroWms(GenericWms):
    """Refuses delivery orders. Cancel and address change go out in the generic protocol, as
    they always have (a fulfilment only reaches a warehouse through a delivery order, so they
    are not reached in practice)."""

    @outbound_retry
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        raise OutboundError(party(warehouse), f"no delivery order builder for {wms_format(warehouse)}",
                            retryable=False)
