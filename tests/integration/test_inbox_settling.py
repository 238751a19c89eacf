"""Inbox entries an actor left open (it died between applying the event and closing its entry) are
settled by the reconciler: it closes those their orders record and re-sends the rest; nothing
accepted is lost, nothing applied is sent again."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from actors.steps import ACTOR_OF
from documents import inbox, orders
from services import messages, sweeps

pytestmark = pytest.mark.integration


class RecordingSender:
    """Stands in for the actors' sender: records each step as (actor name, arguments)."""

    def __init__(self):
        self.sent = []

    def __call__(self, step):
        self.sent.append((ACTOR_OF[type(step)].actor_name, *step.args()))


def _received(event_key: str, at: datetime) -> None:
    inbox.InboxEvent._get_collection().update_one({"_id": event_key}, {"$set": {"received_at": at}})


def test_reconciler_closes_recorded_events_and_resends_the_others(db, monkeypatch):
    now = datetime.now(timezone.utc)
    # Given an order that records a WMS event and a payment, and three events a few minutes old
    orders.collection().insert_one({
        "_id": "O1", "channel": "manual", "channel_order_id": "c1", "status": "awaiting_shipment",
        "payments": [{"transaction_id": "tx-1", "type": "paid", "amount": "10.00"}],
        "fulfilments": [{"id": "O1-1", "status": "accepted", "tracking": [{"event_id": "w-1", "event": "accepted"}]}]})
    keys = [inbox.record("wms", "WH", "w-1", {"event_id": "w-1", "fulfilment_id": "O1-1", "type": "accepted"}, "O1")[0],
            inbox.record("wms", "WH", "w-2", {"event_id": "w-2", "fulfilment_id": "O1-1", "type": "picked"}, "O1")[0],
            inbox.record("payment", "psp", "tx-1:paid", {"order_id": "O1", "transaction_id": "tx-1", "type": "paid",
                                                         "amount": "10.00"}, "O1")[0]]
    fresh = inbox.record("wms", "WH", "w-3", {"event_id": "w-3", "fulfilment_id": "O1-1", "type": "packed"}, "O1")[0]
    for key in keys:
        _received(key, now - timedelta(minutes=3))
    broker = RecordingSender()
    monkeypatch.setitem(messages._port, "send", broker)

    # When the reconciler settles the inbox
    closed, resent = sweeps.settle_inbox(now, now - sweeps.STALL_AFTER)

    # Then the recorded ones are closed, the unrecorded one is sent again, the fresh one waits
    assert (closed, resent) == (2, 1)
    assert broker.sent == [("apply_wms_event", "wms:WH:w-2")]
    state = {k: inbox.load(k)["processed"] for k in (*keys, fresh)}
    assert state == {keys[0]: True, keys[1]: False, keys[2]: True, fresh: False}
    # and a second sweep within the window neither closes nor re-sends anything
    assert sweeps.settle_inbox(now, now - sweeps.STALL_AFTER) == (0, 0)


def test_closes_made_at_once_by_several_threads_are_each_done_on_return_and_the_first_outcome_stays(db):
    keys = [inbox.record("carrier", "C", f"e-{i}", {"event_id": f"e-{i}"})[0] for i in range(40)]
    done = []

    def close(key):
        inbox.mark_processed(key)
        done.append(inbox.load(key)["processed"])  # closed by the time it returns

    threads = [threading.Thread(target=close, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert done == [True] * len(keys)
    assert all(e["processed"] and e["outcome"] == "applied" for e in map(inbox.load, keys))
    inbox.mark_processed(keys[0], "refused: late")  # the first outcome recorded stays
    assert inbox.load(keys[0])["outcome"] == "applied"
