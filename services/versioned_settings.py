"""Versioned rule sets kept in the settings (routing rules, risk rules): one recipe to replace one.

Parse and validate the new set, refuse a version used before (the one in force or any kept in
its history), move the one in force into the history with who replaced it and when (the last
``HISTORY_KEPT``), store the new one, and drop the cached reference data so that this process
uses it at once (the others within ``documents.reference.SETTINGS_TTL``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol, cast

from documents import reference
from documents import risk as risk_documents
from router.risk import RiskRules

HISTORY_KEPT = 20


class RuleSet(Protocol):
    """What a parsed rule set offers (router.rules.RoutingRules, router.risk.RiskRules)."""

    @property
    def version(self) -> str: ...

    def to_dict(self) -> dict: ...


@dataclass(frozen=True)
class VersionedSetting:
    """A rule set's two settings documents: the one in force and its history; ``on_stored``: what
    the new set needs done once stored (given what was stored)."""

    name: str
    history: str
    on_stored: Callable[[dict], None] | None = None


def _risk_indexes(stored: dict) -> None:
    """The velocity rules count orders by indexes made only for the keys in use (documents/risk.py)."""
    risk_documents.ensure_order_indexes(RiskRules.from_dict(stored))


ROUTING_RULES = VersionedSetting("routing_rules", "routing_rules_history")
RISK_RULES = VersionedSetting(risk_documents.SETTING, risk_documents.HISTORY, on_stored=_risk_indexes)


class VersionUsed(Exception):
    """The new rule set's version is the one in force or one in the history."""

    def __init__(self, version: str):
        super().__init__(f"version {version!r} was used before")
        self.version = version


class Replaced(Exception):
    """Another replacement of the rule set landed between reading the set in force and storing
    this one: nothing was stored; read the rules again and retry."""

    def __init__(self, name: str):
        super().__init__(f"the {name.replace('_', ' ')} were replaced meanwhile: read them again and retry")


# (the new set as a dict, the one in force or None, who, when as ISO text) -> the dict to store
Prepare = Callable[[dict, dict | None, str, str], dict]


def replace(setting: VersionedSetting, raw: dict, parse: Callable[[dict], RuleSet], actor: str,
            prepare: Prepare | None = None) -> dict:
    """Replace the rule set in force with ``raw``, as ``actor``; returns what was stored.

    ``parse`` validates ``raw`` (raising its own error, e.g. InvalidRoutingRules, which changes
    nothing); ``prepare`` may complete the parsed set from the one in force before it is stored
    (the risk rules stamp who added each blacklist entry). Raises VersionUsed when the version was
    used before (nothing changes).
    """
    rules = parse(raw)
    history = cast("list[dict]", reference.load_setting(setting.history) or [])  # a setting whose value is a list
    current = reference.load_setting(setting.name)
    if rules.version in {h["version"] for h in history} | ({current["version"]} if current else set()):
        raise VersionUsed(rules.version)
    now = datetime.now(timezone.utc).isoformat()
    stored = prepare(rules.to_dict(), current, actor, now) if prepare else rules.to_dict()
    if not reference.replace_setting(setting.name, current, stored):
        raise Replaced(setting.name)  # another replacement landed since this one read the set in force
    if current:
        history = (history + [{"version": current["version"], "replaced_at": now,
                               "replaced_by": actor, "rules": current}])[-HISTORY_KEPT:]
        reference.upsert("settings", setting.history, {"value": history})
    reference.network_cache.clear()  # clears the settings cache too: this process routes with them at once
    if setting.on_stored:
        setting.on_stored(stored)
    return stored
