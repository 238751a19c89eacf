"""Placing a routing decision in the world: its stock holds and its warehouses' daily capacity,
taken together or not at all. Shared by the first routing, backorder retries and re-routing.

Capacity: a warehouse with a ``daily_capacity`` takes that many fulfilments a (UTC) day. Routing
plans with today's counts (:func:`with_capacity`: the capacity filter removes a full warehouse),
then counts each planned fulfilment with one guarded increment (documents/capacity.py); a
warehouse that filled up meanwhile fails the placement, which is planned again. A fulfilment
cancelled before it ships gives its count back (:func:`release_capacity`).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from documents import capacity, reference, reservations
from documents.reservations import Hold
from router.model import Network, PlannedFulfilment


@dataclass
class Placed:
    """What a placement took: its holds, and the (warehouse, fulfilment) counts it made itself."""

    holds: list[Hold] = field(default_factory=list)
    counted: list[tuple[str, str]] = field(default_factory=list)


def with_capacity(network: Network, now: datetime, merchant_ids: Iterable[str] | None = None) -> Network:
    """``network`` with today's ``orders_today`` for each warehouse that has a daily capacity (of
    ``merchant_ids`` when given: the only ones an order can use)."""
    merchants = None if merchant_ids is None else frozenset(merchant_ids)
    limited = [w.id for w in network.warehouses
               if w.daily_capacity is not None and (merchants is None or w.merchant_ids & merchants)]
    if not limited:
        return network
    today = capacity.counts(limited, capacity.day_of(now))
    counted = set(limited)
    return replace(network, warehouses=tuple(
        replace(w, orders_today=today.get(w.id, 0)) if w.id in counted else w for w in network.warehouses))


def place(order_id: str, fulfilments: tuple[PlannedFulfilment, ...], existing: list[Hold], network: Network,
          now: datetime, tag: str | None = None) -> Placed | None:
    """Hold the stock of ``fulfilments`` (reusing this order's ``existing`` holds that match,
    releasing those that do not) and count them against their warehouses' capacity today. None
    when stock or capacity ran out meanwhile: then nothing this call placed is kept."""
    wanted = reservations.holds_for(order_id, fulfilments, tag)
    ok, _ = reservations.apply(wanted, existing)
    if not ok:
        return None
    counted = take_capacity(fulfilments, network, now)
    if counted is None:
        reservations.release_all(wanted)
        return None
    return Placed(wanted, counted)


def take_capacity(fulfilments: Iterable[PlannedFulfilment], network: Network,
                  now: datetime) -> list[tuple[str, str]] | None:
    """Count each fulfilment against its warehouse's capacity today. Returns the counts made now
    (a fulfilment already counted is not among them), or None when a warehouse is full: the
    counts this call made are given back."""
    limit_of = {w.id: w.daily_capacity for w in network.warehouses if w.daily_capacity is not None}
    day = capacity.day_of(now)
    made: list[tuple[str, str]] = []
    for f in fulfilments:
        limit = limit_of.get(f.warehouse_id)
        if limit is None:
            continue
        outcome = capacity.take(f.warehouse_id, day, f.fulfilment_id, limit)
        if outcome == capacity.FULL:
            give_back(made, now)
            return None
        if outcome == capacity.COUNTED:
            made.append((f.warehouse_id, f.fulfilment_id))
    return made


def give_back(counted: Iterable[tuple[str, str]], now: datetime) -> None:
    """Give back capacity counts (``(warehouse_id, fulfilment_id)``)."""
    for warehouse_id, fulfilment_id in counted:
        capacity.release(warehouse_id, fulfilment_id, now)


def release_capacity(doc: dict, statuses: frozenset[str], now: datetime) -> int:
    """Give back the capacity the order's fulfilments in ``statuses`` (cancelled ones) took, in
    warehouses that have a daily capacity. Idempotent. Returns how many counts went back."""
    limited = {w.id for w in reference.load_network().warehouses if w.daily_capacity is not None}
    return sum(capacity.release(f["warehouse_id"], f["id"], now) for f in doc.get("fulfilments", [])
               if f["status"] in statuses and f["warehouse_id"] in limited)


def undo(placed: Placed, keep_holds: list[Hold], keep: Iterable[tuple[str, str]], now: datetime) -> None:
    """A concurrent run of the same step saved first: release what this run placed beyond what
    the saved order holds (``keep_holds``) and counts (``keep``: its (warehouse, fulfilment)
    pairs). Nothing is placed here."""
    held = set(keep_holds)
    reservations.release_all([h for h in placed.holds if h not in held])
    kept = set(keep)
    give_back([c for c in placed.counted if c not in kept], now)
