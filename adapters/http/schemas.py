"""Request and query schemas of the API (the canonical order lives in adapters/schemas.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from marshmallow import Schema, ValidationError, fields, validate

from adapters.schemas import MONEY_RANGE, at_most_places
from router.dates import event_time_problem, query_time_problem
from router.exceptions import EXCEPTION_FLAG
from router.statuses import (OrderStatus, PaymentEventType, PaymentStatus, ShipmentStatus,
                             TrackingStatus, WmsEventType)

_ID = validate.Regexp(r"^[\w\-:/#~]{1,120}$", error="1-120 letters, digits, _ - : / # ~")


class AcceptedSchema(Schema):
    order_id = fields.String()
    duplicate = fields.Boolean()


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


class AddressChangeSchema(Schema):
    from adapters.schemas import AddressSchema as _A

    address = fields.Nested(_A, required=True)
