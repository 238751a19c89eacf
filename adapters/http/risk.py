"""Risk rules (issue 19, item 4): view, and replace with validation and a new version, as the
routing rules are (adapters/http/routing.py). Blacklist entries new in a version are stamped
with who added them and when; entries carried over keep theirs."""
from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint

from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.openapi import Open, responds
from documents import reference
from documents import risk as risk_documents
from router.risk import (BLACKLIST_KINDS, MAX_ENTRIES, MAX_WINDOW_MINUTES, VELOCITY_KEYS, InvalidRiskRules,
                         RiskRules, blacklist_key)
from services import versioned_settings

blp = Blueprint("risk", __name__, description="Risk rules: blacklists, velocity, abnormal-order thresholds")

# Printable text with something besides spaces (the API takes any printable text; the document
# says ASCII); a phone needs a digit. An entry listed twice (after normalising) is the API's 422.
_TEXT = r"^ *[!-~][ -~]*$"
_PRINTABLE = r"^[ -~]*$"


def _entry(kind: str) -> dict:
    properties = {
        "value": {"type": "string", "maxLength": 300,
                  "pattern": r"^[ -~]*[0-9][ -~]*$" if kind == "phones" else _TEXT},
        "reason": {"type": "string", "maxLength": 300, "pattern": _TEXT},
        "added_by": {"type": "string", "maxLength": 100, "pattern": _PRINTABLE},
        "added_at": {"type": "string", "maxLength": 40, "pattern": _PRINTABLE}}
    if kind == "addresses":
        properties.update(postcode={"type": "string", "maxLength": 20, "pattern": _PRINTABLE},
                          country={"type": "string", "maxLength": 2, "pattern": _PRINTABLE})
    return {"type": "object", "required": ["value", "reason"], "additionalProperties": False,
            "properties": properties}


def _limit(upper: int) -> dict:
    return {"type": "integer", "minimum": 1, "maximum": upper, "nullable": True}


RISK_RULES_SCHEMA = {
    "type": "object", "required": ["version"], "additionalProperties": False, "properties": {
        "version": {"type": "string", "pattern": r"^[\w.\-:]{1,60}$"},
        "blacklist": {"type": "object", "additionalProperties": False,
                      "properties": {kind: {"type": "array", "items": _entry(kind), "maxItems": MAX_ENTRIES}
                                     for kind in BLACKLIST_KINDS}},
        "velocity": {"type": "array", "maxItems": 20, "items": {
            "type": "object", "required": ["key", "max_orders", "window_minutes"], "additionalProperties": False,
            "properties": {"key": {"type": "string", "enum": list(VELOCITY_KEYS)},
                           "max_orders": {"type": "integer", "minimum": 1, "maximum": 100000},
                           "window_minutes": {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_MINUTES}}}},
        "merchants": {"type": "object", "maxProperties": 1000,
                      "description": "thresholds by merchant id (1-100 printable characters, not starting with $; "
                                     "* for every other merchant)",
                      "additionalProperties": {
            "type": "object", "additionalProperties": False, "properties": {
                "max_line_quantity": _limit(10**7), "max_order_quantity": _limit(10**7),
                "max_order_amount": {"type": "string", "nullable": True,
                                     "pattern": r"^(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,4})?|0\.[0-9]{0,3}[1-9])$",
                                     "description": "a positive decimal string, at most 1e12"}}}},
    }}


@blp.route("/v1/risk/rules", methods=["GET"])
@blp.alt_response(200, schema=Open, description="The risk rules in force ({rules, builtin})", success=True)
@responds(403)
def get_risk_rules():
    auth.require_role(auth.Role.OPERATOR)
    raw = reference.load_setting(risk_documents.SETTING)
    return jsonify({"rules": raw or RiskRules().to_dict(), "builtin": raw is None,
                    "history": [{k: h[k] for k in ("version", "replaced_at", "replaced_by")}
                                for h in reference.load_setting(risk_documents.HISTORY) or []]})


@blp.route("/v1/risk/rules", methods=["PUT"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": RISK_RULES_SCHEMA}}})
@blp.alt_response(200, schema=Open, description="Stored: the version now in force", success=True)
@responds(403, 409)
def put_risk_rules():
    """Replace the risk rules. They must parse and carry a version not used before."""
    actor = auth.require_role(auth.Role.ADMIN)
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise ApiError(400, "malformed_json", "body must be a JSON object of risk rules")
    try:
        stored = versioned_settings.replace(versioned_settings.RISK_RULES, raw, RiskRules.from_dict, actor,
                                            prepare=_stamped)
    except InvalidRiskRules as exc:
        raise ApiError(422, "validation_failed", "the risk rules are invalid", {exc.field or "body": [exc.message]}) from exc
    except versioned_settings.VersionUsed as exc:
        raise ApiError(409, "version_exists", f"risk rules version {exc.version!r} was used before: give a new one") from exc
    except versioned_settings.Replaced as exc:
        raise ApiError(409, "replaced_meanwhile", str(exc)) from exc
    return jsonify({"version": stored["version"], "rules": stored}), 200


def _stamped(new: dict, current: dict | None, actor: str, at: str) -> dict:
    """Blacklist entries keep who added them and when from the version in force; an entry new
    here (or sent without them) is stamped with the caller and now."""
    before = {(kind, blacklist_key(kind, e["value"])): e for kind in BLACKLIST_KINDS
              for e in ((current or {}).get("blacklist") or {}).get(kind, [])}
    for kind in BLACKLIST_KINDS:
        for entry in new["blacklist"][kind]:
            old = before.get((kind, blacklist_key(kind, entry["value"])))
            entry["added_by"] = (old or {}).get("added_by") or entry.get("added_by") or actor
            entry["added_at"] = (old or {}).get("added_at") or entry.get("added_at") or at
    return new
