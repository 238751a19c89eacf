"""Which queries go to which server (documents/wire_quirks.py): a real mongod gets the plain query,
the embedded server its workarounds, decided once per connection. No server here: the selection
logic alone (the conformance tests run the queries; a mongod cannot run in this environment)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from documents import connection, queries, wire_quirks
from documents.wire_quirks import MONGOD, SECANTUS

pytestmark = pytest.mark.unit
T = datetime(2026, 11, 1, 12, 0, 0, 1500, tzinfo=timezone.utc)  # 1.5 ms past the second
MS = timedelta(milliseconds=1)

# buildInfo replies, trimmed: mongod 8.0 and SecantusDB 0.7.0b3 (which reports a mongod version too)
MONGOD_BUILD_INFO = {"version": "8.0.4", "gitVersion": "bc35ab4305d9920d9d0491c1c9ef9b72383d31f9",
                     "versionArray": [8, 0, 4, 0], "modules": [], "allocator": "tcmalloc-google",
                     "storageEngines": ["devnull", "wiredTiger"], "bits": 64, "ok": 1.0}
SECANTUS_BUILD_INFO = {"version": "8.2.11", "secantusVersion": "0.7.0b3",
                       "gitVersion": "0000000000000000000000000000000000000000",
                       "versionArray": [8, 2, 11, 0], "bits": 64, "ok": 1.0}


def test_the_server_is_told_by_its_build_info():
    assert wire_quirks.of_server(MONGOD_BUILD_INFO) is MONGOD
    assert wire_quirks.of_server(SECANTUS_BUILD_INFO) is SECANTUS
    assert not any(vars(MONGOD).values())  # a real mongod: every flag off, the plain queries


def test_mongod_gets_the_plain_gte():
    assert wire_quirks.lower_bound(T, MONGOD) == {"$gte": T}
    assert queries.window_query({"status": "paid"}, T, None, False, quirks=MONGOD) == \
        {"status": "paid", "placed_at": {"$gte": T}}
    placed = {"placed_from": T, "placed_to": T + 2 * MS}
    assert queries.window_query(placed, None, None, False, quirks=MONGOD) == \
        {"placed_at": {"$gte": T, "$lt": T + 2 * MS}}
    later = T + timedelta(hours=1)  # the window's lower end when it is later than placed_from
    from_t = {"placed_from": T, "channel": "shopify"}
    assert queries.window_query(from_t, later, later + MS, True, quirks=MONGOD) == \
        {"channel": "shopify", "placed_at": {"$lte": later + MS, "$gte": later}}


def test_the_embedded_server_gets_gt_one_millisecond_earlier():
    before = datetime(2026, 11, 1, 12, 0, 0, 0, tzinfo=timezone.utc)  # T as stored (1 ms) less 1 ms
    assert wire_quirks.just_before(T) == before
    assert wire_quirks.lower_bound(T, SECANTUS) == {"$gt": before}
    assert queries.window_query({"status": "paid"}, T, T + MS, True, quirks=SECANTUS) == \
        {"status": "paid", "placed_at": {"$lte": T + MS, "$gt": before}}


def test_no_lower_end_no_bound_either_way():
    for quirks in (MONGOD, SECANTUS):
        assert queries.window_query({"status": "paid"}, None, T, True, quirks=quirks) == \
            {"status": "paid", "placed_at": {"$lte": T}}


class _Admin:
    def __init__(self, reply):
        self.reply, self.calls = reply, 0

    def command(self, name):
        assert name == "buildInfo"
        self.calls += 1
        return self.reply


class _Client:
    def __init__(self, reply):
        self.admin = _Admin(reply)


class _Database:
    def __init__(self, client):
        self.client = client


def test_quirks_are_asked_once_per_connection(monkeypatch):
    """One buildInfo per client, not per query; a new client (a reconnect) is asked again."""
    embedded, real = _Client(SECANTUS_BUILD_INFO), _Client(MONGOD_BUILD_INFO)
    monkeypatch.setattr(connection, "_quirks_of", None)
    current = [embedded]
    monkeypatch.setattr(connection, "database", lambda: _Database(current[0]))
    assert [connection.quirks() for _ in range(3)] == [SECANTUS] * 3
    assert embedded.admin.calls == 1
    current[0] = real
    assert connection.quirks() is MONGOD and connection.quirks() is MONGOD
    assert real.admin.calls == 1
    # window_query without quirks takes the connection's: here a mongod's, so the plain $gte
    assert queries.window_query({"status": "paid"}, T, None, False) == \
        {"status": "paid", "placed_at": {"$gte": T}}
