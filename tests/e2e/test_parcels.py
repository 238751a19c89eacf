"""Parcels to the end (issue 17, items 2b, 8, 9, 10) through the real pieces: HTTP in, RabbitMQ, the
Dramatiq worker, the wire server, simulated WMS and carriers.

- A Qimen warehouse confirms part of a delivery order, then the rest (the documented
  ``deliveryorder.confirm`` of tests/fixtures/wms, signed): partly shipped with those units out of
  stock, then shipped.
- EasyPost reports a parcel returned to sender (tests/fixtures/tracking, signed): the order is
  flagged with the reason, listed by ``GET /v1/orders?flag=exception`` and on the console's
  exceptions page, offers reship / refund / resolve but not confirm receipt; a reship sends the
  goods again from another warehouse and resolves the flag.
- A carrier re-issues a tracking number still in use: the booking is flagged, ``check`` reports the
  two live owners, and the number's events go to its newest live parcel, then to the other.
- A warehouse that does not acknowledge in time flags the order; its late answer settles the flag.
- Cash on delivery: each delivered parcel records its share as collected, the order is paid with
  the last one and its receipt issued; a B2B terms order gets its receipt when paid.
Each test ends with stock, money and every invariant conserved (``conserved``)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pymongo
import pytest

from adapters.seed import load_world
from adapters.wms_formats import qimen
from documents import invariants, orders
from documents.order_shape import stored_shape_errors
from documents.orders import OrderDocument
from router.statuses import WmsEventType
from services import timers
from tests import factories
from tests.helpers import eventually, get_order, http, order_in, stock_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved", "declared")]
FIXTURES = Path(__file__).parents[1] / "fixtures"
EASYPOST_SECRET = "easypost-webhook-secret"


@pytest.fixture
def declared(db):
    """Every order these paths stored (flags, partly shipped lines, COD payments, reships) has only
    keys its declaration knows (documents/order_shape.py), stored as declared."""
    yield
    problems = {d["_id"]: stored_shape_errors(OrderDocument, d) for d in orders.collection().find({})}
    assert {oid: errors for oid, errors in problems.items() if errors} == {}


def fixture(kind: str, name: str) -> dict:
    return json.loads((FIXTURES / kind / f"{name}.json").read_text())


def post_order(api, lines, **kw) -> str:
    response = http.post(f"{api}/v1/channels/manual/orders", json=factories.order(lines, **kw), timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["order_id"]


def fulfilment_in(api, order_id, status, index=0) -> dict:
    return eventually(lambda: len((o := get_order(api, order_id))["fulfilments"]) > index
                      and o["fulfilments"][index]["status"] == status and o["fulfilments"][index],
                      what=f"{order_id} fulfilment {index} {status}")


def fulfilment_of(order: dict, fulfilment_id: str) -> dict:
    return next(f for f in order["fulfilments"] if f["id"] == fulfilment_id)


def allowed(api, order_id) -> list[str]:
    return http.get(f"{api}/v1/orders/{order_id}/allowed-commands", timeout=5).json()["allowed"]


def listed(api, expected: list[str]) -> None:
    """Poll ``GET /v1/orders?flag=exception`` until it lists ``expected`` (the list row is written
    right after the order's own update)."""
    eventually(lambda: flagged_ids(api) == expected, what=f"?flag=exception listing {expected}")


def flagged_ids(api) -> list[str]:
    response = http.get(f"{api}/v1/orders", params={"flag": "exception"}, timeout=5)
    assert response.status_code == 200, response.text
    return [o["order_id"] for o in response.json()["orders"]]


def open_flags(order: dict) -> list[dict]:
    return [f for f in order.get("exceptions") or [] if not f.get("resolved_at")]


# --- a partial, then the final Qimen confirmation ----------------------------------------------

def post_qimen(api, warehouse: str, body: dict) -> httpx.Response:
    """A ``deliveryorder.confirm`` as Qimen posts it: the JSON body, signed in the query string with
    the app secret (the warehouse's)."""
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    params = qimen.request_params("deliveryorder.confirm", warehouse, factories.TOKENS[warehouse], raw,
                                  datetime.now(timezone.utc))
    return httpx.post(f"{api}/v1/wms/{warehouse}/events?{urlencode(params)}", content=raw, timeout=5,
                      headers={"Content-Type": "application/json"})


def test_a_partial_then_final_qimen_confirmation_ships_the_units_as_they_leave(api, worker, wms, carrier):
    load_world(factories.speaks_qimen(factories.world(wms.url, carrier.url), "WH-EAST"))
    order_id = post_order(api, [("SKU-A", 2), ("SKU-B", 1)], paid=True)
    f = fulfilment_in(api, order_id, "dispatched")
    assert f["warehouse_id"] == "WH-EAST" and stock_of(api, "SKU-A", "WH-EAST")["reserved"] == 2

    # The partial confirmation of the documentation (confirmType 1, status PARTDELIVERED), about our
    # delivery order: one of the two SKU-A leaves in one box under the booked waybill
    partial = fixture("wms", "qimen_confirm_partial")
    partial["deliveryOrder"].update(deliveryOrderCode=f["id"], warehouseCode="WH-EAST", logisticsCode=f["carrier_id"])
    partial["packages"][0].update(expressCode=f["tracking_number"], logisticsCode=f["carrier_id"],
                                  items=[{"itemCode": "SKU-A", "quantity": 1}])
    partial["orderLines"]["orderLine"].update(orderLineNo="1", itemCode="SKU-A", planQty="2", actualQty="1")
    assert post_qimen(api, "WH-EAST", partial).status_code == 202
    order = order_in(api, order_id, shipment_status="partially_shipped")
    part = fulfilment_of(order, f["id"])
    assert order["status"] == "awaiting_shipment" and part["status"] == "partially_shipped"
    assert [(l["sku"], l.get("shipped")) for l in part["lines"]] == [("SKU-A", 1), ("SKU-B", None)]
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 9, "reserved": 1, "available": 8},
               what="the box's unit shipped out of stock, the other still held")
    assert stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 3, "reserved": 1, "available": 2}
    assert "cancel" not in allowed(api, order_id)  # something left: no cancel, after-sales only

    # The same partial confirmation again (the WMS retries) changes nothing
    assert post_qimen(api, "WH-EAST", partial).json()["duplicate"] is True

    # The final confirmation of the documentation (confirmType 0) with the rest in a second box
    final = fixture("wms", "qimen_confirm_final")
    head = final["request"]["deliveryOrder"]
    head.update(deliveryOrderCode=f["id"], warehouseCode="WH-EAST", logisticsCode=f["carrier_id"],
                expressCode="QM-BOX-2")
    final["request"]["packages"]["package"].update(
        expressCode="QM-BOX-2", logisticsCode=f["carrier_id"],
        items={"item": [{"itemCode": "SKU-A", "quantity": "1"}, {"itemCode": "SKU-B", "quantity": "1"}]})
    lines = final["request"]["orderLines"]["orderLine"]
    lines[0].update(orderLineNo="1", itemCode="SKU-A", planQty="2", actualQty="1")
    lines[1].update(orderLineNo="2", itemCode="SKU-B", planQty="1", actualQty="1")
    assert post_qimen(api, "WH-EAST", final).status_code == 202
    order = order_in(api, order_id, status="shipped", shipment_status="shipped")
    done = fulfilment_of(order, f["id"])
    assert done["status"] == "shipped" and [l["shipped"] for l in done["lines"]] == [2, 1]
    assert [p["tracking_number"] for p in done["packages"]] == [f["tracking_number"], "QM-BOX-2"]
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 8, "reserved": 0, "available": 8}
               and stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 2, "reserved": 0, "available": 2},
               what="the rest shipped out of stock, nothing twice")
    eventually(lambda: {f["tracking_number"], "QM-BOX-2"} <= set(carrier.trackers), what="both boxes tracked")


# --- a parcel returned to sender ------------------------------------------------------------------------

def easypost_event(tracking_number: str) -> tuple[bytes, dict]:
    """EasyPost's documented return-to-sender tracker event about our parcel, signed as EasyPost does."""
    body = fixture("tracking", "easypost_return_to_sender")
    body["result"]["tracking_code"] = tracking_number
    raw = json.dumps(body).encode()
    signature = hmac.new(EASYPOST_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hmac-Signature": f"hmac-sha256-hex={signature}", "Content-Type": "application/json"}


def console_page(api, path: str) -> str:
    """A console page as an admin sees it (signed in with the admin token)."""
    with httpx.Client(base_url=api, timeout=5) as browser:
        login = browser.get("/console/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
        signed_in = browser.post("/console/login", data={"token": "test-admin", "csrf": csrf, "next": path})
        assert signed_in.status_code in (302, 303), signed_in.text
        page = browser.get(path)
        assert page.status_code == 200
        return page.text


def test_a_parcel_returned_to_sender_is_flagged_listed_and_reshipped_from_another_warehouse(api, worker, wms, carrier):
    world = factories.world(wms.url, carrier.url)
    fastship = next(c for c in world["carriers"] if c["id"] == "fastship")
    fastship.update(tracking_format="easypost", secret=EASYPOST_SECRET)  # EasyPost's webhooks, signed
    load_world(world)
    order_id = post_order(api, [("SKU-A", 1)], paid=True)
    f = fulfilment_in(api, order_id, "dispatched")
    assert f["carrier_id"] == "fastship" and f["warehouse_id"] == "WH-EAST"
    wms.progress(f["id"])
    order = order_in(api, order_id, status="shipped")
    assert "confirm_receipt" in allowed(api, order_id) and order_id not in flagged_ids(api)

    # EasyPost: the parcel is on its way back
    raw, headers = easypost_event(f["tracking_number"])
    assert httpx.post(f"{api}/v1/carriers/fastship/events", content=raw, headers=headers, timeout=5).status_code == 202
    order = eventually(lambda: open_flags(o := get_order(api, order_id)) and o, what="flagged")
    [flag] = open_flags(order)
    assert (flag["kind"], flag["reason"], flag["fulfilment_id"], flag["tracking_number"]) == (
        "carrier_exception", "return_to_sender", f["id"], f["tracking_number"])
    assert flag["at"] and flag["carrier_event"] == "exception"
    assert fulfilment_of(order, f["id"])["status"] == "exception" and order["status"] == "shipped"
    assert any(e["event"] == "exception.flagged" for e in order["timeline"])
    assert order["due_timer"] is None  # no receipt confirmed behind the operator's back
    # listed, with the commands that fit, and without confirm receipt
    listed(api, [order_id])
    commands = allowed(api, order_id)
    assert "confirm_receipt" not in commands
    assert {"reship", "resolve_exception", "after_sales.refund_only"} <= set(commands)
    refused = http.post(f"{api}/v1/orders/{order_id}/confirm-receipt", timeout=5)
    assert refused.status_code == 409
    page = console_page(api, "/console/exceptions")
    row = re.search(rf'<tr data-order="{order_id}".*?</tr>', page, re.S).group(0)
    assert "return_to_sender" in row and "/command/reship" in row and "/command/resolve_exception" in row
    assert "/command/after_sales.refund_only" in row and "confirm_receipt" not in row
    # EasyPost repeats the event: still one flag
    assert httpx.post(f"{api}/v1/carriers/fastship/events", content=raw, headers=headers, timeout=5).json()["duplicate"]

    # The operator reships it: a replacement order from another warehouse, the flag resolved
    reshipped = http.post(f"{api}/v1/orders/{order_id}/reship", json={"fulfilment_id": f["id"]}, timeout=5)
    assert reshipped.status_code == 200, reshipped.text
    order = get_order(api, order_id)
    [flag] = order["exceptions"]
    assert flag["resolution"] == "reshipped" and flag["resolved_by"] == "operator:admin"
    replacement = get_order(api, flag["reshipped_to"])
    assert replacement["channel"] == "reship" and replacement["reship_for"] == {"order_id": order_id,
                                                                                  "fulfilment_id": f["id"]}
    sent = fulfilment_in(api, replacement["order_id"], "dispatched")
    assert sent["warehouse_id"] == "WH-WEST" and [(l["sku"], l["quantity"]) for l in sent["lines"]] == [("SKU-A", 1)]
    assert replacement["amounts"]["payable"] == "0.00" or Decimal(replacement["amounts"]["payable"]) == 0
    listed(api, [])  # the reship resolved it
    assert "confirm_receipt" in allowed(api, order_id)
    assert http.post(f"{api}/v1/orders/{order_id}/reship", json={"fulfilment_id": f["id"]}, timeout=5).status_code == 409


# --- a stalled warehouse ------------------------------------------------------------------------------

def test_a_stalled_wms_acknowledgement_is_flagged_and_settled_when_the_wms_moves(api, worker, seeded, wms):
    order_id = post_order(api, [("SKU-A", 1)], paid=True)
    f = fulfilment_in(api, order_id, "dispatched")
    order = get_order(api, order_id)
    assert order["due_timer"] == {"action": "wms_ack_stalled", "fulfilment_id": f["id"]}
    dispatched = datetime.fromisoformat(f["dispatched_at"])
    assert not timers.fire(order_id, dispatched + timedelta(hours=1))  # the WMS still has its chance
    assert order_id not in flagged_ids(api)
    assert timers.fire(order_id, dispatched + timedelta(hours=2, seconds=1))
    [flag] = open_flags(get_order(api, order_id))
    assert (flag["kind"], flag["reason"], flag["fulfilment_id"], flag["status"]) == (
        "wms_ack_stalled", "no_wms_acknowledgement", f["id"], "dispatched")
    assert flag["at"] and flagged_ids(api) == [order_id]
    assert "resolve_exception" in allowed(api, order_id)
    # the warehouse answers at last: the flag is settled by it, the order leaves the list
    wms.progress(f["id"], steps=(WmsEventType.ACCEPTED,))
    order = eventually(lambda: not open_flags(o := get_order(api, order_id)) and o, what="settled")
    [flag] = order["exceptions"]
    assert flag["resolution"] == "moved on" and flag["resolved_by"] == "wms:WH-EAST"
    listed(api, [])
    assert "resolve_exception" not in allowed(api, order_id)


# --- a tracking number re-issued while in use -----------------------------------------------------------

def test_a_reused_tracking_number_is_flagged_and_its_events_go_to_the_live_owner(api, worker, seeded, wms, carrier):
    first = post_order(api, [("SKU-A", 1)], paid=True)
    a = fulfilment_in(api, first, "dispatched")
    wms.progress(a["id"])
    order_in(api, first, status="shipped")
    number = a["tracking_number"]

    # The carrier hands the same number to the next booking while the first parcel is still out
    carrier.reissue(number)
    second = post_order(api, [("SKU-C", 1)], paid=True)
    b = fulfilment_in(api, second, "dispatched")
    assert b["tracking_number"] == number and b["carrier_id"] == a["carrier_id"]
    order = eventually(lambda: open_flags(o := get_order(api, second)) and o, what="reuse flagged")
    [flag] = open_flags(order)
    assert (flag["kind"], flag["reason"], flag["tracking_number"]) == ("tracking_number_reused", "tracking_number_in_use",
                                                                       number)
    assert (flag["other_order_id"], flag["other_fulfilment_id"]) == (first, a["id"])
    listed(api, [second])
    assert open_flags(get_order(api, first)) == []
    duplicates = [v for v in invariants.check_all() if v.kind == "duplicate_tracking"]
    assert [{tuple(owner) for owner in v.details["owners"]} for v in duplicates] == [{(first, a["id"]), (second, b["id"])}]

    # The number's events go to its newest live parcel...
    wms.progress(b["id"])
    order_in(api, second, status="shipped")
    carrier.track(number)
    order_in(api, second, shipment_status="delivered")
    assert fulfilment_of(get_order(api, first), a["id"])["status"] == "shipped"  # the other parcel saw nothing
    # ...and once it is delivered, to the one still out
    carrier.track(number)
    order_in(api, first, shipment_status="delivered")
    assert [v for v in invariants.check_all() if v.kind == "duplicate_tracking"] == []


def test_a_number_claimed_while_its_owner_is_kept_by_the_intake_goes_to_the_new_parcel(api, worker, seeded, wms, carrier):
    """The carrier-event intake keeps a number's owner for a while (documents.orders
    ._RecentParcelOwners); a booking that re-issues the number marks the old parcel first, so the
    worker sends the events the intake still names it for to the new, live owner."""
    first = post_order(api, [("SKU-A", 1)], paid=True)
    a = fulfilment_in(api, first, "dispatched")
    wms.progress(a["id"])
    order_in(api, first, status="shipped")
    number = a["tracking_number"]
    eventually(lambda: number in carrier.trackers, what="tracker")
    carrier.track(number, steps=("in_transit",))
    eventually(lambda: "in_transit" in [t["event"] for t in fulfilment_of(get_order(api, first), a["id"])["tracking"]],
               what="the first parcel's scan")
    kept = orders.recent_parcel_owners.get(number, a["carrier_id"])  # as the intake keeps it now
    assert [o["fulfilment_id"] for o in kept] == [a["id"]]

    carrier.reissue(number)
    second = post_order(api, [("SKU-C", 1)], paid=True)
    b = fulfilment_in(api, second, "dispatched")
    assert b["tracking_number"] == number
    assert number in fulfilment_of(get_order(api, first), a["id"])["reclaimed_numbers"]
    wms.progress(b["id"])
    order_in(api, second, status="shipped")
    carrier.track(number, steps=("in_transit", "out_for_delivery", "delivered"))
    order_in(api, second, shipment_status="delivered")
    a_now = fulfilment_of(get_order(api, first), a["id"])
    assert a_now["status"] == "in_transit"
    scans = [t["event"] for t in a_now["tracking"] if t["event"] in ("in_transit", "out_for_delivery", "delivered")]
    assert scans == ["in_transit"]  # the new parcel's events went to it


def _order_finds(monkeypatch) -> list:
    """The finds on ``orders`` this thread makes from now on (a round trip each; find_one too)."""
    calls, me = [], threading.get_ident()
    original = pymongo.collection.Collection.find

    def find(self, *args, **kwargs):
        if self.name == "orders" and threading.get_ident() == me:
            calls.append(args[:1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pymongo.collection.Collection, "find", find)
    return calls


def test_a_parcels_owner_is_one_read_of_the_waybills_kept_a_while(api, worker, seeded, carrier, monkeypatch):
    """Round trips of the carrier-event intake's owner lookup: one read of the waybills, then none
    while kept; the boxes too only when the waybill's newest live parcel had the number claimed."""
    order_id = post_order(api, [("SKU-A", 1)], paid=True)
    a = fulfilment_in(api, order_id, "dispatched")
    number, carrier_id = a["tracking_number"], a["carrier_id"]
    finds = _order_finds(monkeypatch)
    orders.recent_parcel_owners.found.clear()
    assert orders.load_summary_by_tracking(number, carrier_id)["fulfilment_id"] == a["id"]
    assert len(finds) == 1
    for _ in range(3):
        assert orders.load_summary_by_tracking(number, carrier_id)["fulfilment_id"] == a["id"]
    assert len(finds) == 1
    assert orders.load_summary_by_tracking(number, "another-carrier") is None  # not its parcel

    orders.note_reclaimed(number, [{"order_id": order_id, "fulfilment_id": a["id"]}])
    orders.recent_parcel_owners.found.clear()
    finds.clear()
    assert orders.load_summary_by_tracking(number, carrier_id)["fulfilment_id"] == a["id"]  # nobody else holds it
    assert len(finds) == 2  # the waybills, then both


# --- cash on delivery, and terms ------------------------------------------------------------------------

def test_a_split_cod_order_is_paid_parcel_by_parcel_and_gets_its_receipt(api, worker, seeded, wms, carrier):
    order_id = post_order(api, [("SKU-A", 1), ("SKU-M2", 2)], payment_method="cod")
    east = fulfilment_in(api, order_id, "dispatched", 0)
    m2 = fulfilment_in(api, order_id, "dispatched", 1)
    order = get_order(api, order_id)
    assert order["payment_status"] == "unpaid" and {east["warehouse_id"], m2["warehouse_id"]} == {"WH-EAST", "WH-M2"}
    shares = {f["id"]: Decimal(f.get("cod_amount") or f["amounts"]["payable"]) for f in order["fulfilments"]}
    assert sum(shares.values()) == Decimal(order["amounts"]["payable"])

    def deliver(f):
        wms.progress(f["id"])
        eventually(lambda: fulfilment_of(get_order(api, order_id), f["id"])["status"] == "shipped", what="shipped")
        eventually(lambda: f["tracking_number"] in carrier.trackers, what="tracker")
        carrier.track(f["tracking_number"])
        return eventually(lambda: fulfilment_of(o := get_order(api, order_id), f["id"])["status"] == "delivered" and o,
                          what=f"{f['id']} delivered")

    order = deliver(east)
    [collected] = order["payments"]
    assert (collected["method"], collected["transaction_id"], Decimal(collected["amount"])) == (
        "cod", f"cod:{east['id']}", shares[east["id"]])
    assert order["payment_status"] == "unpaid" and Decimal(order["paid_amount"]) == shares[east["id"]]
    assert not any(p["kind"] == "receipt" for p in order.get("papers") or [])

    order = deliver(m2)
    order = order_in(api, order_id, payment_status="paid")
    assert [p["transaction_id"] for p in order["payments"]] == [f"cod:{east['id']}", f"cod:{m2['id']}"]
    assert Decimal(order["paid_amount"]) == Decimal(order["amounts"]["payable"])
    [receipt] = [p for p in order["papers"] if p["kind"] == "receipt"]
    assert receipt["number"] == f"RC-{order_id}" and Decimal(receipt["amount"]) == Decimal(order["amounts"]["payable"])
    assert order["shipment_status"] == "delivered" and "refund_due" not in order or not order["refund_due"]
    # a repeated delivered scan collects nothing twice
    carrier.track(m2["tracking_number"], steps=("delivered",))
    assert len(eventually(lambda: (o := get_order(api, order_id))["fulfilments"][1]["tracking"][-1]["event"] == "delivered"
                          and o, what="repeat recorded")["payments"]) == 2


def test_a_terms_order_gets_its_receipt_when_paid(api, worker, seeded, wms, carrier):
    order_id = post_order(api, [("SKU-M2", 1)], payment_method="terms", b2b=True)
    f = fulfilment_in(api, order_id, "dispatched")
    wms.progress(f["id"])
    order_in(api, order_id, status="shipped")
    assert not any(p["kind"] == "receipt" for p in get_order(api, order_id).get("papers") or [])
    payable = get_order(api, order_id)["amounts"]["payable"]
    paid = http.post(f"{api}/v1/payments", json={"order_id": order_id, "transaction_id": f"wire-{order_id}",
                                                 "type": "paid", "amount": payable}, timeout=5)
    assert paid.status_code == 202, paid.text
    order = order_in(api, order_id, payment_status="paid")
    [receipt] = [p for p in order["papers"] if p["kind"] == "receipt"]
    assert receipt["transaction_id"] == f"wire-{order_id}" and not order.get("refund_due")


def test_the_list_filter_takes_only_known_flags(api, worker, seeded):
    refused = http.get(f"{api}/v1/orders", params={"flag": "anything"}, timeout=5)
    assert refused.status_code == 422 and "query.flag" in refused.json()["error"]["details"]
    assert flagged_ids(api) == []
