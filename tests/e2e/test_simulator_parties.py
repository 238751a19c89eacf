"""The bundled simulators that ``orderrouter up`` starts (issue 19, item 5) know a party seeded
after they started: they read the reference data's current tokens and secrets when they call
back, so a warehouse added later gets its WMS events accepted (they were 401s: the tokens were a
dict built once at start)."""
from __future__ import annotations

import pytest

from adapters import cli
from adapters.seed import load_world
from tests import factories
from tests.e2e.test_lifecycle import post_order
from tests.helpers import eventually, get_order

pytestmark = pytest.mark.e2e

LATE = {"id": "WH-LATE", "merchant_ids": ["m1"], "country": "US", "region": "NY", "lat": 40.7, "lon": -74.0,
        "rank": 0, "wms_token": "late-token-1", "token": "late-token-1", "secret": "late-secret-1"}


@pytest.fixture
def simulators(api, monkeypatch):
    monkeypatch.setattr(cli, "PARTY_TTL", 0.0)  # read the parties on every call: the test seeds between calls
    sims = cli._start_simulators(api, wms_port=0, carrier_port=0, step_delay=0.05)
    yield sims
    for sim in sims:
        sim.stop()


def shipped(api: str, order_id: str) -> dict:
    return eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                      and all(f["status"] in ("shipped", "in_transit", "delivered") for f in o["fulfilments"]) and o,
                      what=f"{order_id} shipped through the simulators' callbacks", timeout=30)


def test_simulators_call_back_with_the_credentials_of_a_party_seeded_after_they_started(api, worker, db, simulators):
    wms, carrier = simulators
    load_world(factories.world(wms.url, carrier.url))  # seeded after the simulators started
    first = post_order(api, factories, [("SKU-A", 1)], payment_method="cod")
    assert shipped(api, first)["fulfilments"][0]["warehouse_id"] == "WH-EAST"

    load_world({"warehouses": [{**LATE, "wms_url": wms.url}],  # added while they run, a token they never saw
                "skus": [{"sku": "SKU-L", "merchant_id": "m1", "name": "late", "price": "10.00",
                          "stock": {"WH-LATE": 4}}]})
    late = post_order(api, factories, [("SKU-L", 2)], payment_method="cod")
    order = shipped(api, late)  # the WMS's events for WH-LATE were accepted: signed with its token
    assert [f["warehouse_id"] for f in order["fulfilments"]] == ["WH-LATE"]
    assert wms.tokens["WH-LATE"] == "late-token-1" and wms.secret_of("WH-LATE") == "late-secret-1"
    assert any(e.get("actor") == "wms:WH-LATE" for e in order["timeline"])
