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
    return plain(out)
