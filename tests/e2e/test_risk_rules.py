"""Risk rules as configuration through the real pieces (issue 19, item 4): HTTP in, RabbitMQ, the
worker, the wire server, simulated WMS and carriers. Rules go in with PUT /v1/risk/rules (admin,
validated, versioned); a blacklisted phone, a velocity breach and an abnormal quantity each hold
the order naming the rule that fired; the operator approves (routed, the rule not asked again)
or rejects (nothing held)."""
from __future__ import annotations

import pytest

from tests.e2e.test_lifecycle import post_order
from tests.helpers import eventually, get_order, http, order_in, stock_of

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]
OPERATOR = {"Authorization": "Bearer test-operator"}

RULES = {
    "version": "risk-1",
    "blacklist": {"phones": [{"value": "+1 555 0100 999", "reason": "stolen cards"}],
                  "customers": [], "addresses": []},
    "velocity": [{"key": "phone", "max_orders": 2, "window_minutes": 60}],
    "merchants": {"m1": {"max_line_quantity": 6, "max_order_amount": "500.00"}},
}


def put_rules(api: str, rules: dict, headers: dict | None = None):
    return http.put(f"{api}/v1/risk/rules", json=rules, timeout=5, **({"headers": headers} if headers else {}))


def held(api: str, order_id: str) -> dict:
    order = order_in(api, order_id, status="on_hold")
    assert order["routing"]["state"] == "held" and order["fulfilments"] == []
    return order


def customer(phone: str, cid: str) -> dict:
    return {"id": cid, "name": "Risky Rita", "phone": phone, "email": "rita@example.com"}


def test_risk_rules_are_admin_only_validated_and_versioned(api, seeded):
    assert http.get(f"{api}/v1/risk/rules", timeout=5).json()["builtin"] is True
    assert put_rules(api, RULES, OPERATOR).status_code == 403
    bad = put_rules(api, {**RULES, "velocity": [{"key": "email", "max_orders": 1, "window_minutes": 5}]})
    assert bad.status_code == 422 and "velocity[0].key" in bad.json()["error"]["details"]
    stored = put_rules(api, RULES)
    assert stored.status_code == 200, stored.text
    entry = stored.json()["rules"]["blacklist"]["phones"][0]
    assert entry["added_by"] == "admin" and entry["added_at"]  # who added it, and when
    assert put_rules(api, RULES).status_code == 409  # a version once used is not used again
    again = put_rules(api, {**RULES, "version": "risk-2"}).json()["rules"]["blacklist"]["phones"][0]
    assert again["added_at"] == entry["added_at"]  # an entry carried over keeps its stamp
    shown = http.get(f"{api}/v1/risk/rules", timeout=5).json()
    assert shown["rules"]["version"] == "risk-2" and [h["version"] for h in shown["history"]] == ["risk-1"]


def test_blacklisted_phone_is_held_naming_the_rule_then_rejected(api, worker, seeded):
    assert put_rules(api, RULES).status_code == 200
    order_id = post_order(api, seeded, [("SKU-A", 1)], customer=customer("15550100999", "rita-1"))
    order = held(api, order_id)
    assert "blacklist.phones[0]" in order["routing"]["reason"] and "stolen cards" in order["routing"]["reason"]
    assert [p["code"] for p in order["routing"]["problems"]] == ["blacklisted_phone"]
    r = http.post(f"{api}/v1/orders/{order_id}/reject-hold", json={"reason": "fraud"}, timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert stock_of(api, "SKU-A", "WH-EAST")["reserved"] == 0


def test_velocity_breach_is_held_naming_the_rule_then_approved_and_routed(api, worker, seeded):
    assert put_rules(api, RULES).status_code == 200
    phone = "+1 (555) 0142 000"
    first, second = (post_order(api, seeded, [("SKU-A", 1)], customer=customer(phone, f"v-{i}")) for i in range(2))
    for order_id in (first, second):
        eventually(lambda o=order_id: get_order(api, o)["routing"]["state"] == "routed", what="routed")
    third = post_order(api, seeded, [("SKU-A", 1)], customer=customer(phone, "v-3"))
    order = held(api, third)
    assert "velocity[0]" in order["routing"]["reason"] and "3 orders of this phone within 60 minutes" in \
        order["routing"]["reason"]
    assert [p["code"] for p in order["routing"]["problems"]] == ["velocity_phone"]
    assert http.post(f"{api}/v1/orders/{third}/approve-hold", timeout=5).status_code == 200
    order = eventually(lambda: (o := get_order(api, third))["routing"]["state"] == "routed" and o,
                       what="routed after the approval")
    assert order["routing"]["approved_by"] == "operator:admin" and order["fulfilments"]


def test_abnormal_quantity_is_held_naming_the_rule_then_approved(api, worker, seeded):
    assert put_rules(api, RULES).status_code == 200
    normal = post_order(api, seeded, [("SKU-A", 6)], customer=customer("+1 555 0177 001", "q-1"))
    eventually(lambda: get_order(api, normal)["routing"]["state"] == "routed", what="six units routed")
    big = post_order(api, seeded, [("SKU-A", 7)], customer=customer("+1 555 0177 002", "q-2"))
    order = held(api, big)
    assert "merchants.m1.max_line_quantity" in order["routing"]["reason"]
    problem = order["routing"]["problems"][0]
    assert problem["code"] == "abnormal_quantity" and problem["field"] == "lines.0.quantity"
    assert http.post(f"{api}/v1/orders/{big}/approve-hold", timeout=5).status_code == 200
    eventually(lambda: get_order(api, big)["routing"]["state"] == "routed", what="routed after the approval")
