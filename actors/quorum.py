"""Dramatiq's RabbitMQ broker with quorum queues, for a cluster of RabbitMQ nodes
(``ROUTER_QUEUE_TYPE=quorum``).

A queue's type is fixed when it is declared (a policy cannot change it) and Dramatiq 2.2 declares
classic queues with no option for another type, so this subclass overrides the two places it
builds a declaration: ``_build_queue_arguments``, which Dramatiq uses for a work queue and for its
``.DQ`` delay queue, and ``_declare_xq_queue``, the ``.XQ`` dead-letter queue. A quorum queue is
replicated to every node of the cluster (a majority must have a message before the publisher
confirm), and survives losing a minority of nodes: a new leader is elected in about a second.

- Work and ``.DQ`` queues: ``x-delivery-limit`` (a message redelivered more often, because the
  consumers holding it died or lost their connection, is dead-lettered instead of looping for ever:
  the poison message that kills its worker), dead-lettered into ``.XQ`` at least once
  (``x-dead-letter-strategy: at-least-once`` with ``x-overflow: reject-publish``, as RabbitMQ 3.10
  supports on quorum queues; the classic default is at most once). Dramatiq nacks a message that
  failed for good without requeueing it, which dead-letters it at once and does not count here.
- ``.XQ`` queues: quorum, with Dramatiq's 7-day message TTL, and no delivery limit: with no
  dead-letter target of their own, a limit would drop a letter for good after the reconciler's
  harvest put it back that many times (it requeues when the database is down).
- No priorities: quorum queues have none (``max_priority`` is refused).
- Publishing rides out a lost node: while a queue's new leader is being elected, the broker nacks
  publishes to it, and Dramatiq's own six attempts (each reconnecting, to the next node listed
  when one is gone) are spent within a second. So a publish that failed is tried again with a
  growing pause for up to ``FAILOVER_S`` seconds before the error reaches the caller (the API's
  relay, which then leaves the message to the reconciler; an actor, which is then retried).

Declaring an existing queue with another type fails (``PRECONDITION_FAILED``): moving an
installation from classic to quorum queues means draining and deleting its queues first, or a
new ``ROUTER_QUEUE_PREFIX``.
"""
from __future__ import annotations

import time

import structlog
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.common import xq_name
from dramatiq.errors import ConnectionClosed

log = structlog.get_logger(__name__)

FAILOVER_S = 10.0  # a publish keeps trying this long through a lost node (a new leader takes about 1 s)
FIRST_PAUSE_S, MAX_PAUSE_S = 0.25, 2.0


class QuorumRabbitmqBroker(RabbitmqBroker):
    """A :class:`RabbitmqBroker` declaring quorum queues (see the module's notes)."""

    def __init__(self, *, delivery_limit: int, **kwargs):
        if kwargs.get("max_priority"):
            raise ValueError("quorum queues have no priorities: max_priority cannot be used")
        if delivery_limit < 1:
            raise ValueError(f"delivery_limit must be at least 1, not {delivery_limit}")
        super().__init__(**kwargs)
        self.delivery_limit = delivery_limit

    def _build_queue_arguments(self, queue_name: str) -> dict:
        """A work queue's arguments, and its ``.DQ`` delay queue's (Dramatiq builds both here)."""
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": xq_name(queue_name),
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # at-least-once dead lettering requires it
        }

    def enqueue(self, message, *, delay=None):
        """Dramatiq's enqueue, tried again through a failover (see the module's notes)."""
        deadline, pause = time.monotonic() + FAILOVER_S, FIRST_PAUSE_S
        while True:
            try:
                return super().enqueue(message, delay=delay)
            except ConnectionClosed as exc:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("publish_retry", queue=message.queue_name, pause_s=pause, error=str(exc)[:200])
                time.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_S)

    def _declare_xq_queue(self, queue_name: str):
        return self.channel.queue_declare(
            queue=xq_name(queue_name), durable=True,
            arguments={"x-queue-type": "quorum", "x-message-ttl": DEAD_MESSAGE_TTL})
