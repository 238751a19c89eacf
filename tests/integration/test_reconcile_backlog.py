"""The reconciler re-sends steps that stalled, not steps that are only waiting in their queue:
re-sending a backlog would only feed it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from documents import orders

pytestmark = pytest.mark.integration


def test_a_step_older_than_the_cutoff_is_re_sent_only_once_its_queue_is_drained(db, broker):
    from actors.routing import process_order
    from actors.sweeps import reconcile_once

    # Given an order left in 'received' for minutes, and (no worker running) a message waiting
    long_ago = datetime.now(timezone.utc) - timedelta(minutes=5)
    orders.collection().insert_one({"_id": "O-STUCK", "channel": "manual", "channel_order_id": "stuck-1",
                                    "status": "pending_payment", "routing": {"state": "received"},
                                    "updated_at": long_ago, "version": 1})
    broker.declare_queue(process_order.queue_name, ensure=True)
    broker.flush(process_order.queue_name)
    process_order.send("O-SOMETHING-ELSE")

    # When the reconciler runs with the orders queue backlogged, it leaves the order alone
    assert reconcile_once()["routing"] == 0
    assert orders.collection().find_one({"_id": "O-STUCK"}).get("resent_at") is None

    # Then, once the queue has drained, the stalled order is re-sent (once per window)
    broker.flush(process_order.queue_name)
    assert reconcile_once()["routing"] == 1
    assert reconcile_once()["routing"] == 0
    broker.flush(process_order.queue_name)
