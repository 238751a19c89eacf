"""Fixtures for the HTTP fuzz tests: the API on loopback over a seeded world with one routed
order (so that events about a real fulfilment get past the ownership checks), and a
fingerprint of the whole database to prove that bad input changed nothing."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import bson
import httpx
import pytest

from documents import orders
from documents.codec import to_bson
from tests.helpers import ADMIN

ORDER_ID = "O240601FUZZ000"
FULFILMENT_ID = f"{ORDER_ID}-F1"
TRACKING = "FASTSHIP-000000000001"


@pytest.fixture
def world(api, seeded):
    """The API URL, with a paid order whose fulfilment was dispatched from WH-EAST by fastship."""
    now = datetime.now(timezone.utc)
    money = {"goods": "20.00", "discount": "0.00", "freight": "0.00", "payable": "20.00"}
    orders.collection().insert_one(to_bson({
        "_id": ORDER_ID, "channel": "manual", "channel_order_id": "FUZZ-1", "currency": "USD",
        "status": "awaiting_shipment", "payment_status": "paid", "shipment_status": "unshipped",
        "after_sales_status": "none", "routing": {"state": "routed", "backordered": []},
        "amounts": {**money, "currency": "USD"}, "payable": money["payable"], "placed_at": now,
        "fulfilments": [{"id": FULFILMENT_ID, "warehouse_id": "WH-EAST", "carrier_id": "fastship",
                         "status": "dispatched", "tracking_number": TRACKING, "amounts": money,
                         "lines": [{"line_no": 1, "sku": "SKU-A", "quantity": 2}]}],
        "lines": [], "timeline": [], "created_at": now, "updated_at": now, "version": 1}))
    return api


def fingerprint(db) -> dict[str, str]:
    """A digest of every document of every collection (the database is small in these tests)."""
    out = {}
    for name in sorted(db.list_collection_names()):
        h = hashlib.sha256()
        for doc in db[name].find({}).sort("_id", 1):
            h.update(bson.encode(doc))
        out[name] = f"{db[name].count_documents({})}:{h.hexdigest()[:16]}"
    return out


@pytest.fixture
def client(world):
    with httpx.Client(base_url=world, timeout=30, headers=ADMIN) as c:
        yield c
