"""The canonical order on the wire, as marshmallow schemas, and its conversion to the domain.

Channel adapters map their native payloads onto the plain dict this schema loads; the
``manual`` channel posts it as is. Errors name the field path (marshmallow's nested
error dict, flattened by :func:`field_errors`).
"""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from router.dates import placed_at_problem
from router.geo import region_key
from router.model import Address, Customer, Order, OrderLine
from router.money import currency_quantum
from router.statuses import PaymentMethod, PaymentStatus, ShippingMethod
from router.subdivisions import subdivision_code

MAX_LINES = 500


MONEY_RANGE = validate.Range(min=Decimal("0"), max=Decimal("100000000"))


def at_most_places(places: int = 4):
    """Money has a handful of decimal places; more digits than storage holds exactly are refused,
    not rounded away."""
    def check(value: Decimal) -> None:
        if value is not None and value.as_tuple().exponent < -places:
            raise ValidationError(f"at most {places} decimal places")
    check.places = places  # type: ignore[attr-defined]  # the OpenAPI document's pattern says it (adapters/http/openapi.py)
    return check


def _money(**kw):
    return fields.Decimal(as_string=True, allow_nan=False, validate=[MONEY_RANGE, at_most_places()], **kw)


class StrictBoolean(fields.Boolean):
    """A JSON boolean and nothing else: ``0``, ``1`` and ``"true"`` are refused, not guessed."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):  # 0 == False in a set, so truthy/falsy cannot say this
            raise self.make_error("invalid", input=value)
        return value


class StrictSchema(Schema):
    class Meta:
        ordered = True


class AddressSchema(StrictSchema):
    name = fields.String(load_default="", validate=validate.Length(max=200))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$", error="must be an ISO 3166-1 alpha-2 code"))
    region = fields.String(load_default="", validate=validate.Length(max=100))
    city = fields.String(load_default="", validate=validate.Length(max=100))
    district = fields.String(load_default="", validate=validate.Length(max=100))
    postcode = fields.String(load_default="", validate=validate.Length(max=20))
    lines = fields.List(fields.String(validate=validate.Length(max=300)), load_default=list,
                        validate=validate.Length(max=5))
    lat = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=-90, max=90))
    lon = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=-180, max=180))
    # Region, city and district are kept as written; the ISO 3166-2 subdivision beside them is
    # given ("CN-ZJ" or "ZJ") or derived from the written region when it names one (router/subdivisions.py).
    region_code = fields.String(load_default="", validate=validate.Regexp(
        r"^(?:(?:[A-Z]{2}-)?[A-Z0-9]{1,3})?$", error="must be an ISO 3166-2 subdivision code (CN-ZJ or ZJ)"))

    @validates_schema
    def _code_of_the_country(self, data, **_):
        code, country = data.get("region_code") or "", data.get("country") or ""
        if "-" in code and country and not code.startswith(country + "-"):
            raise ValidationError(f"is not a subdivision of {country}", "region_code")

    @post_load
    def _with_region_code(self, data, **_):
        code = data.get("region_code")
        data["region_code"] = region_key(data["country"], code) if code else \
            subdivision_code(data["country"], data.get("region", ""))
        return data


class CustomerSchema(StrictSchema):
    id = fields.String(load_default="", validate=validate.Length(max=100))
    name = fields.String(load_default="", validate=validate.Length(max=200))
    email = fields.String(load_default="", validate=validate.Length(max=254))
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    tier = fields.String(load_default="standard", validate=validate.Length(max=40))
    # the customer's language for the router's e-mails (zh-CN, en-US, ...; router/notifications.py)
    locale = fields.String(load_default="", validate=validate.Regexp(
        r"^(?:[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*)?$", error="must be a language tag such as zh-CN or en"))


class OrderLineSchema(StrictSchema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=100))
    merchant_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100000))
    unit_price = _money(required=True)
    discount = _money(load_default=Decimal("0"))
    name = fields.String(load_default="", validate=validate.Length(max=300))
    # the line's tax after its discounts: added to the payable, or contained in the prices
    # (the order's prices_include_tax); the rate is recorded as stated (0.2 for 20%)
    tax = _money(load_default=Decimal("0"))
    tax_rate = fields.Decimal(as_string=True, allow_nan=False, load_default=None, allow_none=True,
                              validate=[validate.Range(min=Decimal("0"), max=Decimal("1")), at_most_places(6)])


class DiscountSchema(StrictSchema):
    code = fields.String(load_default="", validate=validate.Length(max=100))
    amount = _money(required=True)


class PaymentSchema(StrictSchema):
    method = fields.Enum(PaymentMethod, by_value=True, load_default=PaymentMethod.ONLINE)
    status = fields.Enum(PaymentStatus, by_value=True, load_default=PaymentStatus.UNPAID,
                         validate=validate.OneOf([PaymentStatus.UNPAID, PaymentStatus.PAID]))
    transaction_id = fields.String(load_default="", validate=validate.Length(max=100))
    terms_days = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0, max=365))
    po_number = fields.String(load_default="", validate=validate.Length(max=100))


def _plausible_placed_at(placed_at) -> None:
    """Not before 2000, not more than a day ahead (router/dates.py): a year 9999 is refused here,
    before anything is stored, rather than overflowing a deadline later."""
    problem = placed_at_problem(placed_at, datetime.now(timezone.utc))
    if problem:
        raise ValidationError(problem)


class CanonicalOrderSchema(StrictSchema):
    """The canonical order a channel pushes (``manual`` and generic channels post it as is)."""

    channel_order_id = fields.String(required=True, validate=validate.Regexp(r"^[\w\-:/#]{1,100}$",
                                     error="1-100 letters, digits, _ - : / #"))
    merchant_id = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$", error="must be an ISO 4217 code"))
    customer = fields.Nested(CustomerSchema, load_default=dict)
    shipping_address = fields.Nested(AddressSchema, required=True)
    lines = fields.List(fields.Nested(OrderLineSchema), required=True, validate=validate.Length(min=1, max=MAX_LINES))
    discounts = fields.List(fields.Nested(DiscountSchema), load_default=list, validate=validate.Length(max=20))
    shipping_fee = _money(load_default=None, allow_none=True)
    shipping_method = fields.Enum(ShippingMethod, by_value=True, load_default=ShippingMethod.STANDARD)
    payment = fields.Nested(PaymentSchema, load_default=dict)
    placed_at = fields.AwareDateTime(required=True, validate=_plausible_placed_at)
    notes = fields.String(load_default="", validate=validate.Length(max=2000))
    b2b = StrictBoolean(load_default=False)
    # Tax: prices (lines, discounts, shipping fee) include it, or it is added; the tax on freight;
    # and what the channel says the customer pays, checked against the router's payable at routing.
    prices_include_tax = StrictBoolean(load_default=False)
    shipping_tax = _money(load_default=Decimal("0"))
    stated_total = _money(load_default=None, allow_none=True)

    @validates_schema
    def _amounts_fit_the_currency(self, data, **_):
        """1.5 JPY does not exist: an amount (or line total) finer than the currency's smallest unit
        is refused."""
        if not isinstance(data.get("currency"), str):
            return
        quantum = currency_quantum(data["currency"])
        message = [f"finer than the smallest unit of {data['currency']} ({quantum})"]
        errors: dict = {}
        for i, line in enumerate(data.get("lines", [])):
            # a unit price may be finer (a marketplace's line total over its quantity), the line total not
            if line.get("unit_price") is not None and (line["unit_price"] * line.get("quantity", 1)) % quantum:
                errors.setdefault("lines", {}).setdefault(i, {})["unit_price"] = [
                    f"unit_price x quantity is {message[0]}"]
            for key in ("discount", "tax"):
                if line.get(key) is not None and line[key] % quantum:
                    errors.setdefault("lines", {}).setdefault(i, {})[key] = message
        for i, discount in enumerate(data.get("discounts", [])):
            if discount.get("amount") is not None and discount["amount"] % quantum:
                errors.setdefault("discounts", {})[i] = {"amount": message}
        for key in ("shipping_fee", "shipping_tax", "stated_total"):
            if data.get(key) is not None and data[key] % quantum:
                errors[key] = message
        if errors:
            raise ValidationError(errors)

    @validates_schema
    def _tax_fits_the_prices(self, data, **_):
        """Tax contained in a price cannot exceed it; tax on freight needs the freight charged."""
        errors: dict = {}
        if data.get("prices_include_tax"):
            for i, line in enumerate(data.get("lines", [])):
                if None in (line.get("unit_price"), line.get("quantity"), line.get("tax")):
                    continue
                net = line["unit_price"] * line["quantity"] - (line.get("discount") or 0)
                if line["tax"] > max(net, Decimal("0")):
                    errors.setdefault("lines", {}).setdefault(i, {})["tax"] = [
                        f"tax {line['tax']} exceeds the tax-inclusive line total {net}"]
        shipping_tax, fee = data.get("shipping_tax") or Decimal("0"), data.get("shipping_fee")
        if shipping_tax and fee is None:
            errors["shipping_tax"] = ["needs the shipping_fee it is charged on"]
        elif shipping_tax and data.get("prices_include_tax") and shipping_tax > fee:
            errors["shipping_tax"] = [f"exceeds the tax-inclusive shipping_fee {fee}"]
        if errors:
            raise ValidationError(errors)

    @validates_schema
    def _merchant_per_line(self, data, **_):
        errors = {}
        for i, line in enumerate(data.get("lines", [])):
            if not line.get("merchant_id") and not data.get("merchant_id"):
                errors.setdefault("lines", {})[i] = {"merchant_id": ["required when the order has no merchant_id"]}
        if errors:
            raise ValidationError(errors)


def field_errors(messages: dict | list, prefix: str = "") -> dict[str, list[str]]:
    """Flatten marshmallow's nested error dict into ``{"lines.0.quantity": [...]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, (dict,)):
                out.update(field_errors(value, path))
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                out[path] = list(value)
            else:
                out.update(field_errors(value, path))
    elif isinstance(messages, list):
        out[prefix or "_schema"] = [str(m) for m in messages]
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def to_domain(order_id: str, channel: str, data: dict) -> Order:
    """Build the domain :class:`Order` from a loaded canonical dict."""
    addr = data["shipping_address"]
    cust = data.get("customer") or {}
    lines = tuple(
        OrderLine(line_no=i, sku=line["sku"], merchant_id=line.get("merchant_id") or data["merchant_id"],
                  quantity=line["quantity"], unit_price=Decimal(line["unit_price"]),
                  discount=Decimal(line.get("discount") or 0), name=line.get("name", ""),
                  tax=Decimal(line.get("tax") or 0),
                  tax_rate=None if line.get("tax_rate") is None else Decimal(line["tax_rate"]))
        for i, line in enumerate(data["lines"], start=1)
    )
    pay = data.get("payment") or {}
    return Order(
        order_id=order_id, channel=channel, channel_order_id=data["channel_order_id"], currency=data["currency"],
        lines=lines,
        address=Address(country=addr["country"], region=addr.get("region", ""), city=addr.get("city", ""),
                        district=addr.get("district", ""), postcode=addr.get("postcode", ""),
                        lines=tuple(addr.get("lines") or ()), name=addr.get("name", ""), phone=addr.get("phone", ""),
                        lat=addr.get("lat"), lon=addr.get("lon"), region_code=addr.get("region_code", "")),
        placed_at=data["placed_at"],
        customer=Customer(id=cust.get("id", ""), name=cust.get("name", ""), email=cust.get("email", ""),
                          phone=cust.get("phone", ""), tier=cust.get("tier", "standard"),
                          locale=cust.get("locale", "")),
        shipping_method=ShippingMethod(data.get("shipping_method", ShippingMethod.STANDARD)),
        payment_method=PaymentMethod(pay.get("method", PaymentMethod.ONLINE)),
        order_discount=sum((Decimal(d["amount"]) for d in data.get("discounts", [])), Decimal("0")),
        shipping_fee=None if data.get("shipping_fee") is None else Decimal(data["shipping_fee"]),
        b2b=bool(data.get("b2b")),
        prices_include_tax=bool(data.get("prices_include_tax")),
        shipping_tax=Decimal(data.get("shipping_tax") or 0),
        stated_total=None if data.get("stated_total") is None else Decimal(data["stated_total"]),
    )
