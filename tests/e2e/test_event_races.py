"""Warehouse and carrier events for one fulfilment arriving together, out of order and twice,
through the real pieces (HTTP, RabbitMQ, a worker with several threads, the wire server): each
event is recorded once, the fulfilment ends where its latest event puts it, never goes back."""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from services.turns import per_order
from tests import factories
from tests.helpers import eventually, get_order, order_in, http

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]


@pytest.fixture(autouse=True, params=["taking turns", "racing"])
def turns(request, monkeypatch):
    """Events of one order take turns within a worker process (actors/turns.py); with no wait for
    a turn they race each other as they do across processes, and the guarded updates decide."""
    if request.param == "racing":
        monkeypatch.setattr(per_order, "wait_s", 0)
    return request.param


def _post_all(url: str, token: str, bodies: list[dict]) -> list[int]:
    """Post every body at once (each on its own thread), as a busy warehouse or carrier does."""
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client, \
            ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda body: client.post(url, json=body).status_code, bodies))


def _history(order: dict) -> list[tuple[str, str]]:
    return sorted((t["event"], t["event_id"]) for t in order["fulfilments"][0]["tracking"])


def test_events_racing_each_other_are_each_recorded_once_and_the_fulfilment_only_moves_forward(
        api, worker, seeded, wms, carrier):
    # Given a paid order dispatched to WH-EAST
    r = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)], paid=True), timeout=5)
    assert r.status_code == 202, r.text
    order_id = r.json()["order_id"]
    f = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                   and o["fulfilments"][0]["status"] == "dispatched" and o["fulfilments"][0], what="dispatched")

    # When the warehouse's accepted, picked and packed arrive at once, packed twice and a late
    # accepted again under a new id
    wms_events = [{"event_id": f"w-{kind}", "fulfilment_id": f["id"], "type": kind}
                  for kind in ("accepted", "picked", "packed")]
    late = {"event_id": f"w-late-{uuid.uuid4().hex[:6]}", "fulfilment_id": f["id"], "type": "accepted"}
    codes = _post_all(f"{api}/v1/wms/WH-EAST/events", factories.TOKENS["WH-EAST"],
                      [*wms_events, wms_events[2], late])
    assert all(c in (200, 202) for c in codes), codes

    # Then the fulfilment is packed, whatever order they were applied in, each event once
    expected = sorted([("accepted", "w-accepted"), ("picked", "w-picked"), ("packed", "w-packed"),
                       ("accepted", late["event_id"])])
    order = eventually(lambda: (o := get_order(api, order_id)) and _history(o) == expected and o,
                       what="every warehouse event recorded")
    assert order["fulfilments"][0]["status"] == "packed"

    # When it ships, and the carrier's scans arrive together with one twice and a late label
    http_ok = _post_all(f"{api}/v1/wms/WH-EAST/events", factories.TOKENS["WH-EAST"],
                        [{"event_id": "w-shipped", "fulfilment_id": f["id"], "type": "shipped"}])
    assert http_ok in ([200], [202])
    order_in(api, order_id, status="shipped")
    number, carrier_id = f["tracking_number"], f["carrier_id"]
    scans = [{"event_id": f"c-{status}", "tracking_number": number, "status": status}
             for status in ("label_created", "in_transit", "out_for_delivery")]
    codes = _post_all(f"{api}/v1/carriers/{carrier_id}/events", factories.TOKENS[carrier_id],
                      [*scans, scans[1], {**scans[0], "event_id": "c-label-again"}])
    assert all(c in (200, 202) for c in codes), codes

    # Then it is out for delivery with every scan once, and delivered with the last one
    carrier_expected = sorted([*expected, ("shipped", "w-shipped"), ("label_created", "c-label_created"),
                               ("in_transit", "c-in_transit"), ("out_for_delivery", "c-out_for_delivery"),
                               ("label_created", "c-label-again")])
    order = eventually(lambda: (o := get_order(api, order_id)) and _history(o) == carrier_expected and o,
                       what="every scan recorded")
    assert order["fulfilments"][0]["status"] == "out_for_delivery"
    _post_all(f"{api}/v1/carriers/{carrier_id}/events", factories.TOKENS[carrier_id],
              [{"event_id": "c-delivered", "tracking_number": number, "status": "delivered"}])
    order = order_in(api, order_id, shipment_status="delivered")
    assert _history(order) == sorted([*carrier_expected, ("delivered", "c-delivered")])
    stamps = [e["event"] for e in order["timeline"]]
    assert stamps.count("fulfilment.packed") == 1 and stamps.count("fulfilment.out_for_delivery") == 1
