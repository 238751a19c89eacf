"""A warehouse's and a carrier's in-stage events over HTTP land on the order before the API answers
(services/direct_events.py), through the real pieces: the HTTP API, the MongoDB-wire server, and
RabbitMQ with a worker for the events that still ride it (the shipment)."""
from __future__ import annotations

import httpx
import pytest

from tests.helpers import eventually, get_order, http, order_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]


def _post(url: str, token: str, body: dict) -> httpx.Response:
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_in_stage_events_are_on_the_order_when_the_api_answers_and_the_shipment_rides_the_broker(
        api, worker, seeded):
    # Given a paid order dispatched to its warehouse
    r = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)], paid=True), timeout=5)
    assert r.status_code == 202, r.text
    order_id = r.json()["order_id"]
    f = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                   and o["fulfilments"][0]["status"] == "dispatched" and o["fulfilments"][0], what="dispatched")
    wms_url, wms_token = f"{api}/v1/wms/{f['warehouse_id']}/events", seeded.TOKENS[f["warehouse_id"]]

    # When the warehouse accepts, picks and packs it, each answered before the next is sent
    for word in ("accepted", "picked", "packed"):
        answer = _post(wms_url, wms_token, {"event_id": f"w-{word}", "fulfilment_id": f["id"], "type": word})
        assert answer.status_code == 202, answer.text
        # Then each is on the order the moment it is answered: no worker had to run
        assert get_order(api, order_id)["fulfilments"][0]["status"] == word
    again = _post(wms_url, wms_token, {"event_id": "w-accepted", "fulfilment_id": f["id"], "type": "accepted"})
    assert (again.status_code, again.json()["duplicate"]) == (200, True)

    # When it ships (an order-level change: by message, to the worker) and its carrier scans it
    assert _post(wms_url, wms_token, {"event_id": "w-shipped", "fulfilment_id": f["id"],
                                      "type": "shipped"}).status_code == 202
    order_in(api, order_id, status="shipped")
    carrier_url = f"{api}/v1/carriers/{f['carrier_id']}/events"
    for word in ("label_created", "in_transit", "out_for_delivery"):
        answer = _post(carrier_url, seeded.TOKENS[f["carrier_id"]],
                       {"event_id": f"c-{word}", "tracking_number": f["tracking_number"], "status": word})
        assert answer.status_code == 202, answer.text
    assert get_order(api, order_id)["fulfilments"][0]["status"] == "out_for_delivery"

    # Then every in-stage event was applied where it arrived, the shipment by the worker, each once
    tracking = get_order(api, order_id)["fulfilments"][0]["tracking"]
    assert sorted((t["event_id"], bool(t.get("direct"))) for t in tracking) == sorted(
        [("w-accepted", True), ("w-picked", True), ("w-packed", True), ("w-shipped", False),
         ("c-label_created", True), ("c-in_transit", True), ("c-out_for_delivery", True)])
