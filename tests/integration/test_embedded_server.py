"""Writes whose filter has ``_id`` and more (every guarded change) touch exactly the documents the
whole filter matches, on the server as the suite runs it (the embedded one, started through
``documents.embedded_server`` with its ``_id``-first write lookup; or a real mongod with
``ROUTER_TEST_MONGO_URL``)."""
from __future__ import annotations

from pathlib import Path

import pytest
from pymongo import MongoClient, UpdateOne

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


def test_the_embedded_server_runs_through_the_entry_point_with_its_write_lookup_fix(tmp_path):
    from importlib import metadata

    from documents.embedded import EmbeddedMongo

    try:
        release = metadata.version("secantusdb")
    except metadata.PackageNotFoundError:
        pytest.skip("the embedded server is not installed")
    log = tmp_path / "server.log"
    server = EmbeddedMongo(":memory:", log_path=str(log)).start()
    try:
        command = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
        assert b"documents.embedded_server" in command
        coll = MongoClient(server.url)["t"]["things"]
        coll.insert_one({"_id": "A", "version": 1})
        assert coll.update_one({"_id": "A", "version": 0}, {"$inc": {"version": 1}}).modified_count == 0
        assert coll.update_one({"_id": "A", "version": 1}, {"$inc": {"version": 1}}).modified_count == 1
    finally:
        server.stop()
    # the fix is in force on the release it was written for, and says so when it is not
    assert ("running without the _id-first write lookup" in log.read_text()) == (release != embedded_server.PATCHED_RELEASE)


def test_catalog_changes_take_effect_at_once_on_the_next_write(db):
    # the embedded server keeps the catalog in memory (documents/embedded_server._Catalog): a
    # unique index, a validator and the profiling level each apply from the very next command
    from pymongo.errors import DuplicateKeyError, WriteError

    coll = db["catalog_test"]
    coll.insert_many([{"_id": 1, "k": "a"}, {"_id": 2, "k": "b"}])
    coll.update_one({"_id": 2}, {"$set": {"k": "b2"}})  # the catalog as it is now, read (and kept)
    coll.create_index("k", unique=True, name="k_unique")
    with pytest.raises(DuplicateKeyError):
        coll.insert_one({"_id": 3, "k": "a"})
    coll.drop_index("k_unique")
    coll.insert_one({"_id": 3, "k": "a"})

    db.command("collMod", "catalog_test", validator={"k": {"$type": "string"}})
    with pytest.raises(WriteError):
        coll.update_one({"_id": 1}, {"$set": {"k": 5}})
    db.command("collMod", "catalog_test", validator={})
    coll.update_one({"_id": 1}, {"$set": {"k": 5}})

    db.command("profile", 2)
    coll.find_one({"_id": 1})
    db.command("profile", 0)
    profiled = db["system.profile"].count_documents({"ns": f"{db.name}.catalog_test"})
    coll.find_one({"_id": 2})
    assert profiled >= 1 and db["system.profile"].count_documents({"ns": f"{db.name}.catalog_test"}) == profiled
    coll.drop()
    coll.insert_one({"_id": 1, "k": 7})  # the dropped collection's validator went with it
    assert coll.find_one({"_id": 1})["k"] == 7


def test_the_servers_document_copy_is_a_deep_copy():
    # documents/embedded_server.plain_copy stands in for copy.deepcopy in the server's update and
    # projection code: a change to the copy must never reach the stored document it came from
    from datetime import datetime, timezone

    from bson import Binary, Decimal128, ObjectId
    from bson.son import SON

    original = {"_id": ObjectId(), "at": datetime(2026, 12, 5, tzinfo=timezone.utc), "n": Decimal128("1.10"),
                "lines": [{"sku": "A", "tags": ["x"]}], "raw": Binary(b"\x00\x01", 5), "son": SON([("k", [1])])}
    copied = embedded_server.plain_copy(original)
    assert copied == original
    copied["lines"][0]["tags"].append("y")
    copied["son"]["k"].append(2)
    assert original["lines"] == [{"sku": "A", "tags": ["x"]}] and original["son"]["k"] == [1]
    assert copied["raw"] == original["raw"] and copied["raw"] is not original["raw"]  # not a plain scalar: deep-copied


def test_a_stop_that_hangs_is_ended_by_the_kernel():
    # documents/embedded_server.bound_the_stop: the server's stop arms alarm(STOP_LIMIT_S) first, so a
    # graceful stop that never returns ends the process (SIGALRM's default action) all the same
    import signal
    import subprocess
    import sys

    pytest.importorskip("secantus", reason="the embedded server is not installed")
    script = ("import time\n"
              "from secantus import server\n"
              "from documents import embedded_server\n"
              "server.SecantusDBServer.stop = lambda self: time.sleep(60)  # a stop that hangs\n"
              "embedded_server.STOP_LIMIT_S = 1\n"
              "embedded_server.bound_the_stop()\n"
              "server.SecantusDBServer.stop(object())\n")
    done = subprocess.run([sys.executable, "-c", script], timeout=30, cwd=Path(__file__).parents[2])
    assert done.returncode == -signal.SIGALRM
