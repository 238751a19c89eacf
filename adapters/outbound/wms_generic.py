"""The ``generic`` WMS format: the router's own protocol (see adapters/simulators/wms.py),
bearer token (the warehouse's ``wms_token``), the fulfilment id as ``Idempotency-Key``."""
from __future__ import annotations

from adapters.outbound.policy import outbound_retry, send
from adapters.outbound.wms import party


class GenericWms:
    """Pushes delivery orders with the fulfilment id as the idempotency key."""

    @outbound_retry
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        """``payload`` is the generic delivery order (services.dispatch.delivery_order); returns
        ``{"wms_order_id"}``. Raises OutboundError."""
        return send(party(warehouse), "POST", f"{_base(warehouse)}/delivery-orders", json=payload,
                    token=warehouse.get("wms_token"), idempotency_key=payload["fulfilment_id"])

    @outbound_retry
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool:
        """True when the warehouse stopped it."""
        body = send(party(warehouse), "POST", f"{_base(warehouse)}/delivery-orders/{fulfilment_id}/cancel",
                    json={}, token=warehouse.get("wms_token"), idempotency_key=f"{fulfilment_id}:cancel")
        return bool(body.get("intercepted"))

    @outbound_retry
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None:
        send(party(warehouse), "PATCH", f"{_base(warehouse)}/delivery-orders/{fulfilment_id}/address",
             json=address, token=warehouse.get("wms_token"))


def _base(warehouse: dict) -> str:
    return f"{warehouse['wms_url'].rstrip('/')}/{warehouse['_id']}"
