"""The reference pipeline (issue 16, item 4): the minimum an order needs, as a fixed yardstick of
what this machine can do, measured by bench/reference.py (alone, or by ``bench/e2e.py
--reference`` after the router in the same run, on the same servers, with the same orders).

Unlike the no-op baseline (bench/baseline.py, which repeats the router's own hops and round trips),
this does what an order needs and no more, each step one round trip on a small document:

- intake (``POST /v1/channels/<channel>/orders``): the channel's token checked, the fields it
  uses checked (422 naming the field), one insert of a small order document keyed by (channel,
  channel order id) (a duplicate: 200 with the same id, nothing else) and one message;
- routing (``ref_route``): lines grouped by merchant, each group a fulfilment from the merchant's
  first-ranked warehouse with the first-ranked carrier, the payable in Decimal (lines less
  discounts, no freight); one guarded update (routing state ``received`` -> ``routed``), then one
  message per fulfilment (``ref_dispatch``) unless the order waits for its payment;
- dispatch (``ref_dispatch``): one HTTP call creating the delivery order at the warehouse's WMS
  (the router's generic WMS protocol, an Idempotency-Key, the tracking number the reference gives,
  ``<carrier>-<fulfilment id>``) and one guarded update (stamped once);
- every external event (``POST /v1/payments``, ``/v1/wms/<id>/events``,
  ``/v1/carriers/<id>/events``): the party's token checked, one persistent message published with
  publisher confirms before answering, then one update guarded by the event's id (a duplicate
  changes nothing). A payment's update (``find_one_and_update``: one round trip) also checks the
  amount against the payable and sends the dispatches; a ``shipped`` WMS event also registers the
  parcel with its carrier (one HTTP call, idempotent at the carrier), which starts the carrier's
  events, as the router's register_tracking does.

Not here, on purpose: stock, freight, risk, the inbox and its reconciler, the relay, timelines,
list rows, webhooks, retries beyond Dramatiq's own. The tracking number is the reference's own, so
a carrier event names its fulfilment and order without a lookup.

Run by bench/reference.py: the API as ``gunicorn bench.reference_app:app`` (gthread, 1 process,
16 threads, as ``orderrouter serve``) and the workers as ``python -m dramatiq bench.reference_app``,
with ``REFERENCE_AMQP_URL``, ``REFERENCE_MONGO_URL``, ``REFERENCE_DB``, ``REFERENCE_QUEUE_PREFIX``
and ``REFERENCE_WORLD`` (a JSON file: tokens, the WMS and carrier URLs, warehouse per merchant,
carrier) set.
"""
from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

import dramatiq
import httpx
import pymongo
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from flask import Flask, request
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

AMQP_URL = os.environ.get("REFERENCE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("REFERENCE_QUEUE_PREFIX", "reference")
QUEUES = {"orders": f"{PREFIX}.orders", "dispatch": f"{PREFIX}.dispatch", "events": f"{PREFIX}.events"}
# Same client options as documents/connection.py (and bench/baseline.py).
CLIENT_OPTIONS = dict(serverSelectionTimeoutMS=5000, socketTimeoutMS=5000, connectTimeoutMS=3000,
                      uuidRepresentation="standard", tz_aware=True)

_url = AMQP_URL + ("" if "heartbeat" in AMQP_URL else ("&" if "?" in AMQP_URL else "?")
                   + "heartbeat=30&blocked_connection_timeout=30")
broker = RabbitmqBroker(url=_url, confirm_delivery=True)  # durable queues, persistent messages
dramatiq.set_broker(broker)

_lock = threading.Lock()
_clients: dict[str, tuple[int, object]] = {}


def _per_process(name: str, make):
    """One client per process (made after the fork)."""
    with _lock:
        held = _clients.get(name)
        if held is None or held[0] != os.getpid():
            held = _clients[name] = (os.getpid(), make())
        return held[1]


def db():
    return _per_process("mongo", lambda: pymongo.MongoClient(os.environ["REFERENCE_MONGO_URL"], **CLIENT_OPTIONS))[
        os.environ["REFERENCE_DB"]]


def http() -> httpx.Client:
    return _per_process("http", lambda: httpx.Client(timeout=10))


def world() -> dict:
    """``{"tokens": {party: token}, "channel_tokens": {channel: token}, "payments_token",
    "wms_url", "carrier_url", "warehouse_of": {merchant: warehouse}, "carrier_id"}``."""
    return _per_process("world", lambda: json.loads(open(os.environ["REFERENCE_WORLD"]).read()))


def now() -> datetime:
    return datetime.now(timezone.utc)


# ------------------------------------------------------------------------------------- actors

@dramatiq.actor(queue_name=QUEUES["orders"], max_retries=3)
def ref_route(order_id: str, order: dict) -> None:
    w = world()
    groups: dict[str, list[dict]] = {}
    for line in order["lines"]:
        groups.setdefault(line["merchant_id"], []).append({"sku": line["sku"], "quantity": line["quantity"]})
    fulfilments = [{"id": f"{order_id}.{k}", "warehouse_id": w["warehouse_of"][merchant], "carrier_id": w["carrier_id"],
                    "lines": lines} for k, (merchant, lines) in enumerate(sorted(groups.items()))]
    goods = sum((Decimal(line["unit_price"]) * line["quantity"] for line in order["lines"]), Decimal(0))
    payable = max(goods - sum((Decimal(d["amount"]) for d in order.get("discounts") or []), Decimal(0)), Decimal(0))
    done = db().orders.update_one(
        {"_id": order_id, "routing.state": "received"},
        {"$set": {"routing.state": "routed", "fulfilments": fulfilments, "n_fulfilments": len(fulfilments),
                  "amounts.payable": str(payable), "routed_at": now()}, "$inc": {"version": 1}})
    if done.modified_count and not order["awaits_payment"]:
        for k, f in enumerate(fulfilments):
            ref_dispatch.send(order_id, k, f)


@dramatiq.actor(queue_name=QUEUES["dispatch"], max_retries=3)
def ref_dispatch(order_id: str, k: int, fulfilment: dict) -> None:
    w = world()
    warehouse = fulfilment["warehouse_id"]
    answer = http().post(f"{w['wms_url']}/{warehouse}/delivery-orders",
                         json={"fulfilment_id": fulfilment["id"], "order_id": order_id, "lines": fulfilment["lines"],
                               "carrier_id": fulfilment["carrier_id"],
                               "tracking_number": f"{fulfilment['carrier_id']}-{fulfilment['id']}"},
                         headers={"Authorization": f"Bearer {w['tokens'][warehouse]}",
                                  "Idempotency-Key": fulfilment["id"]})
    answer.raise_for_status()  # Dramatiq retries
    db().orders.update_one({"_id": order_id, f"fulfilments.{k}.dispatched_at": None},
                           {"$set": {f"fulfilments.{k}.dispatched_at": now(),
                                     f"fulfilments.{k}.wms_order_id": answer.json()["wms_order_id"]},
                            "$inc": {"version": 1}})


@dramatiq.actor(queue_name=QUEUES["events"], max_retries=3)
def ref_apply_event(order_id: str, k: int, event_id: str, kind: str, tracking_number: str | None = None,
                    carrier_id: str | None = None) -> None:
    inc = {"version": 1, **({"n_delivered": 1} if kind == "delivered" else {})}
    db().orders.update_one({"_id": order_id, "seen": {"$ne": event_id}},
                           {"$set": {f"fulfilments.{k}.{kind}_at": now()}, "$push": {"seen": event_id},
                            "$inc": inc})
    if kind == "shipped" and tracking_number and carrier_id:  # again on a redelivery: the carrier answers 200
        w = world()
        http().post(f"{w['carrier_url']}/{carrier_id}/trackers",
                    json={"tracking_number": tracking_number, "fulfilment_id": f"{order_id}.{k}"},
                    headers={"Authorization": f"Bearer {w['tokens'][carrier_id]}"}).raise_for_status()


@dramatiq.actor(queue_name=QUEUES["events"], max_retries=3)
def ref_apply_payment(order_id: str, transaction_id: str, amount: str) -> None:
    doc = db().orders.find_one_and_update(
        {"_id": order_id, "seen": {"$ne": transaction_id}, "payment_status": "unpaid", "routing.state": "routed",
         "amounts.payable": amount},
        {"$set": {"payment_status": "paid", "paid_at": now()}, "$push": {"seen": transaction_id},
         "$inc": {"version": 1}},
        projection={"fulfilments": 1}, return_document=ReturnDocument.AFTER)
    for k, f in enumerate((doc or {}).get("fulfilments") or []):
        ref_dispatch.send(order_id, k, f)


# ---------------------------------------------------------------------------------------- API

app = Flask(__name__)


def _refused(status: int, code: str, message: str, field: str | None = None):
    return {"error": {"code": code, "message": message, "details": {"field": field} if field else {}}}, status


def _bearer_ok(expected: str | None) -> bool:
    return not expected or request.headers.get("Authorization") == f"Bearer {expected}"


def _body() -> dict | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _intake_fields(body: dict) -> tuple[dict | None, tuple | None]:
    """What routing needs from a canonical order, or (None, the refusal naming the field)."""
    coid = body.get("channel_order_id")
    if not isinstance(coid, str) or not coid:
        return None, (422, "invalid_order", "channel_order_id: a non-empty string is required", "channel_order_id")
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        return None, (422, "invalid_order", "lines: at least one line is required", "lines")
    out = []
    for i, line in enumerate(lines):
        try:
            price = Decimal(str(line["unit_price"]))
            quantity = line["quantity"]
            if not (isinstance(quantity, int) and quantity > 0 and price.is_finite() and price >= 0
                    and isinstance(line["sku"], str) and isinstance(line["merchant_id"], str)):
                raise ValueError
        except (KeyError, TypeError, ValueError, InvalidOperation):
            return None, (422, "invalid_order", f"lines[{i}]: sku, merchant_id, a positive quantity and a "
                          "unit_price are required", f"lines[{i}]")
        out.append({"sku": line["sku"], "merchant_id": line["merchant_id"], "quantity": quantity,
                    "unit_price": str(price)})
    payment = body.get("payment") or {}
    return {"lines": out, "discounts": [{"amount": str(d["amount"])} for d in body.get("discounts") or []],
            "awaits_payment": payment.get("method") == "online" and payment.get("status") != "paid"}, None


@app.get("/healthz")
def healthz():
    return {"ok": True}


@app.post("/v1/channels/<channel>/orders")
def intake(channel: str):
    if not _bearer_ok(world()["channel_tokens"].get(channel)):
        return _refused(401, "unauthorised", "wrong or missing bearer token")
    body = _body()
    if body is None:
        return _refused(422, "invalid_body", "a JSON object is required")
    order, refusal = _intake_fields(body)
    if refusal:
        return _refused(*refusal)
    order_id = f"{channel}:{body['channel_order_id']}"
    try:
        db().orders.insert_one({"_id": order_id, "created_at": now(), "routing": {"state": "received"},
                                "payment_status": "unpaid" if order["awaits_payment"] else "not_due",
                                "seen": [], "n_delivered": 0, "version": 0})
    except DuplicateKeyError:
        return {"order_id": order_id, "duplicate": True}, 200
    ref_route.send(order_id, order)
    return {"order_id": order_id}, 202


@app.post("/v1/payments")
def payment():
    if not _bearer_ok(world()["payments_token"]):
        return _refused(401, "unauthorised", "wrong or missing bearer token")
    body = _body() or {}
    for name in ("order_id", "transaction_id", "amount"):
        if not isinstance(body.get(name), str) or not body[name]:
            return _refused(422, "invalid_payment", f"{name}: a non-empty string is required", name)
    if body.get("type") != "paid":
        return _refused(422, "invalid_payment", "type: only 'paid' is taken here", "type")
    ref_apply_payment.send(body["order_id"], body["transaction_id"], body["amount"])
    return {"accepted": True}, 202


def _fulfilment(fulfilment_id: str) -> tuple[str, int]:
    order_id, _, k = fulfilment_id.rpartition(".")
    return order_id, int(k)


@app.post("/v1/wms/<warehouse>/events")
def wms_event(warehouse: str):
    if not _bearer_ok(world()["tokens"].get(warehouse)):
        return _refused(401, "unauthorised", "wrong or missing bearer token")
    body = _body() or {}
    try:
        order_id, k = _fulfilment(body["fulfilment_id"])
        event_id, kind = str(body["event_id"]), str(body["type"])
    except (KeyError, TypeError, ValueError):
        return _refused(422, "invalid_event", "fulfilment_id (<order>.<n>), event_id and type are required",
                        "fulfilment_id")
    if not kind.isidentifier():  # it names a field of the fulfilment
        return _refused(422, "invalid_event", "type: a word such as accepted or shipped", "type")
    ref_apply_event.send(order_id, k, event_id, kind, body.get("tracking_number"), body.get("carrier_id"))
    return {"accepted": True}, 202


@app.post("/v1/carriers/<carrier>/events")
def carrier_event(carrier: str):
    if not _bearer_ok(world()["tokens"].get(carrier)):
        return _refused(401, "unauthorised", "wrong or missing bearer token")
    body = _body() or {}
    try:
        order_id, k = _fulfilment(str(body["tracking_number"]).partition("-")[2])
        event_id, kind = str(body["event_id"]), str(body["status"])
    except (KeyError, TypeError, ValueError):
        return _refused(422, "invalid_event", "tracking_number (<carrier>-<order>.<n>), event_id and status are "
                        "required", "tracking_number")
    if not kind.isidentifier():  # it names a field of the fulfilment
        return _refused(422, "invalid_event", "status: a word such as in_transit or delivered", "status")
    ref_apply_event.send(order_id, k, event_id, kind)
    return {"accepted": True}, 202
