"""The no-op baseline for bench/e2e.py: the same actor hops and database round trips per order as
the router, done by a minimal Dramatiq app with no-op actors and raw pymongo calls on small
documents, on the same RabbitMQ and MongoDB-wire server, with the same worker processes/threads.

Each order is a linear chain of hops (``hop_orders`` / ``hop_dispatch`` / ``hop_events`` on three
queues, like the router's ORDERS / DISPATCH / EVENTS). A hop carries the rest of its order's plan,
a list of ``[kind, finds, updates, inserts]``; it does that many ``find_one`` by ``_id`` on the
order's small document, ``update_one`` (``$set`` a stamp, ``$inc`` a version) on it and
``insert_one`` of a small event document, then sends the next hop (publisher confirms on, as in
the router). The driver (in the benchmark process) inserts each order's document and sends its
first hop from a thread pool, as the API does.

Workers run as ``python -m dramatiq bench.baseline --path <repo> --processes P --threads T`` with
``BASELINE_AMQP_URL``, ``BASELINE_MONGO_URL``, ``BASELINE_DB`` and ``BASELINE_QUEUE_PREFIX`` set.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime, timezone

import dramatiq
import pymongo
from dramatiq.brokers.rabbitmq import RabbitmqBroker

AMQP_URL = os.environ.get("BASELINE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
PREFIX = os.environ.get("BASELINE_QUEUE_PREFIX", "baseline")
QUEUES = {"orders": f"{PREFIX}.orders", "dispatch": f"{PREFIX}.dispatch", "events": f"{PREFIX}.events"}
# Same client options as documents/connection.py.
CLIENT_OPTIONS = dict(serverSelectionTimeoutMS=5000, socketTimeoutMS=5000, connectTimeoutMS=3000,
                      uuidRepresentation="standard", tz_aware=True)

_url = AMQP_URL + ("" if "heartbeat" in AMQP_URL else ("&" if "?" in AMQP_URL else "?")
                   + "heartbeat=30&blocked_connection_timeout=30")
broker = RabbitmqBroker(url=_url, confirm_delivery=True)
dramatiq.set_broker(broker)

_client: tuple[int, pymongo.MongoClient] | None = None
_client_lock = threading.Lock()


def db():
    """One MongoClient per process (created after the fork)."""
    global _client
    with _client_lock:
        if _client is None or _client[0] != os.getpid():
            _client = (os.getpid(), pymongo.MongoClient(os.environ["BASELINE_MONGO_URL"], **CLIENT_OPTIONS))
        return _client[1][os.environ["BASELINE_DB"]]


def _hop(order_id: str, plan: list, k: int) -> None:
    kind, finds, updates, inserts = plan[k]
    d = db()
    last = k == len(plan) - 1
    for _ in range(finds):
        d.orders.find_one({"_id": order_id})
    now = datetime.now(timezone.utc)
    for i in range(max(updates, 1 if last else 0)):
        fields = {"hop": k, f"t_{kind}": now}
        if last and i == 0:
            fields["done_at"] = now
        d.orders.update_one({"_id": order_id}, {"$set": fields, "$inc": {"version": 1}})
    for _ in range(inserts):
        d.events.insert_one({"order_id": order_id, "hop": k, "kind": kind, "at": now})
    if not last:
        send(order_id, plan, k + 1)


@dramatiq.actor(queue_name=QUEUES["orders"], max_retries=3)
def hop_orders(order_id: str, plan: list, k: int) -> None:
    _hop(order_id, plan, k)


@dramatiq.actor(queue_name=QUEUES["dispatch"], max_retries=3)
def hop_dispatch(order_id: str, plan: list, k: int) -> None:
    _hop(order_id, plan, k)


@dramatiq.actor(queue_name=QUEUES["events"], max_retries=3)
def hop_events(order_id: str, plan: list, k: int) -> None:
    _hop(order_id, plan, k)


# Which baseline queue mirrors which router actor's queue.
QUEUE_OF = {"process_order": hop_orders, "dispatch_fulfilment": hop_dispatch, "register_tracking": hop_dispatch}


def send(order_id: str, plan: list, k: int) -> None:
    QUEUE_OF.get(plan[k][0], hop_events).send(order_id, plan, k)


def build_plans(n: int, hops: list[dict]) -> list[list]:
    """Plans for ``n`` orders from per-order averages.

    ``hops``: in chain order, ``{"kind", "per_order", "finds", "updates", "inserts"}`` where
    ``per_order`` is messages of that kind per order and the others are round trips per message.
    Fractions are spread by error diffusion so that the totals over ``n`` orders match.
    """
    def share(j: int, x: float) -> int:  # the j-th item's integer share of a running total j*x
        return int((j + 1) * x + 1e-9) - int(j * x + 1e-9)

    counters = {h["kind"]: 0 for h in hops}
    plans = []
    for i in range(n):
        plan = []
        for h in hops:
            for _ in range(share(i, h["per_order"])):
                j = counters[h["kind"]]
                counters[h["kind"]] += 1
                plan.append([h["kind"], share(j, h["finds"]), share(j, h["updates"]), share(j, h["inserts"])])
        plans.append(plan or [["noop", 0, 1, 0]])
    return plans
