"""The intake relay through a broker outage: it neither waits on every message nor queues without
bound; what it skips is left to the reconciler, which re-sends from the stored state."""
from __future__ import annotations

import threading

import pytest

from adapters import relay
from services.messages import ProcessOrder

pytestmark = pytest.mark.integration


@pytest.fixture
def broker_down(monkeypatch):
    """The relay's publishes fail (as dramatiq's enqueue does when RabbitMQ refuses), counted."""
    relay.start()
    assert relay.drain(10)
    calls = []

    def refused(step):
        calls.append(step)
        return False

    monkeypatch.setattr(relay, "send_now", refused)
    monkeypatch.setitem(relay._state, "skipped", 0)
    monkeypatch.setitem(relay._state, "down_until", 0.0)
    yield calls
    relay._state["down_until"] = 0.0


def test_after_a_failed_publish_the_relay_stops_trying_for_a_while_and_drains_at_once(broker_down):
    for i in range(200):
        assert relay.publish(ProcessOrder(f"O{i}")) is True  # stored: the request is answered
    assert relay.drain(5)
    assert len(broker_down) == 1  # one real attempt; the rest skipped while the broker is down
    assert relay._state["skipped"] == 199


def test_the_relay_takes_no_more_than_its_bound_while_the_broker_hangs(monkeypatch):
    relay.start()
    assert relay.drain(10)
    release, started = threading.Event(), threading.Event()

    def hanging(step):
        started.set()
        release.wait(10)
        return True

    monkeypatch.setattr(relay, "send_now", hanging)
    monkeypatch.setattr(relay, "MAX_PENDING", 5)
    monkeypatch.setitem(relay._state, "skipped", 0)
    results = [relay.publish(ProcessOrder(f"O{i}")) for i in range(8)]
    assert started.wait(5)
    assert results == [True] * 5 + [False] * 3 and relay._state["skipped"] == 3
    release.set()
    assert relay.drain(10)
