"""Request and query schemas of the API (the canonical order lives in adapters/schemas.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate

from adapters.http.openapi import Open
from adapters.schemas import MONEY_RANGE, at_most_places
from router.dates import event_time_problem, query_time_problem
from router.exceptions import EXCEPTION_FLAG
from router.statuses import (OrderStatus, PaymentEventType, PaymentStatus, ShipmentStatus,
                             TrackingStatus, WmsEventType)

_ID = validate.Regexp(r"^[\w\-:/#~]{1,120}$", error="1-120 letters, digits, _ - : / # ~")


class EventAcceptedSchema(Open):
    event_id = fields.String(required=True)
    duplicate = fields.Boolean(required=True)


class AcceptedSchema(Open):
    """202 when stored (and published), 200 with ``duplicate: true`` for a replay."""

    order_id = fields.String(metadata={"description": "an order pushed"})
    event_id = fields.String(metadata={"description": "a payment notice or one event"})
    duplicate = fields.Boolean(metadata={"description": "seen before: nothing changed"})
    events = fields.List(fields.Nested(EventAcceptedSchema), metadata={"description": "several events in one call"})
    flagged = fields.List(fields.String(), metadata={"description": "events kept but not applied (an unknown word)"})


class PaymentNoticeSchema(Schema):
    order_id = fields.String(required=True, validate=_ID)
    transaction_id = fields.String(required=True, validate=_ID)
    type = fields.Enum(PaymentEventType, by_value=True, required=True)
    amount = fields.Decimal(required=True, as_string=True, allow_nan=False, validate=[MONEY_RANGE, at_most_places()])
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$"))
    occurred_at = fields.AwareDateTime(load_default=None, validate=lambda at: _plausible_event_time(at))
    after_sales_case = fields.String(load_default=None, validate=_ID)


class WmsEventSchema(Schema):
    """The router's generic WMS event."""

    event_id = fields.String(required=True, validate=_ID)
    fulfilment_id = fields.String(required=True, validate=_ID)
    type = fields.Enum(WmsEventType, by_value=True, required=True)
    occurred_at = fields.AwareDateTime(required=True)
    tracking_number = fields.String(load_default=None, validate=_ID)
    carrier_id = fields.String(load_default=None, validate=_ID)
    lines = fields.List(fields.Dict(), load_default=list, validate=validate.Length(max=500))


class CarrierEventSchema(Schema):
    """The router's generic carrier tracking event."""

    event_id = fields.String(load_default=None, validate=_ID)
    tracking_number = fields.String(required=True, validate=_ID)
    status = fields.Enum(TrackingStatus, by_value=True, required=True)
    occurred_at = fields.AwareDateTime(required=True)
    description = fields.String(load_default="", validate=validate.Length(max=500))
    location = fields.String(load_default="", validate=validate.Length(max=200))


def _plausible_event_time(moment) -> None:
    """When the payment happened: the window of placed_at (router/dates.py); 9999-12-31T23:00-05:00
    could not even be stored."""
    problem = event_time_problem(moment, datetime.now(timezone.utc))
    if problem:
        raise ValidationError(problem)


def _queryable(moment) -> None:
    """A filter time far from the ends of what a datetime holds (router/dates.py): the list's
    windows step back from it and must not overflow."""
    problem = query_time_problem(moment)
    if problem:
        raise ValidationError(problem)


class OrderQuerySchema(Schema):
    status = fields.Enum(OrderStatus, by_value=True)
    payment_status = fields.Enum(PaymentStatus, by_value=True)
    shipment_status = fields.Enum(ShipmentStatus, by_value=True)
    channel = fields.String(validate=_ID)
    merchant = fields.String(validate=_ID)
    warehouse = fields.String(validate=_ID)
    customer = fields.String(validate=_ID)
    sku = fields.String(validate=_ID)
    channel_order_id = fields.String(validate=_ID)
    flag = fields.String(validate=validate.OneOf([EXCEPTION_FLAG]))  # orders with an open exception flag
    placed_from = fields.AwareDateTime(validate=_queryable)
    placed_to = fields.AwareDateTime(validate=_queryable)
    min_amount = fields.Decimal(as_string=True, allow_nan=False, validate=[MONEY_RANGE, at_most_places()])
    max_amount = fields.Decimal(as_string=True, allow_nan=False, validate=[MONEY_RANGE, at_most_places()])
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class StockQuerySchema(Schema):
    sku = fields.String(validate=_ID)
    warehouse = fields.String(validate=_ID)
    low = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=5000))


class StockAdjustmentSchema(Schema):
    sku = fields.String(required=True, validate=_ID)
    warehouse_id = fields.String(required=True, validate=_ID)
    kind = fields.String(required=True, validate=validate.OneOf(["inbound", "outbound", "stocktake"]))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10_000_000))
    reason = fields.String(load_default="", validate=validate.Length(max=500))


class SimulateQuerySchema(Schema):
    channel = fields.String(load_default="manual", validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,60}$"),
                            metadata={"description": "the channel the order came from"})


# A canonical order as a channel posts it (the document's example; examples/order.json is another)
ORDER_EXAMPLE = {
    "channel_order_id": "PHONE-2026-0001", "merchant_id": "m1", "currency": "USD",
    "customer": {"id": "cust-1001", "name": "Ada Lovelace", "email": "ada@example.com"},
    "shipping_address": {"name": "Ada Lovelace", "country": "US", "region": "NY", "city": "New York",
                         "postcode": "10001", "lines": ["1 Main St"]},
    "lines": [{"sku": "SKU-A", "quantity": 2, "unit_price": "10.00", "name": "Tent S"}],
    "payment": {"method": "online", "status": "unpaid"},
    "placed_at": "2026-01-15T10:15:00+08:00",
}


class AddressChangeSchema(Schema):
    from adapters.schemas import AddressSchema as _A

    address = fields.Nested(_A, required=True)


# --- answers (documentation: the views build them; every object may carry more fields) -----------

class OrderSchema(Open):
    """An order (``GET /v1/orders/{id}``: with its timeline, routing decision and raw payload)."""

    order_id = fields.String(required=True)
    status = fields.String(required=True)
    channel = fields.String(required=True)
    channel_order_id = fields.String(required=True)
    currency = fields.String(required=True)
    payment_status = fields.String()
    shipment_status = fields.String()
    placed_at = fields.String(metadata={"format": "date-time"})
    amounts = fields.Dict()
    lines = fields.List(fields.Dict())
    fulfilments = fields.List(fields.Dict())


class OrderListSchema(Open):
    orders = fields.List(fields.Nested(OrderSchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True,
                                metadata={"description": "the next page's cursor; null on the last page"})


class AllowedCommandsSchema(Open):
    order_id = fields.String(required=True)
    allowed = fields.List(fields.String(), required=True)


class NotificationSchema(Open):
    id = fields.String(required=True, metadata={"description": "also the e-mail's Message-ID"})
    kind = fields.String(required=True, metadata={"description": "confirmed, shipped, delivered, refunded, exception"})
    language = fields.String(required=True)
    to = fields.String(required=True)
    subject = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "pending, sent or failed"})
    attempts = fields.Integer(required=True)
    log = fields.List(fields.Dict(), metadata={"description": "the last attempts' outcomes (at, attempt, status, error)"})


class NotificationsSchema(Open):
    order_id = fields.String(required=True)
    notifications = fields.List(fields.Nested(NotificationSchema), required=True)


class StockLevelSchema(Open):
    sku = fields.String(required=True)
    warehouse_id = fields.String(required=True)
    on_hand = fields.Integer(required=True)
    reserved = fields.Integer(required=True)
    available = fields.Integer(required=True)


class StockRowSchema(StockLevelSchema):
    safety_stock = fields.Integer(allow_none=True)
    low_stock_threshold = fields.Integer(allow_none=True)
    low_stock = fields.Boolean(required=True)


class StockListSchema(Open):
    stock = fields.List(fields.Nested(StockRowSchema), required=True)


class DeadLettersSchema(Open):
    dead_letters = fields.List(fields.Dict(), required=True)


class ReplayedSchema(Open):
    replayed = fields.List(fields.String(), required=True, metadata={"description": "the message ids sent again"})


class AfterSalesCaseSchema(Open):
    case_id = fields.String(required=True)


class OwedRefundsSchema(Open):
    refunds = fields.List(fields.Dict(), required=True)


class RulesSchema(Open):
    rules = fields.Dict(required=True)
    builtin = fields.Boolean(required=True, metadata={"description": "no rules stored: the built-in ones"})


class RulesVersionSchema(Open):
    version = fields.String(required=True)


class SessionSchema(Open):
    id = fields.String(required=True)
    operator = fields.String(allow_none=True)
    role = fields.String(allow_none=True)
    started_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    last_seen_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    expires_at = fields.String(allow_none=True, metadata={"format": "date-time"})


class SessionsSchema(Open):
    sessions = fields.List(fields.Nested(SessionSchema), required=True)


class ReportSchema(Open):
    report = fields.String(required=True)
    start = fields.String(required=True, data_key="from", metadata={"format": "date-time"})
    end = fields.String(required=True, data_key="to", metadata={"format": "date-time"})
    currency = fields.String(required=True, allow_none=True)
