"""Low-stock alerts: recorded once per crossing below a SKU's threshold, and posted to a webhook.

A stock level (SKU and warehouse) is *low* when ``available < low_stock_threshold``. Each level
has an *arm* (``low_stock_arms``, keyed by the stock id). Falling low fires the arm: one guarded
update (armed -> fired) decides who records the alert, so concurrent checks and replays record
it once. Rising back to the threshold or above re-arms it and resolves the open alert.

The webhook (``ROUTER_LOW_STOCK_WEBHOOK``, unset: none; posted by the ``notify`` callable the caller
gives, adapters/outbound/alerts.py) receives each alert once; a failed post
stays ``pending`` and :func:`sweep_low_stock` retries it, up to ``MAX_WEBHOOK_ATTEMPTS``. The
alert id goes along as ``Idempotency-Key`` so a receiver can drop a repeat after a lost answer.
"""
from __future__ import annotations

from datetime import datetime, timezone

import mongoengine as me
from pymongo.errors import DuplicateKeyError

from documents import stock
from documents.codec import from_bson

MAX_WEBHOOK_ATTEMPTS = 5
PENDING, DELIVERED, FAILED, DISABLED = "pending", "delivered", "failed", "disabled"


class LowStockAlert(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # "<stock id>#<crossing number>"
    meta = {"collection": "low_stock_alerts",
            "indexes": [{"fields": ["resolved_at", "-raised_at"]}, {"fields": ["sku", "warehouse_id"]},
                        {"fields": ["webhook.status"]}]}


class LowStockArm(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # the stock id
    meta = {"collection": "low_stock_arms", "indexes": [{"fields": ["armed"]}]}


DOCUMENTS = (LowStockAlert, LowStockArm)


def _alerts():
    return LowStockAlert._get_collection()


def _arms():
    return LowStockArm._get_collection()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def is_low(row: dict) -> bool:
    return row.get("available", 0) < (row.get("low_stock_threshold") or 0)


def check_low_stock(sku: str, warehouse_id: str, now: datetime | None = None, notify=None) -> dict | None:
    """Look at one stock level now: record and post an alert if it just fell below its
    threshold, re-arm (and resolve the open alert) if it is back at or above it.

    Returns the alert recorded by this call, or None (not low, or already alerted for this
    crossing). ``notify(alert) -> None`` posts it (None: no webhook is configured; raise to leave it
    pending for the sweep). Safe to call any number of times, concurrently too.
    """
    row = stock.collection().find_one({"_id": stock.stock_id(sku, warehouse_id)},
                                      {"sku": 1, "warehouse_id": 1, "on_hand": 1, "reserved": 1, "available": 1,
                                       "low_stock_threshold": 1})
    if row is None:
        return None
    return _check_row(row, now or _now(), notify)


def _check_row(row: dict, now: datetime, notify) -> dict | None:
    if not is_low(row):
        _rearm(row["_id"], now)
        return None
    alert = _fire(row, now, deliverable=notify is not None)
    if alert is not None and notify is not None:
        deliver(alert, notify)
    return alert


def _fire(row: dict, now: datetime, deliverable: bool) -> dict | None:
    """Claim the crossing (armed -> fired) and record its alert; None when it was claimed before.

    The arm names the alert id before the alert exists, so a crash in between is repaired by
    the next check: the alert is inserted then (``$setOnInsert``), and only then delivered."""
    sid = row["_id"]
    arm = _arms().find_one({"_id": sid}) or {}
    alert_id: str | None = f"{sid}#{arm.get('crossings', 0) + 1}"
    claimed = _arms().update_one({"_id": sid, "armed": True},
                                 {"$set": {"armed": False, "alert_id": alert_id, "fired_at": now},
                                  "$inc": {"crossings": 1}}).modified_count == 1
    if not claimed and not arm:
        try:
            _arms().insert_one({"_id": sid, "armed": False, "alert_id": alert_id, "fired_at": now, "crossings": 1})
            claimed = True
        except DuplicateKeyError:
            arm = _arms().find_one({"_id": sid}) or {}
    if not claimed:
        alert_id = arm.get("alert_id")  # fired before: make sure its alert exists (repair)
        if not alert_id or arm.get("armed"):
            return None
    alert = {"sku": row["sku"], "warehouse_id": row["warehouse_id"], "available": row.get("available", 0),
             "on_hand": row.get("on_hand", 0), "reserved": row.get("reserved", 0),
             "threshold": row.get("low_stock_threshold") or 0, "raised_at": now, "resolved_at": None,
             "webhook": {"status": PENDING if deliverable else DISABLED, "attempts": 0}}
    result = _alerts().update_one({"_id": alert_id}, {"$setOnInsert": alert}, upsert=True)
    return {"_id": alert_id, **alert} if result.upserted_id is not None else None


def _rearm(sid: str, now: datetime) -> None:
    if _arms().update_one({"_id": sid, "armed": False}, {"$set": {"armed": True, "rearmed_at": now}}).modified_count:
        sku, warehouse_id = sid.rsplit("@", 1)
        _alerts().update_many({"sku": sku, "warehouse_id": warehouse_id, "resolved_at": None},
                              {"$set": {"resolved_at": now}})


def deliver(alert: dict, notify=None) -> str:
    """Post a pending alert once; returns its webhook status after the attempt."""
    if alert["webhook"]["status"] != PENDING:
        return alert["webhook"]["status"]
    attempts = alert["webhook"].get("attempts", 0) + 1
    try:
        notify(alert)
    except Exception as exc:  # noqa: BLE001  (any failure leaves it for the sweep; nothing crashes the caller)
        status = FAILED if attempts >= MAX_WEBHOOK_ATTEMPTS else PENDING
        update = {"webhook.status": status, "webhook.attempts": attempts, "webhook.error": str(exc)[:300]}
    else:
        status = DELIVERED
        update = {"webhook.status": status, "webhook.attempts": attempts, "webhook.delivered_at": _now(),
                  "webhook.error": None}
    _alerts().update_one({"_id": alert["_id"], "webhook.status": PENDING}, {"$set": update})
    return status


def sweep_low_stock(now: datetime | None = None, notify=None, limit: int = 5000) -> dict[str, int]:
    """For the scheduler: check every level that is low now and every fired arm (which may be
    back above its threshold), and retry pending webhook posts. Returns counts."""
    now = now or _now()
    counts = {"checked": 0, "raised": 0, "rearmed": 0, "delivered": 0}
    projection = {"sku": 1, "warehouse_id": 1, "on_hand": 1, "reserved": 1, "available": 1, "low_stock_threshold": 1}
    low = stock.collection().find({"$expr": {"$lt": ["$available", "$low_stock_threshold"]}}, projection).limit(limit)
    fired = [a["_id"] for a in _arms().find({"armed": False}, {"_id": 1}).limit(limit)]
    rows = {r["_id"]: r for r in low}
    rows.update({r["_id"]: r for r in stock.collection().find({"_id": {"$in": fired}}, projection)})
    for row in rows.values():
        counts["checked"] += 1
        was_fired = row["_id"] in fired
        if _check_row(row, now, notify) is not None:
            counts["raised"] += 1
        elif was_fired and not is_low(row):
            counts["rearmed"] += 1
    for alert in _alerts().find({"webhook.status": PENDING}).limit(limit if notify is not None else 0):
        if deliver(from_bson(alert), notify) == DELIVERED:
            counts["delivered"] += 1
    return counts


def open_alerts(limit: int = 200) -> list[dict]:
    """Unresolved alerts, newest first (for the console)."""
    return [from_bson(d) for d in _alerts().find({"resolved_at": None}).sort("raised_at", -1).limit(limit)]
