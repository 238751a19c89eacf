"""After-sales cases: open one on an order, then review, receive the return, refund."""
from __future__ import annotations

from decimal import Decimal

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from documents import refunds
from services import after_sales
from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.openapi import responds
from adapters.http.schemas import AfterSalesCaseSchema, OwedRefundsSchema
from adapters.http.views import plain
from adapters.schemas import MONEY_RANGE, at_most_places
from router.after_sales import CaseCommand, ReturnCondition
from router.errors import RefundExceedsPaid
from router.order_state import AfterSalesType

blp = Blueprint("after_sales", __name__, description="Refunds, returns and exchanges")
_CASE = validate.Regexp(r"^O[0-9A-F]{6,20}-AS\d{1,3}$", error="not an after-sales case id")


class CaseLineSchema(Schema):
    line_no = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10_000))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))


class OpenCaseSchema(Schema):
    type = fields.Enum(AfterSalesType, by_value=True, required=True)
    amount = fields.Decimal(as_string=True, load_default=Decimal("0"), allow_nan=False,
                            validate=[MONEY_RANGE, at_most_places()])
    lines = fields.List(fields.Nested(CaseLineSchema), load_default=list, validate=validate.Length(max=500))
    reason = fields.String(load_default="", validate=validate.Length(max=1000))


class ReturnReceivedSchema(Schema):
    condition = fields.Enum(ReturnCondition, by_value=True, required=True)


def _run(fn, *args):
    try:
        return jsonify(plain(fn(*args)))
    except after_sales.CaseNotFound as exc:
        raise ApiError(404, "not_found", f"unknown order or case {exc.args[0]!r}") from exc
    except RefundExceedsPaid as exc:  # what the order's payments allow now, not the request's shape
        raise ApiError(409, "refund_exceeds_paid", str(exc), {"amount": [str(exc)]}) from exc
    except ValueError as exc:  # bad amounts / lines
        raise ApiError(422, "validation_failed", str(exc), {"amount" if "amount" in str(exc) or "refund" in str(exc).lower()
                                                           else "lines": [str(exc)]}) from exc


def _operator() -> str:
    return f"operator:{auth.require_role(auth.Role.OPERATOR)}"


@blp.route("/v1/orders/<order_id>/after-sales", methods=["POST"])
@auth.role(auth.Role.OPERATOR)
@blp.arguments(OpenCaseSchema)
@blp.alt_response(201, schema=AfterSalesCaseSchema, description="The case opened", success=True)
@responds(403, 409)
def open_case(body: dict, order_id: str):
    response = _run(after_sales.open_case, order_id, body["type"], _operator(), body["amount"],
                    tuple((l["line_no"], l["quantity"]) for l in body["lines"]), body["reason"])
    response.status_code = 201
    return response


@blp.route("/v1/after-sales/<case_id>/approve", methods=["POST"])
@blp.alt_response(200, schema=AfterSalesCaseSchema, description="The case after the step", success=True)
@responds(403, 409, 422)
def approve(case_id: str):
    _CASE(case_id)
    return _run(after_sales.step, case_id, CaseCommand.APPROVE, _operator())


@blp.route("/v1/after-sales/<case_id>/reject", methods=["POST"])
@blp.alt_response(200, schema=AfterSalesCaseSchema, description="The case after the step", success=True)
@responds(403, 409, 422)
def reject(case_id: str):
    _CASE(case_id)
    return _run(after_sales.step, case_id, CaseCommand.REJECT, _operator())


@blp.route("/v1/after-sales/<case_id>/return-received", methods=["POST"])
@auth.role(auth.Role.OPERATOR)
@blp.arguments(ReturnReceivedSchema)
@blp.alt_response(200, schema=AfterSalesCaseSchema, description="The case after the step", success=True)
@responds(403, 409, 422)
def return_received(body: dict, case_id: str):
    _CASE(case_id)
    return _run(after_sales.step, case_id, CaseCommand.RETURN_RECEIVED, _operator(), body["condition"])


@blp.route("/v1/after-sales/<case_id>/refund", methods=["POST"])
@blp.alt_response(200, schema=AfterSalesCaseSchema, description="The case after the step", success=True)
@responds(403, 409, 422)
def refund(case_id: str):
    _CASE(case_id)
    return _run(after_sales.refund, case_id, _operator())


class OwedQuerySchema(Schema):
    via = fields.String(load_default="payments", validate=validate.OneOf(["payments", "operator", "channel"]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


@blp.route("/v1/refunds", methods=["GET"])
@auth.checked_first(auth.require_payments)
@blp.arguments(OwedQuerySchema, location="query")
@blp.alt_response(200, schema=OwedRefundsSchema, description="Refunds owed, oldest first", success=True)
@responds(403)
def owed_refunds(query: dict):
    """Refunds orders owe after a cancellation, still to be made by ``via``: the payment service
    (``payments``, the default: orders of channels without an API) confirms each with a
    ``refunded`` payment notice naming its ``case_id``; an ``operator`` refunds in the channel's
    back office and records it with ``POST /v1/after-sales/{case}/refund``."""
    auth.require_payments()
    return jsonify({"refunds": plain(refunds.owed(query["via"], query["limit"]))})
