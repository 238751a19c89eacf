"""Write concern and read preference as docs/mongodb.md states them: every write of the router is
acknowledged by a majority, every read but the reports' goes to the primary, and the reports read
where ROUTER_MONGO_REPORTS_READ_PREFERENCE says (documents/connection.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from bson.decimal128 import Decimal128
from pymongo import ReadPreference

from documents import connection, orders, reports, stock

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _with_url_option(url: str, option: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{option}"


def test_writes_ask_a_majority_and_reads_go_to_the_primary(db):
    # Given the connection every entry point makes (the tests' db fixture makes the same)
    # Then the orders, stock and reports alike write with w: majority
    for collection in (orders.collection(), stock.collection(), reports.collection()):
        assert collection.write_concern.document == {"w": "majority"}, collection.name
    # And everything reads the primary, the reports too unless told otherwise
    assert orders.collection().read_preference == ReadPreference.PRIMARY
    assert stock.collection().read_preference == ReadPreference.PRIMARY
    assert reports.collection().read_preference == ReadPreference.PRIMARY


def test_a_write_concern_in_the_url_does_not_lower_the_router_s(mongo_url, db):
    # When the URL asks for w=1
    connection.connect(_with_url_option(mongo_url, "w=1"), db.name)
    try:
        # Then the router's writes still ask a majority
        assert orders.collection().write_concern.document == {"w": "majority"}
    finally:
        connection.connect(mongo_url, db.name)


def test_reports_read_where_they_are_told_and_nothing_else_does(mongo_url, db):
    # Given two orders placed in a day, read by the reports from the primary
    base = {"channel": "manual", "currency": "USD", "status": "awaiting_shipment", "version": 1}
    orders.collection().insert_many([
        {**base, "_id": "O-1", "channel_order_id": "c1", "placed_at": T0, "payable": Decimal128("10.50")},
        {**base, "_id": "O-2", "channel_order_id": "c2", "placed_at": T0 + timedelta(hours=1),
         "payable": Decimal128("2.25")}])
    day = reports.ReportRange(T0, T0 + timedelta(days=1))
    from_primary = reports.orders_by_period(day)
    # When the reports are told to prefer a secondary
    connection.connect(mongo_url, db.name, reports_read_preference="secondaryPreferred")
    try:
        # Then the reports' reads carry it, and every other read still goes to the primary
        assert reports.collection().read_preference == ReadPreference.SECONDARY_PREFERRED
        assert orders.collection().read_preference == ReadPreference.PRIMARY
        assert stock.collection().read_preference == ReadPreference.PRIMARY
        # And a report gives the same figures (a single server answers for its secondaries)
        assert reports.orders_by_period(day) == from_primary == [
            {"period": "2026-11-01", "currency": "USD", "orders": 2, "revenue": "12.75"}]
    finally:
        connection.connect(mongo_url, db.name)


def test_a_url_asking_reads_from_secondaries_is_refused_with_the_setting_named(mongo_url, db):
    # When the URL asks every read to prefer a secondary (deciding reads would then see the past)
    with pytest.raises(ValueError, match="ROUTER_MONGO_URL asks for readPreference=secondaryPreferred"):
        connection.connect(_with_url_option(mongo_url, "readPreference=secondaryPreferred"), db.name)
    # And an unknown reports preference is refused by name
    with pytest.raises(ValueError, match="ROUTER_MONGO_REPORTS_READ_PREFERENCE must be one of"):
        connection.connect(mongo_url, db.name, reports_read_preference="secondaryPreffered")
    # Then the connection in use was left alone: it still reads and writes this database
    assert connection.database().name == db.name
    orders.collection().insert_one({"_id": "O-still"})
    assert orders.collection().find_one({"_id": "O-still"}) == {"_id": "O-still"}
