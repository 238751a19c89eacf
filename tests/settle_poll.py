"""The harnesses' settle poll: orders read straight from the database a slice at a time, and a
wait until given orders are settled. Test and benchmark tooling, not part of the product: used by
the chaos harness (tests/chaos/harness.py, also run big by bench/chaos.py) and by bench/e2e.py
(which imports it from here, as bench/chaos.py imports the harness)."""
from __future__ import annotations

import contextlib
import time

from adapters.demo import settled
from documents.orders import collection

STATE_FIELDS = {"status": 1, "shipment_status": 1, "routing.state": 1, "routing.backordered": 1,  # what settled() reads
                "fulfilments.status": 1}
READ_SLICE = 200  # orders per read: one find of thousands outlasts a client's socket timeout


def read_orders(ids=None, projection: dict | None = None) -> list[dict]:
    """Orders straight from the database: those of ``ids``, ``READ_SLICE`` at a time (each read
    short enough for the short socket timeout, so as not to hold a loaded single-core server for
    seconds), or all of them in one find (the caller must be connected with a batch timeout:
    the embedded server decodes every match before its first batch). For harnesses and benchmarks."""
    projection = projection or {"timeline": 0, "raw": 0, "routing.decision": 0}
    if ids is None:
        return list(collection().find({}, projection))
    docs: list[dict] = []
    ids = sorted(ids)
    for at in range(0, len(ids), READ_SLICE):
        docs += collection().find({"_id": {"$in": ids[at:at + READ_SLICE]}}, projection)
    return docs


def next_slice(ids, after: str) -> list[str]:
    """The next ``READ_SLICE`` of ``ids`` (sorted) after ``after``, going round to the start: how
    harness polls visit many orders a slice at a time."""
    ids = sorted(ids)
    return [i for i in ids if i > after][:READ_SLICE] or ids[:READ_SLICE]


def wait_settled_in_db(ids, timeout: float, poll: float = 5.0, on_poll=None) -> set[str]:
    """Wait until every order of ``ids`` is :func:`settled`. Each poll reads from the database the
    next ``READ_SLICE`` of those not yet seen settled (their state fields alone), going round
    them: a harness must not load the server it waits on (reading all 5,000 pending orders every
    few seconds was most of the embedded server's work in the chaos run). A settled order stays
    settled while no stock arrives. ``on_poll(settled_count, total)`` after each poll. Returns the
    ids still unsettled at ``timeout``."""
    deadline = time.monotonic() + timeout
    pending, at = set(ids), ""
    while pending:
        window = next_slice(pending, at)
        at = window[-1]
        with contextlib.suppress(Exception):  # the database may be restarting (chaos): poll again
            pending -= {d["_id"] for d in read_orders(window, STATE_FIELDS) if settled(d)}
        if on_poll:
            on_poll(len(ids) - len(pending), len(ids))
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(poll)
    return pending
