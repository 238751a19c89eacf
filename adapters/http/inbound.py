"""Webhooks in: channel orders, payment notices, WMS events, carrier tracking events.

Each is stored under its dedupe key and published (see adapters/intake.py): 202 when accepted,
200 with ``"duplicate": true`` for a replay, 503 when it could not be stored.
"""
from __future__ import annotations

import json

from flask import jsonify, request
from flask_smorest import Blueprint

from adapters import intake
from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.schemas import AcceptedSchema, CarrierEventSchema, PaymentNoticeSchema, WmsEventSchema
from adapters.schemas import CanonicalOrderSchema
from documents import orders, reference

blp = Blueprint("inbound", __name__, description="Channels, payments, warehouses and carriers push here")


def _json_body() -> dict:
    try:
        payload = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed_json", "body must be a JSON object")
    return payload


def _answer(accepted: intake.Accepted, id_field: str):
    body = {id_field: accepted.id, "duplicate": accepted.duplicate}
    return jsonify(body), 200 if accepted.duplicate else 202


@blp.route("/v1/channels/<channel>/orders", methods=["POST"])
@blp.doc(requestBody={"content": {"application/json": {"schema": CanonicalOrderSchema}}},
         summary="A channel pushes an order (canonical JSON, or its native webhook format)")
@blp.response(202, AcceptedSchema)
def push_order(channel: str):
    if len(channel) > 60 or not channel.replace("-", "").replace("_", "").isalnum():
        raise ApiError(404, "not_found", "unknown channel")
    config = reference.get("channels", channel) or {}
    fmt = config.get("format") or channel
    try:  # TEMPORARY until the channel formats land
        from adapters.channels import CHANNEL_FORMATS
    except ImportError:
        CHANNEL_FORMATS = {}
    native = CHANNEL_FORMATS.get(fmt)
    if native is None:
        if config.get("token") and not auth._same(auth._bearer(), config["token"]):
            raise ApiError(401, "unauthorized", "bad or missing channel token")
        return _answer(intake.accept_order(channel, _json_body()), "order_id")
    native.verify(request.headers, request.get_data(cache=True), config.get("secret"))
    channel_order = native.to_canonical(_json_body(), merchant_id=config.get("merchant_id"))
    accepted = intake.accept_order(channel, channel_order.canonical, raw=channel_order.raw,
                                   flags=channel_order.flags)
    return _answer(accepted, "order_id")


@blp.route("/v1/payments", methods=["POST"])
@blp.arguments(PaymentNoticeSchema)
@blp.response(202, AcceptedSchema)
def payment_notice(notice: dict):
    auth.require_payments()
    if orders.load_summary(notice["order_id"]) is None:
        raise ApiError(404, "not_found", f"unknown order {notice['order_id']!r}")
    payload = {**notice, "type": notice["type"].value, "amount": str(notice["amount"])}
    accepted = intake.accept_event("payment", "psp", f"{notice['transaction_id']}:{payload['type']}", payload,
                                   "apply_payment", order_id=notice["order_id"])
    return _answer(accepted, "event_id")


@blp.route("/v1/wms/<warehouse>/events", methods=["POST"])
@blp.arguments(WmsEventSchema)
@blp.response(202, AcceptedSchema)
def wms_event(event: dict, warehouse: str):
    auth.require_party("warehouses", warehouse)
    owner = orders.load_summary_by_fulfilment(event["fulfilment_id"])
    if owner is None or owner["warehouse_id"] != warehouse:  # a warehouse reports on its own fulfilments only
        raise ApiError(404, "not_found", f"warehouse {warehouse!r} has no fulfilment {event['fulfilment_id']!r}")
    payload = {**event, "type": event["type"].value}
    accepted = intake.accept_event("wms", warehouse, event["event_id"], payload, "apply_wms_event",
                                   order_id=owner["order_id"])
    return _answer(accepted, "event_id")


@blp.route("/v1/carriers/<carrier>/events", methods=["POST"])
@blp.arguments(CarrierEventSchema)
@blp.response(202, AcceptedSchema)
def carrier_event(event: dict, carrier: str):
    auth.require_party("carriers", carrier)
    owner = orders.load_summary_by_tracking(event["tracking_number"])
    if owner is None or owner["carrier_id"] != carrier:  # a carrier reports on its own parcels only
        raise ApiError(404, "not_found", f"carrier {carrier!r} has no parcel {event['tracking_number']!r}")
    key = event["event_id"] or f"{event['tracking_number']}:{event['status'].value}:{event['occurred_at'].isoformat()}"
    payload = {**event, "event_id": key, "status": event["status"].value, "fulfilment_id": owner["fulfilment_id"]}
    accepted = intake.accept_event("carrier", carrier, key, payload, "apply_carrier_event",
                                   order_id=owner["order_id"])
    return _answer(accepted, "event_id")
