"""The one RabbitMQ broker set-up every process shares (API, workers, scheduler), built when the
composition root calls :func:`build_broker` (never at import).

Publisher confirms are on (without them a publish can vanish silently); Dramatiq declares
durable queues, persistent messages and a ``.XQ`` dead-letter queue per queue. Retries back off
exponentially up to 10 minutes (Dramatiq holds delayed messages unacked in memory, and RabbitMQ
closes a channel whose delivery stays unacked past its 30-minute consumer timeout). Messages that
fail for good are also recorded in MongoDB, where operators list and replay them.
"""
from __future__ import annotations

import hashlib
import logging
import time

import dramatiq
import pika
import structlog
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import xq_name
from dramatiq.middleware import (AgeLimit, Callbacks, CurrentMessage, Middleware, Pipelines, Retries,
                                 ShutdownNotifications, TimeLimit)

from actors import metrics as metrics_server
from actors.message_shape import MessageShape
from actors.quorum import QuorumRabbitmqBroker
from config import Settings, get_settings
from documents import dead_letters
from documents.connection import connect

log = structlog.get_logger(__name__)

MIN_BACKOFF_MS = 500
MAX_BACKOFF_MS = 10 * 60 * 1000
DEFAULT_TIME_LIMIT_MS = 60 * 1000


class DatabaseConnect(Middleware):
    """Connects each worker process to MongoDB when it boots (and quiets chatty client loggers)."""

    def after_process_boot(self, broker):
        for noisy in ("httpx", "httpcore", "pika"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

        settings = get_settings()
        if not settings.mongo_url:
            raise RuntimeError("ROUTER_MONGO_URL must be set for worker processes")
        connect(settings.mongo_url, settings.mongo_db, settings.slow_command_ms,
                reports_read_preference=settings.mongo_reports_read_preference)


class LogContext(Middleware):
    """Binds message id, actor and order id to every log line written while a message runs."""

    def before_process_message(self, broker, message):
        structlog.contextvars.bind_contextvars(message_id=message.message_id, actor=message.actor_name,
                                               order_id=_order_id_of(message))

    def after_process_message(self, broker, message, *, result=None, exception=None):
        structlog.contextvars.clear_contextvars()

    after_skip_message = after_process_message


class DeadLetterRecorder(Middleware):
    """Records every message that failed for good in MongoDB (classic queues' dead lettering is not
    guaranteed, and the operators' list lives in the database)."""

    ATTEMPTS = 4
    # ``periodic=True`` marks a sweep: it runs again on the next tick, so a failed run is logged,
    # not listed for operators to replay.
    actor_options = {"periodic"}

    def before_nack(self, broker, message):
        """Record before the broker moves the message to its dead-letter queue (after it, a worker
        killed mid-write would leave a dead letter no operator can see); retried, keyed by message id.
        A database down for longer than the retries leaves the letter in the broker's ``.XQ`` queue
        only, and ``harvest_dead_letters`` (run by the reconciler) copies it across later."""
        if _periodic(broker or dramatiq.get_broker(), message.actor_name):
            log.warning("periodic_run_failed", message_id=message.message_id, actor=message.actor_name)
            return
        for attempt in range(self.ATTEMPTS):
            try:
                dead_letters.record(**_letter(message))
                break
            except Exception:  # the database may be restarting: wait a little and try again
                log.warning("dead_letter_record_retry", message_id=message.message_id, attempt=attempt)
                time.sleep(min(0.5 * 2 ** attempt, 2))
        else:
            log.error("dead_letter_record_failed", message_id=message.message_id)  # still in the broker's DLQ
        log.warning("dead_letter", message_id=message.message_id, actor=message.actor_name)


def _periodic(broker, actor_name: str) -> bool:
    try:
        return bool(broker.get_actor(actor_name).options.get("periodic"))
    except dramatiq.errors.ActorNotFound:
        return False


def _letter(message, error: str | None = None) -> dict:
    """The fields of a dead letter for ``message`` (one shape for the recorder and the harvest)."""
    error = error or message.options.get("traceback") or \
        f"failed ({message.options.get('error') or 'no traceback'})"
    return {"message_id": message.message_id, "queue": message.queue_name, "actor": message.actor_name,
            "args": list(message.args), "kwargs": dict(message.kwargs), "error": error[-4000:],
            "order_id": _order_id_of(message),
            "options": {k: v for k, v in message.options.items() if k in ("retries", "max_retries")}}


def harvest_dead_letters(queue_names, limit: int = 500) -> int:
    """Move messages from RabbitMQ's ``.XQ`` dead-letter queues into the operators' list in MongoDB:
    each is recorded first (a letter already known is left as it is) and acknowledged after, so a
    crash in between only means it is seen again next time. Returns how many were new letters."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, RabbitmqBroker):
        return 0
    new = 0
    try:
        new = _harvest(broker, queue_names, limit)
    except pika.exceptions.AMQPError:
        del broker.connection  # the next use reconnects
        raise
    if new:
        log.warning("dead_letters_harvested", count=new)
    return new


def _harvest(broker, queue_names, limit: int) -> int:
    new = 0
    for queue in queue_names:
        broker.declare_queue(queue, ensure=True)  # declares the .XQ as well (a no-op once declared)
        channel = broker.channel
        for _ in range(limit):
            method, _properties, body = channel.basic_get(xq_name(queue), auto_ack=False)
            if method is None:
                break
            try:
                message = dramatiq.Message.decode(body)
                if _periodic(broker, message.actor_name):  # a failed sweep: the next tick runs it again
                    channel.basic_ack(method.delivery_tag)
                    continue
                fields = _letter(message, message.options.get("traceback")
                                 or "dead-lettered by the broker while its failure could not be recorded")
            except Exception:  # noqa: BLE001 - a body no worker could read is still a dead letter
                fields = {"message_id": "undecodable-" + hashlib.sha1(body).hexdigest(), "queue": queue,
                          "actor": "", "args": [], "kwargs": {}, "order_id": None, "options": {},
                          "error": "the broker dead-lettered a message that is not a Dramatiq message: "
                                   + body[:200].decode("utf-8", "replace")}
            try:
                new += dead_letters.record(**fields, recovered_from=xq_name(queue))
            except Exception:
                channel.basic_nack(method.delivery_tag, requeue=True)  # the database is down: next sweep
                raise
            channel.basic_ack(method.delivery_tag)
    return new


def _order_id_of(message) -> str | None:
    arg = message.args[0] if message.args else message.kwargs.get("order_id")
    if isinstance(arg, str) and arg.startswith("O"):
        return arg.split("-F")[0]
    return None


def build_middleware(settings: Settings, metrics: bool = False) -> list[Middleware]:
    middleware: list[Middleware] = [
        AgeLimit(), TimeLimit(time_limit=DEFAULT_TIME_LIMIT_MS), ShutdownNotifications(), Callbacks(), Pipelines(),
        Retries(max_retries=settings.max_retries, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
        CurrentMessage(), LogContext(), MessageShape(), DeadLetterRecorder(), DatabaseConnect(),
    ]
    if metrics:
        # Dramatiq's Prometheus module reads its directory from the environment when imported:
        # import it only in a worker that exports metrics, after its entry point set it.
        from dramatiq.middleware.prometheus import Prometheus

        # The metrics are served by the router's own fork, on ROUTER_WORKER_METRICS_ADDR (never
        # Dramatiq's 0.0.0.0:9191); a sibling worker group serves what this one writes to the
        # shared directory, so only one group per host forks the server.
        forks = [metrics_server.serve] if settings.worker_metrics_server else []
        middleware.append(type("RouterPrometheus", (Prometheus,), {"forks": property(lambda self: forks)})())
    return middleware


def _with_defaults(url: str) -> str:
    """Heartbeats and a blocked-connection timeout unless the URL sets its own."""
    if "heartbeat" in url:
        return url
    return url + ("&" if "?" in url else "?") + "heartbeat=30&blocked_connection_timeout=30"


def build_broker(settings: Settings) -> dramatiq.Broker:
    """The broker ``settings`` ask for (RabbitMQ with publisher confirms, or a StubBroker for
    tests), made the process's broker (``dramatiq.set_broker``).

    Several node URLs (a cluster) are handed to pika as a list: every connection, and every
    reconnect after a node is lost, goes to the first node that answers, in the order given.
    ``queue_type`` quorum declares every queue a quorum queue (:mod:`actors.quorum`)."""
    if settings.broker == "stub":
        broker = StubBroker(middleware=build_middleware(settings))
        dramatiq.set_broker(broker)
        return broker
    urls = [_with_defaults(url) for url in settings.amqp_urls]
    options = {"url": urls[0] if len(urls) == 1 else urls, "confirm_delivery": True,
               "middleware": build_middleware(settings, settings.worker_metrics)}
    if settings.queue_type == "quorum":
        broker = QuorumRabbitmqBroker(delivery_limit=settings.queue_delivery_limit, **options)
    else:
        broker = RabbitmqBroker(**options)
    dramatiq.set_broker(broker)
    return broker
