"""Taobao / Tmall trades (TOP ``taobao.trade.fullinfo.get``), buyers' refunds
(``taobao.refunds.receive.get``) and the offline consignment back.

Taobao pushes no orders over HTTP: the router polls TOP (adapters/pollers/taobao.py, signed as
adapters/channels/top.py says), so this format's webhook path answers that (``polled``).

In: the ``trade`` object, bare or wrapped as ``{"trade": ...}`` or
``{"trade_fullinfo_get_response": {"trade": ...}}``. Out: a :class:`ChannelOrder`.
Raised: PayloadError naming the TOP field path (``orders.order.1.num``).

Sub-orders (``orders.order[]``, or a bare ``orders[]``) become lines: SKU ``outer_sku_id``
(the merchant's SKU code), else ``outer_iid``; unit price ``price``; line discount
``price * num - divide_order_fee``, where ``divide_order_fee`` is what the buyer pays for
the line after every discount, shop-level ones included, so no order-level discount is
added. ``post_fee`` is the shipping fee. Prices are consumer prices, tax included, and TOP
states no tax amount: the order is tax-inclusive with its tax unknown (zero). The trade's
``payment`` (what the buyer paid, shipping included) is the stated total the router's payable
is checked against, unless a closed sub-order was left out. Times are China time without a zone and get
+08:00. Provinces become ISO 3166-2:CN codes (``浙江省`` -> ``ZJ``). A sub-order closed
(refunded) before shipping is left out of a live trade; an open refund is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from adapters.channels.channel_order import (
    ChannelFormat,
    ChannelOrder,
    checked,
    clip,
    money,
    order_id,
    unit_price,
)
from adapters.channels.cn_regions import province_code
from adapters.errors import BadSignature, PayloadError
from adapters.native import CHINA_TIME, Native
from router.statuses import PaymentMethod, PaymentStatus

POLLED = ("Taobao pushes no orders over HTTP: they are polled from TOP (taobao.trades.sold.increment.get, "
          "then taobao.trade.fullinfo.get) by `orderrouter poll taobao`")
# what the poller asks for: the increment list only to find the trades, fullinfo for the rest
INCREMENT_FIELDS = "tid,tid_str,status,modified"
FULLINFO_FIELDS = ",".join((
    "tid", "tid_str", "status", "type", "buyer_nick", "buyer_open_uid", "created", "modified", "pay_time",
    "payment", "total_fee", "discount_fee", "adjust_fee", "post_fee", "alipay_no", "buyer_message",
    "receiver_name", "receiver_mobile", "receiver_phone", "receiver_country", "receiver_state", "receiver_city",
    "receiver_district", "receiver_town", "receiver_address", "receiver_zip", "orders"))
REFUND_FIELDS = "refund_id,tid,oid,refund_fee,status,modified,created,reason,has_good_return,good_status"
REFUND_SUCCESS = "SUCCESS"  # the money went back to the buyer (the seller agreed, or Taobao decided)
UNPAID = {"TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING", "WAIT_PRE_AUTH_CONFIRM"}
PAID = {
    "WAIT_SELLER_SEND_GOODS",
    "SELLER_CONSIGNED_PART",
    "WAIT_BUYER_CONFIRM_GOODS",
    "TRADE_BUYER_SIGNED",
    "TRADE_FINISHED",
    "PAID_FORBID_CONSIGN",
}
CLOSED = {"TRADE_CLOSED", "TRADE_CLOSED_BY_TAOBAO"}
_NO_REFUND = {"", "NO_REFUND", "CLOSED", "SELLER_REFUSE_BUYER"}
ZERO = Decimal("0")


def verify(headers, raw_body: bytes, secret: str | bytes) -> None:
    """Nothing pushed is taken: Taobao orders are polled (:data:`POLLED`); raises BadSignature."""
    raise BadSignature(POLLED)


def dedupe_key(headers, payload) -> str | None:
    """``"<tid>@<modified>"``: one key per version of the trade."""
    try:
        trade = _trade(Native(payload)).mapping()
    except PayloadError:
        return None
    if trade.get("tid") and trade.get("modified"):
        return f"{trade['tid']}@{trade['modified']}"
    return None


def to_canonical(payload: dict, merchant_id: str) -> ChannelOrder:
    """Map a TOP trade for ``merchant_id``; raises PayloadError."""
    trade = _trade(Native(payload))
    trade.mapping()
    flags: list[str] = []
    status = trade.req("status").text()
    cancelled = status in CLOSED
    if status not in UNPAID | PAID | CLOSED:
        flags.append(f"unknown_status:{status}")
    elif status not in ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_PAY"):
        flags.append(f"status:{status}")
    subs = trade.get("orders").items(singular="order")
    lines = [line for sub in subs if (line := _line(sub, flags, keep_closed=cancelled)) is not None]
    dropped = len(lines) < len(subs)
    if not lines:
        raise trade.get("orders").fail("must hold at least one open sub-order")
    cod = trade.get("type").text() == "cod"
    paid = not cod and (trade.get("pay_time").present or status in PAID)
    canonical = {
        "channel_order_id": order_id(trade.first("tid_str", "tid").text(), "tid"),
        "merchant_id": merchant_id,
        "currency": "CNY",
        "customer": {
            "id": clip(trade.first("buyer_open_uid", "buyer_nick").text(), 100),
            "name": clip(trade.get("buyer_nick").text(), 200),
        },
        "shipping_address": _address(trade, flags),
        "lines": lines,
        "discounts": [],  # divide_order_fee already carries every discount
        "shipping_fee": money(trade.get("post_fee").money(ZERO)),
        "payment": {
            "method": (PaymentMethod.CASH_ON_DELIVERY if cod else PaymentMethod.ONLINE).value,
            "status": (PaymentStatus.PAID if paid else PaymentStatus.UNPAID).value,
            "transaction_id": clip(trade.get("alipay_no").text(), 100),
        },
        "placed_at": trade.req("created").when(CHINA_TIME).isoformat(),
        "notes": clip(trade.get("buyer_message").text(), 2000),
        "prices_include_tax": True,
    }
    if trade.get("payment").present and not dropped:
        canonical["stated_total"] = money(trade.get("payment").money())
    return ChannelOrder(
        canonical=checked(canonical),
        raw=payload,
        native_status=status,
        flags=flags,
        updated_at=trade.get("modified").when(CHINA_TIME),
        cancelled=cancelled,
        route=status != "PAID_FORBID_CONSIGN",
    )


def _trade(root: Native) -> Native:
    root.mapping()
    if root.get("trade_fullinfo_get_response").present:
        return root.get("trade_fullinfo_get_response").req("trade")
    return root.get("trade") if root.get("trade").present else root


def _line(sub: Native, flags: list[str], keep_closed: bool) -> dict | None:
    oid = sub.get("oid").text()
    refund = sub.get("refund_status").text()
    if refund not in _NO_REFUND:
        flags.append(f"refund:{oid}:{refund}")
    if sub.get("status").text() in CLOSED and not keep_closed:
        flags.append(f"line_closed:{oid}")
        return None
    sku = sub.first("outer_sku_id", "outer_iid")
    if not sku.present:
        raise sub.get("outer_sku_id").fail("is required (or outer_iid)")
    quantity = sub.req("num").integer()
    if quantity < 1:
        raise sub.get("num").fail("must be at least 1")
    price = sub.req("price").money()
    paid = sub.first("divide_order_fee", "total_fee").money(price * quantity)
    if paid <= price * quantity:
        unit, discount = price, price * quantity - paid
    else:  # the seller raised the price (adjust_fee > 0): charge what the buyer pays
        flags.append(f"price_adjusted_up:{oid}")
        unit, discount = unit_price(paid, quantity)
    name = " ".join(t for t in (sub.get("title").text(), sub.get("sku_properties_name").text()) if t)
    return {
        "sku": clip(sku.text(), 100),
        "quantity": quantity,
        "unit_price": money(unit),
        "discount": money(discount),
        "name": clip(name, 300),
    }


def _address(trade: Native, flags: list[str]) -> dict:
    state = trade.req("receiver_state").text()  # kept as written; the canonical schema adds its code
    if province_code(state) is None:
        flags.append(f"unmapped_region:{state}")
    country = trade.get("receiver_country").text().upper()
    return {
        "name": clip(trade.get("receiver_name").text(), 200),
        "phone": clip(trade.first("receiver_mobile", "receiver_phone").text(), 40),
        "country": country if len(country) == 2 and country.isascii() and country.isalpha() else "CN",
        "region": clip(state, 100),
        "city": clip(trade.get("receiver_city").text(), 100),
        "district": clip(trade.get("receiver_district").text(), 100),
        "postcode": clip(trade.get("receiver_zip").text(), 20),
        "lines": [
            clip(trade.get(k).text(), 300)
            for k in ("receiver_town", "receiver_address")
            if trade.get(k).present
        ],
    }


OFFLINE_SEND = "taobao.logistics.offline.send"


def offline_consignment(
    tid: str | int, carrier_code: str, tracking_number: str, sub_tids: list[str | int] | None = None
) -> dict:
    """Business parameters of ``taobao.logistics.offline.send`` (the client adds the system
    parameters and the sign).

    ``carrier_code`` is Taobao's logistics company code (``SF``, ``YTO``, ``ZTO``...);
    ``sub_tids`` ships only those sub-orders (a split shipment: ``is_split`` 1).
    """
    params: dict = {"tid": str(tid), "out_sid": tracking_number, "company_code": carrier_code}
    if sub_tids:
        params.update(sub_tid=",".join(str(s) for s in sub_tids), is_split=1)
    return params


def sub_orders_of(raw: dict, skus: list[str]) -> list[str]:
    """The ``oid`` of the trade's sub-orders (in the raw fullinfo) whose SKU is one of ``skus``,
    as :func:`to_canonical` read them (``outer_sku_id``, else ``outer_iid``)."""
    try:
        subs = _trade(Native(raw)).get("orders").items(singular="order")
    except PayloadError:
        return []
    wanted = set(skus)
    return [sub.get("oid").text() for sub in subs
            if isinstance(sub.value, dict) and sub.get("oid").present
            and sub.first("outer_sku_id", "outer_iid").text() in wanted]


def consigned_with(raw_trade: dict, oids: list[str], tracking_number: str) -> bool:
    """Whether a fullinfo answer shows ``oids`` (every sub-order when empty) consigned under
    ``tracking_number`` (their ``invoice_no``): a consignment that already landed."""
    try:
        subs = [s for s in _trade(Native(raw_trade)).get("orders").items(singular="order")
                if isinstance(s.value, dict)]
    except PayloadError:
        return False
    chosen = [s for s in subs if not oids or s.get("oid").text() in oids]
    return bool(chosen) and all(s.get("invoice_no").text() == tracking_number for s in chosen)


@dataclass(frozen=True)
class Refund:
    """A buyer's refund as ``taobao.refunds.receive.get`` lists it."""

    refund_id: str
    tid: str
    oid: str
    amount: Decimal
    status: str
    modified: datetime | None


def refund_of(raw: dict, path: str = "refund") -> Refund:
    """Map one listed refund; raises PayloadError naming the TOP field."""
    node = Native(raw, path)
    node.mapping()
    amount = node.req("refund_fee").money()
    assert amount is not None, "req: present"
    return Refund(
        refund_id=order_id(node.req("refund_id").text(), f"{path}.refund_id"),
        tid=order_id(node.req("tid").text(), f"{path}.tid"),
        oid=node.get("oid").text(),
        amount=amount,
        status=node.req("status").text(),
        modified=node.get("modified").when(CHINA_TIME),
    )


FORMAT = ChannelFormat("taobao", verify, dedupe_key, to_canonical, polled=POLLED)
