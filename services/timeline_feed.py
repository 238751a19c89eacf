"""Walking the orders whose timeline moved, for a consumer that keeps cursors of its own over
them (the webhook relay, services/webhooks.py; customer e-mails, services/notifications.py;
their cursors: documents/timeline_cursors.py)."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from documents.timeline_cursors import orders_changed_since

BATCH = 500
SWEEP_SECONDS = 60  # well under a sweep's time limit


def walk(store, since: datetime, now: datetime, visit: Callable[[str, dict], None]) -> None:
    """Call ``visit(order_id, cursor)`` for each order updated since ``since`` whose version moved
    past its cursor in ``store`` (a module with ``cursors`` and ``set_watermark``), a page of
    ``BATCH`` at a time for up to ``SWEEP_SECONDS``; then move ``store``'s watermark as far as it
    got (to ``now`` when it saw every change)."""
    looked: set[str] = set()
    deadline = time.monotonic() + SWEEP_SECONDS
    while True:
        changed = orders_changed_since(since, BATCH)
        fresh = [o for o in changed if o["_id"] not in looked]
        known = store.cursors([o["_id"] for o in fresh])
        for o in fresh:
            cursor = known.get(o["_id"]) or {}
            if cursor.get("version") != o.get("version"):  # else nothing new since
                visit(o["_id"], cursor)
        looked |= {o["_id"] for o in fresh}
        if len(changed) < BATCH:
            store.set_watermark(now)
            return
        since = changed[-1]["updated_at"]
        if not fresh or time.monotonic() > deadline:
            store.set_watermark(since)
            return
