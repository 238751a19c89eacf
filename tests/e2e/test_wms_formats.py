"""A warehouse that speaks Qimen end to end: the delivery order goes out as a signed
``deliveryorder.create`` (delivery order code = fulfilment id), the WMS reports in Qimen's words
(``orderprocess.report``, then a partial ``deliveryorder.confirm`` and the final one with more
boxes), every box's waybill is recorded and tracked, and the order is delivered with the last box."""
from __future__ import annotations

import json

import httpx
import pytest

from adapters.seed import load_world
from router.statuses import WmsEventType
from tests import factories
from tests.helpers import eventually, get_order, http, order_in, stock_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]



def _qimen_world(wms, carrier) -> dict:
    return factories.speaks_qimen(factories.world(wms.url, carrier.url), "WH-EAST")  # one app secret, both ways


def _tracked(order: dict, fulfilment_id: str) -> dict:
    return next(f for f in order["fulfilments"] if f["id"] == fulfilment_id)


def test_qimen_warehouse_gets_deliveryorder_create_and_ships_in_several_boxes(api, worker, wms, carrier):
    load_world(_qimen_world(wms, carrier))
    body = factories.order(lines=(("SKU-A", 2), ("SKU-B", 1)), paid=True)
    created = http.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5)
    assert created.status_code == 202, created.text
    order_id = created.json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")
    assert [f["warehouse_id"] for f in order["fulfilments"]] == ["WH-EAST"]
    f = order["fulfilments"][0]

    # Pushed once, as Qimen's deliveryorder.create with the fulfilment id as delivery order code
    assert wms.calls_to("POST") and all(c.idempotency_key == f["id"] for c in wms.calls_to("POST"))
    pushed = wms.delivery_orders[f["id"]]
    assert pushed.format == "qimen" and len(wms.delivery_orders) == 1
    head = pushed.request["deliveryOrder"]
    assert head["deliveryOrderCode"] == f["id"] and head["warehouseCode"] == "WH-EAST"
    assert head["orderType"] == "JYCK" and head["logisticsCode"] == f["carrier_id"]
    assert head["expressCode"] == f["tracking_number"] and head["receiverInfo"]["countryCode"] == "US"
    assert sorted((l["itemCode"], l["planQty"]) for l in pushed.request["orderLines"]["orderLine"]) == [
        ("SKU-A", "2"), ("SKU-B", "1")]

    # The WMS reports progress in Qimen's words
    wms.progress(f["id"], steps=(WmsEventType.ACCEPTED, WmsEventType.PICKED, WmsEventType.PACKED))
    eventually(lambda: _tracked(get_order(api, order_id), f["id"])["status"] == "packed", what="packed")

    # A partial confirmation (confirmType 1): one box leaves; the fulfilment and the order are partly
    # shipped and the box's units leave stock (the rest stays held)
    first_box = wms.confirm(f["id"], packages=1, final=False, lines=[(1, "SKU-A", 2)])
    assert first_box == [f["tracking_number"]]  # the first box travels under the booked waybill
    partial = eventually(lambda: (g := _tracked(get_order(api, order_id), f["id"])).get("packages") and g,
                         what="partial confirmation recorded")
    assert partial["status"] == "partially_shipped"
    assert get_order(api, order_id)["shipment_status"] == "partially_shipped"
    assert [p["tracking_number"] for p in partial["packages"]] == first_box
    assert any(t["event"] == "partially_shipped" for t in partial["tracking"])
    assert [(l["sku"], l.get("shipped")) for l in partial["lines"]] == [("SKU-A", 2), ("SKU-B", None)]
    eventually(lambda: stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 8, "reserved": 0, "available": 8},
               what="the box's units shipped out of stock")
    assert stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 3, "reserved": 1, "available": 2}

    # The final confirmation (confirmType 0) with two more boxes: shipped, every box recorded
    more_boxes = wms.confirm(f["id"], packages=2, final=True, lines=[(2, "SKU-B", 1)])
    order = order_in(api, order_id, status="shipped")
    shipped = _tracked(order, f["id"])
    assert order["shipment_status"] == "shipped" and shipped["status"] == "shipped"
    eventually(lambda: stock_of(api, "SKU-B", "WH-EAST") == {"on_hand": 2, "reserved": 0, "available": 2},
               what="the rest shipped out of stock")
    assert stock_of(api, "SKU-A", "WH-EAST") == {"on_hand": 8, "reserved": 0, "available": 8}  # not twice
    boxes = first_box + more_boxes
    assert len(set(boxes)) == 3
    assert [(p["tracking_number"], p["carrier_id"]) for p in shipped["packages"]] == [(n, f["carrier_id"]) for n in boxes]

    # The same confirmation delivered again (as signed, no bearer token) is a duplicate and changes nothing
    confirm = next(s for s in wms.callbacks.sent if s.body.get("deliveryOrder", {}).get("confirmType") == 0)
    assert "authorization" not in {k.lower() for k in confirm.headers}
    raw = json.dumps(confirm.body, ensure_ascii=False, separators=(",", ":")).encode()
    again = httpx.post(confirm.url, content=raw, headers={"Content-Type": "application/json"}, timeout=5)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # A confirmation with a wrong sign is refused
    forged = httpx.post(confirm.url.replace("sign=", "sign=0"), content=raw, timeout=5,
                        headers={"Content-Type": "application/json"})
    assert forged.status_code == 401

    # Every box is tracked at the carrier; the fulfilment is delivered with its last box
    eventually(lambda: all(n in carrier.trackers for n in boxes), what="every box tracked")
    for number in boxes[:2]:
        carrier.track(number)
        got = eventually(lambda number=number: (g := _tracked(get_order(api, order_id), f["id"]))
                         and any(t.get("tracking_number") == number and t["event"] == "delivered" for t in g["tracking"])
                         and g, what=f"box {number} delivered")
        assert got["status"] != "delivered"  # other boxes are still out
    carrier.track(boxes[2])
    order = order_in(api, order_id, shipment_status="delivered")
    assert _tracked(order, f["id"])["status"] == "delivered"
