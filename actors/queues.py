"""Queue names, defined once. Each is prefixed by ``ROUTER_QUEUE_PREFIX`` so that several
installations (or test sessions) can share one RabbitMQ without seeing each other's messages."""
from adapters.settings import get_settings

_prefix = get_settings().queue_prefix

ORDERS = f"{_prefix}.orders"  # validate, route, reserve: CPU and MongoDB
DISPATCH = f"{_prefix}.dispatch"  # HTTP out to WMS and carriers: slow, retried
EVENTS = f"{_prefix}.events"  # payments, WMS and carrier events
SWEEPS = f"{_prefix}.sweeps"  # timers and the reconciler
SYNC = f"{_prefix}.sync"  # outbound notifications to channels

ALL = (ORDERS, DISPATCH, EVENTS, SWEEPS, SYNC)


def delete_queues(prefix: str, amqp_url: str) -> None:
    """Delete every queue of ``prefix`` (with Dramatiq's delay and dead-letter queues, ``.DQ`` and
    ``.XQ``). Only for a throwaway prefix (a test session, a demo or bench run) once nothing
    consumes from it: left behind, each run's queues stayed on the shared broker for good."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        for name in ALL:
            kind = name.rsplit(".", 1)[1]
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(f"{prefix}.{kind}{suffix}")  # a queue not there is no error
    finally:
        connection.close()
