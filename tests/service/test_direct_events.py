"""A warehouse's or carrier's in-stage step (accepted, picked, packed; the label, in-transit and
out-for-delivery scans) is applied where it arrives, without a message and without reading the
order (services/direct_events.py), and writes what the message path writes; when the order is
not as the step's guard requires, nothing is written and the event takes the message path."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters import intake
from documents import orders
from documents.codec import to_bson
from router.exceptions import ExceptionKind, is_open, with_flag
from services import direct_events
from tests import factories

pytestmark = pytest.mark.service


def routed(stub, lines) -> dict:
    accepted = intake.accept_order("manual", factories.order(lines, paid=True))
    stub.settle()
    return orders.load(accepted.id)


def wms(f: dict, word: str, event_id: str, **extra) -> dict:
    return {"event_id": event_id, "fulfilment_id": f["id"], "type": word, "raw_type": word.upper(),
            "occurred_at": datetime.now(timezone.utc), "tracking_number": None, "carrier_id": None,
            "final": None, "packages": [], "lines": [], **extra}


def scan(f: dict, word: str, event_id: str) -> dict:
    return {"event_id": event_id, "tracking_number": f["tracking_number"], "status": word, "raw_status": word.upper(),
            "occurred_at": datetime.now(timezone.utc), "description": word, "location": "depot",
            "exception_reason": None, "fulfilment_id": f["id"]}


def send(doc: dict, kind: str, source: str, payload: dict, direct: bool = True) -> None:
    intake.accept_event(kind, source, payload["event_id"], payload, True, order_id=doc["_id"], direct=direct)


def shipped(stub, doc: dict, f: dict) -> None:
    lines = [{"line_no": ln["line_no"], "sku": ln["sku"], "quantity": ln["quantity"]} for ln in f["lines"]]
    send(doc, "wms", f["warehouse_id"], wms(f, "shipped", f"ship-{f['id']}", tracking_number=f["tracking_number"],
                                             carrier_id=f["carrier_id"], final=True, lines=lines))
    stub.settle()


def _comparable(entries: list[dict]) -> list[dict]:
    """Timeline or tracking entries without what differs between two orders and two moments."""
    drop = {"at", "received_at", "occurred_at", "event_id"}
    out = []
    for entry in entries:
        entry = {k: v for k, v in entry.items() if k not in drop}
        if "details" in entry:
            details = {k: v for k, v in entry["details"].items() if k not in drop | {"fulfilment_id", "changes"}}
            details["changes"] = sorted(map(str, entry["details"].get("changes", {}).values()))
            entry["details"] = details
        out.append(entry)
    return out


def test_warehouse_steps_land_without_a_message_or_a_read_and_write_what_the_message_path_writes(stub, order_finds):
    direct, sent = routed(stub, [("SKU-A", 1)]), routed(stub, [("SKU-A", 1)])
    order_finds.clear()

    for word in ("accepted", "picked", "packed"):
        (f,) = direct["fulfilments"]
        send(direct, "wms", f["warehouse_id"], wms(f, word, f"{f['id']}-{word}"))
    assert order_finds == [] and stub.deliveries("apply_wms_event") == 0
    for word in ("accepted", "picked", "packed"):
        (f,) = sent["fulfilments"]
        send(sent, "wms", f["warehouse_id"], wms(f, word, f"{f['id']}-{word}"), direct=False)
        stub.settle()
    assert stub.deliveries("apply_wms_event") == 6  # three messages, each delivered twice

    a, b = orders.load(direct["_id"]), orders.load(sent["_id"])
    assert a["fulfilments"][0]["status"] == b["fulfilments"][0]["status"] == "packed"
    assert [t.pop("direct") for t in a["fulfilments"][0]["tracking"]] == [True] * 3
    assert _comparable(a["fulfilments"][0]["tracking"]) == _comparable(b["fulfilments"][0]["tracking"])
    assert _comparable(a["timeline"][-3:]) == _comparable(b["timeline"][-3:])
    assert [e["event"] for e in a["timeline"][-3:]] == ["fulfilment.accepted", "fulfilment.picked", "fulfilment.packed"]
    assert a["version"] == b["version"]


def test_a_repeat_is_refused_by_the_guard_and_the_message_path_records_it_once(stub):
    doc = routed(stub, [("SKU-A", 1)])
    (f,) = doc["fulfilments"]
    send(doc, "wms", f["warehouse_id"], wms(f, "accepted", "ack-1"))

    # another API process, which did not see the first copy: the direct write finds the event recorded
    assert not direct_events.apply("wms", f["warehouse_id"], doc["_id"], wms(f, "accepted", "ack-1"))
    send(doc, "wms", f["warehouse_id"], wms(f, "accepted", "ack-1"), direct=False)
    stub.settle()

    (f,) = orders.load(doc["_id"])["fulfilments"]
    assert [t["event_id"] for t in f["tracking"]] == ["ack-1"] and f["status"] == "accepted"


def test_an_event_on_another_warehouses_fulfilment_writes_nothing(stub):
    doc = routed(stub, [("SKU-A", 1)])
    (f,) = doc["fulfilments"]
    other = "WH-WEST" if f["warehouse_id"] != "WH-WEST" else "WH-EAST"

    assert not direct_events.apply("wms", other, doc["_id"], wms(f, "accepted", "ack-x"))
    assert orders.load(doc["_id"])["version"] == doc["version"]


def test_a_flagged_fulfilment_takes_the_message_path_which_settles_the_flag(stub):
    doc = routed(stub, [("SKU-A", 1)])
    (f,) = doc["fulfilments"]
    flags = with_flag([], ExceptionKind.WMS_ACK_STALLED, "no acknowledgement in 2 h", datetime.now(timezone.utc),
                      fulfilment_id=f["id"])
    orders.collection().update_one({"_id": doc["_id"]}, {"$set": {"exceptions": to_bson(flags)}, "$inc": {"version": 1}})

    send(doc, "wms", f["warehouse_id"], wms(f, "accepted", "ack-2"))
    stub.settle()

    stored = orders.load(doc["_id"])
    assert stub.deliveries("apply_wms_event") == 2  # the guard refused: one message, delivered twice
    assert stored["fulfilments"][0]["status"] == "accepted"
    assert [is_open(flag) for flag in stored["exceptions"]] == [False]


def test_scans_land_directly_whether_or_not_the_rest_of_the_order_shipped(stub):
    # Given an order in two fulfilments (two warehouses), the first shipped, the second not yet
    doc = routed(stub, [("SKU-B", 1), ("SKU-C", 1)])
    first, second = doc["fulfilments"]
    shipped(stub, doc, first)
    assert orders.load(doc["_id"])["status"] == "awaiting_shipment"

    # When the first parcel's carrier scans it, and, once the second shipped too, the second's
    send(doc, "carrier", first["carrier_id"], scan(first, "in_transit", "scan-1"))
    stored = orders.load(doc["_id"])
    assert stored["fulfilments"][0]["status"] == "in_transit" and stored["status"] == "awaiting_shipment"
    shipped(stub, doc, second)
    assert orders.load(doc["_id"])["status"] == "shipped"
    for word in ("label_created", "in_transit", "out_for_delivery"):
        send(doc, "carrier", second["carrier_id"], scan(second, word, f"scan-2-{word}"))
    stub.settle()

    # Then none of the scans took a message
    assert stub.deliveries("apply_carrier_event") == 0
    stored = orders.load(doc["_id"])
    assert stored["fulfilments"][1]["status"] == "out_for_delivery"
    assert [t["event"] for t in stored["fulfilments"][1]["tracking"]][-3:] == ["label_created", "in_transit",
                                                                               "out_for_delivery"]
    assert all(t["direct"] for t in stored["fulfilments"][1]["tracking"][-3:])


def test_a_scan_that_overtook_the_shipment_goes_by_message_and_ships_the_order(stub):
    # Given a packed parcel whose shipment the warehouse has not confirmed yet
    doc = routed(stub, [("SKU-A", 1)])
    (f,) = doc["fulfilments"]
    for word in ("accepted", "picked", "packed"):
        send(doc, "wms", f["warehouse_id"], wms(f, word, f"{f['id']}-{word}"))

    # When the carrier's in-transit scan comes first (it moves the parcel out of the warehouse: a
    # change of stage, which only the whole order can decide)
    send(doc, "carrier", f["carrier_id"], scan(f, "in_transit", "scan-early"))
    stub.settle()

    # Then it took the message path, and the order shipped with it
    assert stub.deliveries("apply_carrier_event") == 2
    stored = orders.load(doc["_id"])
    assert stored["fulfilments"][0]["status"] == "in_transit" and stored["status"] == "shipped"
    assert "direct" not in stored["fulfilments"][0]["tracking"][-1]


def test_while_the_database_cannot_be_reached_events_go_by_message_without_waiting_on_it(stub, monkeypatch):
    from pymongo.errors import AutoReconnect

    doc = routed(stub, [("SKU-A", 1)])
    (f,) = doc["fulfilments"]
    tried = []
    advance = orders.advance_fulfilment

    def down_once(*args, **kwargs):
        tried.append(args[1])
        if len(tried) == 1:
            raise AutoReconnect("connection refused")  # the first direct write finds the database down
        return advance(*args, **kwargs)

    monkeypatch.setattr(orders, "advance_fulfilment", down_once)
    monkeypatch.setattr(direct_events, "_paused_until", [0.0])
    send(doc, "wms", f["warehouse_id"], wms(f, "accepted", "ack-down"))
    send(doc, "wms", f["warehouse_id"], wms(f, "picked", "pick-down"))  # paused: not tried at all
    assert tried == [f["id"]]

    stub.settle()  # the broker kept both; the worker applies them
    assert stub.deliveries("apply_wms_event") == 4
    (stored,) = orders.load(doc["_id"])["fulfilments"]
    assert stored["status"] == "picked" and [t["event_id"] for t in stored["tracking"]] == ["ack-down", "pick-down"]
