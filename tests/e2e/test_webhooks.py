"""Outbound webhooks end to end (issue 19, item 3): a subscription made through the API, a real
receiver on 127.0.0.1 that checks every signature and counts deliveries, orders moved through
their life by the real pieces, a receiver outage (503s, then recovery) and the Dramatiq worker
stopped mid-delivery and replaced. The receiver must get every event of each order, in order once
repeats are dropped by event id, each validly signed."""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dramatiq
import httpx
import pytest

from actors.webhooks import sweep_webhooks
from documents import orders
from documents import webhooks as store
from router import webhooks as wh
from tests.helpers import eventually, get_order, http, order_in, ticking

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]

SECRET = "whsec_test_0123456789abcdef"


class Receiver:
    """A webhook receiver: verifies each delivery's signature, records it, and answers 503 while
    ``down`` and slowly while ``slow`` (seconds)."""

    def __init__(self, secret: str):
        self.secret, self.down, self.slow = secret, False, 0.0
        self.received: list[dict] = []  # every delivery, repeats included
        self.refused = 0
        self.in_flight = 0  # requests being answered right now
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.in_flight += 1
                try:
                    self.answer(body)
                finally:
                    with receiver.lock:
                        receiver.in_flight -= 1

            def answer(self, body: bytes):
                if receiver.slow:
                    time.sleep(receiver.slow)
                if receiver.down:
                    with receiver.lock:
                        receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                valid = wh.verify(receiver.secret, self.headers.get(wh.SIGNATURE_HEADER), body, now=time.time())
                event = json.loads(body)
                with receiver.lock:
                    receiver.received.append({**event, "valid": valid, "header_id": self.headers.get(wh.EVENT_ID_HEADER)})
                self.send_response(200 if valid else 401)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def firsts(self, order_id: str) -> list[dict]:
        """The order's events as a receiver keeps them: the first of each id, in arrival order."""
        seen, out = set(), []
        with self.lock:
            for event in self.received:
                if event["order_id"] == order_id and event["id"] not in seen:
                    seen.add(event["id"])
                    out.append(event)
        return out


@pytest.fixture
def receiver():
    r = Receiver(SECRET)
    r.thread.start()
    yield r
    r.server.shutdown()


@pytest.fixture
def scheduler(worker):
    """What ``orderrouter scheduler`` does for webhooks, every 0.3 s: send the relay's sweep."""
    with ticking(sweep_webhooks.send):
        yield


def expected_events(order_id: str) -> list[tuple[str, str]]:
    """Every event the order's stored timeline raises: (event id, topic), in sequence order."""
    timeline = orders.load(order_id)["timeline"]
    return [(wh.event_id(order_id, i * wh.TOPICS_PER_ENTRY + k), topic)
            for i, entry in enumerate(timeline) for k, topic in enumerate(wh.topics_of(entry))]


def assert_received_in_order(receiver: Receiver, order_id: str, topics: list[str]) -> None:
    expected = expected_events(order_id)
    assert [t for _, t in expected] == topics
    firsts = eventually(lambda: (f := receiver.firsts(order_id)) and len(f) >= len(expected) and f, timeout=45,
                        what=f"all {len(expected)} events of {order_id} received")
    assert [(e["id"], e["topic"]) for e in firsts] == expected  # every event, in order, once repeats are dropped
    assert [e["sequence"] for e in firsts] == sorted(e["sequence"] for e in firsts)
    with receiver.lock:
        mine = [e for e in receiver.received if e["order_id"] == order_id]
    assert all(e["valid"] and e["header_id"] == e["id"] for e in mine)


def test_receiver_gets_every_event_of_each_order_in_order_across_an_outage_and_a_worker_restart(
        api, worker, broker, seeded, wms, carrier, receiver, scheduler, settings_with):
    settings_with(webhook_backoff="0.2,0.5,1", webhook_lease_seconds=2.0, webhook_give_up_seconds=3600.0)

    # Given a subscription to every topic, made through the API (the secret comes back once)
    made = http.post(f"{api}/v1/webhooks/subscriptions",
                     json={"url": receiver.url, "topics": list(wh.TOPICS), "secret": SECRET}, timeout=5)
    assert made.status_code == 201, made.text
    sub_id = made.json()["id"]
    listed = http.get(f"{api}/v1/webhooks/subscriptions", timeout=5).json()["subscriptions"]
    assert [s["id"] for s in listed] == [sub_id] and "secret" not in listed[0]
    refused = http.post(f"{api}/v1/webhooks/subscriptions", json={"url": receiver.url, "topics": ["order.nope"]},
                        timeout=5)
    assert refused.status_code == 422
    viewer = http.get(f"{api}/v1/webhooks/subscriptions", headers={"Authorization": "Bearer test-viewer"}, timeout=5)
    assert viewer.status_code == 403

    # And the receiver is down: it answers 503 to everything
    receiver.down = True

    # When one order is placed, paid, routed and dispatched and another is cancelled unpaid
    placed = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 2)]), timeout=5)
    order_id = placed.json()["order_id"]
    other = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-B", 1)]), timeout=5).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")
    eventually(lambda: get_order(api, other)["routing"]["state"] == "routed", what="other routed")
    assert http.post(f"{api}/v1/orders/{other}/cancel", json={"reason": "customer changed mind"},
                     timeout=5).status_code in (200, 202)
    paid = http.post(f"{api}/v1/payments", json={"order_id": order_id, "transaction_id": "tx-wh-1", "type": "paid",
                                                  "amount": "20.00"}, timeout=5)
    assert paid.status_code == 202, paid.text
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"][0]["status"] == "dispatched" and o,
                       what="dispatched")
    # the receiver was tried and refused, and nothing later than the first event of an order was tried
    eventually(lambda: any(a.get("status") == 503 for d in store.log(sub_id, order_id) for a in d["log"]),
               timeout=15, what="a failed attempt (503) in the delivery log")
    log = http.get(f"{api}/v1/webhooks/deliveries", params={"order_id": order_id}, timeout=5).json()["deliveries"]
    tried = [d for d in log if d["attempts"]]
    assert tried and {d["sequence"] for d in tried} == {min(d["sequence"] for d in log)}, log

    # Then the receiver recovers, and answers slowly: the worker is stopped mid-delivery and replaced
    receiver.slow, receiver.down = 0.5, False
    eventually(lambda: receiver.firsts(order_id), what="first event delivered after the outage")
    eventually(lambda: receiver.in_flight > 0, what="a delivery in flight")
    worker.stop(timeout=200)  # threads still posting are abandoned; their messages go back to RabbitMQ
    receiver.slow = 0.0
    wms.progress(order["fulfilments"][0]["id"])
    replacement = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    replacement.start()
    try:
        order_in(api, order_id, status="shipped", shipment_status="shipped")
        tracking = order["fulfilments"][0]["tracking_number"]
        eventually(lambda: tracking in carrier.trackers, what="tracker registered")
        carrier.track(tracking)
        order_in(api, order_id, shipment_status="delivered")

        # The receiver has every event of each order, in order, validly signed
        assert_received_in_order(receiver, order_id, [wh.ORDER_CREATED, wh.ORDER_ROUTED, wh.FULFILMENT_SHIPPED,
                                                      wh.ORDER_DELIVERED])
        assert_received_in_order(receiver, other, [wh.ORDER_CREATED, wh.ORDER_ROUTED, wh.ORDER_CANCELLED])
        eventually(lambda: all(d["status"] == wh.DELIVERED for d in store.log(sub_id)), what="log all delivered")

        # And the log shows the outage's attempts; a replay sends an event again (same id)
        first = next(d for d in store.log(sub_id, order_id) if d["topic"] == wh.ORDER_CREATED)
        assert first["attempts"] >= 2 and any(a.get("status") == 503 for a in first["log"])
        before = sum(1 for e in receiver.received if e["id"] == first["event_id"])
        replayed = http.post(f"{api}/v1/webhooks/deliveries/{first['_id']}/replay", timeout=5)
        assert replayed.status_code == 202, replayed.text
        eventually(lambda: sum(1 for e in receiver.received if e["id"] == first["event_id"]) > before,
                   what="replayed event received again")

        # A removed subscription gets nothing more
        assert http.delete(f"{api}/v1/webhooks/subscriptions/{sub_id}", timeout=5).status_code == 204
        assert http.get(f"{api}/v1/webhooks/subscriptions", timeout=5).json()["subscriptions"] == []
        assert http.delete(f"{api}/v1/webhooks/subscriptions/{sub_id}", timeout=5).status_code == 404
    finally:
        replacement.stop(timeout=10_000)


def test_an_event_failing_past_the_give_up_window_is_failed_holds_the_later_ones_and_is_replayable(
        api, worker, seeded, receiver, scheduler, settings_with):
    settings_with(webhook_backoff="0.2", webhook_lease_seconds=2.0, webhook_give_up_seconds=0.0)
    made = http.post(f"{api}/v1/webhooks/subscriptions", json={"url": receiver.url, "topics": list(wh.TOPICS),
                                                                "secret": SECRET}, timeout=5)
    sub_id = made.json()["id"]
    receiver.down = True
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]),
                         timeout=5).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")

    # The first event fails on its first attempt (no time left to retry); the later one is never tried
    failed = eventually(lambda: http.get(f"{api}/v1/webhooks/deliveries", params={"status": "failed"},
                                         timeout=5).json()["deliveries"], what="a failed delivery")
    assert [d["topic"] for d in failed] == [wh.ORDER_CREATED] and failed[0]["error"]
    rows = sorted(store.log(sub_id, order_id), key=lambda d: d["sequence"])
    assert [(d["topic"], d["status"], d["attempts"]) for d in rows] == [
        (wh.ORDER_CREATED, wh.FAILED, 1), (wh.ORDER_ROUTED, wh.PENDING, 0)]

    # Replayed once the receiver is back, it goes first and the held event follows
    receiver.down = False
    assert http.post(f"{api}/v1/webhooks/deliveries/{failed[0]['id']}/replay", timeout=5).status_code == 202
    firsts = eventually(lambda: len(f := receiver.firsts(order_id)) == 2 and f, what="both events")
    assert [e["topic"] for e in firsts] == [wh.ORDER_CREATED, wh.ORDER_ROUTED]
    assert all(e["valid"] for e in firsts)
    assert http.post(f"{api}/v1/webhooks/deliveries/nope/replay", timeout=5).status_code == 404


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_console_page_subscribes_lists_deliveries_and_replays(api, worker, seeded, receiver, scheduler):
    browser = httpx.Client(base_url=api, timeout=10)
    login = browser.get("/console/login")
    browser.post("/console/login", data={"token": "test-admin", "csrf": _CSRF.search(login.text).group(1),
                                         "next": "/console/webhooks"})
    page = browser.get("/console/webhooks")
    assert page.status_code == 200 and 'id="subscriptions"' in page.text
    made = browser.post("/console/webhooks/subscriptions", data={
        "csrf": _CSRF.search(page.text).group(1), "url": receiver.url, "topics": [wh.ORDER_CREATED]})
    assert made.status_code == 302
    page = browser.get("/console/webhooks")
    assert receiver.url in page.text
    receiver.secret = re.search(r"(whsec_[0-9a-f]+)", page.text).group(1)  # made by the router, flashed once
    assert receiver.secret not in browser.get("/console/webhooks").text
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]),
                         timeout=5).json()["order_id"]
    assert [e["valid"] for e in eventually(lambda: receiver.firsts(order_id), what="order.created delivered")] == [True]
    page = eventually(lambda: (p := browser.get("/console/webhooks", params={"order_id": order_id}))
                      and 'data-status="delivered"' in p.text and p, what="the delivery in the log")
    delivery = re.search(r'data-delivery="([^"]+)"', page.text).group(1)
    replayed = browser.post(f"/console/webhooks/deliveries/{delivery}/replay", data={"csrf": _CSRF.search(page.text).group(1)})
    assert replayed.status_code == 302
    eventually(lambda: sum(1 for e in receiver.received if e["order_id"] == order_id) >= 2, what="replayed")
    viewer = httpx.Client(base_url=api, timeout=10)
    login = viewer.get("/console/login")
    viewer.post("/console/login", data={"token": "test-viewer", "csrf": _CSRF.search(login.text).group(1)})
    assert viewer.get("/console/webhooks").status_code == 403
