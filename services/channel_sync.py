"""The outbox relay: notices to channels were written into the order (``outbox``) by the same
guarded update as the change they report; this actor delivers each once and marks it sent. The
reconciler re-sends entries still pending after a minute, so none is lost. A refund the order
owed after a cancellation (``confirms``, services/refunds.py) is recorded as made by the same
update that marks its notice sent: the channel took it."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from documents import orders, reference
from services import refunds
from services.follow_up import follow_up
from services.outbox import outbox_entry, send_pending  # noqa: F401  (where the writers have long found them)
from services.ports import OutboundError, outbound


def sync_channel(order_id: str, entry_id: str) -> None:
    doc = orders.load(order_id, working=True)
    if doc is None:
        return
    entry = next((e for e in doc.get("outbox", []) if e["id"] == entry_id), None)
    if entry is None or entry["state"] != "pending":
        return
    channel = reference.cached("channels", doc["channel"])
    assert channel is not None, "the order came in through it"
    if outbound().channel.needs_raw(channel, entry["kind"]):
        doc = orders.load(order_id)  # the channel's own item ids are in the raw order
        assert doc is not None, "read just above"
    try:
        outbound().channel.notify(channel, entry, doc)
        outcome: dict[str, Any] = {"state": "sent", "sent_at": datetime.now(timezone.utc)}
    except OutboundError as exc:
        if exc.retryable:
            raise
        outcome = {"state": "failed", "error": str(exc)}

    def decide(current):
        outbox = [{**e, **outcome} if e["id"] == entry_id and e["state"] == "pending" else e
                  for e in current.get("outbox", [])]
        fields: dict = {"outbox": outbox}
        timeline: list = []
        outcomes: tuple = ()
        if outcome["state"] == "sent" and entry.get("confirms"):  # a refund owed: done once accepted
            more, timeline, outcomes = refunds.confirmed_by_channel(current, entry, outcome["sent_at"])
            fields = {**more, "outbox": outbox}
        return fields, timeline, outcomes

    saved, outcomes = orders.update_with(order_id, decide)
    follow_up(saved, outcomes)
