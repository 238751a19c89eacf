"""The customer's own orders: list, see one, cancel before dispatch, change the address before
shipment, confirm receipt, open an after-sales case, print the order's documents.

The caller is a customer their channel vouches for (adapters/http/customer_auth.py): only their
own orders are visible (any other is 404, as an order that does not exist). Commands go through
the same services and state rules as an operator's (409 with what the customer may do instead),
and each is on the order's timeline as ``customer:<channel>:<customer id>``. What a customer sees
of an order is what the response schemas below declare, nothing more (no routing, payments'
transaction ids, outbox or timeline).
"""
from __future__ import annotations

from flask import Response, render_template
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from adapters.http import auth, customer_auth
from adapters.http.after_sales import OpenCaseSchema
from adapters.http.errors import ApiError
from adapters.http.papers import TITLES
from adapters.http.schemas import AddressChangeSchema
from adapters.http.views import in_event_order, plain
from documents import orders, queries
from documents.converters import order_state
from router.customer import customer_commands
from router.errors import IllegalTransition
from router.order_state import OrderCommand
from router.statuses import OrderStatus
from services import after_sales, commands

blp = Blueprint("customer", __name__, description="Customers' own orders (a customer token from their channel)")
_TIME = {"format": "date-time"}
_MONEY = {"description": "decimal string in the order's currency"}


class CustomerErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Dict(required=True)


class CustomerErrorSchema(Schema):
    error = fields.Nested(CustomerErrorBodySchema, required=True)


class CustomerOrderQuerySchema(Schema):
    status = fields.Enum(OrderStatus, by_value=True)
    cursor = fields.String(validate=validate.Length(max=200))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class CustomerAmountsSchema(Schema):
    goods = fields.String(allow_none=True, metadata=_MONEY)
    discount = fields.String(allow_none=True, metadata=_MONEY)
    freight = fields.String(allow_none=True, metadata=_MONEY)
    tax = fields.String(allow_none=True, metadata=_MONEY)
    payable = fields.String(allow_none=True, metadata=_MONEY)
    currency = fields.String(allow_none=True)
    tax_included = fields.Boolean(allow_none=True)


class CustomerLineSchema(Schema):
    line_no = fields.Integer(allow_none=True)
    sku = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    quantity = fields.Integer(allow_none=True)
    unit_price = fields.String(allow_none=True, metadata=_MONEY)
    amounts = fields.Nested(CustomerAmountsSchema, allow_none=True)


class CustomerAddressSchema(Schema):
    name = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    region_code = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    postcode = fields.String(allow_none=True)
    lines = fields.List(fields.String(allow_none=True))


class CustomerTrackingSchema(Schema):
    event = fields.String(allow_none=True)
    occurred_at = fields.String(allow_none=True)
    received_at = fields.String(allow_none=True, metadata=_TIME)
    location = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)


class CustomerParcelSchema(Schema):
    tracking_number = fields.String(allow_none=True)
    carrier_id = fields.String(allow_none=True)


class CustomerShippedLineSchema(Schema):
    line_no = fields.Integer(allow_none=True)
    sku = fields.String(allow_none=True)
    quantity = fields.Integer(allow_none=True)
    shipped = fields.Integer(allow_none=True)


class CustomerFulfilmentSchema(Schema):
    id = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    carrier_id = fields.String(allow_none=True)
    tracking_number = fields.String(allow_none=True)
    packages = fields.List(fields.Nested(CustomerParcelSchema))
    lines = fields.List(fields.Nested(CustomerShippedLineSchema))
    shipped_at = fields.String(allow_none=True, metadata=_TIME)
    delivered_at = fields.String(allow_none=True, metadata=_TIME)
    tracking = fields.List(fields.Nested(CustomerTrackingSchema))


class CustomerCaseSchema(Schema):
    case_id = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    opened_at = fields.String(allow_none=True, metadata=_TIME)
    amount = fields.String(allow_none=True, metadata=_MONEY)
    lines = fields.List(fields.List(fields.Integer(allow_none=True)), metadata={"description": "[line_no, quantity] pairs"})
    reason = fields.String(allow_none=True)


class CustomerPaperSchema(Schema):
    number = fields.String(allow_none=True)
    kind = fields.String(allow_none=True)
    issued_at = fields.String(allow_none=True, metadata=_TIME)
    amount = fields.String(allow_none=True, metadata=_MONEY)
    tracking_number = fields.String(allow_none=True)


class CustomerOrderSummarySchema(Schema):
    order_id = fields.String()
    channel = fields.String()
    channel_order_id = fields.String(allow_none=True)
    placed_at = fields.String(metadata=_TIME)
    status = fields.String()
    payment_status = fields.String()
    shipment_status = fields.String()
    after_sales_status = fields.String(allow_none=True)
    currency = fields.String(allow_none=True)
    payable = fields.String(allow_none=True, metadata=_MONEY)


class CustomerOrderSchema(CustomerOrderSummarySchema):
    amounts = fields.Nested(CustomerAmountsSchema, allow_none=True)
    lines = fields.List(fields.Nested(CustomerLineSchema))
    shipping_address = fields.Nested(CustomerAddressSchema)
    fulfilments = fields.List(fields.Nested(CustomerFulfilmentSchema))
    after_sales = fields.List(fields.Nested(CustomerCaseSchema))
    documents = fields.List(fields.Nested(CustomerPaperSchema))
    allowed_commands = fields.List(fields.String(), metadata={
        "description": "what the customer may do now: cancel, change_address, confirm_receipt, after_sales.<type>"})


class CustomerOrderListSchema(Schema):
    orders = fields.List(fields.Nested(CustomerOrderSummarySchema))
    next_cursor = fields.String(allow_none=True)


def summary(doc: dict) -> dict:
    return plain({k: doc.get(k) for k in CustomerOrderSummarySchema._declared_fields if k != "order_id"}
                 | {"order_id": doc["_id"]})


def customer_view(doc: dict) -> dict:
    """The order as its customer sees it (the schema drops whatever else is passed)."""
    per_line = doc.get("line_amounts") or {}
    out = summary(doc) | plain({
        "amounts": doc.get("amounts"),
        "lines": [{**line, "amounts": per_line.get(str(line["line_no"]))} for line in doc.get("lines") or []],
        "shipping_address": doc.get("address") or {},
        "fulfilments": [{**f, "tracking": in_event_order(f.get("tracking") or [])} for f in doc.get("fulfilments") or []
                        if f.get("status") != "cancelled" or f.get("tracking_number")],
        "after_sales": doc.get("after_sales") or [],
        "documents": doc.get("papers") or [],
        "allowed_commands": list(customer_commands(order_state(doc))),
    })
    return out


def _errors(*codes: int):
    """Declare the error answers (one shape: ``{"error": {code, message, details}}``)."""
    why = {401: "no valid customer token (`unauthorized`), or an expired one (`token_expired`)",
           404: "no such order among the customer's own", 409: "the order's state forbids it (`details.allowed`)",
           422: "invalid fields, named in `details`", 429: "too many calls from this customer (`Retry-After`)",
           503: "the database or broker is unreachable (`Retry-After`)"}

    def decorate(view):
        for code in codes:
            view = blp.alt_response(code, schema=CustomerErrorSchema, description=why[code])(view)
        return view
    return decorate


@blp.route("/v1/customer/orders", methods=["GET"])
@auth.checked_first(customer_auth.require_customer)
@blp.arguments(CustomerOrderQuerySchema, location="query", unknown=RAISE)
@blp.response(200, CustomerOrderListSchema)
@_errors(401, 422, 503)
def list_my_orders(query: dict):
    """The customer's orders, newest first (an order link: its one order)."""
    claims = customer_auth.require_customer()
    if claims.order_id is not None:
        doc = orders.load(claims.order_id)
        found = [doc] if customer_auth.owns(claims, doc) and query.get("status") in (None, doc["status"]) else []
        return {"orders": [summary(d) for d in found], "next_cursor": None}
    filters = {"channel": claims.channel, "customer": claims.customer_id}
    if query.get("status") is not None:
        filters["status"] = query["status"]
    try:
        docs, next_cursor = queries.list_orders(filters, limit=query["limit"], cursor=query.get("cursor"))
    except queries.BadCursor as exc:
        raise ApiError(422, "validation_failed", str(exc), {"cursor": [str(exc)]}) from exc
    return {"orders": [summary(d) for d in docs], "next_cursor": next_cursor}


@blp.route("/v1/customer/orders/<order_id>", methods=["GET"])
@auth.checked_first(customer_auth.require_customer)
@blp.response(200, CustomerOrderSchema)
@_errors(401, 404, 503)
def my_order(order_id: str):
    """One of the customer's orders: lines, amounts, status, parcels with tracking, after-sales
    cases, documents, and what the customer may do now."""
    return customer_view(customer_auth.scoped_order(customer_auth.require_customer(), order_id))


def _command(order_id: str, run) -> dict:
    claims = customer_auth.require_customer()
    doc = customer_auth.scoped_order(claims, order_id)
    try:
        return customer_view(run(doc, customer_auth.actor(claims, doc)))
    except (commands.OrderNotFound, after_sales.CaseNotFound) as exc:
        raise ApiError(404, "not_found", f"unknown order {order_id!r}") from exc


def _cancel(doc: dict, actor: str) -> dict:
    allowed = customer_commands(order_state(doc))
    if OrderCommand.CANCEL not in allowed:  # a customer cancels only before dispatch (router/customer.py)
        raise IllegalTransition("order", doc["status"], OrderCommand.CANCEL, allowed)
    return commands.cancel(doc["_id"], actor)


@blp.route("/v1/customer/orders/<order_id>/cancel", methods=["POST"])
@auth.checked_first(customer_auth.require_customer)
@blp.response(200, CustomerOrderSchema)
@_errors(401, 404, 409, 429, 503)
def cancel_my_order(order_id: str):
    """Cancel before anything reached a warehouse (after that: an after-sales case)."""
    return _command(order_id, _cancel)


@blp.route("/v1/customer/orders/<order_id>/shipping-address", methods=["PATCH"])
@auth.checked_first(customer_auth.require_customer)
@blp.arguments(AddressChangeSchema)
@blp.response(200, CustomerOrderSchema)
@_errors(401, 404, 409, 422, 429, 503)
def change_my_address(body: dict, order_id: str):
    """Ship to another address, until anything has shipped."""
    return _command(order_id, lambda doc, actor: commands.change_address(doc["_id"], actor, body["address"]))


@blp.route("/v1/customer/orders/<order_id>/confirm-receipt", methods=["POST"])
@auth.checked_first(customer_auth.require_customer)
@blp.response(200, CustomerOrderSchema)
@_errors(401, 404, 409, 429, 503)
def confirm_my_receipt(order_id: str):
    """The goods arrived: the order completes."""
    return _command(order_id, lambda doc, actor: commands.confirm_receipt(doc["_id"], actor))


@blp.route("/v1/customer/orders/<order_id>/after-sales", methods=["POST"])
@auth.checked_first(customer_auth.require_customer)
@blp.arguments(OpenCaseSchema)
@blp.response(201, CustomerCaseSchema)
@_errors(401, 404, 409, 422, 429, 503)
def open_my_case(body: dict, order_id: str):
    """Ask for a refund, a return or an exchange; an operator reviews it."""
    claims = customer_auth.require_customer()
    doc = customer_auth.scoped_order(claims, order_id)
    lines = tuple((line["line_no"], line["quantity"]) for line in body["lines"])
    try:
        case = after_sales.open_case(doc["_id"], body["type"], customer_auth.actor(claims, doc), body["amount"],
                                     lines, body["reason"])
    except after_sales.CaseNotFound as exc:
        raise ApiError(404, "not_found", f"unknown order {order_id!r}") from exc
    except ValueError as exc:  # more than was paid, lines the order does not have
        field = "amount" if "amount" in str(exc) or "refund" in str(exc).lower() else "lines"
        raise ApiError(422, "validation_failed", str(exc), {field: [str(exc)]}) from exc
    return plain(case)


@blp.route("/v1/customer/orders/<order_id>/papers/<number>", methods=["GET"])
@auth.checked_first(customer_auth.require_customer)
@blp.response(200, content_type="text/html", description="the printable document")
@_errors(401, 404, 503)
def my_paper(order_id: str, number: str):
    """A printable document of the order (receipt, shipping note, return slip, refund slip)."""
    doc = customer_auth.scoped_order(customer_auth.require_customer(), order_id)
    found = next((p for p in doc.get("papers") or [] if p["number"] == number), None)
    if found is None:
        raise ApiError(404, "not_found", f"order {order_id!r} has no document {number!r}")
    order = plain({**doc, "order_id": doc["_id"]})
    fulfilment = next((f for f in order.get("fulfilments") or [] if f["id"] == found["ref"]), None)
    case = next((c for c in order.get("after_sales") or [] if c["case_id"] == found["ref"]), None)
    lines, amounts, total = order["lines"], order.get("amounts"), "Total paid"
    wanted = {l["line_no"]: l["quantity"] for l in fulfilment["lines"]} if fulfilment else \
        ({n: q for n, q in case.get("lines") or []} if case else None)
    if wanted is not None:
        lines = [{**l, "quantity": wanted[l["line_no"]]} for l in lines if l["line_no"] in wanted]
        amounts = None
    if case:
        total = "Refunded"
        if found["kind"] == "refund_slip":
            amounts = {"goods": case["amount"], "discount": "0", "freight": "0", "payable": case["amount"]}
    html = render_template("paper.html", title=TITLES[found["kind"]], paper=plain(found), order=order,
                           fulfilment=fulfilment, case=case, lines=lines, amounts=amounts, total_label=total,
                           priced=found["kind"] in ("receipt", "refund_slip"))
    return Response(html, mimetype="text/html")
