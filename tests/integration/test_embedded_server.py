"""Writes whose filter has ``_id`` and more (every guarded change) touch exactly the documents the
whole filter matches, on the server as the suite runs it (the embedded one, started through
``documents.embedded_server`` with its ``_id``-first write lookup; or a real mongod with
``ROUTER_TEST_MONGO_URL``)."""
from __future__ import annotations

import pytest
from pymongo import UpdateOne

from documents import embedded_server

pytestmark = pytest.mark.integration


@pytest.fixture
def things(db):
    coll = db["embedded_server_test"]
    coll.insert_many([{"_id": f"T{i}", "version": i % 3, "items": [{"id": f"I{i}", "status": "open"}]}
                      for i in range(6)] + [{"_id": {"nested": 1}, "version": 0}])
    return coll


def test_a_guard_that_does_not_hold_writes_nothing_and_one_that_holds_writes_its_document_only(things):
    assert things.update_one({"_id": "T1", "version": 0}, {"$inc": {"version": 1}}).modified_count == 0
    assert things.update_one({"_id": "T1", "version": 1}, {"$inc": {"version": 1}}).modified_count == 1
    assert things.update_one({"_id": "T4", "items": {"$elemMatch": {"id": "I4", "status": "shut"}}},
                             {"$set": {"items.$.status": "done"}}).modified_count == 0
    assert things.update_one({"_id": "T4", "items": {"$elemMatch": {"id": "I4", "status": "open"}}},
                             {"$set": {"items.$.status": "done"}}).modified_count == 1
    assert {d["_id"]: d["version"] for d in things.find({"_id": {"$type": "string"}})} == \
        {"T0": 0, "T1": 2, "T2": 2, "T3": 0, "T4": 1, "T5": 2}
    assert things.find_one({"_id": "T4"})["items"][0]["status"] == "done"


def test_id_lists_and_ids_that_are_not_point_lookups_still_match_the_whole_filter(things):
    result = things.update_many({"_id": {"$in": ["T0", "T1", "T2", "T3"]}, "version": 0}, {"$set": {"seen": True}})
    assert result.modified_count == 2  # T0 and T3: the others are at another version
    assert sorted(d["_id"] for d in things.find({"seen": True})) == ["T0", "T3"]
    assert things.update_one({"_id": {"nested": 1}, "version": 0}, {"$set": {"seen": True}}).modified_count == 1
    assert things.delete_many({"_id": {"$in": ["T1", "T2"]}, "version": {"$gte": 2}}).deleted_count == 1  # T2
    assert things.count_documents({}) == 6 and things.find_one({"_id": "T1"}) is not None


def test_a_guarded_upsert_on_a_taken_id_fails_with_a_duplicate_key(things):
    with pytest.raises(Exception) as raised:
        things.bulk_write([UpdateOne({"_id": "T5", "version": 0}, {"$set": {"x": 1}}, upsert=True)])
    assert "E11000" in str(raised.value) or "duplicate key" in str(raised.value)


def test_the_lookup_fix_is_for_the_release_it_was_written_against():
    from importlib import metadata

    try:
        release = metadata.version("secantusdb")
    except metadata.PackageNotFoundError:
        pytest.skip("the embedded server is not installed")
    assert (release == embedded_server.PATCHED_RELEASE) == embedded_server.patch()
