"""The velocity counts read the orders of the same phone, customer or address within a rule's
window, on the real server: a phone is looked for as the customer's and as the address's (two
indexed queries, no top-level ``$or``), and an order holding it in both counts once."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from documents import orders, risk
from router.risk import RiskRules

pytestmark = pytest.mark.integration


def _order(order_id: str, at: datetime, customer_phone: str | None, address_phone: str | None) -> dict:
    return {"_id": order_id, "channel": "manual", "channel_order_id": order_id, "created_at": at,
            "customer": {"id": f"c-{order_id}", "phone": customer_phone},
            "address": {"lines": ["1 Main St"], "postcode": "10001", "country": "US", "phone": address_phone}}


def test_a_phone_is_counted_in_the_customer_and_the_address_once_per_order_within_the_window(db):
    now = datetime.now(timezone.utc)
    rules = RiskRules.from_dict({"version": "v1", "velocity": [{"key": "phone", "max_orders": 5, "window_minutes": 60}]})
    risk.ensure_order_indexes(rules)
    orders.collection().insert_many([
        _order("O-customer", now - timedelta(minutes=5), "+1 555 0100", None),
        _order("O-address", now - timedelta(minutes=4), None, "+1 555 0100"),
        _order("O-both", now - timedelta(minutes=3), "+1 555 0100", "+1 555 0100"),
        _order("O-old", now - timedelta(minutes=90), "+1 555 0100", None),  # outside the window
        _order("O-other", now - timedelta(minutes=2), "+1 555 0199", "+1 555 0199"),
        _order("O-later", now + timedelta(minutes=1), "+1 555 0100", None),  # arrived after this one
    ])
    this = _order("O-this", now, "+1 555 0100", "+1 555 0100")
    orders.collection().insert_one(this)

    (count,) = risk.velocity_counts(this, rules)

    assert (count.rule, count.others) == (0, 3)
    indexes = {tuple(k for k, _ in spec["key"]) for spec in orders.collection().index_information().values()}
    assert {("customer.phone", "created_at"), ("address.phone", "created_at")} <= indexes
    assert ("customer.id", "created_at") not in indexes  # no customer rule: no index kept for one
