"""Qimen (奇门) WMS API: ``deliveryorder.confirm`` and ``orderprocess.report`` in,
``deliveryorder.create`` out. JSON form (format=json), which mirrors the XML: a list may
come as ``{"orderLine": [...]}`` or, with one element, ``{"orderLine": {...}}``.

In: the ``request`` body (bare or as ``{"request": ...}``). Out: ``[WmsUpdate]``.
Raised: PayloadError naming the Qimen field (``orderLines.orderLine.0.actualQty``);
BadSignature from :func:`verify_request`. Times are China time without a zone: +08:00.

``deliveryorder.confirm``: ``outBizCode`` is the event id (the same on the WMS's
retries), ``deliveryOrderCode`` our fulfilment id, ``confirmType`` 0 the final
confirmation and 1 a partial one (``final=False``; more follow). The type is shipped;
lines carry ``actualQty`` (what left the warehouse). ``orderprocess.report``: status
reports (ACCEPT, PICK, PACKAGE, DELIVERED, REJECT, CANCELED...); its event id is
``"<orderCode>:<processStatus>:<operateTime>"``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from adapters.errors import BadSignature, PayloadError
from adapters.native import CHINA_TIME, Native
from adapters.wms_formats.wms_update import WmsFormat, WmsUpdate, line_no
from router.statuses import ShippingMethod, WmsEventType as W

PROCESS = {
    "ACCEPT": W.ACCEPTED,
    "PICK": W.PICKED,
    "PACKAGE": W.PACKED,
    "DELIVERED": W.SHIPPED,
    "PARTDELIVERED": W.SHIPPED,
    "REJECT": W.REJECTED,
    "CANCELED": W.INTERCEPTED,
    "TMSCANCELED": W.INTERCEPTED,
    "EXCEPTION": None,
    "PRINT": None,
    "CHECK": None,
    "WEIGH": None,
    "READY": None,
    "NEW": None,
    "CLOSED": None,
    "OTHER": None,
}
ORDER_TYPE = "JYCK"  # 一般交易出库单: ordinary sales outbound


def parse(payload, received_at: datetime | None = None) -> list[WmsUpdate]:
    """Map a ``deliveryorder.confirm`` or ``orderprocess.report`` request; raises PayloadError."""
    root = Native(payload)
    request = root.get("request") if root.get("request").present else root
    if request.get("deliveryOrder").present:
        return [_confirm(request, received_at)]
    if request.get("process").present:
        return [_process(request, received_at)]
    raise request.fail(
        "is neither a deliveryorder.confirm (deliveryOrder) nor an orderprocess.report (process)"
    )


def _when(candidates: list[Native], received_at: datetime | None) -> datetime:
    for node in candidates:
        if node.present:
            return node.when(CHINA_TIME)
    if received_at is None:
        raise candidates[0].fail("is required")
    return received_at


def _confirm(request: Native, received_at: datetime | None) -> WmsUpdate:
    order = request.req("deliveryOrder")
    packages = request.get("packages").items(singular="package")
    first = packages[0] if packages else Native({}, "packages")
    first.mapping()
    lines = []
    for line in request.get("orderLines").items(singular="orderLine"):
        quantity = line.req("actualQty").integer()
        if quantity < 0:
            raise line.get("actualQty").fail("must not be negative")
        lines.append((line_no(line.get("orderLineNo").text()), line.req("itemCode").text(), quantity))
    if not lines:  # some WMSs report only what is in each package
        for package in packages:
            for item in package.get("items").items(singular="item"):
                lines.append((None, item.req("itemCode").text(), item.req("quantity").integer()))
    confirm_type = order.get("confirmType").integer(0)
    if confirm_type not in (0, 1):
        raise order.get("confirmType").fail("must be 0 (final) or 1 (partial)")
    return WmsUpdate(
        event_id=order.req("outBizCode").text(),
        fulfilment_id=order.req("deliveryOrderCode").text(),
        type=W.SHIPPED,
        raw_type=order.get("status").text() or "DELIVERED",
        occurred_at=_when([order.get("orderConfirmTime"), order.get("operateTime")], received_at),
        tracking_number=order.get("expressCode").text() or first.get("expressCode").text() or None,
        carrier_id=order.get("logisticsCode").text() or first.get("logisticsCode").text() or None,
        lines=lines,
        final=confirm_type == 0,
    )


def _process(request: Native, received_at: datetime | None) -> WmsUpdate:
    order, process = request.req("order"), request.req("process")
    code, status = order.req("orderCode").text(), process.req("processStatus").text()
    when = _when([process.get("operateTime")], received_at)
    return WmsUpdate(
        event_id=f"{code}:{status}:{process.get('operateTime').text() or when.isoformat()}",
        fulfilment_id=code,
        type=PROCESS.get(status.upper()),
        raw_type=status,
        occurred_at=when,
    )


def verify_request(params: dict, raw_body: bytes, secret: str) -> None:
    """Check Qimen's ``sign`` query parameter: upper hex MD5 of secret + the other parameters
    sorted by name as ``name`` + ``value`` + raw body + secret (``sign_method=md5``)."""
    given = params.get("sign") if isinstance(params, dict) else None
    if not isinstance(given, str) or not given:
        raise BadSignature("missing sign parameter")
    if not secret:
        raise BadSignature("no signing secret configured")
    body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and v is not None)
    expected = hashlib.md5(secret.encode() + text.encode() + body + secret.encode()).hexdigest().upper()
    if not hmac.compare_digest(expected.encode(), given.strip().upper().encode("utf-8", "replace")):
        raise BadSignature("sign does not match the request")


def delivery_order_create(
    delivery_order: dict,
    *,
    owner_code: str = "",
    warehouse_code: str | None = None,
    logistics_code: str | None = None,
    now: datetime | None = None,
) -> dict:
    """The ``deliveryorder.create`` request for the router's generic delivery order.

    In: the dict ``actors.dispatch.delivery_order`` builds (``fulfilment_id``,
    ``warehouse_id``, ``carrier_id``, ``ship_to`` address, ``lines`` of ``{line_no, sku,
    quantity}``, ``shipping_method``, ``cash_on_delivery``, optional ``created_at``).
    ``now`` stamps ``createTime`` when the dict has no ``created_at``. Raises PayloadError.
    """
    order = Native(delivery_order)
    ship_to = order.req("ship_to")
    created = order.get("created_at").when() if order.get("created_at").present else now
    if created is None:
        raise order.get("created_at").fail("is required (or pass now=)")
    cod = order.get("cash_on_delivery").money()
    lines = [
        {
            "orderLineNo": str(line.req("line_no").integer()),
            "ownerCode": owner_code,
            "itemCode": line.req("sku").text(),
            "inventoryType": "ZP",  # 正品: saleable stock
            "planQty": str(line.req("quantity").integer()),
        }
        for line in order.req("lines").items()
    ]
    street = ship_to.get("lines").items()
    receiver = {
        "name": ship_to.get("name").text(),
        "mobile": ship_to.get("phone").text(),
        "countryCode": ship_to.req("country").text(),
        "province": ship_to.get("region").text(),
        "city": ship_to.get("city").text(),
        "area": ship_to.get("district").text(),
        "zipCode": ship_to.get("postcode").text(),
        "detailAddress": " ".join(s.text() for s in street),
    }
    head = {
        "deliveryOrderCode": order.req("fulfilment_id").text(),
        "orderType": ORDER_TYPE,
        "warehouseCode": warehouse_code or order.req("warehouse_id").text(),
        "createTime": created.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S"),
        "logisticsCode": logistics_code or order.get("carrier_id").text(),
        "isUrgency": "Y" if order.get("shipping_method").text() == ShippingMethod.EXPRESS else "N",
        "receiverInfo": receiver,
    }
    if order.get("tracking_number").present:
        head["expressCode"] = order.get("tracking_number").text()
    if cod:
        head.update(buyerPayment="N", arAmount=format(cod, "f"))  # collect on delivery
    if not lines:
        raise PayloadError("lines", "must not be empty")
    return {"deliveryOrder": head, "orderLines": {"orderLine": lines}}


FORMAT = WmsFormat("qimen", parse)
