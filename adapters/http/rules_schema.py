"""The routing rules' JSON form (``PUT /v1/routing/rules``) as a JSON Schema for the OpenAPI
document: what ``router.rules.RoutingRules.from_dict`` reads (router/rules.py, router/freight.py).

Rules the schema cannot state are the API's 422 alone: strategy names are unique, a strategy's
``min_order_value`` is at most its ``max_order_value``, one shipping template per owner (warehouse,
or merchant without a warehouse), and carrier rate cards are keyed by a carrier id, not empty.
"""
from __future__ import annotations

from router.freight import BASES
from router.rules import (ACTIONS, ALL_FILTERS, CARRIER_CRITERIA, CRITERIA, DISTANCE_MODES, FALLBACKS,
                          SCORING_MODES)
from router.statuses import ShippingMethod

TEXT = {"type": "string", "minLength": 1}
AMOUNT = {"description": "a decimal amount, at least 0: a decimal string or a number", "anyOf": [
    {"type": "string", "pattern": r"^[0-9]{1,9}(?:\.[0-9]{1,4})?$"}, {"type": "number", "minimum": 0}]}
POSITIVE = {"description": "a decimal amount above 0: a decimal string or a number", "anyOf": [
    {"type": "string", "pattern": r"^(?:[1-9][0-9]{0,8}(?:\.[0-9]{1,4})?|0\.[0-9]{0,3}[1-9])$"},
    {"type": "number", "minimum": 0, "exclusiveMinimum": True}]}
NUMBER = {"type": "number", "minimum": 0}


def _nullable(schema: dict) -> dict:
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "string", "nullable": True, "enum": [None]}]}
    return {**schema, "nullable": True}


def _texts(choices=None, unique: bool = True) -> dict:
    item = {"type": "string", "enum": list(choices)} if choices is not None else TEXT
    return {"type": "array", "items": item, **({"uniqueItems": True} if unique else {})}


def _object(properties: dict, required: tuple[str, ...] = ()) -> dict:
    out = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


CONDITIONS = _object({
    "channels": _texts(), "merchants": _texts(), "destinations": _texts(unique=False),
    "min_order_value": _nullable(AMOUNT), "max_order_value": _nullable(AMOUNT),
    "customer_tiers": _texts(), "shipping_methods": _texts([m.value for m in ShippingMethod]),
    "b2b": {"type": "boolean", "nullable": True}})

_SCORING_COMMON = {"tie_breakers": _texts(CRITERIA), "distance": {"type": "string", "enum": list(DISTANCE_MODES)}}
_WEIGHTS = {criterion: NUMBER for criterion in CRITERIA}
SCORING = {
    "description": "tie_breakers (the default mode) takes no weights; weighted needs one above 0",
    "oneOf": [
        _object({"mode": {"type": "string", "enum": [m for m in SCORING_MODES if m != "weighted"]},
                 "weights": {"type": "object", "maxProperties": 0}, **_SCORING_COMMON}),
        _object({"mode": {"type": "string", "enum": ["weighted"]},
                 "weights": {**_object(_WEIGHTS), "minProperties": 1,
                             "anyOf": [{"required": [c], "properties": {c: {"type": "number", "minimum": 0,
                                                                          "exclusiveMinimum": True}}}
                                       for c in CRITERIA]},
                 **_SCORING_COMMON}, required=("mode", "weights")),
    ]}

STRATEGY = _object({
    "name": TEXT, "when": CONDITIONS, "action": {"type": "string", "enum": list(ACTIONS)},
    "filters": _texts(ALL_FILTERS), "scoring": SCORING,
    "split": _object({"allow": {"type": "boolean"}, "allow_line_split": {"type": "boolean"},
                      "max_fulfilments": {"type": "integer", "minimum": 1, "nullable": True},
                      "min_shipment_value": _nullable(AMOUNT)}),
    "fallback": {"type": "string", "enum": list(FALLBACKS)}, "hold_reason": _nullable(TEXT),
    "exclude_warehouses": _texts()}, required=("name",))

RATE = _object({"regions": _texts(unique=False), "first_units": AMOUNT, "first_fee": AMOUNT,
                "additional_units": POSITIVE, "additional_fee": AMOUNT, "free_above": _nullable(AMOUNT)})


def _template(required: tuple[str, ...]) -> dict:
    return _object({"id": TEXT, "merchant": _nullable(TEXT), "warehouse": _nullable(TEXT),
                    "basis": {"type": "string", "enum": list(BASES)},
                    "rates": {"type": "array", "items": RATE, "minItems": 1},
                    "remote_regions": _texts(unique=False), "remote_surcharge": AMOUNT}, required=required)


RULES_SCHEMA = {
    **_object({
        "version": {**TEXT, "description": "a version not used before (else 409)"},
        "strategies": {"type": "array", "items": STRATEGY, "minItems": 1,
                       "description": "the first whose conditions match routes a merchant's sub-order; names unique"},
        "distances": _object({"table": {"type": "object", "additionalProperties": {
                                  "type": "object", "additionalProperties": NUMBER}},
                              "unknown_km": NUMBER}),
        "carrier_preference": _texts(CARRIER_CRITERIA),
        "shipping_templates": {"type": "array", "items": _template(("id", "rates")),
                               "description": "one per owner (a warehouse, or a merchant without one)"},
        "carrier_rates": {"type": "object", "additionalProperties": _template(("rates",)),
                          "description": "rate cards by carrier id (not empty)"},
    }, required=("version", "strategies")),
    "description": "Routing rules (examples/seed.yaml's routing_rules); see router/rules.py",
}
