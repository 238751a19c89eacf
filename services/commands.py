"""Customer and operator commands on an order, applied synchronously for the API and console.

Each is load -> decide (router/lifecycle.py) -> one guarded update -> follow-ups. A command the
current state forbids raises ``IllegalTransition`` (the API answers 409 with what is allowed).
"""
from __future__ import annotations

from datetime import datetime, timezone

from documents import orders
from documents.converters import change_fields, order_state
from router import lifecycle
from router.errors import IllegalTransition
from router.statuses import FulfilmentStatus, RoutingState
from services.channel_sync import outbox_entry, send_pending
from services.follow_up import follow_up
from services.messages import DispatchFulfilment, send


class OrderNotFound(LookupError):
    pass


def _run(order_id: str, decide_change, extra_fields=None) -> dict:
    now = datetime.now(timezone.utc)

    def decide(doc):
        change = decide_change(order_state(doc), now)
        fields = change_fields(doc, change, now=now)
        if extra_fields:
            fields.update(extra_fields(doc))
        return fields, list(change.timeline), change.outcomes

    doc, outcomes = orders.update_with(order_id, decide)
    if doc is None:
        raise OrderNotFound(order_id)
    follow_up(doc, outcomes)
    return doc


def cancel(order_id: str, actor: str) -> dict:
    """Cancel; the channel hears of it unless it is where the cancel came from."""
    doc = _run(order_id, lambda state, now: lifecycle.cancel(state, actor, now),
               lambda doc: {"outbox": outbox_entry(doc, "cancelled", doc["_id"], origin=actor, cause="cancel")})
    send_pending(doc, cause="cancel")
    return doc


def change_address(order_id: str, actor: str, address: dict) -> dict:
    return _run(order_id, lambda state, now: lifecycle.change_address(state, actor, now, address),
                lambda doc: {"address": address})


def confirm_receipt(order_id: str, actor: str) -> dict:
    return _run(order_id, lambda state, now: lifecycle.confirm_receipt(state, actor, now))


def approve_hold(order_id: str, actor: str) -> dict:
    """Approve a held order: it is routed again, skipping the risk rules that held it."""
    return _run(order_id, lambda state, now: lifecycle.approve_hold(state, actor, now),
                lambda doc: {"routing": {**doc["routing"], "state": RoutingState.RECEIVED.value, "approved_by": actor}})


def reject_hold(order_id: str, actor: str, reason: str = "") -> dict:
    return _run(order_id, lambda state, now: lifecycle.reject_hold(state, actor, now, reason))


def retry_dispatch(fulfilment_id: str, actor: str) -> dict:
    """Send a ``dispatch_failed`` fulfilment to its warehouse again (idempotent at the WMS)."""
    summary = orders.load_summary_by_fulfilment(fulfilment_id)
    if summary is None:
        raise OrderNotFound(fulfilment_id)
    doc = orders.load(summary["order_id"], working=True)
    assert doc is not None, "its summary was just found"
    f = next(f for f in doc["fulfilments"] if f["id"] == fulfilment_id)
    if f["status"] != FulfilmentStatus.DISPATCH_FAILED:
        raise IllegalTransition("fulfilment", f["status"], "retry_dispatch", ())
    send(DispatchFulfilment(doc["_id"], fulfilment_id, retry=True))
    return doc
