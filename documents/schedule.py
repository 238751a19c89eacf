"""Deadlines stored on the order: every guarded save recomputes ``due_at`` / ``due_timer`` (an
indexed due time the scheduler sweeps), so a timer is never a broker delay and never forgotten."""
from __future__ import annotations

from datetime import datetime

from documents import reference
from documents.converters import order_state
from router.timers import (RETRY_BACKORDER, Deadlines, Timestamps, alert_key,  # noqa: F401  (alert_key re-exported)
                           backorder_deadline, next_deadline)


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
                      alerted_at={k: _at(v) for k, v in (doc.get("alerted_at") or {}).items() if v is not None})


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
    retry = backorder_deadline(state.status, (after.get("routing") or {}).get("state"), now, deadlines)
    if retry is not None:
        candidates.append((retry, {"action": RETRY_BACKORDER, "fulfilment_id": None}))
    if not candidates:
        extra.update(due_at=None, due_timer=None)
    else:
        due_at, timer = min(candidates, key=lambda c: c[0])
        extra.update(due_at=due_at, due_timer=timer)
    return extra
