"""Warehouse management systems, in the router's generic format (see adapters/simulators/wms.py)."""
from __future__ import annotations

from typing import Protocol

from adapters.outbound.policy import outbound_retry, send


class WmsClient(Protocol):
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict: ...
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool: ...
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None: ...


class HttpWmsClient:
    """Pushes delivery orders with the fulfilment id as the idempotency key."""

    @outbound_retry
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        return send(f"wms:{warehouse['_id']}", "POST", f"{_base(warehouse)}/delivery-orders", json=payload,
                    token=warehouse.get("wms_token"), idempotency_key=payload["fulfilment_id"])

    @outbound_retry
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool:
        body = send(f"wms:{warehouse['_id']}", "POST", f"{_base(warehouse)}/delivery-orders/{fulfilment_id}/cancel",
                    json={}, token=warehouse.get("wms_token"), idempotency_key=f"{fulfilment_id}:cancel")
        return bool(body.get("intercepted"))

    @outbound_retry
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None:
        send(f"wms:{warehouse['_id']}", "PATCH", f"{_base(warehouse)}/delivery-orders/{fulfilment_id}/address",
             json=address, token=warehouse.get("wms_token"))


def _base(warehouse: dict) -> str:
    return f"{warehouse['wms_url'].rstrip('/')}/{warehouse['_id']}"
