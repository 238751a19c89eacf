"""The quorum-queue broker's declarations and its publish through a failover, and several node
URLs in ``ROUTER_AMQP_URL``; without a broker (nothing here connects: pika connects on first use)."""
from __future__ import annotations

import dramatiq
import pika
import pytest
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.errors import ConnectionClosed

import config
from actors import quorum
from actors.broker import build_broker
from actors.quorum import QuorumRabbitmqBroker
from config.settings import split_urls

pytestmark = pytest.mark.unit

URLS = ("amqp://guest:guest@127.0.0.1:20001/%2F", "amqp://guest:guest@127.0.0.1:20002/%2F",
        "amqp://guest:guest@127.0.0.1:20003/%2F")


class _Channel:
    def __init__(self):
        self.declared: dict[str, dict] = {}

    def queue_declare(self, queue, durable, arguments):
        assert durable
        self.declared[queue] = arguments


class _Clock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def process_broker():
    """build_broker makes its broker the process's: put the session's back afterwards."""
    before = dramatiq.get_broker()
    yield
    dramatiq.set_broker(before)


def test_node_urls_are_split_on_commas_semicolons_and_whitespace():
    assert split_urls(f" {URLS[0]}, {URLS[1]};{URLS[2]}\n") == URLS
    assert split_urls(URLS[0]) == URLS[:1]


def test_work_and_delay_queues_are_quorum_queues_with_a_delivery_limit_dead_lettered_at_least_once(monkeypatch):
    # Given the quorum broker, its declarations caught on a fake channel
    broker = QuorumRabbitmqBroker(url=URLS[0], delivery_limit=7)
    channel = _Channel()
    monkeypatch.setattr(QuorumRabbitmqBroker, "channel", channel)

    # When Dramatiq declares a queue with its delay and dead-letter queues
    broker._declare_queue("p.orders")
    broker._declare_dq_queue("p.orders")
    broker._declare_xq_queue("p.orders")

    # Then the work and .DQ queues are quorum queues, limited, dead-lettering into .XQ at least once
    for name in ("p.orders", "p.orders.DQ"):
        assert channel.declared[name] == {
            "x-queue-type": "quorum", "x-delivery-limit": 7, "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": "p.orders.XQ", "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish"}
    # And the .XQ is a quorum queue with Dramatiq's TTL and no limit (it has nowhere to dead-letter to)
    assert channel.declared["p.orders.XQ"] == {"x-queue-type": "quorum", "x-message-ttl": DEAD_MESSAGE_TTL}


def test_quorum_queues_refuse_priorities_and_a_delivery_limit_below_one():
    with pytest.raises(ValueError, match="priorities"):
        QuorumRabbitmqBroker(url=URLS[0], delivery_limit=5, max_priority=3)
    with pytest.raises(ValueError, match="delivery_limit"):
        QuorumRabbitmqBroker(url=URLS[0], delivery_limit=0)


def test_a_publish_refused_during_a_failover_is_tried_again_with_growing_pauses(monkeypatch):
    # Given a broker whose publishes are nacked twice (a queue's new leader being elected)
    clock, outcomes = _Clock(), [ConnectionClosed(Exception("nacked")), ConnectionClosed(Exception("nacked")), "sent"]
    monkeypatch.setattr(quorum, "time", clock)

    def enqueue(self, message, *, delay=None):
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(RabbitmqBroker, "enqueue", enqueue)
    broker = QuorumRabbitmqBroker(url=URLS[0], delivery_limit=5)

    # When a message is enqueued, then it is sent on the third try, after pauses of 0.25 and 0.5 s
    assert broker.enqueue(dramatiq.Message(queue_name="p.orders", actor_name="a", args=(), kwargs={},
                                           options={})) == "sent"
    assert clock.slept == [0.25, 0.5]


def test_a_publish_still_refused_after_the_failover_window_raises(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(quorum, "time", clock)

    def enqueue(self, message, *, delay=None):
        raise ConnectionClosed(Exception("all nodes down"))

    monkeypatch.setattr(RabbitmqBroker, "enqueue", enqueue)
    broker = QuorumRabbitmqBroker(url=URLS[0], delivery_limit=5)
    with pytest.raises(ConnectionClosed):
        broker.enqueue(dramatiq.Message(queue_name="p.orders", actor_name="a", args=(), kwargs={}, options={}))
    assert sum(clock.slept) <= quorum.FAILOVER_S and clock.slept[-1] == quorum.MAX_PAUSE_S


def test_several_node_urls_give_a_broker_that_fails_over_across_them(process_broker):
    # Given settings naming three nodes and quorum queues
    settings = config.from_env().with_(broker="rabbitmq", amqp_url=", ".join(URLS), queue_type="quorum",
                                       queue_delivery_limit=9, worker_metrics=False)

    # When the broker is built, then it is the quorum broker, connecting to each node in turn
    broker = build_broker(settings)
    assert isinstance(broker, QuorumRabbitmqBroker) and broker.delivery_limit == 9
    assert [(p.host, p.port, p.heartbeat) for p in broker.parameters] == [
        ("127.0.0.1", 20001, 30), ("127.0.0.1", 20002, 30), ("127.0.0.1", 20003, 30)]


def test_one_node_url_and_classic_queues_give_dramatiqs_own_broker(process_broker):
    settings = config.from_env().with_(broker="rabbitmq", amqp_url=URLS[0], queue_type="classic",
                                       worker_metrics=False)
    broker = build_broker(settings)
    assert type(broker) is RabbitmqBroker
    assert isinstance(broker.parameters, pika.URLParameters) and broker.parameters.port == 20001
