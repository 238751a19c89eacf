"""Read side: orders, stock."""
from __future__ import annotations

from flask import jsonify
from flask_smorest import Blueprint
from marshmallow import RAISE

from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.schemas import (NotificationsSchema, OrderListSchema, OrderQuerySchema, OrderSchema, StockListSchema,
                                   StockQuerySchema)
from adapters.http.views import order_view, plain
from documents import orders, queries, stock
from services import notifications

blp = Blueprint("queries", __name__, description="Orders and stock")


@blp.route("/v1/orders", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(OrderQuerySchema, location="query", unknown=RAISE)
@blp.alt_response(200, schema=OrderListSchema, description="A page of orders, newest first", success=True)
def list_orders(args: dict):
    auth.require_role(auth.Role.VIEWER)
    limit, cursor = args.pop("limit"), args.pop("cursor", None)
    try:
        docs, next_cursor = queries.list_orders(args, limit=limit, cursor=cursor)
    except queries.BadCursor as exc:
        raise ApiError(422, "validation_failed", str(exc), {"cursor": [str(exc)]}) from exc
    return jsonify({"orders": [order_view(d, full=False) for d in docs], "next_cursor": next_cursor})


@blp.route("/v1/orders/<order_id>", methods=["GET"])
@blp.alt_response(200, schema=OrderSchema, description="The order", success=True)
def get_order(order_id: str):
    auth.require_role(auth.Role.VIEWER)
    doc = orders.load(order_id)
    if doc is None:
        raise ApiError(404, "not_found", f"unknown order {order_id!r}")
    return jsonify(order_view(doc))


NOTIFICATION_FIELDS = ("kind", "language", "to", "subject", "status", "attempts", "created_at", "occurred_at",
                       "sent_at", "next_at", "log")


@blp.route("/v1/orders/<order_id>/notifications", methods=["GET"])
@blp.alt_response(200, schema=NotificationsSchema, success=True,
                  description="The customer e-mails of the order, oldest first: kind, language, recipient, subject, "
                              "status (pending, sent, failed), attempts and each attempt's outcome")
def order_notifications(order_id: str):
    auth.require_role(auth.Role.VIEWER)
    if not orders.exists(order_id):
        raise ApiError(404, "not_found", f"unknown order {order_id!r}")
    return jsonify({"order_id": order_id, "notifications": [
        {"id": n["_id"], **{k: plain(n.get(k)) for k in NOTIFICATION_FIELDS}}
        for n in notifications.of_order(order_id)]})


@blp.route("/v1/stock", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(StockQuerySchema, location="query", unknown=RAISE)
@blp.alt_response(200, schema=StockListSchema, description="Stock levels", success=True)
def list_stock(args: dict):
    auth.require_role(auth.Role.VIEWER)
    rows = stock.levels(args.get("sku"), args.get("warehouse"), limit=args["limit"])
    out = []
    for r in rows:
        row = {k: r.get(k) for k in ("sku", "warehouse_id", "on_hand", "reserved", "available", "safety_stock",
                                     "low_stock_threshold")}
        row["low_stock"] = row["available"] < (row["low_stock_threshold"] or 0)
        if not args["low"] or row["low_stock"]:
            out.append(row)
    return jsonify({"stock": plain(out)})
