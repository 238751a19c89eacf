"""Order merge end to end (issue 17, item 14; services/merging.py), through HTTP, RabbitMQ, a
Dramatiq worker, the MongoDB-wire server and the simulated WMS and carrier: merchant m1 merges
orders (30 minutes), m2 does not. The merge window closes by the timer sweep given a clock
(``merging.release_holds(now)``), never by sleeping. Each test ends with ``conserved``."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.seed import load_world
from documents import orders
from documents.order_shape import stored_shape_errors
from documents.orders import OrderDocument
from router.merging import group_id, member_line
from services import merging
from services.messages import DispatchFulfilment, send
from tests import factories
from tests.helpers import eventually, get_order, http, order_in, stock_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved", "declared")]

CUSTOMER = {"id": "cust-merge", "name": "Ada Lovelace", "email": "ada@example.com"}


@pytest.fixture
def declared(db):
    """Every order stored (with its fulfilments' ``merge``) has only keys its declaration knows."""
    yield
    problems = {d["_id"]: stored_shape_errors(OrderDocument, d) for d in orders.collection().find({})}
    assert {oid: errors for oid, errors in problems.items() if errors} == {}


def _world(wms, carrier, qimen: bool = False) -> dict:
    world = factories.world(wms.url, carrier.url)
    world["merchants"] = [{"id": "m1", "name": "Acme", "merge_orders": True, "merge_window_minutes": 30},
                          {"id": "m2", "name": "Globex"}]
    if qimen:
        factories.speaks_qimen(world, "WH-EAST")
    load_world(world)
    return world


@pytest.fixture
def merging_world(seeded, wms, carrier):
    return _world(wms, carrier)


def _merged_pair(api) -> tuple[str, str, str]:
    """Two paid orders of one customer from WH-EAST, held, released together: (first, second, group)."""
    first, second = _post_paid(api, [("SKU-A", 2)]), _post_paid(api, [("SKU-A", 1), ("SKU-B", 1)])
    _held(first), _held(second)
    assert merging.release_holds(_later()) == 2
    eventually(lambda: all(_stored_fulfilment(o).get("status") == "dispatched" for o in (first, second)),
               what="both dispatched")
    return first, second, _stored_fulfilment(first)["merge"]["group"]


def _post_paid(api, lines, **extra) -> str:
    body = factories.order(lines, paid=True, customer=CUSTOMER, **extra)
    r = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert r.status_code == 202, r.text
    return r.json()["order_id"]


def _stored_fulfilment(order_id: str) -> dict:
    """The order's one fulfilment as stored (``{}`` before routing)."""
    found = (orders.load(order_id) or {}).get("fulfilments") or [{}]
    assert len(found) == 1, found
    return found[0]


def _held(order_id: str) -> dict:
    return eventually(lambda: (f := _stored_fulfilment(order_id)).get("merge") and f, what=f"{order_id} held")


def _later() -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=31)


def test_a_merged_pair_goes_as_one_delivery_order_and_each_ships_and_delivers_with_its_own_money(
        api, worker, merging_world, wms, carrier):
    # Given two paid orders of one customer to one address, both from WH-EAST
    first, second = _post_paid(api, [("SKU-A", 2)]), _post_paid(api, [("SKU-A", 1), ("SKU-B", 1)])
    held = [_held(first), _held(second)]
    assert all(f["status"] == "reserved" for f in held)
    assert wms.calls_to("POST") == [] and carrier.calls_to("POST") == []  # nothing out within the window

    # When the window closes (the sweep, twice: the second finds nothing left)
    assert merging.release_holds(datetime.now(timezone.utc)) == 0  # not yet
    assert merging.release_holds(_later()) == 2
    assert merging.release_holds(_later()) == 0
    eventually(lambda: all(_stored_fulfilment(o).get("status") == "dispatched" for o in (first, second)),
               what="both dispatched")
    group = _stored_fulfilment(first)["merge"]["group"]  # the oldest held member's
    assert group in {group_id(f["id"]) for f in held}
    # a dispatch delivered again (a retry, the reconciler) makes nothing twice
    for o in (first, second):
        send(DispatchFulfilment(o, _stored_fulfilment(o)["id"]))

    # Then the WMS holds one delivery order, the group's, with both orders' lines numbered per member
    eventually(lambda: list(wms.delivery_orders) == [group], what=f"one delivery order {group}: {list(wms.delivery_orders)}")
    request = wms.delivery_orders[group].request
    members = [m["order_id"] for m in request["members"]]  # oldest held first
    assert sorted(members) == sorted([first, second])
    assert sorted((member_line(x["line_no"]), x["order_id"], x["sku"], x["quantity"]) for x in request["lines"]) == \
        sorted([((members.index(first), 1), first, "SKU-A", 2), ((members.index(second), 1), second, "SKU-A", 1),
                ((members.index(second), 2), second, "SKU-B", 1)])
    assert len([c for c in wms.calls_to("POST") if c.path.endswith("/delivery-orders")]) >= 2  # each member sent it
    stored = [_stored_fulfilment(o) for o in (first, second)]
    assert stored[0]["tracking_number"] == stored[1]["tracking_number"]
    assert stored[0]["wms_order_id"] == stored[1]["wms_order_id"] == wms.delivery_orders[group].wms_order_id
    assert [f["merge"]["group"] for f in stored] == [group, group]

    # When the warehouse ships the merged order and the carrier delivers its parcel
    wms.progress(group)
    for o in (first, second):
        order_in(api, o, status="shipped", shipment_status="shipped")
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 7, "reserved": 0, "available": 7},
               what="stock shipped")
    number = stored[0]["tracking_number"]
    eventually(lambda: number in carrier.trackers, what="tracker registered")
    carrier.track(number)

    # Then each order is delivered with its own money, timeline and papers
    for o, payable in ((first, "20.00"), (second, "20.00")):
        order = order_in(api, o, shipment_status="delivered")
        assert order["amounts"]["payable"] == payable and order["payment_status"] == "paid"
        events = [e["event"] for e in order["timeline"]]
        assert "fulfilment.merge_held" in events and "fulfilment.merge_released" in events
        assert "fulfilment.delivered" in events
        assert not [x for x in order.get("exceptions") or [] if x.get("kind") == "tracking_number_reused"]
    assert len(wms.delivery_orders) == 1


def test_a_cancel_within_the_window_leaves_the_other_order_shipping_alone(api, worker, merging_world, wms):
    first, second = _post_paid(api, [("SKU-A", 1)]), _post_paid(api, [("SKU-A", 3)])
    _held(first), _held(second)

    r = http.post(f"{api}/v1/orders/{first}/cancel", timeout=5)
    assert r.status_code == 200, r.text
    order_in(api, first, status="cancelled")

    assert merging.release_holds(_later()) == 1
    alone = _stored_fulfilment(second)
    eventually(lambda: list(wms.delivery_orders) == [alone["id"]], what="the other alone")
    assert [x["quantity"] for x in wms.delivery_orders[alone["id"]].request["lines"]] == [3]
    assert "merge_group" not in wms.delivery_orders[alone["id"]].request
    wms.progress(alone["id"])
    order_in(api, second, status="shipped")
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 7, "reserved": 0, "available": 7},
               what="the cancelled unit back, the other shipped")
    assert _stored_fulfilment(first)["status"] == "cancelled"


def test_a_merchant_not_opted_in_dispatches_at_once(api, worker, merging_world, wms):
    first, second = _post_paid(api, [("SKU-M2", 1)]), _post_paid(api, [("SKU-M2", 2)])
    ids = [eventually(lambda o=o: (f := _stored_fulfilment(o)).get("status") == "dispatched" and f["id"],
                      what="dispatched") for o in (first, second)]
    assert sorted(wms.delivery_orders) == sorted(ids)
    assert all("merge" not in _stored_fulfilment(o) for o in (first, second))
    assert merging.release_holds(_later()) == 0
    assert get_order(api, first)["status"] == "awaiting_shipment"


def test_a_merged_qimen_delivery_order_confirmed_with_duplicates_ships_each_member_once(
        api, worker, seeded, wms, carrier):
    _world(wms, carrier, qimen=True)
    wms.duplicate_rate = 1.0  # every callback delivered twice
    body = factories.order([("SKU-A", 2)], paid=True, customer=CUSTOMER)
    first = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5).json()["order_id"]
    again = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert again.status_code == 200 and again.json()["duplicate"] is True  # one order
    second = _post_paid(api, [("SKU-A", 1), ("SKU-B", 1)])
    _held(first), _held(second)
    assert merging.release_holds(_later()) == 2
    eventually(lambda: all(_stored_fulfilment(o).get("status") == "dispatched" for o in (first, second)),
               what="both dispatched")
    group = _stored_fulfilment(first)["merge"]["group"]

    # One Qimen deliveryorder.create, its code the group id, lines numbered per member
    assert list(wms.delivery_orders) == [group]
    head = wms.delivery_orders[group].request["deliveryOrder"]
    assert head["deliveryOrderCode"] == group
    planned = wms.delivery_orders[group].request["orderLines"]["orderLine"]
    assert sorted(int(x["planQty"]) for x in planned) == [1, 1, 2] and len({x["orderLineNo"] for x in planned}) == 3

    # The warehouse's process reports and final confirmation (each sent twice) reach both orders once
    wms.progress(group)
    for o in (first, second):
        order = order_in(api, o, status="shipped", shipment_status="shipped")
        (f,) = order["fulfilments"]
        assert sum(1 for t in f["tracking"] if t["event"] == "shipped") == 1
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 7, "reserved": 0, "available": 7},
               what="stock shipped once")
    number = _stored_fulfilment(first)["tracking_number"]
    eventually(lambda: number in carrier.trackers, what="tracker registered")
    carrier.track(number)
    for o in (first, second):
        order_in(api, o, shipment_status="delivered")


def test_a_cancel_after_the_merged_dispatch_is_not_intercepted_and_the_others_ship(
        api, worker, merging_world, wms, carrier):
    first, second, group = _merged_pair(api)
    r = http.post(f"{api}/v1/orders/{first}/cancel", timeout=5)
    assert r.status_code == 200, r.text
    # neither protocol drops some lines of a delivery order, and stopping it would stop the other
    # order too: the WMS is not asked, the intercept is recorded as failed, the parcel ships
    eventually(lambda: "fulfilment.intercept_failed" in [e["event"] for e in get_order(api, first)["timeline"]],
               what="the intercept settled")
    assert wms.calls_to("POST", contains="/cancel") == []
    assert wms.delivery_orders[group].state == "created"
    wms.progress(group)
    for o in (first, second):
        order_in(api, o, status="shipped", shipment_status="shipped")
