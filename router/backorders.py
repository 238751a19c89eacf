"""Backordered units: what routing could not place anywhere, waiting for stock, with their money.

An order's backorder is one :class:`Backorder` per order line: units of that line in no
fulfilment, the share of the order's money they carry, and since when they wait. The order's
money then always adds up: its fulfilments, plus its backorder, plus the backordered units that
were cancelled, make the order, to the cent.

- Routing leaves units unplaced: :func:`from_decision` makes the entries, the money the order's
  fulfilments do not carry split over them by goods value.
- A retry finds stock (on a timer, or as soon as stock of the SKU arrives): :func:`take` moves
  the units it placed, with their money by units, into the new fulfilments.
- Units that waited past their merchant's deadline are cancelled (:func:`expired`), their money
  given back.

Pure: no clock (``now`` is passed), no I/O. ``to_dict`` / :func:`from_dict` are the stored form.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal

from router.model import FulfilmentLine
from router.money import Amounts, split_amounts


@dataclass(frozen=True)
class Backorder:
    """Units of one order line waiting for stock, and the money they carry."""

    line_no: int
    sku: str
    quantity: int
    amounts: Amounts
    since: datetime

    def to_dict(self) -> dict:
        return {"line_no": self.line_no, "sku": self.sku, "quantity": self.quantity,
                "amounts": self.amounts.to_dict(), "since": self.since}


def amounts_from(raw: Mapping | None) -> Amounts:
    """:class:`Amounts` from its stored dict (decimal strings; a field not stored is zero)."""
    raw = raw or {}
    return Amounts(**{f.name: Decimal(str(raw.get(f.name) or "0")) for f in fields(Amounts)})


def from_dict(raw: Mapping, since: datetime) -> Backorder:
    """A stored entry; one stored before entries carried money and a start (``since`` is then
    the caller's best guess, e.g. when the order was routed) has zero amounts."""
    return Backorder(line_no=int(raw["line_no"]), sku=str(raw["sku"]), quantity=int(raw["quantity"]),
                     amounts=amounts_from(raw.get("amounts")), since=raw.get("since") or since)


def units(entries: Iterable[Backorder]) -> int:
    return sum(e.quantity for e in entries)


def merge(entries: Iterable[Backorder]) -> tuple[Backorder, ...]:
    """One entry per line (quantities and money added, the oldest start kept), by line number;
    entries of no units dropped."""
    by_line: dict[int, Backorder] = {}
    for e in entries:
        if e.quantity <= 0:
            continue
        had = by_line.get(e.line_no)
        by_line[e.line_no] = e if had is None else replace(
            had, quantity=had.quantity + e.quantity, amounts=had.amounts + e.amounts, since=min(had.since, e.since))
    return tuple(by_line[n] for n in sorted(by_line))


def from_decision(backordered: Sequence[FulfilmentLine], rest: Amounts, unit_prices: Mapping[int, Decimal],
                  currency: str, now: datetime) -> tuple[Backorder, ...]:
    """Entries for the units a routing decision backordered, waiting from ``now``: ``rest`` (the
    order's money its fulfilments do not carry) is split over them by goods value, exactly.
    Raises ``ValueError`` for money with no units to carry it."""
    lines: dict[int, FulfilmentLine] = {}
    for b in backordered:
        had = lines.get(b.line_no)
        lines[b.line_no] = b if had is None else replace(had, quantity=had.quantity + b.quantity)
    ordered = [lines[n] for n in sorted(lines) if lines[n].quantity > 0]
    if not ordered:
        if any(getattr(rest, f.name) for f in fields(Amounts)):
            raise ValueError(f"{rest} left over with nothing backordered")
        return ()
    weights = [unit_prices.get(b.line_no, Decimal(0)) * b.quantity for b in ordered]
    parts = split_amounts(rest, weights, currency)
    return tuple(Backorder(b.line_no, b.sku, b.quantity, a, now) for b, a in zip(ordered, parts, strict=True))


def take(entries: Sequence[Backorder], placed: Mapping[str, Mapping[int, int]],
         currency: str) -> tuple[dict[str, Amounts], tuple[Backorder, ...]]:
    """Move the units ``placed`` (``{fulfilment_id: {line_no: quantity}}``) out of the backorder.

    Returns each new fulfilment's money (its units' share of their lines' backordered money, by
    units, exactly) and the entries left waiting. Raises ``ValueError`` when more of a line is
    placed than waits."""
    money: dict[str, Amounts] = {fid: Amounts() for fid in placed}
    left: list[Backorder] = []
    waiting = {e.line_no: e for e in merge(entries)}
    unknown = {n for qty in placed.values() for n, q in qty.items() if q} - set(waiting)
    if unknown:
        raise ValueError(f"lines {sorted(unknown)} have nothing backordered")
    for n, e in waiting.items():
        parts = [(fid, qty[n]) for fid, qty in placed.items() if qty.get(n)]
        taken = sum(q for _, q in parts)
        if taken > e.quantity:
            raise ValueError(f"line {n}: {taken} placed, {e.quantity} backordered")
        if not parts:
            left.append(e)
            continue
        split = split_amounts(e.amounts, [Decimal(q) for _, q in parts] + [Decimal(e.quantity - taken)], currency)
        for (fid, _), a in zip(parts, split, strict=False):
            money[fid] += a
        if e.quantity > taken:
            left.append(replace(e, quantity=e.quantity - taken, amounts=split[-1]))
    return money, tuple(left)


def cancel_due(entries: Iterable[Backorder], wait_of: Callable[[Backorder], timedelta]) -> datetime | None:
    """When the first entry waits too long (its start plus its merchant's wait), or None."""
    due = [e.since + wait_of(e) for e in entries]
    return min(due) if due else None


def expired(entries: Iterable[Backorder], now: datetime,
            wait_of: Callable[[Backorder], timedelta]) -> tuple[tuple[Backorder, ...], tuple[Backorder, ...]]:
    """``(expired, waiting)``: the entries whose wait (``wait_of``: their merchant's) is over at
    ``now``, and the others."""
    out: list[Backorder] = []
    keep: list[Backorder] = []
    for e in entries:
        (out if e.since + wait_of(e) <= now else keep).append(e)
    return tuple(out), tuple(keep)


def total(entries: Iterable[Backorder]) -> Amounts:
    """The money ``entries`` carry together."""
    out = Amounts()
    for e in entries:
        out += e.amounts
    return out
