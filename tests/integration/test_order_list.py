"""The order list pages newest first through every order exactly once, however far apart they were
placed (the look-back window widens when a page comes up short)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from documents import queries
from documents.orders import collection

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def test_pages_cover_every_order_once_newest_first_across_widening_windows(db):
    # Given 130 orders: a few today, a few months back, some a year ago, two at the same instant
    ages = [timedelta(hours=h) for h in range(40)] + [timedelta(days=20 + d) for d in range(45)] + \
        [timedelta(days=300 + d) for d in range(44)] + [timedelta(days=300)]
    collection().insert_many([{"_id": f"O{i:04d}", "channel": "c", "channel_order_id": str(i), "status": "s",
                               "placed_at": NOW - age, "version": 0} for i, age in enumerate(ages)])
    seen, cursor = [], None
    for _ in range(10):
        page, cursor = queries.list_orders({}, limit=50, cursor=cursor, now=NOW)
        seen += [(d["placed_at"], d["_id"]) for d in page]
        if cursor is None:
            break
    assert len(seen) == len(ages) == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    filtered, _ = queries.list_orders({"status": "s"}, limit=500, now=NOW)
    assert len(filtered) == len(ages)
