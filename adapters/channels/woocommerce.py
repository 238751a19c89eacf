"""WooCommerce order webhooks (``order.created``, ``order.updated``) and the order sync back.

In: the webhook's JSON body (the REST v3 Order resource) and its headers. Out: a
:class:`ChannelOrder`. Raised: BadSignature, PayloadError naming WooCommerce's field path.

Lines: ``subtotal`` is the line before discounts and ``total`` after them, both exclusive
of tax whatever the shop's setting, with their tax beside them (``subtotal_tax``,
``total_tax``). Coupons (``coupon_lines``) are already inside that difference and are not added
again; a negative fee line (a manual order discount) becomes an order-level discount (its tax
with it), a positive one is flagged. A unit price that does not come out to the cent is rounded
up and the excess added to the line discount (see ``unit_price``). The float ``price`` is never
used. The shipping fee is the sum of ``shipping_lines[].total``, 0.00 without any.

Tax: with ``prices_include_tax`` false the amounts are the exclusive ones and the tax is added
(line ``tax`` = ``total_tax``, ``shipping_tax`` = the shipping lines' ``total_tax``); with it
true they are what the customer saw, tax included (unit price ``(subtotal + subtotal_tax) /
quantity``, discount ``(subtotal + subtotal_tax) - (total + total_tax)``, shipping fee
``total + total_tax``) and the same taxes are contained. A line's rate is the sum of the
``tax_lines[].rate_percent`` its ``taxes`` name. ``total`` is the stated total the router's
payable is checked against.
"""

from __future__ import annotations

from datetime import timezone
from decimal import Decimal

from adapters.channels.channel_order import (
    ChannelFormat,
    ChannelOrder,
    checked,
    clip,
    money,
    order_id,
    shipping_method,
    unit_price,
    person_name,
    with_tax,
)
from adapters.channels.cn_regions import province_code, province_name
from adapters.errors import PayloadError
from adapters.native import Native, header, verify_hmac
from router.statuses import PaymentMethod, PaymentStatus

SIGNATURE_HEADER = "X-WC-Webhook-Signature"
DELIVERY_HEADER = "X-WC-Webhook-Delivery-ID"
PO_GATEWAY = "woocommerce_gateway_purchase_order"
_PO_KEYS = ("_po_number", "po_number", "purchase_order_number", "_purchase_order_number")
_PAID_STATUSES = {"processing", "completed", "refunded"}
_KNOWN = {
    "pending",
    "processing",
    "on-hold",
    "completed",
    "cancelled",
    "refunded",
    "failed",
    "checkout-draft",
    "trash",
}
NOTE_STATUSES = {"pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed"}
ZERO = Decimal("0")


def verify(headers, raw_body: bytes, secret: str | bytes) -> None:
    """Check ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(secret, raw body)); raises BadSignature."""
    verify_hmac(headers, SIGNATURE_HEADER, raw_body, secret)


def dedupe_key(headers, payload) -> str | None:
    """``"<id>@<date_modified_gmt>"``: one key per version of the order, whichever delivery
    brings it (WooCommerce's delivery id changes on every attempt); else the delivery id."""
    if isinstance(payload, dict) and payload.get("id") and payload.get("date_modified_gmt"):
        return f"{payload['id']}@{payload['date_modified_gmt']}"
    return header(headers, DELIVERY_HEADER) or None


def to_canonical(payload: dict, merchant_id: str) -> ChannelOrder:
    """Map a WooCommerce Order to a ChannelOrder for ``merchant_id``; raises PayloadError."""
    order = Native(payload)
    order.mapping()
    flags: list[str] = []
    status = order.get("status").text()
    inclusive = order.get("prices_include_tax").flag()
    rates = _rates(order)
    lines = [_line(item, inclusive, rates) for item in order.req("line_items").items()]
    if not lines:
        raise order.get("line_items").fail("must not be empty")
    shipping = order.get("shipping_lines").items()
    if any(s.get("method_id").text() == "local_pickup" for s in shipping):
        flags.append("local_pickup")
    if status not in _KNOWN:
        flags.append(f"unknown_status:{status}")
    elif status in ("on-hold", "failed", "refunded", "completed", "checkout-draft"):
        flags.append(f"status:{status}")
    canonical = {
        "channel_order_id": order_id(order.req("id").text(), "id"),
        "merchant_id": merchant_id,
        "currency": order.req("currency").text().upper(),
        "customer": _customer(order),
        "shipping_address": _address(order, flags),
        "lines": lines,
        "discounts": _fee_discounts(order, flags),
        "shipping_fee": money(sum((_shipping(s, inclusive) for s in shipping), ZERO)),
        "prices_include_tax": inclusive,
        "shipping_tax": money(sum((s.get("total_tax").money(ZERO) for s in shipping), ZERO)),
        "shipping_method": shipping_method(*(s.get("method_title").text() for s in shipping)),
        "payment": _payment(order, status),
        "placed_at": order.req("date_created_gmt").when(timezone.utc).isoformat(),
        "notes": clip(order.get("customer_note").text(), 2000),
        "b2b": bool(_po_number(order)),
    }
    if order.get("total").present:
        canonical["stated_total"] = money(order.get("total").money())
    return ChannelOrder(
        canonical=checked(canonical),
        raw=payload,
        native_status=status,
        flags=flags,
        updated_at=order.get("date_modified_gmt").when(timezone.utc),
        cancelled=status in ("cancelled", "refunded", "trash"),
        refunded=sum((abs(r.get("total").money(ZERO, negative=True)) for r in order.get("refunds").items()), ZERO),
    )


def _line(item: Native, inclusive: bool, rates: dict[str, Decimal]) -> dict:
    quantity = item.req("quantity").integer()
    if quantity < 1:
        raise item.get("quantity").fail("must be at least 1")
    subtotal, total = item.req("subtotal").money(), item.req("total").money()
    tax = item.get("total_tax").money(ZERO)
    if inclusive:  # what the customer saw: the exclusive figures plus their tax
        subtotal, total = subtotal + item.get("subtotal_tax").money(ZERO), total + tax
    if total > subtotal:
        raise item.get("total").fail("must not exceed subtotal")
    unit, rounding = unit_price(subtotal, quantity)
    line = {
        "sku": clip(item.req("sku").text(), 100),
        "quantity": quantity,
        "unit_price": money(unit),
        "discount": money(subtotal - total + rounding),
        "name": clip(item.get("name").text(), 300),
    }
    named = [rates[t.get("id").text()] for t in item.get("taxes").items()
             if t.get("id").text() in rates and t.get("total").money(ZERO, negative=True)]
    return with_tax(line, tax, sum(named, ZERO) if named else None)


def _rates(order: Native) -> dict[str, Decimal]:
    """Tax rate id -> rate as a fraction (``tax_lines[].rate_percent`` / 100)."""
    rates = {}
    for t in order.get("tax_lines").items():
        percent = t.get("rate_percent").money()
        if t.get("rate_id").present and percent is not None:
            rates[t.get("rate_id").text()] = (percent / 100).normalize()
    return rates


def _shipping(line: Native, inclusive: bool) -> Decimal:
    total = line.get("total").money(ZERO)
    return total + line.get("total_tax").money(ZERO) if inclusive else total


def _fee_discounts(order: Native, flags: list[str]) -> list[dict]:
    discounts = []
    for fee in order.get("fee_lines").items():
        amount = fee.get("total").money(ZERO, negative=True) + fee.get("total_tax").money(ZERO, negative=True)
        if amount < 0:
            discounts.append({"code": clip(fee.get("name").text(), 100), "amount": money(-amount)})
        elif amount > 0:
            flags.append(f"fee:{fee.get('name').text()}:{money(amount)}")
    return discounts


def _address(order: Native, flags: list[str]) -> dict:
    billing, addr = order.get("billing"), order.get("shipping")
    if not (addr.present and addr.get("country").present):
        flags.append("billing_address_used")
        addr = billing
    if not addr.present:
        raise order.get("shipping").fail("is required")
    country = addr.req("country").text().upper()
    region, region_code = addr.get("state").text(), ""
    if country == "CN" and (code := province_code(region)):  # Woo's "CN12": the province's name, and its code
        region, region_code = province_name(code) or region, f"CN-{code}"
    name = person_name(addr.get("first_name").text(), addr.get("last_name").text())
    phone = addr.get("phone").text() or (billing.get("phone").text() if billing.present else "")
    return {
        "name": clip(name, 200),
        "phone": clip(phone, 40),
        "country": country,
        "region": clip(region, 100),
        "region_code": region_code,
        "city": clip(addr.get("city").text(), 100),
        "postcode": clip(addr.get("postcode").text(), 20),
        "lines": [
            clip(addr.get(k).text(), 300)
            for k in ("company", "address_1", "address_2")
            if addr.get(k).present
        ],
    }


def _customer(order: Native) -> dict:
    billing = order.get("billing")
    if not billing.present:
        return {}
    customer_id = order.get("customer_id").integer(0)
    return {
        "id": str(customer_id) if customer_id else "",
        "name": clip(person_name(billing.get("first_name").text(), billing.get("last_name").text()), 200),
        "email": clip(billing.get("email").text(), 254),
        "phone": clip(billing.get("phone").text(), 40),
    }


def _po_number(order: Native) -> str:
    for meta in order.get("meta_data").items():
        if meta.get("key").text() in _PO_KEYS and meta.get("value").present:
            return clip(meta.get("value").text(), 100)
    return ""


def _payment(order: Native, status: str) -> dict:
    gateway = order.get("payment_method").text()
    paid_at = order.get("date_paid_gmt").when(timezone.utc)
    po_number = _po_number(order)
    if gateway == "cod":
        method, paid = PaymentMethod.CASH_ON_DELIVERY, paid_at is not None
    elif gateway == PO_GATEWAY or po_number:
        method, paid = PaymentMethod.TERMS, paid_at is not None
    else:
        method, paid = PaymentMethod.ONLINE, paid_at is not None or status in _PAID_STATUSES
    return {
        "method": method.value,
        "status": (PaymentStatus.PAID if paid else PaymentStatus.UNPAID).value,
        "transaction_id": clip(order.get("transaction_id").text(), 100),
        "po_number": po_number,
    }


def order_note(note: str, customer_note: bool = True) -> dict:
    """Body for ``POST /wp-json/wc/v3/orders/{id}/notes`` (e.g. "Shipped with SF, tracking ...")."""
    return {"note": note, "customer_note": customer_note}


def shipped_note(tracking_number: str, carrier: str, tracking_url: str | None = None) -> dict:
    """The customer-visible note announcing a shipment."""
    text = f"Shipped with {carrier}, tracking number {tracking_number}"
    return order_note(f"{text}: {tracking_url}" if tracking_url else text)


def status_update(status: str) -> dict:
    """Body for ``PUT /wp-json/wc/v3/orders/{id}``; raises PayloadError for a status WooCommerce lacks."""
    if status not in NOTE_STATUSES:
        raise PayloadError("status", f"must be one of {sorted(NOTE_STATUSES)}")
    return {"status": status}


def refund_request(amount: Decimal, reason: str, api_refund: bool = True) -> dict:
    """Body for ``POST /wp-json/wc/v3/orders/{id}/refunds``: ``amount`` takes precedence over line
    totals; with ``api_refund`` the order's payment gateway pays it back (else it is only recorded)."""
    if amount <= 0:
        raise PayloadError("amount", "must be greater than zero")
    return {"amount": format(amount, "f"), "reason": reason, "api_refund": api_refund}


FORMAT = ChannelFormat("woocommerce", verify, dedupe_key, to_canonical)
