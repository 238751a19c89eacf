"""Qimen (奇门) WMS API: ``deliveryorder.confirm`` and ``orderprocess.report`` in,
``deliveryorder.create`` out. JSON form (format=json), which mirrors the XML: a list may
come as ``{"orderLine": [...]}`` or, with one element, ``{"orderLine": {...}}``.

In: the ``request`` body (bare or as ``{"request": ...}``). Out: ``[WmsUpdate]``.
Raised: PayloadError naming the Qimen field (``orderLines.orderLine.0.actualQty``);
BadSignature from :func:`verify` (``sign`` over the query parameters and the body, as the
Qimen / TOP SDKs compute it; it returns the signed ``timestamp`` for a freshness check). Times are China time without a zone: +08:00.

``deliveryorder.confirm``: ``outBizCode`` is the event id (the same on the WMS's
retries), ``deliveryOrderCode`` our fulfilment id, ``confirmType`` 0 the final
confirmation and 1 a partial one (``final=False``; more follow). The type is shipped;
lines carry ``actualQty`` (what left the warehouse); every package's ``expressCode`` /
``logisticsCode`` is kept in ``packages`` (a delivery order may leave in several boxes). ``orderprocess.report``: status
reports (ACCEPT, PICK, PACKAGE, DELIVERED, REJECT, CANCELED...); its event id is
``"<orderCode>:<processStatus>:<operateTime>"``.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timezone

from adapters.channels import top
from adapters.errors import BadSignature, PayloadError
from adapters.native import CHINA_TIME, Native
from adapters.wms_formats.wms_update import WmsFormat, WmsUpdate, line_no
from router.dates import event_time_problem
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
            moment = node.when(CHINA_TIME)
            if moment is not None and (problem := event_time_problem(moment, datetime.now(timezone.utc))):
                raise node.fail(problem)  # a confirmation dated 9999 is junk
            return moment  # type: ignore[return-value]  # None for a present but empty time, as before
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
    parcels: list[tuple[str, str | None]] = []
    for package in packages:  # several boxes, each with its own waybill: every one is kept
        package.mapping()
        number = package.get("expressCode").text()
        if number and all(number != n for n, _ in parcels):
            parcels.append((number, package.get("logisticsCode").text() or order.get("logisticsCode").text() or None))
    head_number = order.get("expressCode").text()
    if head_number and all(head_number != n for n, _ in parcels):
        parcels.insert(0, (head_number, order.get("logisticsCode").text() or None))
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
        packages=parcels,
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


SIGN_METHODS = top.SIGN_METHODS
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # GMT+8, as every Qimen / TOP system parameter


def sign(params: dict, raw_body: bytes | str, secret: str, method: str | None = None) -> str:
    """Qimen's ``sign`` (the TOP SDK's ``signTopRequest`` with the body): the parameters other than
    ``sign`` with a non-empty value, sorted by name, as ``name`` + ``value``, then the raw body; with
    ``sign_method`` ``md5`` (the default) upper hex MD5 of secret + that + secret, with ``hmac`` upper
    hex HMAC-MD5 of it keyed by the secret, with ``hmac-sha256`` upper hex HMAC-SHA256.
    ``method`` defaults to the parameters' own ``sign_method``; an unknown one raises BadSignature."""
    return top.sign(params, secret, method, raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body))


def verify_request(params: dict, raw_body: bytes, secret: str) -> None:
    """Check Qimen's ``sign`` query parameter (see :func:`sign`); raises BadSignature."""
    given = params.get("sign") if isinstance(params, dict) else None
    if not isinstance(given, str) or not given:
        raise BadSignature("missing sign parameter")
    if not secret:
        raise BadSignature("no signing secret configured")
    expected = sign(params, raw_body, secret)
    if not hmac.compare_digest(expected.encode(), given.strip().upper().encode("utf-8", "replace")):
        raise BadSignature("sign does not match the request")


def signed_at(params: dict) -> datetime:
    """The request's signed ``timestamp`` (``yyyy-MM-dd HH:mm:ss``, GMT+8); raises BadSignature
    when it is missing or not such a time (it is a required system parameter)."""
    text = params.get("timestamp") if isinstance(params, dict) else None
    try:
        return datetime.strptime(str(text).strip(), TIMESTAMP_FORMAT).replace(tzinfo=CHINA_TIME)
    except ValueError:
        raise BadSignature("timestamp parameter missing or not yyyy-MM-dd HH:mm:ss") from None


def verify(headers, raw_body: bytes, secret: str, query: dict | None = None) -> datetime:
    """A Qimen call as the router receives it: ``sign`` checked over the query parameters and the
    body (:func:`verify_request`). Returns the signed ``timestamp`` for the caller's freshness
    check; raises BadSignature."""
    params = dict(query or {})
    verify_request(params, raw_body, secret)
    return signed_at(params)


def request_params(method: str, customer_id: str, secret: str, raw_body: bytes, now: datetime,
                   sign_method: str = "md5") -> dict:
    """The query string of a Qimen call (``method`` e.g. ``deliveryorder.create``), signed with
    the app ``secret`` over ``raw_body`` by ``sign_method``; the app key is the customer id."""
    params = {"method": method, "format": "json", "v": "2.0", "sign_method": sign_method, "app_key": customer_id,
              "customerId": customer_id, "timestamp": now.astimezone(CHINA_TIME).strftime(TIMESTAMP_FORMAT)}
    return {**params, "sign": sign(params, raw_body, secret)}


def response_flag(body) -> tuple[bool, str]:
    """``(success, message)`` of a Qimen response, bare or as ``{"response": ...}``: ``flag``
    ``success`` or ``failure`` with ``code`` and ``message``. Raises PayloadError without a flag."""
    root = Native(body)
    answer = root.get("response") if root.get("response").present else root
    flag = answer.req("flag").text().lower()
    if flag not in ("success", "failure"):
        raise answer.get("flag").fail("must be success or failure")
    return flag == "success", f"{answer.get('code').text()} {answer.get('message').text()}".strip()


def order_cancel(fulfilment_id: str, *, warehouse_code: str, owner_code: str = "", reason: str = "") -> dict:
    """The ``order.cancel`` request for a delivery order (our fulfilment id as ``orderCode``)."""
    return {"warehouseCode": warehouse_code, "ownerCode": owner_code, "orderCode": fulfilment_id,
            "orderType": ORDER_TYPE, "cancelReason": reason}


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


FORMAT = WmsFormat("qimen", parse, verify)
