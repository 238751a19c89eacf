"""Sourcing one merchant's sub-order under one strategy: filter, score, place the units.

Used by ``router.routing``; pure. The caller owns ``consumed`` (units already taken from each
``(sku, warehouse_id)`` by earlier sub-orders of the same order) and commits ``Placement.taken``
only when it accepts the placement.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from router import geo
from router.freight import shipment_fee
from router.model import Address, Network, OrderLine, StockLevel, Warehouse
from router.rules import MANDATORY_FILTERS, RoutingRules, Strategy

DEFAULT_WEIGHT_GRAMS = 500
DEFAULT_PRODUCT_TYPE = "general"


@dataclass
class Context:
    """What every sub-order of one order shares."""

    address: Address
    destination: str
    stock: Mapping[tuple[str, str], StockLevel]
    network: Network
    rules: RoutingRules
    exclude: frozenset[str]
    consumed: dict[tuple[str, str], int] = field(default_factory=dict)
    distances: dict[tuple[str, str], float] = field(default_factory=dict)


@dataclass
class Placement:
    """Where one sub-order's units go under one strategy."""

    parts: dict[str, dict[int, int]]  # warehouse_id -> {line_no: quantity}, in pick order
    shortfall: dict[int, int]  # line_no -> units not placed
    taken: dict[tuple[str, str], int]  # (sku, warehouse_id) -> units
    explanation: dict


def _filter_tests(filters: tuple[str, ...], ctx: Context, strategy: Strategy,
                  types: set[str]) -> list[tuple[str, Callable[[Warehouse], bool] | None]]:
    """(filter name, test that is True when the filter removes the warehouse) in rule order;
    the stock filter's test is None: it needs the usable quantities, computed only then."""
    excluded = ctx.exclude | strategy.exclude_warehouses
    destination = ctx.destination
    tests: dict[str, Callable[[Warehouse], bool]] = {
        "active": lambda w: not w.active,
        "not_excluded": lambda w: w.id in excluded,
        "serves_region": lambda w: not geo.covers(w.serves_regions, destination),
        "product_type": lambda w: bool(w.product_types) and not (types & w.product_types),
        "capacity": lambda w: w.daily_capacity is not None and w.orders_today >= w.daily_capacity,
    }
    return [(name, tests.get(name)) for name in filters]


def _value(lines: list[OrderLine], qty_by_line: Mapping[int, int]) -> Decimal:
    return sum((ln.unit_price * qty_by_line.get(ln.line_no, 0) for ln in lines), Decimal("0"))


def part_freight(ctx: Context, merchant_id: str, warehouse_id: str, lines: list[OrderLine],
                 qty_by_line: Mapping[int, int]) -> Decimal:
    """Customer freight of one shipment from the warehouse's (or merchant's) template."""
    skus = ctx.network.skus
    weight = pieces = 0
    for ln in lines:
        q = qty_by_line.get(ln.line_no, 0)
        if q:
            sku = skus.get(ln.sku)
            weight += q * (sku.weight_grams if sku else DEFAULT_WEIGHT_GRAMS)
            pieces += q
    template = ctx.rules.freight.template_for(warehouse_id, merchant_id)
    return shipment_fee(template, ctx.destination, weight, pieces, _value(lines, qty_by_line))


def _distance(ctx: Context, w: Warehouse, strategy: Strategy) -> float:
    """Kilometres from the warehouse to the destination, rounded to metres, memoised per order."""
    key = (strategy.scoring.distance, w.id)
    km = ctx.distances.get(key)
    if km is None:
        if strategy.scoring.distance == "region_table":
            km = geo.table_km(ctx.rules.region_distances, geo.warehouse_key(w), ctx.destination,
                              ctx.rules.unknown_distance_km)
        else:
            km = geo.distance_km(w, ctx.address)
        km = ctx.distances[key] = round(km, 3)
    return km


def _rank_keys(cands: list[dict], strategy: Strategy) -> dict[str, tuple]:
    """warehouse_id -> sort key (lower is better); adds "score" to each candidate for weighted mode."""
    scoring = strategy.scoring
    if not cands:
        return {}
    if scoring.mode == "weighted":
        spans = {}
        for crit in scoring.weights:
            vals = [float(c["criteria"][crit]) for c in cands]
            spans[crit] = (min(vals), max(vals))
        keys = {}
        for c in cands:
            total = 0.0
            for crit, weight in scoring.weights.items():
                lo, hi = spans[crit]
                x = 0.0 if hi == lo else (float(c["criteria"][crit]) - lo) / (hi - lo)
                total += weight * (1.0 - x if crit == "stock" else x)
            c["score"] = round(total, 6)
            keys[c["warehouse_id"]] = (c["score"], c["warehouse_id"])
        return keys
    keys = {}
    for c in cands:
        crit = c["criteria"]
        key = []
        for name in scoring.tie_breakers:
            v = crit[name]
            key.append(-v if name == "stock" else (Decimal(v) if name == "freight" else v))
        keys[c["warehouse_id"]] = (*key, c["warehouse_id"])
    return keys


@dataclass(frozen=True)
class _Lines:
    """One sub-order's lines as placing reads them, each list in line order."""

    skus: list[str]
    types: list[str]  # product types
    weights: list[int]  # grams per unit
    quantities: list[int]
    shared_sku: bool  # two lines of one SKU, which share a warehouse's stock

    @classmethod
    def of(cls, lines: list[OrderLine], ctx: Context) -> _Lines:
        skus = ctx.network.skus
        line_skus = [ln.sku for ln in lines]
        return cls(
            skus=line_skus,
            types=[skus[ln.sku].product_type if ln.sku in skus else DEFAULT_PRODUCT_TYPE for ln in lines],
            weights=[skus[ln.sku].weight_grams if ln.sku in skus else DEFAULT_WEIGHT_GRAMS for ln in lines],
            quantities=[ln.quantity for ln in lines],
            shared_sku=len(set(line_skus)) < len(line_skus),
        )


def place(merchant_id: str, lines: list[OrderLine], strategy: Strategy, ctx: Context) -> Placement:
    """Filter, score and place ``lines`` (all of one merchant) under ``strategy``.

    Returns the parts (at most ``strategy.max_parts``), the shortfall, the stock taken and the
    explanation of this attempt; never raises for lack of stock (that is a shortfall).
    """
    filters = tuple(f for f in strategy.filters if f != "merchant")
    filters = filters + tuple(f for f in MANDATORY_FILTERS if f not in filters and f != "merchant")
    facts = _Lines.of(lines, ctx)
    quantities = facts.quantities
    with_freight = "freight" in strategy.scoring.tie_breakers or "freight" in strategy.scoring.weights
    freight_cache: dict[tuple, str] = {}
    tests = _filter_tests(filters, ctx, strategy, set(facts.types))
    cands: list[dict] = []
    usable_by_wh: dict[str, list[int]] = {}
    removed: list[dict] = []
    for w in ctx.network.warehouses:
        if merchant_id not in w.merchant_ids:  # the merchant filter: not even a candidate
            continue
        wid = w.id
        reason, usable = _removed_by(w, tests, facts, ctx)
        if reason is not None:
            removed.append({"warehouse_id": wid, "removed_by": reason})
            continue
        usable_by_wh[wid] = usable
        cover = [u if u < q else q for u, q in zip(usable, quantities, strict=True)]
        criteria: dict[str, object] = {"rank": w.rank, "distance": _distance(ctx, w, strategy), "stock": sum(usable)}
        if with_freight:
            criteria["freight"] = _cover_freight(ctx, wid, merchant_id, lines, facts, cover, freight_cache)
        cands.append({"warehouse_id": wid, "criteria": criteria, "covers_all": cover == quantities})
    keys = _rank_keys(cands, strategy)
    parts = _place_units(lines, cands, keys, usable_by_wh, strategy)
    parts = _enforce_min_value(parts, lines, strategy)
    taken, shortfall = _taken(parts, lines)
    cands.sort(key=lambda c: keys[c["warehouse_id"]])
    explanation = {
        "strategy": strategy.name,
        **_listed(cands, removed, parts),
        "parts": [{"warehouse_id": wh, "lines": {str(n): q for n, q in qty.items()}}
                  for wh, qty in parts.items()],
        "shortfall": {str(n): q for n, q in shortfall.items()},
    }
    return Placement(parts=parts, shortfall=shortfall, taken=taken, explanation=explanation)


def _removed_by(w: Warehouse, tests: list[tuple[str, Callable[[Warehouse], bool] | None]], facts: _Lines,
                ctx: Context) -> tuple[str | None, list[int]]:
    """The first filter, in rule order, that removes ``w`` (None when none does), and the units of
    each line ``w`` can give (computed by the stock filter, which every rule applies)."""
    usable: list[int] = []
    for name, test in tests:
        if test is None:  # the stock filter
            usable = _usable_stock(w, facts, ctx)
            if not any(usable):
                return name, usable
        elif test(w):
            return name, usable
    return None, usable


def _usable_stock(w: Warehouse, facts: _Lines, ctx: Context) -> list[int]:
    """Units of each line ``w`` can give: available less safety stock and less what earlier
    sub-orders took; none of a product type it does not carry."""
    wid, carried = w.id, w.product_types
    stock_get, consumed = ctx.stock.get, ctx.consumed
    usable = []
    for sku, t in zip(facts.skus, facts.types, strict=True):
        level = stock_get((sku, wid))
        if level is None or (carried and t not in carried):
            usable.append(0)
            continue
        u = level.available - level.safety_stock - (consumed.get((sku, wid), 0) if consumed else 0)
        usable.append(u if u > 0 else 0)
    if facts.shared_sku:  # two lines of one SKU share the warehouse's stock: cap in line order
        seen: dict[str, int] = {}
        for i, sku in enumerate(facts.skus):
            if sku in seen:
                usable[i] = max(0, usable[i] - seen[sku])
            seen[sku] = seen.get(sku, 0) + min(usable[i], facts.quantities[i])
    return usable


def _cover_freight(ctx: Context, wid: str, merchant_id: str, lines: list[OrderLine], facts: _Lines,
                   cover: list[int], cache: dict[tuple, str]) -> str:
    """The freight criterion: customer freight of shipping ``cover`` (units per line) from ``wid``,
    memoised per freight template and cover."""
    template = ctx.rules.freight.template_for(wid, merchant_id)
    key = (id(template), tuple(cover))
    if key not in cache:
        value = sum((ln.unit_price * c for ln, c in zip(lines, cover, strict=True) if c), Decimal("0"))
        cache[key] = str(shipment_fee(template, ctx.destination,
                                      sum(c * g for c, g in zip(cover, facts.weights, strict=True)),
                                      sum(cover), value))
    return cache[key]


def _taken(parts: dict[str, dict[int, int]],
           lines: list[OrderLine]) -> tuple[dict[tuple[str, str], int], dict[int, int]]:
    """The stock the parts take, by (sku, warehouse_id), and the units of each line they leave
    unplaced (the shortfall, only lines short of something)."""
    need = {ln.line_no: ln.quantity for ln in lines}
    placed: dict[int, int] = {}
    taken: dict[tuple[str, str], int] = {}
    sku_of = {ln.line_no: ln.sku for ln in lines}
    for wh, qty in parts.items():
        for n, q in qty.items():
            placed[n] = placed.get(n, 0) + q
            taken[(sku_of[n], wh)] = taken.get((sku_of[n], wh), 0) + q
    shortfall = {n: need[n] - placed.get(n, 0) for n in need if need[n] > placed.get(n, 0)}
    return taken, shortfall


EXPLAINED = 10  # candidates and removed warehouses an attempt lists; the rest are counted


def _listed(cands: list[dict], removed: list[dict], parts: Mapping[str, object]) -> dict:
    """What an attempt's explanation lists: the ``EXPLAINED`` best candidates (and any other that
    got a part), the first ``EXPLAINED`` removed warehouses, and how many of each were left out
    (by rule, for the removed). The explanation is stored in the order and read with it on every
    change: over 1,000 warehouses listing them all made an order 240 KB."""
    listed = cands[:EXPLAINED] + [c for c in cands[EXPLAINED:] if c["warehouse_id"] in parts]
    out: dict = {"removed": removed[:EXPLAINED], "candidates": listed}
    if len(cands) > len(listed):
        out["candidates_not_listed"] = len(cands) - len(listed)
    if len(removed) > EXPLAINED:
        out["removed_not_listed"] = dict(Counter(r["removed_by"] for r in removed[EXPLAINED:]))
    return out


def _place_units(lines: list[OrderLine], cands: list[dict], keys: dict[str, tuple],
                 usable_by_wh: dict[str, list[int]], strategy: Strategy) -> dict[str, dict[int, int]]:
    """One warehouse for everything if any can; else greedy, most units first (fewest parts)."""
    full = [c["warehouse_id"] for c in cands if c["covers_all"]]
    if full:
        best = min(full, key=keys.__getitem__)
        return {best: {ln.line_no: ln.quantity for ln in lines}}
    max_parts = strategy.max_parts
    floor = strategy.min_shipment_value
    remaining = [ln.quantity for ln in lines]
    left = {wh: list(u) for wh, u in usable_by_wh.items()}
    parts: dict[str, dict[int, int]] = {}
    order = sorted(left, key=keys.__getitem__)  # best first, so max() below keeps the best on ties
    for strict in ((True, False) if not strategy.allow_line_split else (False,)):
        while any(remaining):
            best_wh, best_take, best_units = None, None, 0
            for wh in order:
                if max_parts is not None and len(parts) >= max_parts and wh not in parts:
                    continue
                take = _contribution(lines, remaining, left[wh], strict, strategy.allow_line_split)
                units = sum(take)
                if floor is not None and wh not in parts and units > best_units and \
                        sum((ln.unit_price * q for ln, q in zip(lines, take, strict=True)), Decimal("0")) < floor:
                    continue  # a part of a split below the minimum shipment value
                if units > best_units:
                    best_wh, best_take, best_units = wh, take, units
            if best_wh is None or best_take is None:  # both set together: nothing more fits
                break
            got = parts.setdefault(best_wh, {})
            for i, q in enumerate(best_take):
                if q:
                    n = lines[i].line_no
                    got[n] = got.get(n, 0) + q
                    remaining[i] -= q
                    left[best_wh][i] -= q
    return parts


def _contribution(lines: list[OrderLine], remaining: list[int], usable: list[int], strict: bool,
                  allow_line_split: bool) -> list[int]:
    take = []
    for i, ln in enumerate(lines):
        r, u = remaining[i], usable[i]
        if r == 0 or u == 0:
            take.append(0)
        elif allow_line_split:
            take.append(min(r, u))
        elif r != ln.quantity:  # already (partly) placed elsewhere: no second warehouse
            take.append(0)
        elif strict:
            take.append(r if u >= r else 0)
        else:
            take.append(min(r, u))
    return take


def _enforce_min_value(parts: dict[str, dict[int, int]], lines: list[OrderLine],
                       strategy: Strategy) -> dict[str, dict[int, int]]:
    """Drop parts below ``min_shipment_value`` unless one part carries the whole sub-order."""
    floor = strategy.min_shipment_value
    if floor is None or not parts:
        return parts
    whole = len(parts) == 1 and all(
        next(iter(parts.values())).get(ln.line_no, 0) == ln.quantity for ln in lines)
    if whole:
        return parts
    return {wh: qty for wh, qty in parts.items() if _value(lines, qty) >= floor}
