"""The webhook relay over the MongoDB-wire server (services/webhooks.py): an order's timeline
entries fanned out once per subscription and topic, in pages, with the per-order cursor making a
sweep that died half-way harmless (redone, nothing recorded twice); and a replay of a failed
event releasing the ones it held, in order. The HTTP call is a recording fake."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from documents import orders
from documents import webhooks as store
from router import webhooks as wh
from services import timeline_feed, webhooks
from services.ports import OutboundError

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)


def _order(n: int, events: list[str]) -> dict:
    timeline = [{"at": T0 + timedelta(seconds=i), "actor": "system", "event": e, "from": None, "to": "x",
                 "details": {}} for i, e in enumerate(events)]
    return {"_id": f"O{n:06X}", "channel": "manual", "channel_order_id": f"c{n}", "status": "pending_payment",
            "timeline": timeline, "version": len(events), "updated_at": T0 + timedelta(seconds=n)}


class Posts:
    def __init__(self):
        self.posted: list[tuple[str, str]] = []
        self.failing = False

    def post(self, url, secret, event_id, topic, body):
        if self.failing:
            raise OutboundError("webhook", "HTTP 503", 503)
        assert body  # signed by the real adapter (tests/e2e/test_webhooks.py); here only the order matters
        self.posted.append((event_id, topic))
        return 200


@pytest.fixture
def relay(db, monkeypatch, settings_with):
    sent: list = []
    posts = Posts()
    monkeypatch.setattr(webhooks, "send", sent.append)
    monkeypatch.setattr(webhooks, "webhook_port", lambda: posts)
    settings_with(webhook_backoff="0", webhook_give_up_seconds=0.0, webhook_lease_seconds=1.0)
    return sent, posts


def test_every_entry_is_fanned_out_once_across_pages_and_a_sweep_that_died_half_way(relay, monkeypatch):
    sent, _ = relay
    sub = webhooks.subscribe("http://127.0.0.1:9/h", [wh.ORDER_CREATED, wh.ORDER_ROUTED], None, "test")
    store._subs().update_one({"_id": sub["_id"]}, {"$set": {"created_at": T0 - timedelta(days=1)}})
    for n in range(1, 6):
        orders.collection().insert_one(_order(n, ["received", "routing.routed", "payment.paid"]))
    monkeypatch.setattr(timeline_feed, "BATCH", 2)  # pages of two orders

    # a sweep that dies after recording an order's deliveries, before moving its cursor
    real_advance = store.advance_cursor
    monkeypatch.setattr(store, "advance_cursor", lambda *a: (_ for _ in ()).throw(RuntimeError("killed")))
    with pytest.raises(RuntimeError):
        webhooks.sweep(T0 + timedelta(minutes=1))
    monkeypatch.setattr(store, "advance_cursor", real_advance)

    webhooks.sweep(T0 + timedelta(minutes=1))
    webhooks.sweep(T0 + timedelta(minutes=2))  # nothing new: nothing recorded again
    rows = store.log(sub["_id"], limit=500)
    assert sorted(r["_id"] for r in rows) == sorted(
        f"{sub['_id']}:O{n:06X}.{seq}" for n in range(1, 6) for seq in (0, 8))
    assert {(s.subscription_id, s.order_id) for s in sent} == {(sub["_id"], f"O{n:06X}") for n in range(1, 6)}
    assert store.cursors([f"O{n:06X}" for n in range(1, 6)])[f"O{1:06X}"]["seen"] == 3

    # a later entry of one order is fanned out alone
    orders.collection().update_one({"_id": "O000002"}, {"$push": {"timeline": {
        "at": T0 + timedelta(minutes=3), "actor": "system", "event": "order.cancel", "from": "pending_payment",
        "to": "cancelled", "details": {}}}, "$inc": {"version": 1}, "$set": {"updated_at": T0 + timedelta(minutes=3)}})
    webhooks.sweep(T0 + timedelta(minutes=3))
    assert len(store.log(sub["_id"], "O000002")) == 2  # order.cancelled is not subscribed to
    assert store.cursors(["O000002"])["O000002"]["seen"] == 4


def test_a_failed_event_holds_the_later_ones_until_it_is_replayed(relay):
    sent, posts = relay
    sub = webhooks.subscribe("http://127.0.0.1:9/h", list(wh.TOPICS), None, "test")
    store._subs().update_one({"_id": sub["_id"]}, {"$set": {"created_at": T0 - timedelta(days=1)}})
    orders.collection().insert_one(_order(1, ["received", "routing.routed"]))
    webhooks.sweep(T0 + timedelta(minutes=1))

    posts.failing = True
    assert webhooks.deliver(sub["_id"], "O000001") == 0  # no time to retry: failed at once
    assert webhooks.deliver(sub["_id"], "O000001") == 0  # the next is held, never tried
    by_seq = sorted(store.log(sub["_id"], "O000001"), key=lambda r: r["sequence"])
    assert [(r["status"], r["attempts"]) for r in by_seq] == [(wh.FAILED, 1), (wh.PENDING, 0)]
    assert posts.posted == []

    posts.failing = False
    webhooks.replay(by_seq[0]["_id"], "test")
    assert webhooks.deliver(sub["_id"], "O000001") == 2
    assert posts.posted == [("O000001.0", wh.ORDER_CREATED), ("O000001.8", wh.ORDER_ROUTED)]
