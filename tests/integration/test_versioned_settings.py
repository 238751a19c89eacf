"""A rule set is replaced by compare-and-set on the version in force: two replacements decided on
the same rules cannot both land (the second is refused, nothing of it stored), and the history
keeps what each replaced."""
from __future__ import annotations

import pytest

from documents import reference
from documents import risk as risk_documents
from router.risk import RiskRules
from services import versioned_settings
from services.versioned_settings import RISK_RULES, Replaced

pytestmark = pytest.mark.integration


def test_a_replacement_decided_on_rules_replaced_meanwhile_is_refused_and_stores_nothing(db):
    # Given rules in force, v1
    versioned_settings.replace(RISK_RULES, {"version": "v1"}, RiskRules.from_dict, "admin:a")
    assert reference.load_setting(risk_documents.SETTING)["version"] == "v1"

    # When admin b replaces them with v3 while admin c's v2 lands between b's read and b's write
    def meanwhile(new: dict, current: dict | None, actor: str, at: str) -> dict:
        assert reference.replace_setting(risk_documents.SETTING, current, {"version": "v2"})  # c wins
        return new

    with pytest.raises(Replaced):
        versioned_settings.replace(RISK_RULES, {"version": "v3"}, RiskRules.from_dict, "admin:b", prepare=meanwhile)

    # Then c's rules are in force, b's were not stored, and the history has nothing of b's
    assert reference.load_setting(risk_documents.SETTING) == {"version": "v2"}
    assert [h["version"] for h in reference.load_setting(risk_documents.HISTORY) or []] == []

    # And b, reading again, replaces c's: the history keeps what was replaced
    versioned_settings.replace(RISK_RULES, {"version": "v3"}, RiskRules.from_dict, "admin:b")
    assert reference.load_setting(risk_documents.SETTING)["version"] == "v3"
    assert [(h["version"], h["replaced_by"]) for h in reference.load_setting(risk_documents.HISTORY)] == [("v2", "admin:b")]


def test_the_first_rules_stored_twice_at_once_land_once(db):
    assert reference.replace_setting("routing_rules", None, {"version": "r1"})
    assert not reference.replace_setting("routing_rules", None, {"version": "r2"})
    assert reference.load_setting("routing_rules") == {"version": "r1"}


def test_storing_risk_rules_makes_the_indexes_their_velocity_rules_count_by_and_drops_the_unused(db):
    from documents import orders

    def velocity_indexes() -> set[tuple[str, ...]]:
        found = {tuple(k for k, _ in spec["key"]) for spec in orders.collection().index_information().values()}
        return {keys for keys in found if keys[-1] == "created_at"}

    versioned_settings.replace(RISK_RULES, {"version": "v1", "velocity": [
        {"key": "phone", "max_orders": 3, "window_minutes": 60}]}, RiskRules.from_dict, "admin:a")
    assert velocity_indexes() == {("customer.phone", "created_at"), ("address.phone", "created_at")}

    versioned_settings.replace(RISK_RULES, {"version": "v2", "velocity": [
        {"key": "customer", "max_orders": 3, "window_minutes": 60}]}, RiskRules.from_dict, "admin:a")
    assert velocity_indexes() == {("customer.id", "created_at")}
