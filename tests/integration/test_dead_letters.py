"""Messages that fail for good are recorded where operators see them, and can be replayed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from actors.routing import process_order
from documents import dead_letters, inbox, orders
from services import sweeps, timers
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


def test_a_dead_letter_that_failed_while_the_database_was_down_is_recovered_from_the_broker(
        api, worker, seeded, monkeypatch):
    from actors.broker import DeadLetterRecorder
    from actors.routing import process_order
    from actors.sweeps import reconcile, reconcile_once  # noqa: F401
    from documents import dead_letters

    # Given a poison message, failing for good while no dead letter can be written to the database
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]),
                         timeout=5).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")
    orders.collection().update_one({"_id": order_id}, {"$set": {"routing.state": "received", "lines": "garbage"}})
    recording = dead_letters.record

    def database_down(*args, **kwargs):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(dead_letters, "record", database_down)
    monkeypatch.setattr(DeadLetterRecorder, "ATTEMPTS", 1)
    message = process_order.send(order_id)

    # When it has failed every retry, it is only in RabbitMQ's dead-letter queue
    broker = worker.broker
    eventually(lambda: broker.get_queue_message_counts(process_order.queue_name)[2] == 1, timeout=60,
               what="the message in the broker's .XQ")
    assert http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"] == []

    # Then, with the database back, the reconciler moves it into the operators' list, once
    monkeypatch.setattr(dead_letters, "record", recording)
    assert reconcile_once()["dead_letters"] == 1
    letters = http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"]
    assert [(d["message_id"], d["actor"], d["order_id"]) for d in letters] == \
        [(message.message_id, "process_order", order_id)]
    assert broker.get_queue_message_counts(process_order.queue_name)[2] == 0

    # And a replayed letter is not re-opened by seeing the broker's copy again
    orders.collection().update_one({"_id": order_id}, {"$set": {"lines": [
        {"line_no": 1, "sku": "SKU-A", "merchant_id": "m1", "quantity": 1, "unit_price": "10.00",
         "discount": "0", "name": ""}]}})
    assert http.post(f"{api}/v1/dead-letters/{message.message_id}/replay", timeout=5).status_code == 202
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed after replay")
    broker.channel.basic_publish(exchange="", routing_key=f"{process_order.queue_name}.XQ", body=message.encode())
    assert reconcile_once()["dead_letters"] == 0
    assert dead_letters.get(message.message_id)["replayed_at"] is not None
    assert broker.get_queue_message_counts(process_order.queue_name)[2] == 0


def test_a_broker_dead_letter_no_worker_could_read_is_listed_with_its_body(api, worker, db):
    from actors.routing import process_order
    from actors.sweeps import reconcile, reconcile_once  # noqa: F401

    worker.broker.channel.basic_publish(exchange="", routing_key=f"{process_order.queue_name}.XQ",
                                        body=b"not json {")
    assert reconcile_once()["dead_letters"] == 1
    [letter] = http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"]
    assert letter["message_id"].startswith("undecodable-") and "not json {" in letter["error"]
    assert reconcile_once()["dead_letters"] == 0


def test_a_junk_message_is_dead_lettered_at_once_with_the_reason_and_the_worker_goes_on(api, worker, seeded):
    import dramatiq

    from actors.routing import process_order

    # Given a message no producer of ours would send: an operator where the order id goes
    junk = dramatiq.Message(queue_name=process_order.queue_name, actor_name="process_order",
                            args=({"$gt": ""},), kwargs={}, options={})
    worker.broker.enqueue(junk)

    # Then it is a dead letter at once (no retries: it would fail the same way every time), saying why
    [letter] = eventually(lambda: http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"],
                          timeout=30, what="dead letter")
    assert letter["message_id"] == junk.message_id
    assert "invalid message for process_order: order_id: must be str" in letter["error"]
    assert "retries" not in letter.get("options", {})

    # And the worker goes on with real work
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]),
                         timeout=5).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")


def test_a_failed_sweep_is_not_a_dead_letter_since_the_next_tick_runs_it_again(api, worker, db):
    import dramatiq
    from dramatiq.broker import MessageProxy

    from actors.broker import DeadLetterRecorder
    from actors.sweeps import reconcile, reconcile_once  # noqa: F401
    from documents import dead_letters

    # Given a sweep that failed for good (it has no retries), and a copy of it in the broker's .XQ
    failed = dramatiq.Message(queue_name=reconcile.queue_name, actor_name="reconcile", args=(), kwargs={},
                              options={"traceback": "pymongo.errors.NetworkTimeout: timed out"})
    DeadLetterRecorder().before_nack(worker.broker, MessageProxy(failed))
    worker.broker.channel.basic_publish(exchange="", routing_key=f"{reconcile.queue_name}.XQ", body=failed.encode())

    # Then neither the recorder nor the harvest lists it, and the broker's copy is gone
    assert reconcile_once()["dead_letters"] == 0
    assert dead_letters.get(failed.message_id) is None
    assert http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"] == []
    assert worker.broker.get_queue_message_counts(reconcile.queue_name)[2] == 0


def test_a_poison_message_is_dead_lettered_once_and_the_reconciler_waits_for_the_operators_replay(
        api, worker, seeded):
    # Given an order whose routing fails for good (its stored lines damaged), left in "received"
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]),
                         timeout=5).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")
    orders.collection().update_one({"_id": order_id}, {"$set": {"routing.state": "received", "lines": "garbage"}})
    process_order.send(order_id)
    [letter] = eventually(lambda: http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"],
                          timeout=60, what="dead letter")

    # When the reconciler sweeps, well past the stall window, sweep after sweep
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    for minute in (0, 2, 4):
        counts = sweeps.reconcile(later + timedelta(minutes=minute))
        # Then the stuck order is held for the operator, not re-sent to fail and be dead-lettered again
        assert (counts["routing"], counts["held"]) == (0, 1), counts
    assert [d["message_id"] for d in http.get(f"{api}/v1/dead-letters", timeout=5).json()["dead_letters"]] == \
        [letter["message_id"]]
    assert get_order(api, order_id)["routing"]["state"] == "received"

    # And repaired but not replayed, it is still the operator's; their replay routes it, and frees it
    orders.collection().update_one({"_id": order_id}, {"$set": {"lines": [
        {"line_no": 1, "sku": "SKU-A", "merchant_id": "m1", "quantity": 1, "unit_price": "10.00",
         "discount": "0", "name": ""}]}})
    assert sweeps.reconcile(later + timedelta(minutes=6))["routing"] == 0
    assert http.post(f"{api}/v1/dead-letters/{letter['message_id']}/replay", timeout=5).status_code == 202
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed after replay")
    assert dead_letters.orders_held([order_id]) == set()
    assert sweeps.reconcile(later + timedelta(minutes=8))["held"] == 0


def test_a_dead_lettered_event_or_timer_is_not_re_sent_by_the_sweeps_until_replayed(db, monkeypatch):
    sent = []
    monkeypatch.setattr(sweeps, "send", sent.append)
    monkeypatch.setattr(timers, "send", sent.append)
    # Given an event whose message failed for good, and an order whose timer did
    key, _ = inbox.record("wms", "WH-EAST", "e-poison", {"event_id": "e-poison"}, order_id="O240601POISON")
    dead_letters.record("m-event", "router.events", "apply_wms_event", [key, {"order_id": "O240601POISON"}], {},
                        "KeyError: boom", None, {})
    orders.collection().insert_one({"_id": "O240601TIMER", "channel": "manual", "channel_order_id": "T-1",
                                    "status": "pending_payment", "due_at": datetime(2024, 6, 1, tzinfo=timezone.utc),
                                    "version": 1})
    dead_letters.record("m-timer", "router.sweeps", "fire_timer", ["O240601TIMER"], {}, "OverflowError", "O240601TIMER",
                        {})

    # When the sweeps run, neither is sent again
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert sweeps.settle_inbox(later, later - sweeps.STALL_AFTER) == (0, 0)
    timers.sweep_timers()
    assert sent == []

    # Then, once the operator replays them, the sweeps are theirs again
    assert dead_letters.mark_replayed("m-event") and dead_letters.mark_replayed("m-timer")
    assert sweeps.settle_inbox(later + timedelta(hours=1), later + timedelta(minutes=59)) == (0, 1)
    timers.sweep_timers()
    assert [type(s).__name__ for s in sent] == ["ApplyWmsEvent", "FireTimer"]
