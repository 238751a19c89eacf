"""Shopify order webhooks (``orders/create``, ``orders/updated``, ``orders/cancelled``) and fulfilments.

In: the webhook's JSON body (the REST Order resource) and its headers. Out: a
:class:`ChannelOrder`. Raised: BadSignature, PayloadError naming Shopify's own field path.

Money is read from ``*_set.shop_money`` where present (the shop's currency), else from the
plain field. Discounts: Shopify allocates every discount application, order-level codes
included, to line items (``line_items[].discount_allocations``) or to shipping lines
(``shipping_lines[].discount_allocations``). So a line's canonical discount is the sum of
its allocations, the shipping fee is the shipping price less its allocations, and the
order-level ``discount_codes`` are NOT added again. Only a remainder of ``total_discounts``
that no allocation explains becomes an order-level canonical discount (flagged). The
shipping fee is what the buyer paid for shipping, 0.00 when the order has no shipping
line (never None: the router must not charge freight the channel did not).

Tax: ``taxes_included`` says whether prices, discount allocations and shipping prices hold
their tax (contained) or it is added. A line's tax is the sum of its ``tax_lines[].price``
(its rate the sum of their ``rate``: state and county together), the shipping tax the sum of
the shipping lines' ``tax_lines[].price``. Tax ``total_tax`` holds that no line explains (an
order taxed only at the order level) is spread over the lines by their net amount and flagged
``tax_allocated``. ``total_price`` is the stated total the router's payable is checked against.
"""

from __future__ import annotations

import re
from decimal import Decimal

from adapters.channels.channel_order import (
    ChannelFormat,
    ChannelOrder,
    checked,
    clip,
    money,
    order_id,
    shipping_method,
    person_name,
    with_tax,
)
from adapters.errors import PayloadError
from adapters.native import Native, header, verify_hmac
from router.money import allocate, currency_quantum
from router.statuses import PaymentMethod, PaymentStatus
from router.subdivisions import subdivision_code

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
_PAID = {"paid", "partially_refunded", "refunded"}
_UNPAID = {"pending", "authorized", "partially_paid", "unpaid", "voided", "expired"}
ZERO = Decimal("0")


def verify(headers, raw_body: bytes, secret: str | bytes) -> None:
    """Check ``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(secret, raw body)); raises BadSignature."""
    verify_hmac(headers, SIGNATURE_HEADER, raw_body, secret)


def dedupe_key(headers, payload) -> str | None:
    """The delivery's ``X-Shopify-Webhook-Id`` (the same on Shopify's retries), or None."""
    return header(headers, WEBHOOK_ID_HEADER) or None


def to_canonical(payload: dict, merchant_id: str) -> ChannelOrder:
    """Map a Shopify Order to a ChannelOrder for ``merchant_id``; raises PayloadError."""
    order = Native(payload)
    order.mapping()
    flags: list[str] = []
    currency = (
        order.dig("total_price_set", "shop_money", "currency_code").text() or order.req("currency").text()
    )
    lines = [_line(item, flags) for item in order.req("line_items").items()]
    if not lines:
        raise order.get("line_items").fail("must not be empty")
    line_discounts = sum((Decimal(line["discount"]) for line in lines), ZERO)
    shipping_lines = order.get("shipping_lines").items()
    shipping_fee = sum((_amount(s, "price") or ZERO for s in shipping_lines), ZERO)
    shipping_off = sum((_allocated(s) for s in shipping_lines), ZERO)
    discounts = _unallocated(order, line_discounts + shipping_off, flags)
    shipping_tax = sum((_taxed(s) for s in shipping_lines), ZERO)
    _spread_unexplained_tax(order, lines, shipping_tax, currency, flags)
    cancelled = order.get("cancelled_at").present or order.get("cancel_reason").present
    canonical = {
        "channel_order_id": order_id(order.req("id").text(), "id"),
        "merchant_id": merchant_id,
        "currency": currency.upper(),
        "customer": _customer(order),
        "shipping_address": _address(order, flags),
        "lines": lines,
        "discounts": discounts,
        "shipping_fee": money(max(shipping_fee - shipping_off, ZERO)),
        "shipping_method": shipping_method(
            *(s.get("title").text() + " " + s.get("code").text() for s in shipping_lines)
        ),
        "payment": _payment(order, flags),
        "placed_at": (order.get("created_at").when() or order.req("processed_at").when()).isoformat(),
        "notes": clip(order.get("note").text(), 2000),
        "b2b": order.get("po_number").present or order.get("payment_terms").present,
        "prices_include_tax": order.get("taxes_included").flag(),
        "shipping_tax": money(shipping_tax),
    }
    stated = _amount(order, "total_price")
    if stated is not None:
        canonical["stated_total"] = money(stated)
    if order.get("cancel_reason").present:
        flags.append(f"cancel_reason:{order.get('cancel_reason').text()}")
    return ChannelOrder(
        canonical=checked(canonical),
        raw=payload,
        native_status="cancelled" if cancelled else order.get("financial_status").text(),
        flags=flags,
        updated_at=order.get("updated_at").when(),
        cancelled=cancelled,
    )


def _amount(node: Native, key: str) -> Decimal | None:
    shop = node.dig(f"{key}_set", "shop_money", "amount")
    return shop.money() if shop.present else node.get(key).money()


def _allocated(node: Native) -> Decimal:
    return sum((_amount(a, "amount") or ZERO for a in node.get("discount_allocations").items()), ZERO)


def _taxed(node: Native) -> Decimal:
    """The tax a line item or shipping line carries: the sum of its ``tax_lines``."""
    return sum((_amount(t, "price") or ZERO for t in node.get("tax_lines").items()), ZERO)


def _spread_unexplained_tax(order: Native, lines: list[dict], shipping_tax: Decimal, currency: str,
                            flags: list[str]) -> None:
    """``total_tax`` beyond what the lines and shipping carry goes to the lines by net amount."""
    total = _amount(order, "total_tax")
    explained = sum((Decimal(line.get("tax", "0")) for line in lines), ZERO) + shipping_tax
    if total is None or total <= explained:
        return
    rest, quantum = total - explained, currency_quantum(currency or "XXX")
    if rest % quantum:
        raise order.get("total_tax").fail(f"is finer than the smallest unit of {currency}")
    nets = [Decimal(line["unit_price"]) * line["quantity"] - Decimal(line["discount"]) for line in lines]
    for line, part in zip(lines, allocate(rest, [max(n, ZERO) for n in nets], quantum), strict=True):
        with_tax(line, Decimal(line.get("tax", "0")) + part)
    flags.append(f"tax_allocated:{money(rest)}")


def _line(item: Native, flags: list[str]) -> dict:
    quantity = item.req("quantity").integer()
    if quantity < 1:
        raise item.get("quantity").fail("must be at least 1")
    unit_price = _amount(item, "price")
    if unit_price is None:
        raise item.get("price").fail("is required")
    if item.get("discount_allocations").present:
        discount = _allocated(item)
    else:  # older payloads: the deprecated per-line total
        discount = _amount(item, "total_discount") or ZERO
    if discount > unit_price * quantity:
        raise item.get("discount_allocations").fail("exceed the line's price")
    sku = item.req("sku").text()
    if item.get("requires_shipping").value is False:
        flags.append(f"not_shipped:{sku}")
    line: dict = {
        "sku": clip(sku, 100),
        "quantity": quantity,
        "unit_price": money(unit_price),
        "discount": money(discount),
        "name": clip(item.first("name", "title").text(), 300),
    }
    rates = [t.get("rate").money() for t in item.get("tax_lines").items() if t.get("rate").present]
    return with_tax(line, _taxed(item), sum(rates, ZERO) if rates else None)


def _unallocated(order: Native, allocated: Decimal, flags: list[str]) -> list[dict]:
    total = _amount(order, "total_discounts") or ZERO
    rest = total - allocated
    if rest <= 0:
        return []
    codes = ",".join(c.get("code").text() for c in order.get("discount_codes").items())
    flags.append(f"unallocated_discount:{money(rest)}")
    return [{"code": clip(codes, 100), "amount": money(rest)}]


def _address(order: Native, flags: list[str]) -> dict:
    addr = order.get("shipping_address")
    if not addr.present:
        addr = order.get("billing_address")
        if not addr.present:
            raise order.get("shipping_address").fail("is required")
        flags.append("billing_address_used")
    name = addr.get("name").text() or person_name(addr.get("first_name").text(), addr.get("last_name").text())
    lat, lon = addr.get("latitude").value, addr.get("longitude").value
    coords = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon))
    return {
        "name": clip(name, 200),
        "phone": clip(addr.get("phone").text() or order.get("phone").text(), 40),
        "country": addr.req("country_code").text().upper(),
        "region": clip(addr.first("province", "province_code").text(), 100),  # as written; the code beside it
        "region_code": subdivision_code(addr.req("country_code").text().upper(), addr.get("province_code").text()),
        "city": clip(addr.get("city").text(), 100),
        "postcode": clip(addr.get("zip").text(), 20),
        "lines": [
            clip(addr.get(k).text(), 300) for k in ("company", "address1", "address2") if addr.get(k).present
        ],
        "lat": lat if coords and -90 <= lat <= 90 else None,
        "lon": lon if coords and -180 <= lon <= 180 else None,
    }


_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def _customer(order: Native) -> dict:
    # the language the customer shopped in (en, zh-CN): the router's e-mails to them use it; a
    # value that is no language tag is left out rather than refusing the order
    locale = order.get("customer_locale").text()
    extra = {"locale": locale} if _LOCALE.match(locale) else {}
    cust = order.get("customer")
    if not cust.present:
        return {"email": clip(order.get("email").text(), 254), **extra}
    name = person_name(cust.get("first_name").text(), cust.get("last_name").text())
    return {
        "id": clip(cust.get("id").text(), 100),
        "name": clip(name, 200),
        "email": clip(order.get("email").text() or cust.get("email").text(), 254),
        "phone": clip(cust.get("phone").text() or order.get("phone").text(), 40),
        **extra,
    }


def _payment(order: Native, flags: list[str]) -> dict:
    status = order.get("financial_status").text()
    gateways = [order.get("gateway").text()] + [g.text() for g in order.get("payment_gateway_names").items()]
    cod = any("cash on delivery" in g.lower() or g.lower() == "cod" for g in gateways)
    terms = order.get("payment_terms")
    if status not in _PAID | _UNPAID:
        flags.append(f"unknown_status:{status}")
    elif status in ("refunded", "partially_refunded", "voided", "expired", "partially_paid"):
        flags.append(f"payment:{status}")
    paid = status in _PAID
    method = PaymentMethod.CASH_ON_DELIVERY if cod else PaymentMethod.ONLINE
    if not cod and not paid and (order.get("po_number").present or terms.present):
        method = PaymentMethod.TERMS
    return {
        "method": method.value,
        "status": (PaymentStatus.PAID if paid else PaymentStatus.UNPAID).value,
        "terms_days": terms.get("due_in_days").integer() if terms.present else None,
        "po_number": clip(order.get("po_number").text(), 100),
    }


def fulfillment_request(
    fulfillment_order_id: int | str,
    tracking_number: str,
    company: str,
    lines: list[tuple[int | str, int]] | None = None,
    tracking_url: str | None = None,
    notify_customer: bool = True,
) -> dict:
    """Body for ``POST /admin/api/{version}/fulfillments.json``.

    ``lines`` are ``(fulfillment_order_line_item_id, quantity)`` pairs; None ships every
    remaining line of the fulfilment order.
    """
    return fulfillment_for_orders([(fulfillment_order_id, lines)], tracking_number, company, tracking_url,
                                  notify_customer)


def fulfillment_for_orders(
    groups: list[tuple[int | str, list[tuple[int | str, int]] | None]],
    tracking_number: str,
    company: str,
    tracking_url: str | None = None,
    notify_customer: bool = True,
) -> dict:
    """Body for ``POST /admin/api/{version}/fulfillments.json`` over several fulfillment orders:
    ``groups`` are ``(fulfillment_order_id, lines)``, ``lines`` as in :func:`fulfillment_request`."""
    by_orders = []
    for fulfillment_order_id, lines in groups:
        by_order: dict = {"fulfillment_order_id": fulfillment_order_id}
        if lines is not None:
            by_order["fulfillment_order_line_items"] = [{"id": i, "quantity": q} for i, q in lines]
        by_orders.append(by_order)
    tracking = {"number": tracking_number, "company": company}
    if tracking_url:
        tracking["url"] = tracking_url
    return {
        "fulfillment": {
            "line_items_by_fulfillment_order": by_orders,
            "tracking_info": tracking,
            "notify_customer": notify_customer,
        }
    }


def refund_calculation(currency: str, lines: list[tuple[int | str, int]]) -> dict:
    """Body for ``POST /admin/api/{version}/orders/{id}/refunds/calculate.json``: ``lines`` are
    ``(line_item_id, quantity)``, not restocked (our warehouses restock returns themselves)."""
    return {"refund": {"currency": currency, "shipping": {"amount": "0.00"},
                       "refund_line_items": [{"line_item_id": i, "quantity": q, "restock_type": "no_restock"}
                                             for i, q in lines]}}


def refund_request(calculated: dict, amount: Decimal, currency: str, lines: list[tuple[int | str, int]],
                   note: str, notify: bool = True) -> dict:
    """Body for ``POST /admin/api/{version}/orders/{id}/refunds.json`` from the calculate answer:
    its suggested transactions become ``refund`` ones (same ``parent_id`` and gateway), taking
    ``amount`` in order, each capped at its ``maximum_refundable``. Raises PayloadError when the
    answer has no transaction or cannot cover ``amount``."""
    suggested = Native(calculated).req("refund").get("transactions").items()
    left, transactions = amount, []
    for t in suggested:
        if left <= 0:
            break
        cap = t.get("maximum_refundable").money(left)
        take = min(left, cap)
        if take > 0:
            transactions.append({"parent_id": t.req("parent_id").value, "amount": format(take, "f"),
                                 "kind": "refund", "gateway": t.get("gateway").text()})
            left -= take
    if left > 0:
        raise PayloadError("refund.transactions", f"cannot cover {amount} (short by {left})")
    return {"refund": {"currency": currency, "notify": notify, "note": note,
                       "refund_line_items": [{"line_item_id": i, "quantity": q, "restock_type": "no_restock"}
                                             for i, q in lines],
                       "transactions": transactions}}


FORMAT = ChannelFormat("shopify", verify, dedupe_key, to_canonical)
