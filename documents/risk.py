"""Risk rules (``settings.risk_rules``, versioned like the routing rules) and the order-velocity
counts routing gives router/validation.assess_risk: how many other orders of the same customer,
phone or address arrived within each velocity rule's window before this one."""
from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

from pymongo.errors import OperationFailure

from documents import orders, reference
from router.risk import RiskRules, VelocityCount

SETTING = "risk_rules"
HISTORY = "risk_rules_history"
# The velocity counts' indexes on orders, per key of a velocity rule, each with the arrival time.
# Made only for the keys of rules in force (at start-up, and when rules are stored): the embedded
# server rewrites every index entry of an order on each of its tens of updates, and these four cost
# about 14% of an update there (bench/dbops.py), for a check most deployments do not configure.
VELOCITY_INDEXES = {"customer": ([("customer.id", 1), ("created_at", 1)],),
                    "phone": ([("customer.phone", 1), ("created_at", 1)], [("address.phone", 1), ("created_at", 1)]),
                    "address": ([("address.postcode", 1), ("created_at", 1)],)}


def ensure_order_indexes(rules: RiskRules | None = None) -> None:
    """The indexes the velocity rules of ``rules`` (default: those stored) count orders by; those of
    keys no rule uses are dropped (made by an earlier version, or for rules since replaced)."""
    rules = rules if rules is not None else load_rules(cached=False)
    used = {rule.key for rule in (rules.velocity if rules else ())}
    existing = set(orders.collection().index_information())
    for key, specs in sorted(VELOCITY_INDEXES.items()):
        for keys in specs:
            name = "_".join(f"{field}_{direction}" for field, direction in keys)
            if key in used:
                orders.collection().create_index(keys, name=name)
            elif name in existing:
                with contextlib.suppress(OperationFailure):  # another process dropped it first
                    orders.collection().drop_index(name)


def load_rules(*, cached: bool = True) -> RiskRules | None:
    """The rules in force, or None when none were ever stored (the built-in policy alone)."""
    raw = reference.cached_setting(SETTING) if cached else reference.load_setting(SETTING)
    return RiskRules.from_dict(raw) if raw else None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _matches(key: str, doc: dict) -> list[dict]:
    """The queries for orders sharing ``doc``'s customer, phone or address (none: it has none). A
    phone is looked up as the customer's and as the address's, in two indexed queries: one
    top-level ``$or`` would make the embedded server read the whole collection (wire_quirks)."""
    customer = doc.get("customer") or {}
    address = doc.get("address") or {}
    if key == "customer":
        return [{"customer.id": customer["id"]}] if customer.get("id") else []
    if key == "phone":
        phones = sorted({p for p in (customer.get("phone"), address.get("phone")) if p})
        return [{"customer.phone": {"$in": phones}}, {"address.phone": {"$in": phones}}] if phones else []
    lines = list(address.get("lines") or [])
    if not lines:
        return []
    return [{"address.lines": lines, "address.postcode": address.get("postcode", ""),
             "address.country": address.get("country", "")}]


def velocity_counts(doc: dict, rules: RiskRules | None) -> list[VelocityCount]:
    """Per velocity rule, the other orders with the same key created within its window up to this
    order's own arrival (``created_at``): a re-route later counts the same orders."""
    if rules is None or not rules.velocity:
        return []
    arrived = _aware(doc.get("created_at") or datetime.now(timezone.utc))
    out = []
    for i, rule in enumerate(rules.velocity):
        matches = _matches(rule.key, doc)
        if not matches:
            continue
        window = {"_id": {"$ne": doc["_id"]},
                  "created_at": {"$gte": arrived - timedelta(minutes=rule.window_minutes), "$lte": arrived}}
        if len(matches) == 1:
            others = orders.collection().count_documents({**matches[0], **window})
        else:  # an order may match more than one: count each once
            others = len({d["_id"] for m in matches for d in orders.collection().find({**m, **window}, {"_id": 1})})
        out.append(VelocityCount(rule=i, others=others))
    return out
