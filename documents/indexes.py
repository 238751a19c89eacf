"""Every collection's indexes: made (idempotently) by every entry point at start-up, through
:func:`ensure_indexes`; the list of indexes, collection by collection, with the queries that use
them, is docs/mongodb.md (tests/integration/test_mongodb_doc.py keeps the two the same)."""
from __future__ import annotations

import structlog
from pymongo.errors import OperationFailure

from documents import (alerts, capacity, dead_letters, inbox, notifications, order_list, orders, reference, risk,
                       routing_inputs, sessions, stock, webhooks)
from documents.connection import database

log = structlog.get_logger(__name__)


def ensure_indexes() -> list[str]:
    """Create every collection's indexes and drop those a module lists as obsolete (idempotent);
    returns the names dropped, as ``collection.index``."""
    dropped = []
    webhooks.ensure_order_indexes()  # the webhook relay reads orders by their last change
    risk.ensure_order_indexes()  # the velocity rules in force count recent orders by their keys
    for module in (orders, order_list, stock, reference, inbox, dead_letters, alerts, routing_inputs, sessions,
                   capacity, webhooks, notifications):
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
        log.info("obsolete_indexes_dropped", indexes=dropped)
    return dropped
