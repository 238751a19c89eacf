"""Customer and operator commands, dead letters and stock adjustments.

Commands the state forbids get 409 with the current state and the allowed commands; every
operator command is recorded on the order's timeline with who asked.
"""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.openapi import responds
from adapters.http.schemas import (AddressChangeSchema, AllowedCommandsSchema, DeadLettersSchema, OrderSchema,
                                   ReplayedSchema, StockAdjustmentSchema, StockLevelSchema)
from adapters.http.views import order_view, plain
from documents import dead_letters, orders, stock
from documents.converters import order_state
from router import lifecycle
from services import commands, sweeps, waiting
from services.replay import replay

blp = Blueprint("commands", __name__, description="Commands on orders, dead letters, stock")


class ReasonSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=500))


_FULFILMENT_ID = validate.Regexp(r"^[\w\-:~.]{1,120}$", error="not a fulfilment id")


class ResolveSchema(Schema):
    fulfilment_id = fields.String(load_default=None, validate=_FULFILMENT_ID)


class ReshipSchema(Schema):
    fulfilment_id = fields.String(required=True, validate=_FULFILMENT_ID)


def _order(fn, *args):
    try:
        doc = fn(*args)
    except commands.OrderNotFound as exc:
        raise ApiError(404, "not_found", f"unknown order or fulfilment {exc.args[0]!r}") from exc
    return jsonify(order_view(doc, full=False))


@blp.route("/v1/orders/<order_id>/cancel", methods=["POST"])
@blp.alt_response(200, schema=OrderSchema, description="The order after the command", success=True)
@responds(403, 409)
def cancel(order_id: str):
    return _order(commands.cancel, order_id, _actor(auth.Role.OPERATOR))


@blp.route("/v1/orders/<order_id>/shipping-address", methods=["PATCH"])
@auth.role(auth.Role.OPERATOR)
@blp.arguments(AddressChangeSchema)
@blp.alt_response(200, schema=OrderSchema, description="The order after the command", success=True)
@responds(403, 409)
def change_address(body: dict, order_id: str):
    return _order(commands.change_address, order_id, _actor(auth.Role.OPERATOR), body["address"])


@blp.route("/v1/orders/<order_id>/confirm-receipt", methods=["POST"])
@blp.alt_response(200, schema=OrderSchema, description="The order after the command", success=True)
@responds(403, 409)
def confirm_receipt(order_id: str):
    return _order(commands.confirm_receipt, order_id, _actor(auth.Role.OPERATOR))


@blp.route("/v1/orders/<order_id>/approve-hold", methods=["POST"])
@blp.alt_response(200, schema=OrderSchema, description="The order after the command", success=True)
@responds(403, 409)
def approve_hold(order_id: str):
    return _order(commands.approve_hold, order_id, _actor(auth.Role.OPERATOR))


@blp.route("/v1/orders/<order_id>/reject-hold", methods=["POST"])
@auth.role(auth.Role.OPERATOR)
@blp.arguments(ReasonSchema)
@blp.alt_response(200, schema=OrderSchema, description="The order after the command", success=True)
@responds(403, 409)
def reject_hold(body: dict, order_id: str):
    return _order(commands.reject_hold, order_id, _actor(auth.Role.OPERATOR), body["reason"])


@blp.route("/v1/orders/<order_id>/resolve-exception", methods=["POST"])
@auth.role(auth.Role.OPERATOR)
@blp.arguments(ResolveSchema)
@blp.alt_response(200, schema=OrderSchema, description="The order after the command", success=True)
@responds(403, 409)
def resolve_exception(body: dict, order_id: str):
    """Mark the order's open exception flags (those of one fulfilment, when named) resolved."""
    return _order(commands.resolve_exceptions, order_id, _actor(auth.Role.OPERATOR), body["fulfilment_id"])


@blp.route("/v1/orders/<order_id>/reship", methods=["POST"])
@auth.role(auth.Role.OPERATOR)
@blp.arguments(ReshipSchema)
@blp.alt_response(200, schema=OrderSchema, description="The order after the command", success=True)
@responds(403, 409)
def reship(body: dict, order_id: str):
    """Send the goods of a parcel in a carrier exception again, from another warehouse, as a
    replacement order (its id in the flag's ``reshipped_to``)."""
    return _order(commands.reship, order_id, body["fulfilment_id"], _actor(auth.Role.OPERATOR))


@blp.route("/v1/orders/<order_id>/allowed-commands", methods=["GET"])
@blp.alt_response(200, schema=AllowedCommandsSchema, description="The commands the order's state allows", success=True)
def allowed(order_id: str):
    auth.require_role(auth.Role.VIEWER)
    doc = orders.load(order_id)
    if doc is None:
        raise ApiError(404, "not_found", f"unknown order {order_id!r}")
    return jsonify({"order_id": order_id, "allowed": list(lifecycle.allowed_commands(order_state(doc)))})


@blp.route("/v1/fulfilments/<fulfilment_id>/retry-dispatch", methods=["POST"])
@blp.alt_response(202, schema=OrderSchema, description="Dispatch asked again; the order", success=True)
@responds(403, 409)
def retry_dispatch(fulfilment_id: str):
    response = _order(commands.retry_dispatch, fulfilment_id, _actor(auth.Role.OPERATOR))
    response.status_code = 202
    return response


@blp.route("/v1/dead-letters", methods=["GET"])
@blp.alt_response(200, schema=DeadLettersSchema, description="Dead letters not yet replayed", success=True)
def list_dead_letters():
    auth.require_role(auth.Role.VIEWER)
    return jsonify({"dead_letters": plain([{**d, "message_id": d.pop("_id")} for d in dead_letters.pending(500)])})


@blp.route("/v1/dead-letters/<message_id>/replay", methods=["POST"])
@blp.alt_response(202, schema=ReplayedSchema, description="Sent again", success=True)
@responds(403)
def replay_dead_letter(message_id: str):
    auth.require_role(auth.Role.OPERATOR)
    try:
        done = replay(message_id)
    except KeyError as exc:
        raise ApiError(404, "not_found", f"no pending dead letter {message_id!r}") from exc
    return jsonify({"replayed": done}), 202


@blp.route("/v1/dead-letters/replay-all", methods=["POST"])
@blp.alt_response(202, schema=ReplayedSchema, description="Sent again", success=True)
@responds(403)
def replay_all_dead_letters():
    auth.require_role(auth.Role.ADMIN)
    return jsonify({"replayed": replay(None)}), 202


@blp.route("/v1/stock/adjustments", methods=["POST"])
@auth.role(auth.Role.OPERATOR)
@blp.arguments(StockAdjustmentSchema)
@blp.alt_response(201, schema=StockLevelSchema, description="The stock after the adjustment", success=True)
@responds(403, 404, 409)
def adjust_stock(body: dict):
    actor = _actor(auth.Role.OPERATOR)
    try:
        row = stock.apply_adjustment(body["sku"], body["warehouse_id"], body["kind"], body["quantity"],
                                     reason=body["reason"], actor=actor)
    except stock.InsufficientStock as exc:
        raise ApiError(409, "insufficient_stock", str(exc)) from exc
    except LookupError as exc:
        raise ApiError(404, "not_found", str(exc)) from exc
    sweeps.check_low_stock(body["sku"], body["warehouse_id"])
    if body["kind"] in ("inbound", "stocktake"):  # stock may have arrived: orders waiting for it try again
        waiting.stock_arrived([body["sku"]])
    return jsonify(plain({k: row.get(k) for k in ("sku", "warehouse_id", "on_hand", "reserved", "available")})), 201


def _actor(role: auth.Role) -> str:
    """The timeline actor for the calling operator (``operator:<name>``)."""
    name = auth.require_role(role)
    return f"operator:{name}"
