"""Merging orders: which open orders of one customer a merchant may ship as one parcel.

Pure: the caller passes the open, not yet dispatched orders and ``now``; nothing is read here.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from router.model import Address, Order


@dataclass(frozen=True)
class MergeGroup:
    """Orders whose ``merchant_id`` lines can go in one shipment, oldest first."""

    merchant_id: str
    order_ids: tuple[str, ...]


def _address_key(a: Address) -> tuple:
    norm = lambda s: " ".join(str(s).split()).casefold()  # noqa: E731
    return (a.country.upper(), norm(a.region), norm(a.city), norm(a.district), norm(a.postcode),
            tuple(norm(x) for x in a.lines), norm(a.name), norm(a.phone))


def merge_candidates(orders: Iterable[Order], *, now: datetime, window: timedelta = timedelta(hours=2),
                     merchants: frozenset[str] | None = None) -> list[MergeGroup]:
    """Groups of two or more orders a merchant may merge.

    Orders merge per merchant when they have lines of that merchant, the same customer (id, or
    the address name and phone without one), the same address (compared without case and
    extra spaces), currency, shipping method and b2b flag, and were all placed within
    ``window`` before ``now`` (orders placed after ``now`` are ignored). ``merchants``: the
    merchants that allow merging (None: all). Groups are sorted by merchant, then first order.
    """
    groups: dict[tuple, list[Order]] = {}
    for order in orders:
        if not (now - window <= order.placed_at <= now):
            continue
        customer = order.customer.id or (order.address.name, order.address.phone)
        base = (customer, _address_key(order.address), order.currency, str(order.shipping_method), order.b2b)
        for merchant_id in sorted({ln.merchant_id for ln in order.lines}):
            if merchants is None or merchant_id in merchants:
                groups.setdefault((merchant_id, base), []).append(order)
    out = []
    for (merchant_id, _), members in groups.items():
        unique = {o.order_id: o for o in members}
        if len(unique) > 1:
            ordered = sorted(unique.values(), key=lambda o: (o.placed_at, o.order_id))
            out.append(MergeGroup(merchant_id, tuple(o.order_id for o in ordered)))
    return sorted(out, key=lambda g: (g.merchant_id, g.order_ids))
