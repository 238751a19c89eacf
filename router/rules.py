"""Sourcing rules as data: which strategy routes a merchant's sub-order, and how.

A ``RoutingRules`` holds an ordered list of ``Strategy``; for each merchant sub-order the
first strategy whose ``Conditions`` match is used. A strategy says which filters remove
warehouses, how the survivors are scored, how far the sub-order may be split, and what to do
when stock falls short (``fallback``). ``RoutingRules.from_dict`` reads the plain-dict form
(loaded from YAML or JSON) and raises ``InvalidRoutingRules`` naming the bad field;
``to_dict`` writes it back (Decimals as strings), so a decision can record and replay it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from router import rules_fields as f
from router.errors import InvalidRoutingRules
from router.freight import FreightTable, freight_table_from_dict, freight_table_to_dict
from router.statuses import ShippingMethod

# Filters that are always applied, listed or not: routing to a warehouse that is not the
# merchant's, inactive, excluded by the caller or without stock would be wrong, not a choice.
MANDATORY_FILTERS = ("merchant", "active", "not_excluded", "stock")
OPTIONAL_FILTERS = ("serves_region", "product_type", "capacity")
ALL_FILTERS = ("merchant", "active", "not_excluded", "serves_region", "product_type", "capacity", "stock")

CRITERIA = ("rank", "distance", "stock", "freight")
SCORING_MODES = ("tie_breakers", "weighted")
DISTANCE_MODES = ("great_circle", "region_table")
FALLBACKS = ("backorder", "next_strategy", "hold")
ACTIONS = ("route", "hold")
CARRIER_CRITERIA = ("rank", "cost")


@dataclass(frozen=True)
class Conditions:
    """When a strategy applies. Empty sets and ``None`` match everything.

    ``min_order_value`` / ``max_order_value`` (inclusive) compare the merchant sub-order's
    goods after line discounts; ``destinations`` are region codes, a country code matching all
    its regions.
    """

    channels: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()
    destinations: frozenset[str] = frozenset()
    min_order_value: Decimal | None = None
    max_order_value: Decimal | None = None
    customer_tiers: frozenset[str] = frozenset()
    shipping_methods: frozenset[str] = frozenset()
    b2b: bool | None = None


@dataclass(frozen=True)
class Scoring:
    """How surviving warehouses are ranked; lower scores win, the warehouse id breaks ties.

    ``tie_breakers`` mode compares criteria in order; ``weighted`` mode sums
    ``weight * criterion`` with each criterion scaled to 0..1 over the candidates (``stock``
    inverted: more stock is better).
    """

    mode: str = "tie_breakers"
    tie_breakers: tuple[str, ...] = ("rank", "distance")
    weights: dict[str, float] = field(default_factory=dict)
    distance: str = "great_circle"


@dataclass(frozen=True)
class Strategy:
    """One way of sourcing a merchant sub-order. See the module docstring."""

    name: str = "default"
    when: Conditions = field(default_factory=Conditions)
    action: str = "route"  # "hold": hold every matching order with hold_reason
    filters: tuple[str, ...] = ALL_FILTERS
    scoring: Scoring = field(default_factory=Scoring)
    allow_split: bool = True  # across warehouses of one merchant
    allow_line_split: bool = True  # one line's units across warehouses
    max_fulfilments: int | None = None  # per merchant sub-order
    min_shipment_value: Decimal | None = None  # goods value of each fulfilment of a split
    fallback: str = "backorder"
    hold_reason: str | None = None
    exclude_warehouses: frozenset[str] = frozenset()

    @property
    def max_parts(self) -> int | None:
        """The cap on fulfilments per merchant that ``allow_split`` and ``max_fulfilments`` give."""
        if not self.allow_split:
            return 1
        return self.max_fulfilments


@dataclass(frozen=True)
class RoutingRules:
    """A versioned set of strategies plus the tables they use (distances, freight, carriers)."""

    version: str = "builtin-1"
    strategies: tuple[Strategy, ...] = (Strategy(),)
    region_distances: dict[str, dict[str, float]] = field(default_factory=dict)
    unknown_distance_km: float = 20000.0
    carrier_preference: tuple[str, ...] = ("rank", "cost")
    freight: FreightTable = field(default_factory=FreightTable)


    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RoutingRules:
        """Read and validate the plain-dict form (see ``examples/seed.yaml``).

        Raises ``InvalidRoutingRules(field, message)`` with a dotted field path for the first
        problem found: unknown fields, wrong types, unknown criteria, filters or fallbacks,
        weights without a weighted mode, duplicate strategy names, a missing ``version``.
        """
        raw = f.mapping(raw, "", ("version", "strategies", "distances", "carrier_preference",
                                  "shipping_templates", "carrier_rates"))
        if "version" not in raw:
            raise InvalidRoutingRules("version", "is required (rules are versioned)")
        strategies = raw.get("strategies")
        if not isinstance(strategies, list) or not strategies:
            raise InvalidRoutingRules("strategies", "expected a non-empty list of strategies")
        parsed = tuple(_strategy(s, f"strategies[{i}]") for i, s in enumerate(strategies))
        names = [s.name for s in parsed]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise InvalidRoutingRules(f"strategies[{i}].name", f"duplicate strategy name {name!r}")
        dist = f.mapping(raw.get("distances", {}), "distances", ("table", "unknown_km"))
        table = f.mapping(dist.get("table", {}), "distances.table", dist.get("table", {}) or ())
        region_distances = {}
        for origin, row in table.items():
            row = f.mapping(row, f"distances.table.{origin}", row if isinstance(row, Mapping) else ())
            region_distances[str(origin).upper()] = {
                str(d).upper(): f.number(km, f"distances.table.{origin}.{d}") for d, km in row.items()}
        return cls(
            version=f.text(raw["version"], "version"),
            strategies=parsed,
            region_distances=region_distances,
            unknown_distance_km=f.number(dist.get("unknown_km", 20000.0), "distances.unknown_km"),
            carrier_preference=f.text_list(raw.get("carrier_preference", ["rank", "cost"]),
                                           "carrier_preference", CARRIER_CRITERIA),
            freight=freight_table_from_dict(raw.get("shipping_templates", []), raw.get("carrier_rates", {})))

    def to_dict(self) -> dict:
        """The plain-dict form, JSON-serialisable (Decimals as strings); ``from_dict`` reads it back."""
        return {
            "version": self.version,
            "strategies": [_strategy_to_dict(s) for s in self.strategies],
            "distances": {"table": {o: dict(sorted(row.items())) for o, row in sorted(self.region_distances.items())},
                          "unknown_km": self.unknown_distance_km},
            "carrier_preference": list(self.carrier_preference),
            **freight_table_to_dict(self.freight),
        }


DEFAULT_RULES = RoutingRules()


def _conditions(raw: Any, path: str) -> Conditions:
    raw = f.mapping(raw, path, ("channels", "merchants", "destinations", "min_order_value", "max_order_value",
                                "customer_tiers", "shipping_methods", "b2b"))
    def opt_dec(key: str) -> Decimal | None:
        return None if raw.get(key) is None else f.decimal(raw[key], f"{path}.{key}")
    cond = Conditions(
        channels=frozenset(f.text_list(raw.get("channels", []), f"{path}.channels")),
        merchants=frozenset(f.text_list(raw.get("merchants", []), f"{path}.merchants")),
        destinations=f.upper_list(raw.get("destinations", []), f"{path}.destinations"),
        min_order_value=opt_dec("min_order_value"),
        max_order_value=opt_dec("max_order_value"),
        customer_tiers=frozenset(f.text_list(raw.get("customer_tiers", []), f"{path}.customer_tiers")),
        shipping_methods=frozenset(f.text_list(raw.get("shipping_methods", []), f"{path}.shipping_methods",
                                               [m.value for m in ShippingMethod])),
        b2b=None if raw.get("b2b") is None else f.boolean(raw["b2b"], f"{path}.b2b"))
    if (cond.min_order_value is not None and cond.max_order_value is not None
            and cond.min_order_value > cond.max_order_value):
        raise InvalidRoutingRules(f"{path}.max_order_value", "is below min_order_value")
    return cond


def _scoring(raw: Any, path: str) -> Scoring:
    raw = f.mapping(raw, path, ("mode", "tie_breakers", "weights", "distance"))
    mode = f.choice(raw.get("mode", "tie_breakers"), f"{path}.mode", SCORING_MODES)
    weights_raw = f.mapping(raw.get("weights", {}), f"{path}.weights", CRITERIA)
    weights = {k: f.number(v, f"{path}.weights.{k}") for k, v in weights_raw.items()}
    if mode == "weighted" and not any(weights.values()):
        raise InvalidRoutingRules(f"{path}.weights", "weighted scoring needs at least one non-zero weight")
    if mode == "tie_breakers" and weights:
        raise InvalidRoutingRules(f"{path}.weights", "weights are only used with mode: weighted")
    return Scoring(mode=mode,
                   tie_breakers=f.text_list(raw.get("tie_breakers", ["rank", "distance"]), f"{path}.tie_breakers",
                                            CRITERIA),
                   weights=weights,
                   distance=f.choice(raw.get("distance", "great_circle"), f"{path}.distance", DISTANCE_MODES))


def _strategy(raw: Any, path: str) -> Strategy:
    raw = f.mapping(raw, path, ("name", "when", "action", "filters", "scoring", "split", "fallback",
                                "hold_reason", "exclude_warehouses"))
    if "name" not in raw:
        raise InvalidRoutingRules(f"{path}.name", "is required")
    split = f.mapping(raw.get("split", {}), f"{path}.split",
                      ("allow", "allow_line_split", "max_fulfilments", "min_shipment_value"))
    filters = f.text_list(raw.get("filters", list(ALL_FILTERS)), f"{path}.filters", ALL_FILTERS)
    strategy = Strategy(
        name=f.text(raw["name"], f"{path}.name"),
        when=_conditions(raw.get("when", {}), f"{path}.when"),
        action=f.choice(raw.get("action", "route"), f"{path}.action", ACTIONS),
        filters=filters,
        scoring=_scoring(raw.get("scoring", {}), f"{path}.scoring"),
        allow_split=f.boolean(split.get("allow", True), f"{path}.split.allow"),
        allow_line_split=f.boolean(split.get("allow_line_split", True), f"{path}.split.allow_line_split"),
        max_fulfilments=(None if split.get("max_fulfilments") is None
                         else f.integer(split["max_fulfilments"], f"{path}.split.max_fulfilments", minimum=1)),
        min_shipment_value=(None if split.get("min_shipment_value") is None
                            else f.decimal(split["min_shipment_value"], f"{path}.split.min_shipment_value")),
        fallback=f.choice(raw.get("fallback", "backorder"), f"{path}.fallback", FALLBACKS),
        hold_reason=None if raw.get("hold_reason") is None else f.text(raw["hold_reason"], f"{path}.hold_reason"),
        exclude_warehouses=frozenset(f.text_list(raw.get("exclude_warehouses", []), f"{path}.exclude_warehouses")))
    return strategy


def _strategy_to_dict(s: Strategy) -> dict:
    w = s.when
    return {
        "name": s.name,
        "when": {"channels": sorted(w.channels), "merchants": sorted(w.merchants),
                 "destinations": sorted(w.destinations), "min_order_value": f.dec_str(w.min_order_value),
                 "max_order_value": f.dec_str(w.max_order_value), "customer_tiers": sorted(w.customer_tiers),
                 "shipping_methods": sorted(w.shipping_methods), "b2b": w.b2b},
        "action": s.action,
        "filters": list(s.filters),
        "scoring": {"mode": s.scoring.mode, "tie_breakers": list(s.scoring.tie_breakers),
                    "weights": dict(s.scoring.weights), "distance": s.scoring.distance},
        "split": {"allow": s.allow_split, "allow_line_split": s.allow_line_split,
                  "max_fulfilments": s.max_fulfilments, "min_shipment_value": f.dec_str(s.min_shipment_value)},
        "fallback": s.fallback,
        "hold_reason": s.hold_reason,
        "exclude_warehouses": sorted(s.exclude_warehouses),
    }
