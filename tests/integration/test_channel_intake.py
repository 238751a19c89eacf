"""Polled and imported channels: the Amazon SP-API poller against the simulated SP-API on loopback, and
the CSV import command; overlapping windows and re-imports have the effect of one."""
from __future__ import annotations

import config

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.simulators.amazon import AmazonSimulator
from documents import orders
from tests.helpers import eventually

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"


def _z(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _amazon_entries() -> list[dict]:
    mfn = json.loads((FIXTURES / "amazon_mfn_unshipped.json").read_text())
    afn = json.loads((FIXTURES / "amazon_afn_business_shipped.json").read_text())
    recent = datetime.now(timezone.utc) - timedelta(hours=2)
    for entry, stamp in ((mfn, _z(recent)), (afn, _z(recent + timedelta(minutes=10)))):
        entry["order"]["LastUpdateDate"] = stamp
        for item in entry["items"]:
            item["SellerSKU"] = "SKU-A"
            item["QuantityOrdered"] = 1
    return [mfn, afn]


def test_amazon_poller_accepts_each_order_once_across_overlapping_windows(worker, seeded):
    from adapters.pollers.amazon import poll
    from adapters.seed import load_world

    entries = _amazon_entries()
    fake = AmazonSimulator(entries).start()
    try:
        load_world({"channels": [{"id": "amazon", "format": "amazon", "merchant_id": "m1", "api_url": fake.url,
                                  **fake.lwa_settings()}]})
        first = poll("amazon")
        assert (first.orders, first.accepted, first.pages) == (2, 2, 2)
        again = poll("amazon")  # the window overlaps the last one: same orders seen, nothing doubled
        assert again.accepted == 0 and again.duplicates == again.orders
        updated = copy.deepcopy(entries[0])
        updated["order"]["LastUpdateDate"] = _z(datetime.now(timezone.utc) - timedelta(minutes=1))
        fake.entries[0] = updated
        third = poll("amazon")
        assert third.accepted == 0 and third.orders >= 1
        stored = list(orders.collection().find({"channel": "amazon"}, {"routing.state": 1, "channel_order_id": 1}))
        assert len(stored) == 2
        by_id = {d["channel_order_id"]: d["routing"]["state"] for d in stored}
        assert by_id[entries[1]["order"]["AmazonOrderId"]] == "external"  # AFN: recorded, not routed
        mfn_id = next(d["_id"] for d in stored if d["channel_order_id"] == entries[0]["order"]["AmazonOrderId"])
        eventually(lambda: orders.load(mfn_id)["routing"]["state"] == "routed", what="MFN order routed")
        reads = fake.calls_to("GET", "/orders/v0/orders")
        assert reads[0].query["LastUpdatedAfter"] and any("NextToken" in c.query for c in reads)
    finally:
        fake.stop()


def test_csv_import_reports_bad_rows_imports_the_good_and_is_idempotent(worker, seeded, db, mongo_url, tmp_path,
                                                                        monkeypatch):
    csv_text = (
        "channel_order_id,placed_at,currency,merchant_id,country,region,city,sku,quantity,unit_price,payment_method\n"
        "PHONE-1,2026-11-20T10:00:00+08:00,USD,m1,US,NY,New York,SKU-A,2,10.00,cod\n"
        "PHONE-1,,,,,,,SKU-C,1,10.00,\n"
        "PHONE-2,2026-11-20T11:00:00+08:00,USD,m1,US,CA,Los Angeles,SKU-B,two,10.00,cod\n"
        "PHONE-3,2026-11-20T12:00:00+08:00,USD,m1,US,TX,Austin,SKU-B,1,10.00,online\n")
    path = tmp_path / "orders.csv"
    path.write_text(csv_text, encoding="utf-8")
    monkeypatch.setenv("ROUTER_MONGO_URL", mongo_url)
    monkeypatch.setenv("ROUTER_MONGO_DB", db.name)
    config.use(None)
    try:
        from adapters.cli import main

        first = CliRunner().invoke(main, ["import", str(path)])
        assert first.exit_code == 1, first.output  # one bad row: reported, non-zero exit
        assert "2 orders imported" in first.output and "row 4: quantity" in first.output
        second = CliRunner().invoke(main, ["import", str(path)])
        assert "0 orders imported, 2 already there" in second.output
        unknown = CliRunner().invoke(main, ["import", str(path), "--channel", "nonexistent"])
        assert unknown.exit_code == 2 and "unknown channel 'nonexistent'" in unknown.output
    finally:
        config.use(None)
    from documents.connection import connect

    connect(mongo_url, db.name)
    imported = sorted(d["channel_order_id"] for d in orders.collection().find({"channel": "manual"}))
    assert imported == ["PHONE-1", "PHONE-3"]
    assert orders.collection().count_documents({"channel": "nonexistent"}) == 0
    phone1 = orders.collection().find_one({"channel_order_id": "PHONE-1"})
    assert [(l["sku"], l["quantity"]) for l in phone1["lines"]] == [("SKU-A", 2), ("SKU-C", 1)]
