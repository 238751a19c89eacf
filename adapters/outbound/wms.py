"""Warehouse management systems, each in its warehouse's ``wms_format``.

``generic``: the router's own protocol (see adapters/simulators/wms.py), bearer token, the
fulfilment id as ``Idempotency-Key``. ``qimen``: Qimen's ``deliveryorder.create`` and
``order.cancel`` posted to the warehouse's ``wms_url`` with the signed query string (the
warehouse's ``wms_token`` is the app secret, its id the customer id); the delivery order code
is the fulfilment id, which a Qimen WMS takes as its idempotency key. A Qimen ``failure``
flag is a refusal (not retried). Qimen has no address change: it is logged and skipped.
``shiphero``: only its inbound webhooks are read; pushing a delivery order to a ShipHero
warehouse is refused (the fulfilment becomes ``dispatch_failed``) until its GraphQL
``order_create`` is built.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Protocol
from urllib.parse import urlencode

import structlog

from adapters.errors import PayloadError
from adapters.outbound.policy import OutboundError, outbound_retry, send
from adapters.wms_formats import qimen

log = structlog.get_logger(__name__)


class WmsClient(Protocol):
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict: ...
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool: ...
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None: ...


class HttpWmsClient:
    """Pushes delivery orders with the fulfilment id as the idempotency key."""

    @outbound_retry
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        """``payload`` is the generic delivery order (actors.dispatch.delivery_order); returns
        ``{"wms_order_id"}``. Raises OutboundError."""
        if _format(warehouse) == "qimen":
            try:
                request = qimen.delivery_order_create(payload, now=datetime.now(timezone.utc))
            except PayloadError as exc:
                raise OutboundError(_party(warehouse), f"delivery order: {exc}", retryable=False) from exc
            answer = _qimen_call(warehouse, "deliveryorder.create", request, payload["fulfilment_id"])
            return {"wms_order_id": (answer.get("response") or answer).get("deliveryOrderId")}
        if _format(warehouse) != "generic":  # ShipHero's inbound webhooks are read; its order_create is not built
            raise OutboundError(_party(warehouse), f"no delivery order builder for {_format(warehouse)}",
                                retryable=False)
        return send(_party(warehouse), "POST", f"{_base(warehouse)}/delivery-orders", json=payload,
                    token=warehouse.get("wms_token"), idempotency_key=payload["fulfilment_id"])

    @outbound_retry
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool:
        """True when the warehouse stopped it (a Qimen failure flag: it could not)."""
        if _format(warehouse) == "qimen":
            request = qimen.order_cancel(fulfilment_id, warehouse_code=warehouse["_id"], reason="order cancelled")
            return bool(_qimen_call(warehouse, "order.cancel", request, f"{fulfilment_id}:cancel", refusal_ok=True))
        body = send(_party(warehouse), "POST", f"{_base(warehouse)}/delivery-orders/{fulfilment_id}/cancel",
                    json={}, token=warehouse.get("wms_token"), idempotency_key=f"{fulfilment_id}:cancel")
        return bool(body.get("intercepted"))

    @outbound_retry
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None:
        if _format(warehouse) == "qimen":
            log.warning("wms_address_change_unsupported", warehouse=warehouse["_id"], fulfilment_id=fulfilment_id,
                        reason="Qimen has no address change for a delivery order")
            return
        send(_party(warehouse), "PATCH", f"{_base(warehouse)}/delivery-orders/{fulfilment_id}/address",
             json=address, token=warehouse.get("wms_token"))


def _qimen_call(warehouse: dict, method: str, request: dict, key: str, refusal_ok: bool = False) -> dict:
    """One signed Qimen call; returns the answer, ``{}`` for a refusal when ``refusal_ok``."""
    raw = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
    params = qimen.request_params(method, warehouse["_id"], warehouse.get("wms_token") or "", raw,
                                  datetime.now(timezone.utc))
    answer = send(_party(warehouse), "POST", f"{warehouse['wms_url']}?{urlencode(params)}", content=raw,
                  idempotency_key=key)
    try:
        ok, message = qimen.response_flag(answer)
    except PayloadError as exc:
        raise OutboundError(_party(warehouse), f"{method}: unreadable answer: {exc}") from exc
    if ok:
        return answer
    if refusal_ok:
        return {}
    raise OutboundError(_party(warehouse), f"{method} refused: {message}", retryable=False)


def _format(warehouse: dict) -> str:
    return warehouse.get("wms_format") or "generic"


def _party(warehouse: dict) -> str:
    return f"wms:{warehouse['_id']}"


def _base(warehouse: dict) -> str:
    return f"{warehouse['wms_url'].rstrip('/')}/{warehouse['_id']}"
