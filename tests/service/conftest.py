"""The service tier: the real actors on Dramatiq's StubBroker, run by an in-process
``dramatiq.Worker``, over the MongoDB-wire server (the ``db`` fixture), with recording fakes in
place of the warehouses, carriers, channels and alert webhook. No RabbitMQ, no HTTP.

Every message is delivered twice (the same message, message id and all, as RabbitMQ does when a
worker dies before its ack), so a test asserts the effect happened once. All of the set-up is the
``stub`` fixture below: if the composition root changes, this is the one place to adapt.
"""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import dramatiq
import pytest
from dramatiq.middleware import Middleware

from services.ports import Booking
from tests import factories

UNREACHABLE = "http://127.0.0.1:9"  # the fakes below answer instead; nothing may call out


class DeliverTwice(Middleware):
    """Enqueues every message a second time (once per message id; retries are not doubled) and
    counts the deliveries each actor processed."""

    def __init__(self):
        self.seen: set[str] = set()
        self.processed: Counter[str] = Counter()
        self.lock = threading.Lock()

    def after_enqueue(self, broker, message, delay):
        if delay is not None:
            return  # a retry or a delayed send: doubled when it comes due on its queue
        with self.lock:
            if message.message_id in self.seen:
                return
            self.seen.add(message.message_id)
        broker.enqueue(message)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self.lock:
            self.processed[message.actor_name] += 1


@dataclass
class FakeParties:
    """Warehouses, carriers, channels and the low-stock webhook, recording every call."""

    delivery_orders: list[str] = field(default_factory=list)  # fulfilment ids, one per call
    bookings: list[str] = field(default_factory=list)
    trackers: list[tuple[str, str]] = field(default_factory=list)  # (tracking number, fulfilment id)
    notices: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)

    # WmsClient
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict:
        self.delivery_orders.append(payload["fulfilment_id"])
        return {"wms_order_id": f"WMS-{payload['fulfilment_id']}"}

    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool:
        return True

    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None:
        pass

    # CarrierClient
    def book_shipment(self, carrier: dict, payload: dict) -> Booking:
        self.bookings.append(payload["fulfilment_id"])
        return Booking(f"TRK-{payload['fulfilment_id']}")

    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None:
        self.trackers.append((tracking_number, fulfilment_id))

    # ChannelClient
    def notify(self, channel: dict, entry: dict, order: dict) -> None:
        self.notices.append(entry)

    def unsupported(self, channel: dict, kind: str) -> str | None:
        return None

    def needs_raw(self, channel: dict, kind: str) -> bool:
        return False

    # AlertClient
    def post_low_stock(self, alert: dict) -> None:
        self.alerts.append(alert)


@dataclass
class Stub:
    broker: dramatiq.Broker
    worker: dramatiq.Worker
    twice: DeliverTwice
    parties: FakeParties

    def deliveries(self, actor_name: str) -> int:
        """How many messages ``actor_name`` processed (each message is delivered twice)."""
        return self.twice.processed[actor_name]

    def settle(self, timeout_ms: int = 30_000) -> None:
        """Run until every queue is empty (a message's follow-ups land on other queues, so go round
        until a whole pass finds nothing); an actor's exception is raised here."""
        queues = sorted(self.broker.get_declared_queues())
        for _ in range(50):
            for queue in queues:
                self.broker.join(queue, timeout=timeout_ms)  # fail_fast: a dead-lettered message raises
            self.worker.join()
            if not any(self.broker.queues[q].unfinished_tasks for q in self.broker.queues):
                return
        raise AssertionError("the queues never settled")


@pytest.fixture
def stub(db):
    """The actors bound to a StubBroker (no retries: a failure is raised by ``settle``), a worker
    thread running them, fake outbound parties, and a seeded world (tests/factories.py). Whatever
    was wired before (the integration tests' RabbitMQ broker) is put back afterwards."""
    import config
    from adapters import wiring
    from adapters.seed import load_world
    from services import ports

    before = _Wired()
    parties = FakeParties()
    wired = wiring.setup(config.get_settings().with_(broker="stub", max_retries=0),
                         outbound=ports.Outbound(wms=parties, carrier=parties, channel=parties, alerts=parties),
                         inline_dispatch=True)
    twice = DeliverTwice()
    wired.broker.add_middleware(twice)
    load_world(factories.world(UNREACHABLE, UNREACHABLE))
    worker = dramatiq.Worker(wired.broker, worker_threads=1, worker_timeout=20)
    worker.start()
    try:
        yield Stub(wired.broker, worker, twice, parties)
    finally:
        worker.stop()
        before.restore(set(wired.broker.actors))


@pytest.fixture
def order_finds(monkeypatch) -> list:
    """The finds on ``orders`` made from now on, by any thread (a round trip each; find_one too)."""
    import pymongo

    calls = []
    original = pymongo.collection.Collection.find

    def find(self, *args, **kwargs):
        if self.name == "orders":
            calls.append(args[:1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pymongo.collection.Collection, "find", find)
    return calls


class _Wired:
    """What the composition root had put in force before this test (settings, the global broker and
    the actors' binding to it, the message sender, the outbound clients, inline dispatch), to put it
    back after."""

    def __init__(self):
        import config
        from services import messages, ports

        self.settings = config.get_settings()
        self.broker = dramatiq.broker.global_broker
        self.sender = dict(messages._port)  # no public getter: the port is a module-level table
        self.outbound = list(ports._installed)
        self.inline_dispatch = ports.inline_dispatch()

    def restore(self, actor_names: set[str]) -> None:
        import config
        from actors.declare import bind_all
        from services import messages, ports

        config.use(self.settings)
        if self.broker is not None:
            dramatiq.set_broker(self.broker)
            if actor_names <= set(self.broker.actors):  # bound there before: bind back (no I/O)
                bind_all(self.broker, self.settings.queue_prefix)
        messages._port.clear()
        messages._port.update(self.sender)
        ports._installed[:] = self.outbound
        ports.allow_inline_dispatch(self.inline_dispatch)
