"""Messages that fail for good are recorded where operators see them, and can be replayed."""
from __future__ import annotations

import pytest

from documents import orders
from tests.helpers import eventually, get_order, http

pytestmark = pytest.mark.integration


def test_a_poison_message_is_dead_lettered_listed_and_replayed_after_the_fix(api, worker, seeded):
    # Given an accepted order whose stored lines were damaged before routing ran
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]),
                          timeout=5).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")
    orders.collection().update_one({"_id": order_id}, {"$set": {"routing.state": "received", "lines": "garbage"}})

    # When routing is sent again it fails every retry and lands in the dead letters, with its order
    from actors.routing import process_order

    process_order.send(order_id)
    letters = eventually(lambda: http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"],
                         timeout=60, what="dead letter")
    assert [(d["actor"], d["order_id"]) for d in letters] == [("process_order", order_id)]
    assert "TypeError" in letters[0]["error"] or "Error" in letters[0]["error"]

    # Then, once the data is repaired, replaying it routes the order
    orders.collection().update_one({"_id": order_id}, {"$set": {"lines": [
        {"line_no": 1, "sku": "SKU-A", "merchant_id": "m1", "quantity": 1, "unit_price": "10.00",
         "discount": "0", "name": ""}]}})
    replayed = http.post(f"{api}/v1/dead-letters/{letters[0]['message_id']}/replay", timeout=5)
    assert replayed.status_code == 202
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed after replay")
    assert http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"] == []
    assert http.post(f"{api}/v1/dead-letters/{letters[0]['message_id']}/replay", timeout=5).status_code == 404
