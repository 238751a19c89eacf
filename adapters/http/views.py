"""Stored documents as JSON: Decimals as strings, times in ISO 8601 with zone."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal


def plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def order_view(doc: dict, full: bool = True) -> dict:
    """The public shape of an order (``full``: with timeline, routing decision and raw payload)."""
    out = {k: v for k, v in doc.items() if k not in ("_id", "version")}
    out["order_id"] = doc["_id"]
    due = (doc.get("payment") or {}).get("due_at")
    if due is not None:  # B2B terms: overdue once the due date passed unpaid
        due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
        out["payment_overdue"] = doc.get("payment_status") not in ("paid", "partially_refunded", "refunded") \
            and due < datetime.now(timezone.utc)
    if not full:
        for key in ("timeline", "raw", "line_amounts"):
            out.pop(key, None)
    return plain(with_history_in_event_order(out))


def with_history_in_event_order(doc: dict) -> dict:
    """The order with each fulfilment's tracking history in event order (see :func:`in_event_order`)."""
    if not doc.get("fulfilments"):
        return doc
    return {**doc, "fulfilments": [{**f, "tracking": in_event_order(f["tracking"])} if f.get("tracking") else f
                                   for f in doc["fulfilments"]]}


def in_event_order(history: list[dict]) -> list[dict]:
    """A fulfilment's tracking history ordered by when each event happened (its ``occurred_at``:
    the checkpoint's time, the webhook's ``ts``, the carrier's ``datetime``), not by when it
    arrived: a late scan is listed where it belongs. Stored in arrival order; an entry without an
    event time goes by when it arrived (``received_at``), one with neither right after the entry it
    arrived after; ties keep arrival order."""
    keys, last = [], datetime.min.replace(tzinfo=timezone.utc)
    for entry in history:
        last = _moment(entry.get("occurred_at")) or _moment(entry.get("received_at")) or last
        keys.append(last)
    return [entry for _, _, entry in sorted(zip(keys, range(len(history)), history, strict=True),
                                            key=lambda k: k[:2])]


def _moment(value) -> datetime | None:
    """An aware time from a stored datetime (naive: UTC) or ISO text; None when it is neither."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
