"""Queue names, defined once: a kind here, prefixed with ``ROUTER_QUEUE_PREFIX`` when the actors
are bound to a broker (:func:`name`), so that several installations (or test sessions) can share
one RabbitMQ without seeing each other's messages."""
from __future__ import annotations

import pika

from config.settings import split_urls

ORDERS = "orders"  # validate, route, reserve: CPU and MongoDB
DISPATCH = "dispatch"  # HTTP out to WMS and carriers: slow, retried
EVENTS = "events"  # payments, WMS and carrier events
SWEEPS = "sweeps"  # timers and the reconciler
SYNC = "sync"  # outbound notifications to channels

KINDS = (ORDERS, DISPATCH, EVENTS, SWEEPS, SYNC)


def name(prefix: str, kind: str) -> str:
    """The queue of ``kind`` for an installation whose queues carry ``prefix``."""
    return f"{prefix}.{kind}"


def names(prefix: str) -> tuple[str, ...]:
    """Every queue of an installation."""
    return tuple(name(prefix, kind) for kind in KINDS)


def delete_queues(prefix: str, amqp_url: str) -> None:
    """Delete every queue of ``prefix`` (with Dramatiq's delay and dead-letter queues, ``.DQ`` and
    ``.XQ``). Only for a throwaway prefix (a test session, a demo or bench run) once nothing
    consumes from it: left behind, each run's queues stayed on the shared broker for good.
    ``amqp_url``: one node's URL or several (``ROUTER_AMQP_URL`` of a cluster)."""
    connection = pika.BlockingConnection([pika.URLParameters(url) for url in split_urls(amqp_url)])
    try:
        channel = connection.channel()
        for queue in names(prefix):
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(f"{queue}{suffix}")  # a queue not there is no error
    finally:
        connection.close()
