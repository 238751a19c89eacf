"""Webhooks in: channel orders, payment notices, WMS events, carrier tracking events.

An order is stored under its dedupe key, then published; an event is published with the broker's
confirm and deduped by the order's update (services/intake.py): 202 when accepted, 200 with
``"duplicate": true`` for a replay known as one (an order's channel id seen before; an event this
process sent lately), 503 when it could not be stored or sent.
"""
from __future__ import annotations

import json
from dataclasses import replace as dc_replace
from datetime import datetime, timezone

from flask import jsonify, request
from flask_smorest import Blueprint

from adapters import intake
from adapters.http import auth, parties, rate_limit
from adapters.http.errors import ApiError
from adapters.http.openapi import responds
from adapters.http.schemas import (ORDER_EXAMPLE, AcceptedSchema, CarrierEventSchema, PaymentNoticeSchema,
                                   WmsEventSchema)
from adapters.schemas import CanonicalOrderSchema
from adapters.channels import CHANNEL_FORMATS
from adapters.tracking import TRACKING_FORMATS, TrackingFormat
from adapters.wms_formats import WMS_FORMATS, WmsFormat
from adapters.wms_formats.wms_update import WmsUpdate
from documents import orders, reference
from router.merging import is_group_id, member_line
from router.routing import order_of_fulfilment

blp = Blueprint("inbound", __name__, description="Channels, payments, warehouses and carriers push here")


def _json_body() -> dict:
    try:
        payload = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, "malformed_json", f"body is not valid JSON: {str(exc)[:200]}") from exc
    if not isinstance(payload, dict):
        raise ApiError(400, "malformed_json", "body must be a JSON object")
    return payload


def _answer(accepted: intake.Accepted, id_field: str):
    body = {id_field: accepted.id, "duplicate": accepted.duplicate}
    return jsonify(body), 200 if accepted.duplicate else 202


@blp.route("/v1/channels/<channel>/orders", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": CanonicalOrderSchema,
                                                                        "example": ORDER_EXAMPLE}}},
         summary="A channel pushes an order (canonical JSON, or its native webhook format)")
@blp.response(202, AcceptedSchema)
@blp.alt_response(200, schema=AcceptedSchema, description="A duplicate: nothing changed", success=True)
@responds(403, 409)
def push_order(channel: str):
    if len(channel) > 60 or not channel.replace("-", "").replace("_", "").isalnum():
        raise ApiError(404, "not_found", "unknown channel")
    config = reference.cached("channels", channel)
    if config is None:  # channels exist by configuration only (reference data, seeded)
        raise ApiError(404, "not_found", f"unknown channel {channel!r}", {"channel": ["not configured"]})
    fmt = config.get("format") or channel
    native = CHANNEL_FORMATS.get(fmt)
    if native is not None and native.polled:  # the platform pushes nothing: its orders are polled
        raise ApiError(409, "channel_is_polled", native.polled, {"channel": [native.polled]})
    if native is None:
        auth.require_channel({"_id": channel, **config})
        return _answer(intake.accept_order(channel, _json_body()), "order_id")
    secret = parties.secret_of("channels", channel, config)  # ROUTER_PARTY_SECRETS, else the seed's
    if not secret:
        raise ApiError(401, "unauthorized", f"channel {channel!r} has no webhook secret configured")
    native.verify(request.headers, request.get_data(cache=True), secret)
    rate_limit.charge(f"channel:{channel}")  # signed by the channel: count it against that channel
    payload = _json_body()
    accepted = intake.accept_channel_order(channel, native.to_canonical(payload, config.get("merchant_id")),
                                           native.dedupe_key(request.headers, payload))
    return _answer(accepted, "order_id")


@blp.route("/v1/payments", methods=["POST"])
@auth.checked_first(auth.require_payments)
@blp.arguments(PaymentNoticeSchema)
@blp.response(202, AcceptedSchema)
@blp.alt_response(200, schema=AcceptedSchema, description="A duplicate: nothing changed", success=True)
@responds(403, 404)
def payment_notice(notice: dict):
    auth.require_payments()
    if not orders.exists(notice["order_id"]):
        raise ApiError(404, "not_found", f"unknown order {notice['order_id']!r}")
    payload = {**notice, "type": notice["type"].value, "amount": str(notice["amount"])}
    accepted = intake.accept_event("payment", "psp", f"{notice['transaction_id']}:{payload['type']}", payload,
                                   order_id=notice["order_id"])
    return _answer(accepted, "event_id")


@blp.route("/v1/wms/<warehouse>/events", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": WmsEventSchema}}},
         summary="A warehouse reports on its fulfilments (generic, Qimen or ShipHero format)")
@blp.response(202, AcceptedSchema)
@blp.alt_response(200, schema=AcceptedSchema, description="Every event a duplicate: nothing changed", success=True)
def wms_event(warehouse: str):
    now = datetime.now(timezone.utc)  # signed formats: by their signature alone (adapters/http/parties.py)
    record = parties.authenticate("warehouses", warehouse, lambda r: _wms_format(r).verify, now)
    updates = _wms_format(record).parse(_json_body(), received_at=now)
    # a merged delivery order (services/merging.py): one event per member order's fulfilment
    updates = [m for u in updates for m in (_per_member(u) if is_group_id(u.fulfilment_id) else [u])]
    payloads = [_wms_payload(u) for u in updates]
    if len(updates) == 1 and updates[0].type:  # an in-stage step lands on its order at once (the
        # write is guarded on the fulfilment being this warehouse's): no lookup, no message
        order_id = order_of_fulfilment(updates[0].fulfilment_id)
        done = intake.accept_directly("wms", warehouse, updates[0].event_id, payloads[0], order_id)
        if done is not None:
            if order_id is not None:  # it landed, or did before: the fulfilment is this warehouse's
                orders.note_warehouse_owner(updates[0].fulfilment_id, order_id, warehouse)
            return _answer_all([done])
    owners = {}
    for u in updates:  # a warehouse reports on its own fulfilments only: check all before storing any
        owner = orders.warehouse_owner(u.fulfilment_id)
        if owner is None or owner["warehouse_id"] != warehouse:
            raise ApiError(404, "not_found", f"warehouse {warehouse!r} has no fulfilment {u.fulfilment_id!r}")
        owners[u.fulfilment_id] = owner
    results = []
    for u, payload in zip(updates, payloads, strict=True):
        known = bool(u.type)  # an unknown word is kept raw and flagged, not applied
        results.append(intake.accept_event("wms", warehouse, u.event_id, payload, known,
                                           order_id=owners[u.fulfilment_id]["order_id"], direct=len(updates) > 1))
    return _answer_all(results)


def _wms_payload(u: WmsUpdate) -> dict:
    return {"event_id": u.event_id, "fulfilment_id": u.fulfilment_id, "type": u.type.value if u.type else None,
            "raw_type": u.raw_type, "occurred_at": u.occurred_at, "tracking_number": u.tracking_number,
            "carrier_id": u.carrier_id, "final": u.final,
            "packages": [{"tracking_number": n, "carrier_id": c} for n, c in u.packages],
            "lines": [{"line_no": n, "sku": sku, "quantity": q} for n, sku, q in u.lines]}


@blp.route("/v1/carriers/<carrier>/events", methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": CarrierEventSchema}}},
         summary="A carrier posts tracking events (generic, AfterShip, EasyPost or 17TRACK format)")
@blp.response(202, AcceptedSchema)
@blp.alt_response(200, schema=AcceptedSchema, description="Every event a duplicate: nothing changed", success=True)
def carrier_event(carrier: str):
    now = datetime.now(timezone.utc)  # signed formats: by their signature alone (adapters/http/parties.py)
    record = parties.authenticate("carriers", carrier, lambda r: _tracking_format(r).verify, now)
    updates = _tracking_format(record).parse(_json_body(), received_at=now)
    owners = {}
    for u in updates:  # a carrier reports on its own parcels only
        owner = orders.load_summary_by_tracking(u.tracking_number, carrier)  # its live parcel of this carrier
        if owner is None or owner["carrier_id"] != carrier:
            raise ApiError(404, "not_found", f"carrier {carrier!r} has no parcel {u.tracking_number!r}")
        owners[u.tracking_number] = [owner, *_merged_siblings(u.tracking_number, carrier, owner)]
    results = []
    for u in updates:
        shared = len(owners[u.tracking_number]) > 1  # a merged delivery order's waybill: each member's event
        for owner in owners[u.tracking_number]:
            event_id = f"{u.event_id}:{owner['fulfilment_id']}" if shared else u.event_id
            payload = {"event_id": event_id, "tracking_number": u.tracking_number,
                       "status": u.status.value if u.status else None, "raw_status": u.raw_status,
                       "occurred_at": u.occurred_at, "description": u.description, "location": u.location,
                       "exception_reason": u.exception_reason, "fulfilment_id": owner["fulfilment_id"]}
            results.append(intake.accept_event("carrier", carrier, event_id, payload, bool(u.status),
                                               order_id=owner["order_id"], direct=not shared))
    return _answer_all(results)


def _merged_siblings(tracking_number: str, carrier: str, owner: dict) -> list[dict]:
    """The other fulfilments of the merged delivery order whose waybill ``tracking_number`` is
    (services/merging.py): the parcel is theirs too. Empty for a parcel of one fulfilment."""
    found = orders.recent_parcel_owners.get(tracking_number, carrier)  # read for the owner just before
    group = next((o.get("merge_group") for o in found if o["fulfilment_id"] == owner["fulfilment_id"]), None)
    if not group:
        return []
    return [{k: o[k] for k in ("order_id", "fulfilment_id", "warehouse_id", "carrier_id")} for o in found
            if o.get("merge_group") == group and o["fulfilment_id"] != owner["fulfilment_id"]
            and o["carrier_id"] == carrier]


def _per_member(u: WmsUpdate) -> list[WmsUpdate]:
    """A warehouse's event on merged delivery order ``u.fulfilment_id``, as one event per member
    fulfilment (event id ``<id>:<fulfilment id>``, so a redelivery is a duplicate of each), with
    the lines it reports mapped back to each member's own numbers (the generic protocol and Qimen
    number them as sent). An unknown group is left as it is (and refused as unknown)."""
    members = orders.merge_group_members(u.fulfilment_id)
    if not members:
        return [u]
    out = []
    for i, member in enumerate(members):
        lines = []
        for n, sku, quantity in u.lines:
            if n is not None and member_line(n)[0] == i:
                lines.append((member_line(n)[1], sku, quantity))
        out.append(dc_replace(u, event_id=f"{u.event_id}:{member['fulfilment_id']}",
                              fulfilment_id=member["fulfilment_id"], lines=lines))
    return out


def _wms_format(warehouse: dict) -> WmsFormat:
    return WMS_FORMATS[warehouse.get("wms_format") or "generic"]


def _tracking_format(carrier: dict) -> TrackingFormat:
    return TRACKING_FORMATS[carrier.get("tracking_format") or "generic"]


def _answer_all(results: list[intake.Accepted]):
    """One event: ``{"event_id", "duplicate"}``; several: ``{"events": [...]}``. 200 when all were
    replays, 202 otherwise; unapplied (unknown-word) events are listed under ``flagged``."""
    if len(results) == 1:
        body = {"event_id": results[0].id, "duplicate": results[0].duplicate}
    else:
        body = {"events": [{"event_id": r.id, "duplicate": r.duplicate} for r in results]}
    flagged = [r.id for r in results if not r.published and not r.duplicate]
    if flagged:
        body["flagged"] = flagged
    return jsonify(body), 200 if results and all(r.duplicate for r in results) else 202
