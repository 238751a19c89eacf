"""In-stage fulfilment events (a warehouse's acknowledgement, pick and pack; a carrier's scans in
transit) are written without reading the order when this process holds a copy of it
(``documents.orders.recent``): the write is guarded on what of the order the step rests on, so a
copy another process made stale costs one read and the event takes the path a fresh read gives."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from adapters import intake
from documents import orders
from documents.codec import to_bson
from router.exceptions import ExceptionKind, is_open, with_flag
from tests import factories

pytestmark = pytest.mark.service


def routed(stub, lines) -> dict:
    accepted = intake.accept_order("manual", factories.order(lines, paid=True))
    stub.settle()
    return orders.load(accepted.id)


def wms_event(doc: dict, f: dict, kind: str, event_id: str) -> None:
    event = {"event_id": event_id, "fulfilment_id": f["id"], "type": kind, "raw_type": kind.upper(),
             "occurred_at": datetime.now(timezone.utc), "tracking_number": None, "carrier_id": None,
             "final": None, "packages": [], "lines": []}
    intake.accept_event("wms", f["warehouse_id"], event_id, event, True, order_id=doc["_id"],
                        direct=False)  # the message path, where the copy is used


def test_an_in_stage_event_on_an_order_this_process_holds_is_written_without_reading_it(stub, order_finds):
    doc = routed(stub, [("SKU-A", 1)])
    (f,) = doc["fulfilments"]
    assert orders.recent.get(doc["_id"]) is not None  # its dispatch left this process a copy
    order_finds.clear()

    wms_event(doc, f, "accepted", "wms-ack-1")
    stub.settle()
    finds = list(order_finds)

    (f,) = orders.load(doc["_id"])["fulfilments"]
    assert f["status"] == "accepted" and [t["event_id"] for t in f["tracking"]] == ["wms-ack-1"]
    # two deliveries of the event (tests/service/conftest.py): the first wrote on the copy, the
    # second read the order to see that the event was there already
    assert len(finds) == 1, finds


def test_a_copy_another_process_made_stale_costs_a_read_and_the_event_takes_the_fresh_path(stub):
    # Given an order this process holds a copy of, and a flag another process raised since on its
    # fulfilment (the timer sweep: the warehouse has not acknowledged it)
    doc = routed(stub, [("SKU-A", 1)])
    (f,) = doc["fulfilments"]
    copy = orders.recent.get(doc["_id"])
    assert copy is not None and not copy.get("exceptions")
    flags = with_flag([], ExceptionKind.WMS_ACK_STALLED, "no acknowledgement in 2 h", datetime.now(timezone.utc),
                      fulfilment_id=f["id"])
    orders.collection().update_one({"_id": doc["_id"]}, {"$set": {"exceptions": to_bson(flags)}, "$inc": {"version": 1}})

    # When the warehouse acknowledges it (an in-stage step, which the copy alone would write as such)
    wms_event(doc, f, "accepted", "wms-ack-2")
    stub.settle()

    # Then the write on the copy was refused by its guard, and the event settled the flag as a
    # fresh read of the order decides
    stored = orders.load(doc["_id"])
    assert stored["fulfilments"][0]["status"] == "accepted"
    assert [is_open(flag) for flag in stored["exceptions"]] == [False]
    assert [t["event_id"] for t in stored["fulfilments"][0]["tracking"]] == ["wms-ack-2"]
