"""Every order the router stores matches the declaration of its shape (``OrderDocument`` in
documents/orders.py, its parts in documents/order_shape.py): orders run through the real pipeline
(HTTP intake, the actors on RabbitMQ, the simulated warehouses, carriers and channel) through
payment, dispatch, shipment, delivery, cancellation with an intercept, re-routing, holds,
rejections, timers, after-sales cases (refund, return, exchange) and channel notices, and then
each stored document, read raw, is checked field by field against the declaration: a key written
without being declared, or stored as another type (a string where Decimal128 is declared), fails.
"""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.seed import load_world
from documents import orders
from documents.codec import to_bson
from documents.converters import new_order_document
from documents.order_shape import stored_shape_errors
from documents.orders import OrderDocument
from router.model import Address, Order, OrderLine
from router.statuses import FulfilmentStatus, OrderStatus, WmsEventType
from services import timers
from tests import factories
from tests.e2e.test_channels import CASES, SECRET, _fixture
from tests.helpers import eventually, http

pytestmark = pytest.mark.integration
_NOW = datetime(2026, 1, 2, tzinfo=UTC)
_ONE = Decimal(1)


def paths(value, prefix: str = "") -> set[str]:
    """The dotted paths of every key in ``value`` (list positions left out)."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(prefix + key)
            found |= paths(item, f"{prefix}{key}.")
    elif isinstance(value, list):
        for item in value:
            found |= paths(item, prefix)
    return found


def conforming() -> set[str]:
    """Check every stored order against the declaration (our strict check, and mongoengine's own
    reading and validation); returns the paths they hold, to show what the scenario covered."""
    stored = list(orders.collection().find({}))
    assert stored
    seen = set()
    for raw in stored:
        errors = stored_shape_errors(OrderDocument, raw)
        assert errors == [], f"order {raw['_id']} differs from its declaration (documents/orders.py " \
                             f"OrderDocument, its parts in documents/order_shape.py): {errors}"
        OrderDocument._from_son(copy.deepcopy(raw)).validate()
        seen |= paths({k: v for k, v in raw.items() if k not in ("raw",)})
    return seen


def current(order_id: str) -> dict:
    return orders.load(order_id)


def post(api: str, body: dict) -> str:
    response = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["order_id"]


def until(order_id: str, what: str, check) -> dict:
    return eventually(lambda: (o := current(order_id)) is not None and check(o) and o, what=f"{order_id}: {what}")


def fulfilment(order_id: str, status: str, index: int = 0) -> dict:
    doc = until(order_id, f"fulfilment {index} {status}",
                lambda o: len(o["fulfilments"]) > index and o["fulfilments"][index]["status"] == status)
    return doc["fulfilments"][index]


def pay(api: str, order_id: str, tx: str = "tx") -> None:
    amount = str(until(order_id, "routed", lambda o: o["routing"]["state"] != "received")["amounts"]["payable"])
    r = http.post(f"{api}/v1/payments", timeout=5, json={"order_id": order_id, "transaction_id": f"{tx}-{order_id}",
                                                          "type": "paid", "amount": amount,
                                                          "occurred_at": "2026-01-02T03:04:05+00:00"})
    assert r.status_code == 202, r.text


def deliver(order_id: str, wms, carrier) -> dict:
    f = fulfilment(order_id, "dispatched")
    wms.progress(f["id"])
    until(order_id, "shipped", lambda o: o["status"] == "shipped")
    eventually(lambda: f["tracking_number"] in carrier.trackers, what="tracker")
    carrier.track(f["tracking_number"])
    return until(order_id, "delivered", lambda o: o["shipment_status"] == "delivered")


def case(api: str, order_id: str, body: dict, *steps: tuple[str, dict | None]) -> dict:
    opened = http.post(f"{api}/v1/orders/{order_id}/after-sales", json=body, timeout=5)
    assert opened.status_code == 201, opened.text
    result = opened.json()
    for step, step_body in steps:
        r = http.post(f"{api}/v1/after-sales/{result['case_id']}/{step}", json=step_body, timeout=5)
        assert r.status_code == 200, r.text
        result = r.json()
    return result


def fire_due(order_id: str) -> None:
    """Fire the order's next timer as if its time had come (an explicit clock, no sleeping)."""
    doc = current(order_id)
    assert timers.fire(order_id, doc["due_at"] + timedelta(seconds=1)), doc.get("due_timer")


def test_orders_through_their_whole_life_are_stored_as_declared(api, worker, seeded, wms, carrier):
    # Paid at the channel, shipped, delivered, a resaleable return refunded, receipt confirmed by timer
    returned = post(api, seeded.order([("SKU-A", 2)], paid=True))
    deliver(returned, wms, carrier)
    case(api, returned, {"type": "return_refund", "amount": "10.00", "lines": [{"line_no": 1, "quantity": 1}]},
         ("approve", None), ("return-received", {"condition": "resaleable"}), ("refund", None))
    fire_due(returned)  # auto-confirmed receipt: completed

    # Cash on delivery, delivered, exchanged: the replacement order ships and finishes the case
    exchanged = post(api, seeded.order([("SKU-A", 1)], payment_method="cod"))
    deliver(exchanged, wms, carrier)
    case(api, exchanged, {"type": "exchange", "lines": [{"line_no": 1, "quantity": 1}]},
         ("approve", None), ("return-received", {"condition": "damaged"}))
    replacement = eventually(lambda: orders.collection().find_one({"exchange_for.order_id": exchanged}),
                             what="replacement order")["_id"]
    deliver(replacement, wms, carrier)
    until(exchanged, "exchange succeeded", lambda o: o["after_sales"][0]["status"] == "succeeded")

    # Paid by the payment service, dispatched, its WMS silent past the deadline (a stall alert),
    # the address changed, then cancelled: the warehouse intercepts it
    cancelled = post(api, seeded.order([("SKU-B", 1)]))
    pay(api, cancelled)
    fulfilment(cancelled, "dispatched")
    fire_due(cancelled)
    address = {"country": "US", "region": "NJ", "city": "Newark", "postcode": "07102", "lines": ["2 Side St"]}
    assert http.patch(f"{api}/v1/orders/{cancelled}/shipping-address", json={"address": address},
                      timeout=5).status_code == 200
    assert http.post(f"{api}/v1/orders/{cancelled}/cancel", timeout=5).status_code == 200
    until(cancelled, "cancelled", lambda o: o["status"] == "cancelled")

    # Short-picked at the first warehouse: re-routed to the other, its money moved with it
    rerouted = post(api, seeded.order([("SKU-A", 4)], payment_method="cod"))
    wms.send_event(fulfilment(rerouted, "dispatched")["id"], "short_picked")
    fulfilment(rerouted, "dispatched", index=1)

    # More than any warehouse holds: routed with a backorder; a risky order held, then approved;
    # an unknown SKU rejected; an unpaid order cancelled by its timer
    backordered = post(api, seeded.order([("SKU-C", 9)]))
    held = post(api, seeded.order([("SKU-M2", 2500)], payment_method="cod"))
    rejected = post(api, seeded.order([("SKU-NOPE", 1)]))
    expired = post(api, seeded.order([("SKU-M2", 1)]))
    until(held, "held", lambda o: o["routing"]["state"] == "held")
    assert http.post(f"{api}/v1/orders/{held}/approve-hold", timeout=5).status_code == 200
    until(held, "routed again", lambda o: o["routing"]["state"] not in ("held", "received"))
    until(rejected, "rejected", lambda o: o["status"] == OrderStatus.REJECTED)
    until(backordered, "routed", lambda o: o["routing"]["state"] != "received")
    until(expired, "routed", lambda o: o["routing"]["state"] != "received")
    fire_due(expired)
    until(expired, "expired", lambda o: o["status"] == OrderStatus.CANCELLED)

    seen = conforming()
    assert {"papers.transaction_id", "papers.tracking_number", "papers.lines", "payments.occurred_at",
            "payments.after_sales_case", "after_sales.exchange_order_id", "after_sales.condition",
            "exchange_for.case_id", "fulfilments.tracking.occurred_at", "fulfilments.delivered_at",
            "fulfilments.rerouted_to", "fulfilments.amounts_before_reroute.payable", "fulfilments.reroute",
            "excluded_warehouses", "cancel_requested", "cancelled_at", "completed_at", "alerted_at",
            "exceptions.kind", "routing.problems.code", "routing.backordered.quantity", "routing.decision",
            "sub_orders", "line_amounts", "paid_amount", "refunded_amount", "due_timer.action",
            "address.region", "timeline.from"} <= seen


@pytest.fixture
def shop(api):
    with factories.shop_simulator() as sim:
        yield sim


def test_native_channel_orders_and_their_notices_are_stored_as_declared(api, worker, db, wms, carrier, shop):
    world = factories.world(wms.url, carrier.url)
    for fmt in ("shopify",):  # Taobao's polled orders: tests/e2e/test_taobao.py checks their shape
        world["channels"].append({"id": fmt, "format": fmt, "merchant_id": "m1", "secret": SECRET,
                                  "api_url": shop.url, **factories.SHOP_CREDENTIALS})
    load_world(world)
    shop.reply("/refunds/calculate.json", {"refund": {"currency": "USD", "transactions": [
        {"parent_id": 801038806, "amount": "0.00", "kind": "suggested_refund", "gateway": "bogus",
         "maximum_refundable": "500.00"}]}})
    for fmt in ("shopify",):  # shipped and refunded: Shopify is told both
        fixture, adapt, sign, _ = CASES[fmt]
        native = adapt(_fixture("channels", fixture))
        if fmt == "shopify":
            shop.add_order(native)  # the shop holds the order it sent (its fulfillment orders)
        body = json.dumps(native, ensure_ascii=False).encode()
        r = http.post(f"{api}/v1/channels/{fmt}/orders", content=body, timeout=5,
                      headers={**sign(body), "Content-Type": "application/json"})
        assert r.status_code == 202, r.text
        order_id = r.json()["order_id"]
        doc = until(order_id, "dispatched", lambda o: o["fulfilments"]
                    and all(f["status"] == "dispatched" for f in o["fulfilments"]))
        for f in doc["fulfilments"]:
            wms.progress(f["id"])
        until(order_id, "shipped", lambda o: o["status"] == "shipped")
        case(api, order_id, {"type": "refund_only", "amount": "5.00", "lines": [{"line_no": 1, "quantity": 1}],
                             "reason": "arrived damaged"}, ("approve", None), ("refund", None))
        until(order_id, "notices settled", lambda o: o["outbox"] and all(e["state"] != "pending" for e in o["outbox"]))

    seen = conforming()
    assert {"outbox.sent_at", "outbox.tracking_number", "outbox.order_shipped", "outbox.amount",
            "outbox.lines", "outbox.note", "webhook_ids", "native_status", "channel_updated_at"} <= seen


def test_boxes_a_warehouse_reports_are_stored_as_declared(api, worker, db, wms, carrier):
    world = factories.world(wms.url, carrier.url)
    east = next(w for w in world["warehouses"] if w["id"] == "WH-EAST")
    east.update(wms_format="qimen", secret=factories.TOKENS["WH-EAST"])
    load_world(world)
    order_id = post(api, factories.order(lines=(("SKU-A", 2), ("SKU-B", 1)), paid=True))
    f = fulfilment(order_id, "dispatched")
    wms.progress(f["id"], steps=(WmsEventType.ACCEPTED, WmsEventType.PICKED, WmsEventType.PACKED))
    fulfilment(order_id, "packed")
    wms.confirm(f["id"], packages=1, final=False, lines=[(1, "SKU-A", 2)])
    until(order_id, "partly confirmed", lambda o: o["fulfilments"][0].get("packages"))
    wms.confirm(f["id"], packages=2, final=True, lines=[(2, "SKU-B", 1)])
    until(order_id, "shipped", lambda o: o["status"] == "shipped")

    seen = conforming()
    assert {"fulfilments.packages.tracking_number", "fulfilments.packages.carrier_id",
            "fulfilments.tracking.raw_type", "fulfilments.shipped_at"} <= seen


def stored(order_id: str) -> dict:
    return orders.collection().find_one({"_id": order_id})


def test_a_key_not_declared_or_stored_as_another_type_is_found(db):
    # Given a fresh order stored the way intake stores it
    order = Order(order_id="O1", channel="manual", channel_order_id="C1", currency="USD",
                  lines=(OrderLine(line_no=1, sku="SKU-A", merchant_id="m1", quantity=1, unit_price=10 * _ONE),),
                  address=Address(country="US"), placed_at=_NOW)
    doc = new_order_document(order, received_at=_NOW, payment={"method": "online", "status": "unpaid"})
    orders.insert_new(doc)
    assert stored_shape_errors(OrderDocument, stored("O1")) == []

    # When keys are written that the declaration does not have, or with another type
    orders.collection().update_one({"_id": "O1"}, {"$set": {
        "surprise": 1, "payable": "10.00", "routing.guess": True, "lines.0.unit_price": "10.00",
        "fulfilments": [to_bson({"id": "O1-F1", "warehouse_id": "W", "status": FulfilmentStatus.RESERVED.value,
                                 "amounts": {"goods": _ONE}})]}})

    # Then each is named
    assert sorted(stored_shape_errors(OrderDocument, stored("O1"))) == [
        "fulfilments.0.amounts.discount: required", "fulfilments.0.amounts.freight: required",
        "fulfilments.0.amounts.goods: Decimal128 Decimal128('1'), declared StringField",
        "fulfilments.0.amounts.payable: required",
        "lines.0.unit_price: str '10.00', declared Decimal128Field",
        "payable: str '10.00', declared Decimal128Field",
        "routing.guess: not declared", "surprise: not declared"]


def test_every_status_has_its_timestamp_declared():
    """``<status>_at`` is stamped for whichever status an order or a fulfilment reaches."""
    assert {f"{s.value}_at" for s in OrderStatus} <= set(OrderDocument._fields)
    fulfilment_fields = OrderDocument._fields["fulfilments"].field.document_type._fields
    assert {f"{s.value}_at" for s in FulfilmentStatus} <= set(fulfilment_fields)
