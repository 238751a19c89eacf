"""The ``qimen`` WMS format: Qimen's ``deliveryorder.create`` and ``order.cancel`` posted to the
warehouse's ``wms_url`` with the signed query string (the warehouse's ``wms_token`` is the app
secret, its id the customer id). The delivery order code is the fulfilment id, which a Qimen WMS
takes as its idempotency key. A Qimen ``failure`` flag is a refusal (not retried). Qimen has no
address change: it is logged and skipped."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import urlencode

import structlog

from adapters.errors import PayloadError
from adapters.outbound.policy import OutboundError, outbound_retry, send
from adapters.outbound.wms import party
from adapters.wms_formats import qimen

log = structlog.get_logger(__name__)


class QimenWms:
    @outbound_retry
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        """``payload`` is the generic delivery order, translated to ``deliveryorder.create``;
        returns ``{"wms_order_id"}``. Raises OutboundError."""
        try:
            request = qimen.delivery_order_create(payload, now=datetime.now(timezone.utc))
        except PayloadError as exc:
            raise OutboundError(party(warehouse), f"delivery order: {exc}", retryable=False) from exc
        answer = _qimen_call(warehouse, "deliveryorder.create", request, payload["fulfilment_id"])
        return {"wms_order_id": (answer.get("response") or answer).get("deliveryOrderId")}

    @outbound_retry
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool:
        """True when the warehouse stopped it (a Qimen failure flag: it could not)."""
        request = qimen.order_cancel(fulfilment_id, warehouse_code=warehouse["_id"], reason="order cancelled")
        return bool(_qimen_call(warehouse, "order.cancel", request, f"{fulfilment_id}:cancel", refusal_ok=True))

    @outbound_retry
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None:
        log.warning("wms_address_change_unsupported", warehouse=warehouse["_id"], fulfilment_id=fulfilment_id,
                    reason="Qimen has no address change for a delivery order")


def _qimen_call(warehouse: dict, method: str, request: dict, key: str, refusal_ok: bool = False) -> dict:
    """One signed Qimen call; returns the answer, ``{}`` for a refusal when ``refusal_ok``."""
    raw = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
    params = qimen.request_params(method, warehouse["_id"], warehouse.get("wms_token") or "", raw,
                                  datetime.now(timezone.utc))
    answer = send(party(warehouse), "POST", f"{warehouse['wms_url']}?{urlencode(params)}", content=raw,
                  idempotency_key=key)
    try:
        ok, message = qimen.response_flag(answer)
    except PayloadError as exc:
        raise OutboundError(party(warehouse), f"{method}: unreadable answer: {exc}") from exc
    if ok:
        return answer
    if refusal_ok:
        return {}
    raise OutboundError(party(warehouse), f"{method} refused: {message}", retryable=False)
