"""Deadlines stored on the order: every guarded save recomputes ``due_at`` / ``due_timer`` (an
indexed due time the scheduler sweeps), so a timer is never a broker delay and never forgotten."""
from __future__ import annotations

from datetime import datetime

from documents import reference
from documents.converters import order_state
from router.fulfilment_flow import parcels
from router import backorders
from router.timers import (CANCEL_BACKORDER, RETRY_BACKORDER, Deadlines, Timestamps,  # noqa: F401
                           alert_key, backorder_cancel_deadline, backorder_deadline,  # (alert_key re-exported)
                           next_deadline)


def _parse(value) -> datetime | None:
    return None if value is None else _at(value)


def _at(value: datetime | str) -> datetime:
    """A stored time: a BSON date, or an ISO string."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def timestamps_of(doc: dict) -> Timestamps:
    """When things happened to a stored order, in the shape router/timers.py reads."""
    fulfilments = doc.get("fulfilments", [])

    def per(key):
        return {f["id"]: _at(f[key]) for f in fulfilments if f.get(key)}

    last_scan = {f["id"]: _at(f["tracking"][-1]["received_at"])
                 for f in fulfilments if f.get("tracking") and f["tracking"][-1].get("received_at")}
    return Timestamps(placed_at=_at(doc["placed_at"]), shipped_at=_parse(doc.get("shipped_at")),
                      completed_at=_parse(doc.get("completed_at")), dispatched_at=per("dispatched_at"),
                      picked_up_at=per("shipped_at"), last_scan_at=last_scan,
                      alerted_at={k: _at(v) for k, v in (doc.get("alerted_at") or {}).items() if v is not None},
                      trackable=frozenset(f["id"] for f in fulfilments if any(c for _, c in parcels(f))))


def deadlines_for(doc: dict) -> Deadlines:
    return Deadlines.for_order(doc["channel"], doc.get("merchant_ids", ()), reference.cached_setting("timeouts"))


def schedule_fields(before: dict, fields: dict, now: datetime) -> dict:
    """Fields to add to a save: ``<status>_at`` when the order status changes, and the next due time."""
    after = {**before, **fields}
    extra: dict = {}
    if after.get("status") != before.get("status"):
        extra[f"{after['status']}_at"] = now
        after[f"{after['status']}_at"] = now
    state, deadlines = order_state(after), deadlines_for(after)
    candidates: list[tuple[datetime, dict]] = []
    upcoming = next_deadline(state, deadlines, timestamps_of(after))
    if upcoming is not None:
        next_at, next_timer = upcoming
        candidates.append((next_at, {"action": next_timer.action.value, "fulfilment_id": next_timer.fulfilment_id}))
    candidates += _backorder_timers(after, state, deadlines, now)
    if not candidates:
        extra.update(due_at=None, due_timer=None)
    else:
        due_at, timer = min(candidates, key=lambda c: c[0])
        extra.update(due_at=due_at, due_timer=timer)
    return extra


def backorder_wait(doc: dict):
    """How long each backordered entry of ``doc`` may wait for stock: its line's merchant's
    ``backorder_cancel`` (the channel's, or the default 7 days, unless the merchant sets one)."""
    overrides = reference.cached_setting("timeouts")
    merchant_of = {line["line_no"]: line.get("merchant_id") for line in doc.get("lines", [])}
    waits: dict = {}

    def wait_of(entry: backorders.Backorder):
        merchant = merchant_of.get(entry.line_no)
        if merchant not in waits:
            waits[merchant] = Deadlines.for_order(doc["channel"], [merchant] if merchant else [],
                                                  overrides).backorder_cancel
        return waits[merchant]
    return wait_of


def backorder_entries(doc: dict, now: datetime) -> tuple[backorders.Backorder, ...]:
    """The order's backordered units still waiting, as ``router.backorders`` reads them (an entry
    stored without its start waits from the routing that made it, else ``now``)."""
    routing = doc.get("routing") or {}
    since = _parse(routing.get("routed_at")) or now
    return tuple(backorders.from_dict(b, since) for b in routing.get("backordered") or [])


def _backorder_timers(after: dict, state, deadlines: Deadlines, now: datetime) -> list[tuple[datetime, dict]]:
    """The backorder's timers: a retry every ``backorder_retry`` since the last routing or retry,
    and the cancel of units waiting too long."""
    routing = after.get("routing") or {}
    entries = backorder_entries(after, now)
    tries = [t for t in (_parse(routing.get("routed_at")), _parse(routing.get("retried_at"))) if t]
    out = []
    retry = backorder_deadline(state.status, routing.get("state"), max(tries) if tries else now, deadlines,
                               backorders.units(entries))
    if retry is not None:
        out.append((retry, {"action": RETRY_BACKORDER, "fulfilment_id": None}))
    cancel = backorder_cancel_deadline(state.status, backorders.cancel_due(entries, backorder_wait(after))
                                       if entries else None)
    if cancel is not None:
        out.append((cancel, {"action": CANCEL_BACKORDER, "fulfilment_id": None}))
    return out
