"""The harnesses' settle poll (tests/settle_poll.py) reads orders a slice at a time and only those not
yet seen settled, and reports exactly which orders never settled."""
from __future__ import annotations

import threading

import pytest

from documents import orders
from tests import settle_poll

pytestmark = pytest.mark.integration


def _order(i: int, status: str = "awaiting_shipment", shipment: str = "unshipped", routing: str = "routed") -> dict:
    return {"_id": f"O{i:04d}", "channel": "manual", "channel_order_id": f"c{i}", "status": status,
            "shipment_status": shipment, "routing": {"state": routing}, "timeline": [{"event": "received"}]}


def test_read_orders_reads_every_order_or_those_of_ids_a_slice_at_a_time(db, monkeypatch):
    monkeypatch.setattr(settle_poll, "READ_SLICE", 7)
    orders.collection().insert_many([_order(i) for i in range(30)])
    assert sorted(d["_id"] for d in settle_poll.read_orders()) == [f"O{i:04d}" for i in range(30)]
    assert "timeline" not in settle_poll.read_orders()[0]
    picked = [f"O{i:04d}" for i in (29, 3, 17)]
    picked_docs = settle_poll.read_orders(picked, settle_poll.STATE_FIELDS)
    assert sorted(d["_id"] for d in picked_docs) == sorted(picked)


def test_wait_settled_goes_round_the_pending_orders_and_returns_those_that_never_settled(db, monkeypatch):
    monkeypatch.setattr(settle_poll, "READ_SLICE", 4)
    docs = [_order(0, shipment="delivered"), _order(1, status="cancelled"), _order(2, routing="backordered"),
            *(_order(i) for i in range(3, 12))]
    orders.collection().insert_many(docs)
    ids = [d["_id"] for d in docs]
    seen: list[tuple[int, int]] = []

    left = settle_poll.wait_settled_in_db(ids, timeout=0.5, poll=0.05,
                                          on_poll=lambda done, total: seen.append((done, total)))

    assert left == {f"O{i:04d}" for i in range(3, 12)}
    assert seen[-1] == (3, 12) and all(total == 12 for _, total in seen)

    # When the others settle while it waits, it returns as soon as it has seen each of them settled
    def deliver():
        for i in range(3, 12):
            orders.collection().update_one({"_id": f"O{i:04d}"}, {"$set": {"shipment_status": "delivered"}})

    threading.Timer(0.2, deliver).start()
    assert settle_poll.wait_settled_in_db(ids, timeout=30, poll=0.05) == set()


def test_an_order_that_delivered_all_it_could_and_waits_for_stock_is_settled():
    from adapters.demo import settled

    waiting = {"status": "awaiting_shipment", "shipment_status": "partially_shipped",
               "routing": {"state": "routed", "backordered": [{"sku": "A", "quantity": 1}]}}
    assert settled({**waiting, "fulfilments": [{"status": "delivered"}, {"status": "cancelled"}]})
    assert not settled({**waiting, "fulfilments": [{"status": "delivered"}, {"status": "in_transit"}]})
    assert not settled({**waiting, "routing": {"state": "routed", "backordered": []},
                        "fulfilments": [{"status": "delivered"}]})  # nothing waits: it should have shipped
    assert settled({"status": "awaiting_shipment", "routing": {"state": "backordered"}})
