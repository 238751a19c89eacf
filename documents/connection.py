"""One place that opens the database connection, for the API, workers, scheduler and tests."""
from __future__ import annotations

import mongoengine
from pymongo.database import Database

# Short timeouts: fail fast, let Dramatiq retry the message.
CLIENT_OPTIONS = dict(serverSelectionTimeoutMS=5000, socketTimeoutMS=5000, connectTimeoutMS=3000,
                      uuidRepresentation="standard", tz_aware=True)
# Operators' batch jobs (invariant check, list rebuild) and test harnesses read whole collections:
# the embedded server decodes every match before its first batch (5.8 s for 5,000 orders).
BATCH_SOCKET_TIMEOUT_MS = 600_000


def connect(url: str, db: str, slow_command_ms: float = 0, socket_timeout_ms: int | None = None) -> Database:
    """Connect mongoengine's default alias to ``db`` at ``url`` and return the pymongo database.
    ``slow_command_ms`` > 0 logs the shape of every command slower than that (see
    documents/slow_commands.py); ``socket_timeout_ms`` replaces the short default (see
    ``BATCH_SOCKET_TIMEOUT_MS``)."""
    from documents.slow_commands import SlowCommandLogger

    listeners = [SlowCommandLogger(slow_command_ms)] if slow_command_ms > 0 else []
    options = {**CLIENT_OPTIONS, **({"socketTimeoutMS": socket_timeout_ms} if socket_timeout_ms else {})}
    mongoengine.disconnect()
    mongoengine.connect(db=db, host=url, event_listeners=listeners, **options)
    return mongoengine.get_db()


def database() -> Database:
    return mongoengine.get_db()


def ensure_indexes() -> list[str]:
    """Create every collection's indexes and drop those a module lists as obsolete (idempotent);
    returns the names dropped, as ``collection.index``."""
    from pymongo.errors import OperationFailure

    from documents import alerts, dead_letters, inbox, order_list, orders, reference, routing_inputs, stock

    dropped = []
    for module in (orders, order_list, stock, reference, inbox, dead_letters, alerts, routing_inputs):
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
