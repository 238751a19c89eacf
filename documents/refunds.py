"""The refunds orders owe, read for whoever is to make them (services/refunds.py opens them as
refund-only after-sales cases marked with ``refund_via``)."""
from __future__ import annotations

from documents import orders
from documents.codec import from_bson

AWAITING = "awaiting_refund"


def owed(via: str, limit: int = 100) -> list[dict]:
    """Refund cases still awaiting their refund that ``via`` (``payments``: the payment service,
    ``operator``, ``channel``) is to make, by order id (oldest first): each with its order's
    channel, channel order id, currency and the transactions that paid it."""
    cursor = orders.collection().find(
        {"after_sales": {"$elemMatch": {"status": AWAITING, "refund_via": via}}},
        {"channel": 1, "channel_order_id": 1, "currency": 1, "after_sales": 1, "payment": 1, "payments": 1},
    ).sort("_id", 1).limit(limit)
    out = []
    for doc in (from_bson(d) for d in cursor):
        paid_with = [p["transaction_id"] for p in doc.get("payments") or [] if p.get("type") == "paid"] or \
            [t for t in [(doc.get("payment") or {}).get("transaction_id")] if t]
        for case in doc.get("after_sales") or []:
            if case.get("status") == AWAITING and case.get("refund_via") == via:
                out.append({"case_id": case["case_id"], "order_id": doc["_id"], "channel": doc["channel"],
                            "channel_order_id": doc["channel_order_id"], "currency": doc["currency"],
                            "amount": case["amount"], "reason": case.get("reason", ""),
                            "lines": case.get("lines") or [], "opened_at": case["opened_at"], "paid_with": paid_with})
    return out[:limit]
