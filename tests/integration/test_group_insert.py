"""Concurrent inserts share one command, and each caller still gets its own document's outcome."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pymongo.errors import DuplicateKeyError

from documents.group_insert import GroupInsert

pytestmark = pytest.mark.integration


class CountingCollection:
    """The real collection, counting the commands sent and holding each write for a moment so
    that callers pile up behind it."""

    def __init__(self, coll):
        self.coll, self.commands, self.lock = coll, [], threading.Lock()

    def insert_one(self, doc):
        self._note(1)
        return self.coll.insert_one(doc)

    def insert_many(self, docs, ordered):
        assert ordered is False
        self._note(len(docs))
        return self.coll.insert_many(docs, ordered=False)

    def _note(self, n):
        with self.lock:
            self.commands.append(n)
        threading.Event().wait(0.02)


def test_concurrent_inserts_are_grouped_and_duplicates_reach_their_own_callers(db):
    coll = db["group_insert_test"]
    coll.insert_one({"_id": "taken-1"})
    counting = CountingCollection(coll)
    group = GroupInsert(lambda: counting, max_batch=16)
    ids = [f"new-{i}" for i in range(40)] + ["taken-1", "new-3"]  # one old duplicate, one within the run

    def insert(doc_id):
        try:
            group.insert({"_id": doc_id})
            return doc_id, "inserted"
        except DuplicateKeyError:
            return doc_id, "duplicate"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(insert, ids))

    assert sorted(d["_id"] for d in coll.find()) == sorted({*ids})
    assert dict(o for o in outcomes if o[0] != "new-3")["taken-1"] == "duplicate"
    assert sorted(r for d, r in outcomes if d == "new-3") == ["duplicate", "inserted"]
    assert sum(counting.commands) == len(ids) and max(counting.commands) <= 16
    assert len(counting.commands) < len(ids)  # grouped


def test_a_lone_insert_is_one_plain_insert(db):
    coll = db["group_insert_test"]
    counting = CountingCollection(coll)
    group = GroupInsert(lambda: counting)
    group.insert({"_id": "a"})
    with pytest.raises(DuplicateKeyError):
        group.insert({"_id": "a"})
    assert counting.commands == [1, 1]


def test_the_follow_up_gets_the_inserted_documents_of_each_command_once_and_cannot_fail_the_callers(db):
    coll = db["group_insert_test"]
    coll.insert_one({"_id": "taken-1"})
    counting = CountingCollection(coll)
    followed: list[list[str]] = []

    def then(docs):
        followed.append([d["_id"] for d in docs])
        if len(followed) == 1:
            raise RuntimeError("the follow-up's own write failed")  # logged; the documents are stored

    group = GroupInsert(lambda: counting, max_batch=16, then=then)
    ids = [f"new-{i}" for i in range(30)] + ["taken-1"]

    def insert(doc_id):
        try:
            group.insert({"_id": doc_id})
            return "inserted"
        except DuplicateKeyError:
            return "duplicate"

    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(insert, ids))

    assert outcomes.count("inserted") == 30 and outcomes.count("duplicate") == 1
    assert sorted(i for batch in followed for i in batch) == sorted(ids[:30])  # each inserted one, once
    assert len(followed) <= len(counting.commands) and len(followed) < 30  # one per command, not per document


def test_new_orders_list_rows_are_written_with_their_insert(db):
    from datetime import datetime, timezone

    from documents import order_list, orders

    stored = []
    for i in range(3):
        doc = {"_id": f"O-NEW-{i}", "channel": "web", "channel_order_id": f"C-NEW-{i}", "status": "pending_payment",
               "payment_status": "unpaid", "shipment_status": "unshipped", "currency": "USD", "version": 0,
               "placed_at": datetime.now(timezone.utc), "customer": {"id": "c-1"}}
        assert orders.insert_new(doc) == (doc["_id"], True)
        stored.append(doc)
    rows = {r["_id"]: r for r in order_list.collection().find({"_id": {"$in": [d["_id"] for d in stored]}})}
    assert sorted(rows) == sorted(d["_id"] for d in stored)
    assert all((r["status"], r["version"]) == ("pending_payment", 0) for r in rows.values())
