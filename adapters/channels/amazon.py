"""Amazon Selling Partner API orders: one ``getOrders`` Order plus its ``getOrderItems`` items.

In: the Order and OrderItem dicts as the Orders API v0 returns them. Out: a
:class:`ChannelOrder`. Raised: PayloadError naming the SP-API field (``items.1.ItemPrice``).

``ItemPrice.Amount`` is the LINE total (price x quantity), so the unit price is
``Amount / QuantityOrdered``: exact when that division terminates (``10.05 / 2 = 5.025``,
more than two places kept), otherwise rounded up to the cent with the excess added to
the line discount, so the line's net total is still Amazon's exactly. ``PromotionDiscount``
is the line discount; shipping is ``ShippingPrice - ShippingDiscount`` summed over items.
Tax: a line's is ``ItemTax - PromotionDiscountTax``, the freight's ``ShippingTax -
ShippingDiscountTax`` summed over items. In the US and Canada prices exclude it (sales tax is
added); in every other marketplace they include it (VAT, GST, consumption tax: contained). The
marketplace is ``MarketplaceId``, else the ship-to country. ``OrderTotal`` is the stated total
the router's payable is checked against. Without a restricted data token, ``ShippingAddress`` carries only
city, state, postcode and country: that is enough to route, and flagged
``address_restricted``. FBA orders (``FulfillmentChannel`` AFN) map with ``route=False``.
Pending orders usually carry no prices and raise PayloadError: poll them again later.
"""

from __future__ import annotations

from datetime import datetime, timezone
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
    with_tax,
)
from adapters.errors import PayloadError
from adapters.native import Native, verify_hmac
from router.statuses import PaymentMethod, PaymentStatus

SIGNATURE_HEADER = "X-Router-Hmac-Sha256"  # our own relay (the poller is ours); SP-API pushes no orders
_UNPAID = {"Pending", "PendingAvailability"}
_PAID = {"Unshipped", "PartiallyShipped", "Shipped", "InvoiceUnconfirmed", "Unfulfillable"}
_EXPRESS = {"Expedited", "NextDay", "SameDay", "SecondDay", "Priority"}
_MARKETPLACE_COUNTRY = {
    "ATVPDKIKX0DER": "US",
    "A2EUQ1WTGCTBG2": "CA",
    "A1AM78C64UM0Y8": "MX",
    "A2Q3Y263D00KWC": "BR",
    "A1F83G8C2ARO7P": "GB",
    "A1PA6795UKMFR9": "DE",
    "A13V1IB3VIYZZH": "FR",
    "APJ6JRA9NG5V4": "IT",
    "A1RKKUPIHCS9HS": "ES",
    "A1805IZSGTT6HS": "NL",
    "A2NODRKZP88ZB9": "SE",
    "A1C3SOZRARQ6R3": "PL",
    "A1VC38T7YXB528": "JP",
    "A21TJRUUN4KGV": "IN",
    "A39IBJ37TRP1C6": "AU",
    "A19VAU5U5O7RUS": "SG",
    "A2VIGQ35RCS4UG": "AE",
    "A17E79C6D8DWNP": "SA",
    "A33AVAJ2PDY3EV": "TR",
}
ZERO = Decimal("0")
TAX_ADDED = {"US", "CA"}  # marketplaces whose prices exclude tax


def verify(headers, raw_body: bytes, secret: str | bytes) -> None:
    """Check ``X-Router-Hmac-Sha256`` = base64(HMAC-SHA256(secret, raw body)) set by our relay."""
    verify_hmac(headers, SIGNATURE_HEADER, raw_body, secret)


def dedupe_key(headers, payload) -> str | None:
    """``"<AmazonOrderId>@<LastUpdateDate>"``: one key per version of the order."""
    order = payload.get("order") if isinstance(payload, dict) else None
    if isinstance(order, dict) and order.get("AmazonOrderId") and order.get("LastUpdateDate"):
        return f"{order['AmazonOrderId']}@{order['LastUpdateDate']}"
    return None


def to_canonical(payload: dict, merchant_id: str) -> ChannelOrder:
    """Map ``{"order": <Order>, "items": [<OrderItem>, ...]}`` (the HTTP shape); raises PayloadError."""
    root = Native(payload)
    root.mapping()
    return _map(root.req("order"), root.req("items"), merchant_id, payload)


def map_order(order: dict, items: list[dict], merchant_id: str) -> ChannelOrder:
    """Map an SP-API Order and its OrderItems for ``merchant_id``; raises PayloadError."""
    return _map(Native(order, "order"), Native(items, "items"), merchant_id, {"order": order, "items": items})


def _map(order: Native, items: Native, merchant_id: str, raw: dict) -> ChannelOrder:
    order.mapping()
    flags: list[str] = []
    status = order.req("OrderStatus").text()
    afn = order.get("FulfillmentChannel").text() == "AFN"
    rows = items.items()
    lines = [_line(item, flags) for item in rows]
    lines = [line for line in lines if line is not None]
    if not lines:
        raise items.fail("must hold at least one item with QuantityOrdered >= 1")
    shipping = sum((i.dig("ShippingPrice", "Amount").money(ZERO) for i in rows), ZERO)
    shipping_off = sum((i.dig("ShippingDiscount", "Amount").money(ZERO) for i in rows), ZERO)
    shipping_tax = sum((_net_tax(i, "ShippingTax", "ShippingDiscountTax") for i in rows), ZERO)
    currency = (
        order.dig("OrderTotal", "CurrencyCode").text() or rows[0].dig("ItemPrice", "CurrencyCode").text()
    )
    if status not in _PAID | _UNPAID | {"Canceled"}:
        flags.append(f"unknown_status:{status}")
    elif status not in ("Unshipped", "Pending"):
        flags.append(f"status:{status}")
    flags += [
        f
        for f, on in (
            ("prime", order.get("IsPrime").flag()),
            ("replacement", order.get("IsReplacementOrder").flag()),
        )
        if on
    ]
    category = order.get("ShipmentServiceLevelCategory").text()
    address = _address(order, flags)
    marketplace = _MARKETPLACE_COUNTRY.get(order.get("MarketplaceId").text()) or address.get("country")
    canonical = {
        "channel_order_id": order_id(order.req("AmazonOrderId").text(), f"{order.path}.AmazonOrderId"),
        "merchant_id": merchant_id,
        "currency": currency.upper(),
        "customer": _customer(order),
        "shipping_address": address,
        "lines": lines,
        "discounts": [],  # promotions are per item, already in the lines
        "shipping_fee": money(max(shipping - shipping_off, ZERO)),
        "prices_include_tax": marketplace not in TAX_ADDED,
        "shipping_tax": money(shipping_tax),
        "shipping_method": shipping_method("express" if category in _EXPRESS else ""),
        "payment": _payment(order, status),
        "placed_at": order.req("PurchaseDate").when().isoformat(),
        "b2b": order.get("IsBusinessOrder").flag(),
    }
    stated = order.dig("OrderTotal", "Amount")
    if stated.present:
        canonical["stated_total"] = money(stated.money())
    return ChannelOrder(
        canonical=checked(canonical),
        raw=raw,
        native_status=status,
        flags=flags,
        updated_at=order.get("LastUpdateDate").when(),
        cancelled=status == "Canceled",
        route=not afn,
        ship_by=order.get("LatestShipDate").when(),
    )


def _line(item: Native, flags: list[str]) -> dict | None:
    sku = item.req("SellerSKU").text()
    quantity = item.req("QuantityOrdered").integer()
    if quantity < 1:  # items cancelled before shipment keep their row with quantity 0
        flags.append(f"zero_quantity:{sku}")
        return None
    line_total = item.dig("ItemPrice", "Amount")
    if not line_total.present:
        raise item.get("ItemPrice").fail("is required")
    total = line_total.money()
    unit, rounding = unit_price(total, quantity)
    promotion = item.dig("PromotionDiscount", "Amount").money(ZERO)
    if promotion > total:
        raise item.get("PromotionDiscount").fail("exceeds ItemPrice")
    line = {
        "sku": clip(sku, 100),
        "quantity": quantity,
        "unit_price": money(unit),
        "discount": money(promotion + rounding),
        "name": clip(item.get("Title").text(), 300),
    }
    return with_tax(line, _net_tax(item, "ItemTax", "PromotionDiscountTax"))


def _net_tax(item: Native, tax: str, discount_tax: str) -> Decimal:
    """A tax less the tax on its discount, never below zero."""
    return max(item.dig(tax, "Amount").money(ZERO) - item.dig(discount_tax, "Amount").money(ZERO), ZERO)


def _address(order: Native, flags: list[str]) -> dict:
    addr = order.get("ShippingAddress")
    if not addr.present:
        country = _MARKETPLACE_COUNTRY.get(order.get("MarketplaceId").text())
        if country is None:
            raise addr.fail("is required (or a known MarketplaceId)")
        flags.append("address_missing")
        return {"country": country}
    if not (addr.get("Name").present and addr.get("AddressLine1").present):
        flags.append("address_restricted")
    return {
        "name": clip(addr.get("Name").text(), 200),
        "phone": clip(addr.get("Phone").text(), 40),
        "country": addr.req("CountryCode").text().upper(),
        "region": clip(addr.get("StateOrRegion").text(), 100),
        "city": clip(addr.get("City").text(), 100),
        "district": clip(addr.first("District", "County").text(), 100),
        "postcode": clip(addr.get("PostalCode").text(), 20),
        "lines": [
            clip(addr.get(k).text(), 300)
            for k in ("AddressLine1", "AddressLine2", "AddressLine3")
            if addr.get(k).present
        ],
    }


def _customer(order: Native) -> dict:
    buyer = order.get("BuyerInfo")
    if not buyer.present:
        return {}
    return {
        "name": clip(buyer.get("BuyerName").text(), 200),
        "email": clip(buyer.get("BuyerEmail").text(), 254),
    }


def _payment(order: Native, status: str) -> dict:
    cod = order.get("PaymentMethod").text().upper() == "COD"
    paid = status in _PAID and not cod
    po_number = (
        order.dig("BuyerInfo", "PurchaseOrderNumber").text() or order.get("PurchaseOrderNumber").text()
    )
    return {
        "method": (PaymentMethod.CASH_ON_DELIVERY if cod else PaymentMethod.ONLINE).value,
        "status": (PaymentStatus.PAID if paid else PaymentStatus.UNPAID).value,
        "po_number": clip(po_number, 100),
    }


DEFAULT_MARKETPLACE = "ATVPDKIKX0DER"  # amazon.com


def shipment_confirmation(
    raw: dict,
    lines: list[tuple[str, int]],
    *,
    package_reference_id: int,
    tracking_number: str,
    carrier_code: str | None,
    carrier_name: str,
    ship_date: datetime,
    shipping_method: str = "",
    marketplace_id: str | None = None,
) -> dict:
    """Body of ``confirmShipment`` (``POST /orders/v0/orders/{orderId}/shipmentConfirmation``)
    for one package of an order we polled.

    ``raw`` is the order as polled (``{"order", "items"}``); ``lines`` are the package's
    ``(sku, quantity)``, matched to ``OrderItemId`` by ``SellerSKU`` (an SKU on several items
    fills them in order). ``package_reference_id`` is a positive number unique in the order
    (sending it again edits that package). A ``carrier_code`` outside Amazon's list is None:
    ``"Other"`` with ``carrier_name``. Raises PayloadError naming the line that matches no item.
    """
    order = Native(raw).req("order")
    room = [[i.req("SellerSKU").text(), i.req("OrderItemId").text(), i.get("QuantityOrdered").integer(0)]
            for i in Native(raw).req("items").items()]
    items: dict[str, int] = {}
    for index, (sku, quantity) in enumerate(lines):
        left = quantity
        for row in room:
            if row[0] == sku and row[2] > 0 and left > 0:
                take = min(row[2], left)
                row[2] -= take
                left -= take
                items[row[1]] = items.get(row[1], 0) + take
        if left:
            raise PayloadError(f"lines.{index}", f"{sku} x{quantity} is more than the order's items hold")
    if package_reference_id < 1:
        raise PayloadError("package_reference_id", "must be a positive number")
    detail = {
        "packageReferenceId": str(package_reference_id),
        "carrierCode": carrier_code or "Other",
        "trackingNumber": tracking_number,
        "shipDate": ship_date.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "orderItems": [{"orderItemId": i, "quantity": q} for i, q in items.items()],
    }
    if not carrier_code:
        detail["carrierName"] = carrier_name
    if shipping_method:
        detail["shippingMethod"] = shipping_method
    return {"marketplaceId": marketplace_id or order.get("MarketplaceId").text() or DEFAULT_MARKETPLACE,
            "packageDetail": detail}


FORMAT = ChannelFormat("amazon", verify, dedupe_key, to_canonical)
