"""Risk rules (``settings.risk_rules``, versioned like the routing rules) and the order-velocity
counts routing gives router/validation.assess_risk: how many other orders of the same customer,
phone or address arrived within each velocity rule's window before this one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from documents import orders, reference
from router.risk import RiskRules, VelocityCount

SETTING = "risk_rules"
HISTORY = "risk_rules_history"
# The velocity counts' indexes on orders: each key with the arrival time (documents/connection.py).
ORDER_INDEXES = ([("customer.id", 1), ("created_at", 1)], [("customer.phone", 1), ("created_at", 1)],
                 [("address.phone", 1), ("created_at", 1)], [("address.postcode", 1), ("created_at", 1)])


def ensure_order_indexes() -> None:
    for keys in ORDER_INDEXES:
        orders.collection().create_index(keys)


def load_rules(*, cached: bool = True) -> RiskRules | None:
    """The rules in force, or None when none were ever stored (the built-in policy alone)."""
    raw = reference.cached_setting(SETTING) if cached else reference.load_setting(SETTING)
    return RiskRules.from_dict(raw) if raw else None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _match(key: str, doc: dict) -> dict | None:
    """The query for orders sharing ``doc``'s customer, phone or address (None: it has none)."""
    customer = doc.get("customer") or {}
    address = doc.get("address") or {}
    if key == "customer":
        return {"customer.id": customer["id"]} if customer.get("id") else None
    if key == "phone":
        phones = sorted({p for p in (customer.get("phone"), address.get("phone")) if p})
        if not phones:
            return None
        return {"$or": [{"customer.phone": {"$in": phones}}, {"address.phone": {"$in": phones}}]}
    lines = list(address.get("lines") or [])
    if not lines:
        return None
    return {"address.lines": lines, "address.postcode": address.get("postcode", ""),
            "address.country": address.get("country", "")}


def velocity_counts(doc: dict, rules: RiskRules | None) -> list[VelocityCount]:
    """Per velocity rule, the other orders with the same key created within its window up to this
    order's own arrival (``created_at``): a re-route later counts the same orders."""
    if rules is None or not rules.velocity:
        return []
    arrived = _aware(doc.get("created_at") or datetime.now(timezone.utc))
    out = []
    for i, rule in enumerate(rules.velocity):
        match = _match(rule.key, doc)
        if match is None:
            continue
        query = {**match, "_id": {"$ne": doc["_id"]},
                 "created_at": {"$gte": arrived - timedelta(minutes=rule.window_minutes), "$lte": arrived}}
        out.append(VelocityCount(rule=i, others=orders.collection().count_documents(query)))
    return out
