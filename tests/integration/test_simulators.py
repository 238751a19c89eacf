"""The simulated WMS, carrier and channel servers, exercised over real loopback sockets."""
import threading
from datetime import datetime

import httpx
import pytest

from adapters.simulators import DROPPED, CarrierSimulator, ChannelSimulator, WmsSimulator, wait_until

pytestmark = pytest.mark.integration


def delivery_order(fulfilment_id="F-1", warehouse_id="WH-SH", tracking_number=None):
    """A minimal delivery order body in the router's generic WMS format."""
    return {"fulfilment_id": fulfilment_id, "order_id": "O-1", "warehouse_id": warehouse_id,
            "carrier_id": "sf", "tracking_number": tracking_number,
            "ship_to": {"name": "Li Lei", "city": "Shanghai", "country": "CN"},
            "lines": [{"line_no": 1, "sku": "SKU-1", "quantity": 2}]}


def dispatch(client, wms, fulfilment_id="F-1", warehouse_id="WH-SH", token="wh-token", **kw):
    """POST a delivery order as the router would."""
    return client.post(f"{wms.url}/{warehouse_id}/delivery-orders",
                       json=delivery_order(fulfilment_id, warehouse_id, **kw),
                       headers={"Idempotency-Key": fulfilment_id, "Authorization": f"Bearer {token}"})


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as c:
        yield c


@pytest.fixture
def wms():
    with WmsSimulator(tokens={"WH-SH": "wh-token"}) as sim:
        yield sim


@pytest.fixture
def router():
    """Stands in for the router's inbound endpoints: records whatever the simulators post."""
    with ChannelSimulator() as sim:
        yield sim


def test_same_idempotency_key_creates_one_delivery_order(client, wms):
    first, second = dispatch(client, wms), dispatch(client, wms)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["wms_order_id"].startswith("WMS-")
    assert second.json() == first.json()
    assert len(wms.delivery_orders) == 1 and wms.keys == {"F-1": 2}


def test_delivery_order_without_idempotency_key_is_refused(client, wms):
    response = client.post(f"{wms.url}/WH-SH/delivery-orders", json=delivery_order(),
                           headers={"Authorization": "Bearer wh-token"})
    assert response.status_code == 400 and not wms.delivery_orders


def test_wrong_warehouse_token_is_unauthorised(client, wms):
    assert dispatch(client, wms, token="nope").status_code == 401
    assert not wms.delivery_orders


def test_cancel_intercepts_until_shipped_and_is_idempotent(client, wms):
    dispatch(client, wms, "F-1"), dispatch(client, wms, "F-2")
    cancel = "{}/WH-SH/delivery-orders/{}/cancel"
    auth = {"Authorization": "Bearer wh-token"}
    assert client.post(cancel.format(wms.url, "F-1"), headers=auth).json() == {"intercepted": True}
    assert client.post(cancel.format(wms.url, "F-1"), headers=auth).json() == {"intercepted": True}
    wms.ship("F-2")
    assert client.post(cancel.format(wms.url, "F-2"), headers=auth).json() == {"intercepted": False}
    assert client.post(cancel.format(wms.url, "F-9"), headers=auth).status_code == 404


def test_address_change_is_recorded(client, wms):
    dispatch(client, wms)
    address = {"name": "Han Meimei", "city": "Hangzhou", "country": "CN"}
    response = client.patch(f"{wms.url}/WH-SH/delivery-orders/F-1/address", json=address,
                            headers={"Authorization": "Bearer wh-token"})
    assert response.status_code == 200 and response.json() == {"updated": True}
    assert wms.delivery_orders["F-1"].address_updates == [address]


def test_fail_next_answers_the_injected_status_then_recovers(client, wms):
    wms.fail_next(2, status=503)
    statuses = [dispatch(client, wms).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert wms.keys["F-1"] == 3 and len(wms.delivery_orders) == 1


def test_fail_rate_is_reproducible_with_a_seed(client, wms):
    def pattern():
        wms.fail_rate(0.5, seed=7)
        return [dispatch(client, wms, f"F-{i}").status_code == 500 for i in range(20)]

    first = pattern()
    assert first == pattern() and 0 < sum(first) < 20


def test_hang_next_makes_a_client_time_out(client, wms):
    wms.hang_next(1, seconds=2.0)
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{wms.url}/WH-SH/delivery-orders", json=delivery_order(),
                    headers={"Idempotency-Key": "F-1", "Authorization": "Bearer wh-token"},
                    timeout=0.2)
    assert dispatch(client, wms, "F-2").status_code == 201


def test_drop_after_success_performs_the_effect_without_an_answer(client, wms):
    wms.drop_after_success_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        dispatch(client, wms)
    assert wms.calls[-1].status == DROPPED and len(wms.delivery_orders) == 1
    retry = dispatch(client, wms)
    assert retry.status_code == 200
    assert retry.json()["wms_order_id"] == wms.delivery_orders["F-1"].wms_order_id


def test_stop_releases_a_hanging_request_promptly():
    wms = WmsSimulator().start()
    wms.hang_next(1, seconds=30)
    outcome = []

    def call():
        with httpx.Client(timeout=10) as slow:
            try:
                outcome.append(slow.post(f"{wms.url}/WH-SH/delivery-orders", json={}).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: wms.calls)
    wms.stop()
    caller.join(timeout=5)
    assert not caller.is_alive() and outcome


def test_restart_keeps_the_url_and_the_records(client, wms):
    url = wms.url
    dispatch(client, wms)
    wms.stop()
    with pytest.raises(httpx.ConnectError):
        dispatch(client, wms)
    wms.start()
    assert wms.url == url and dispatch(client, wms).status_code == 200


def test_wms_posts_events_to_the_router_in_order(client, router):
    with WmsSimulator(router.url, tokens={"WH-SH": "wh-token"}, auto_progress=True,
                      step_delay=0.01) as wms:
        dispatch(client, wms, "F-1", tracking_number="SF-123")
        events = wait_until(lambda: len(router.calls) >= 4 and router.calls)
    assert [c.body["type"] for c in events] == ["accepted", "picked", "packed", "shipped"]
    assert {c.path for c in events} == {"/v1/wms/WH-SH/events"}
    assert {c.headers["authorization"] for c in events} == {"Bearer wh-token"}
    assert len({c.body["event_id"] for c in events}) == 4
    assert events[-1].body["tracking_number"] == "SF-123"
    assert all(datetime.fromisoformat(c.body["occurred_at"]).tzinfo for c in events)


def test_wms_retries_a_failed_callback_and_generates_a_tracking_number(client, router):
    router.fail_next(2)
    with WmsSimulator(router.url, tokens={"WH-SH": "wh-token"}, auto_progress=True,
                      step_delay=0.01) as wms:
        wms.callbacks.backoff = 0.01
        dispatch(client, wms)
        assert wms.callbacks.wait_idle(timeout=5)
    delivered = [c.body["type"] for c in router.calls if c.status == 201]
    assert delivered == ["accepted", "picked", "packed", "shipped"] and len(router.calls) == 6
    assert router.calls[-1].body["tracking_number"].startswith("SF-")


def test_wms_duplicates_reuse_the_event_id(client, router):
    with WmsSimulator(router.url, tokens={"WH-SH": "wh-token"}, auto_progress=True,
                      step_delay=0.0, duplicate_rate=1.0) as wms:
        dispatch(client, wms)
        assert wms.callbacks.wait_idle(timeout=5)
    ids = [c.body["event_id"] for c in router.calls]
    assert len(ids) == 8 and len(set(ids)) == 4 and ids[0] == ids[1]


def test_cancelled_delivery_order_stops_progressing(client, router):
    with WmsSimulator(router.url, auto_progress=True, step_delay=60) as wms:
        dispatch(client, wms)
        wait_until(lambda: router.calls)
        cancel = client.post(f"{wms.url}/WH-SH/delivery-orders/F-1/cancel")
        assert cancel.json() == {"intercepted": True}
        assert wms.delivery_orders["F-1"].events_sent == ["accepted"]


def test_shipment_booking_is_idempotent(client):
    with CarrierSimulator(tokens={"sf": "sf-token"}) as carrier:
        body = {"fulfilment_id": "F-1", "service_level": "standard", "ship_from": {},
                "ship_to": {}, "parcels": [{"weight_grams": 1200}]}
        headers = {"Idempotency-Key": "F-1", "Authorization": "Bearer sf-token"}
        first = client.post(f"{carrier.url}/sf/shipments", json=body, headers=headers)
        second = client.post(f"{carrier.url}/sf/shipments", json=body, headers=headers)
        unauthorised = client.post(f"{carrier.url}/sf/shipments", json=body,
                                   headers={"Idempotency-Key": "F-2"})
        label = client.get(first.json()["label_url"])
    assert (first.status_code, second.status_code, unauthorised.status_code) == (201, 200, 401)
    assert first.json() == second.json()
    assert first.json()["tracking_number"].startswith("SF-")
    assert first.json()["tracking_number"][3:].isdigit()
    assert len(carrier.shipments) == 1 and label.content.startswith(b"%PDF")


def test_carrier_posts_tracking_events_in_order_with_a_late_scan(client, router):
    with CarrierSimulator(router.url, tokens={"sf": "sf-token"}, auto_progress=True,
                          step_delay=0.01, out_of_order=True) as carrier:
        tracker = {"tracking_number": "SF-1", "fulfilment_id": "F-1"}
        auth = {"Authorization": "Bearer sf-token"}
        first = client.post(f"{carrier.url}/sf/trackers", json=tracker, headers=auth)
        again = client.post(f"{carrier.url}/sf/trackers", json=tracker, headers=auth)
        events = wait_until(lambda: len(router.calls) >= 5 and router.calls)
    assert (first.status_code, again.status_code) == (201, 200)
    assert [c.body["status"] for c in events] == [
        "label_created", "in_transit", "out_for_delivery", "delivered", "in_transit"]
    assert {c.path for c in events} == {"/v1/carriers/sf/events"}
    assert {c.headers["authorization"] for c in events} == {"Bearer sf-token"}
    assert len({c.body["event_id"] for c in events}) == 5
    assert events[-1].body["occurred_at"] >= events[-2].body["occurred_at"]


def test_channel_records_calls_and_effects_by_idempotency_key(client):
    with ChannelSimulator() as shop:  # a channel of the router's own (canonical) words
        shop.fail_next(1)
        url = f"{shop.url}/orders/1001/fulfilments"
        statuses = [client.post(url, json={"fulfilment_id": "F-1"}, headers={"Idempotency-Key": "F-1"})
                    .status_code for _ in range(3)]
        cancel = client.post(f"{shop.url}/orders/7/cancel", json={})
    assert statuses == [500, 201, 200] and cancel.status_code == 201
    assert shop.keys == {"F-1": 3} and len(shop.effects) == 2
    assert shop.received("fulfilments") == [{"fulfilment_id": "F-1"}] * 3
