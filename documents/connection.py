"""One place that opens the database connection, for the API, workers, scheduler and tests."""
from __future__ import annotations

import threading

import mongoengine
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, ExecutionTimeout, OperationFailure

from documents import wire_quirks
from documents.slow_commands import SlowCommandLogger

# Short timeouts: fail fast, let Dramatiq retry the message.
CLIENT_OPTIONS = dict(serverSelectionTimeoutMS=5000, socketTimeoutMS=5000, connectTimeoutMS=3000,
                      uuidRepresentation="standard", tz_aware=True)
# Operators' batch jobs (invariant check, list rebuild) and test harnesses read whole collections:
# nobody waits on them interactively, and one command of theirs may be long (on the embedded
# server even the first batch waits for every match to be decoded, 5.8 s for 5,000 orders:
# wire_quirks.Quirks.reads_every_match_before_limit).
BATCH_SOCKET_TIMEOUT_MS = 600_000

# The client of the default connection and its server's quirks, asked once per connection.
_quirks_of: tuple[object, wire_quirks.Quirks] | None = None
_quirks_lock = threading.Lock()


def connect(url: str, db: str, slow_command_ms: float = 0, socket_timeout_ms: int | None = None) -> Database:
    """Connect mongoengine's default alias to ``db`` at ``url`` and return the pymongo database.
    ``slow_command_ms`` > 0 logs the shape of every command slower than that (see
    documents/slow_commands.py); ``socket_timeout_ms`` replaces the short default (see
    ``BATCH_SOCKET_TIMEOUT_MS``)."""
    global _quirks_of

    listeners = [SlowCommandLogger(slow_command_ms)] if slow_command_ms > 0 else []
    options = {**CLIENT_OPTIONS, **({"socketTimeoutMS": socket_timeout_ms} if socket_timeout_ms else {})}
    mongoengine.disconnect()
    _quirks_of = None
    mongoengine.connect(db=db, host=url, event_listeners=listeners, **options)
    return mongoengine.get_db()


def database() -> Database:
    return mongoengine.get_db()


def quirks() -> wire_quirks.Quirks:
    """The quirks of the server the default connection talks to (``wire_quirks.MONGOD`` for a real
    mongod). Decided once per connection, by one ``buildInfo`` when first needed (connecting stays
    lazy: a worker boots while the database is down, as before), then kept with the client; a new
    client (a reconnect, by :func:`connect` or not) is asked again. Not per query."""
    global _quirks_of
    client = database().client
    known = _quirks_of
    if known is not None and known[0] is client:
        return known[1]
    with _quirks_lock:
        if _quirks_of is None or _quirks_of[0] is not client:
            _quirks_of = (client, wire_quirks.of_server(client.admin.command("buildInfo")))
        return _quirks_of[1]


def ensure_indexes() -> list[str]:
    """Create every collection's indexes and drop those a module lists as obsolete (idempotent);
    returns the names dropped, as ``collection.index``."""
    # every documents module may import this one (the server's quirks): its list is imported when asked
    from documents import (alerts, capacity, dead_letters, inbox, order_list, orders, reference, risk,
                           routing_inputs, sessions, stock, webhooks)

    dropped = []
    webhooks.ensure_order_indexes()  # the webhook relay reads orders by their last change
    risk.ensure_order_indexes()  # the risk rules count a customer's, phone's or address's recent orders
    for module in (orders, order_list, stock, reference, inbox, dead_letters, alerts, routing_inputs, sessions,
                   capacity, webhooks):
        for cls in module.DOCUMENTS:
            cls.ensure_indexes()
        for name, obsolete in getattr(module, "OBSOLETE_INDEXES", {}).items():
            collection = database()[name]
            for index in sorted(obsolete & set(collection.index_information())):
                try:
                    collection.drop_index(index)
                except OperationFailure as exc:  # another process dropped it first
                    if exc.code != 27:  # IndexNotFound
                        raise
                dropped.append(f"{name}.{index}")
    if dropped:
        import structlog

        structlog.get_logger(__name__).info("obsolete_indexes_dropped", indexes=dropped)
    return dropped


# The database cannot be reached or did not answer in time (pymongo's ConnectionFailure covers
# AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError): the caller may try again later.
DATABASE_DOWN = (ConnectionFailure, ExecutionTimeout)


def drop_database(name: str) -> None:
    """Drop the database ``name`` on the connected server (a throwaway demo or bench run's own)."""
    mongoengine.get_db().client.drop_database(name)

