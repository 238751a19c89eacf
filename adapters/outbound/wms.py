"""Warehouse management systems: one provider per ``wms_format``, each implementing
:class:`services.ports.WmsClient`, found by the warehouse's format (default ``generic``) in a
:class:`~adapters.outbound.registry.Registry` that :class:`WmsProviders` looks up.

- ``generic`` (:mod:`adapters.outbound.wms_generic`): the router's own protocol (see
  adapters/simulators/wms.py), bearer token, the fulfilment id as ``Idempotency-Key``.
- ``qimen`` (:mod:`adapters.outbound.wms_qimen`): Qimen's ``deliveryorder.create`` and
  ``order.cancel`` posted to the warehouse's ``wms_url`` with the signed query string (the
  warehouse's ``wms_token`` is the app secret, its id the customer id); the delivery order code is
  the fulfilment id, which a Qimen WMS takes as its idempotency key. A Qimen ``failure`` flag is a
  refusal (not retried). Qimen has no address change: it is logged and skipped.
- ``shiphero`` (:mod:`adapters.outbound.wms_shiphero`): ShipHero's GraphQL API at the warehouse's
  ``wms_url`` with a bearer access token (``wms_token``, renewed from its ``refresh_token``):
  ``order_create`` with the fulfilment id as ``partner_order_id`` (looked up first, so a retry
  makes nothing twice), ``order_cancel`` on intercept, ``order_update`` of the shipping address.
"""
from __future__ import annotations

from adapters.outbound.registry import Registry
from services.ports import WmsClient


def wms_format(warehouse: dict) -> str:
    return warehouse.get("wms_format") or "generic"


def party(warehouse: dict) -> str:
    return f"wms:{warehouse['_id']}"


class WmsProviders:
    """:class:`services.ports.WmsClient` for every warehouse: each call goes to the provider of
    the warehouse's ``wms_format`` (an unknown format: a non-retryable OutboundError)."""

    def __init__(self, registry: Registry[WmsClient]):
        self.registry = registry

    def provider(self, warehouse: dict) -> WmsClient:
        return self.registry.provider(party(warehouse), wms_format(warehouse))

    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        return self.provider(warehouse).create_delivery_order(warehouse, payload)

    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool:
        return self.provider(warehouse).cancel_delivery_order(warehouse, fulfilment_id)

    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None:
        self.provider(warehouse).change_address(warehouse, fulfilment_id, address)
