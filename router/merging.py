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


# --- merged dispatch: which fulfilments held for a merge go to their warehouse together ---------

DEFAULT_WINDOW = timedelta(minutes=30)  # a merchant's merge_window_minutes when it sets none
LINE_BLOCK = 1000  # a merged delivery order numbers member i's line n as (i + 1) * LINE_BLOCK + n
GROUP_PREFIX = "MG-"


@dataclass(frozen=True)
class Held:
    """A reserved fulfilment of an opted-in merchant waiting for its merge window (``until``)."""

    order_id: str
    fulfilment_id: str
    merchant_id: str
    warehouse_id: str
    customer: str  # the customer id, or the address name and phone without one
    address: tuple  # :func:`address_key` of the shipping address
    currency: str
    shipping_method: str
    b2b: bool
    held_at: datetime
    until: datetime
    payment_method: str = ""  # cash on delivery merges only with cash on delivery (one amount to collect)


def address_key_of(a: dict) -> tuple:
    """The stored address ``a`` (a dict) as :func:`merge_candidates` compares addresses."""
    return _address_key(Address(country=str(a.get("country") or ""), region=a.get("region") or "",
                                city=a.get("city") or "", district=a.get("district") or "",
                                postcode=a.get("postcode") or "", lines=tuple(a.get("lines") or ()),
                                name=a.get("name") or "", phone=a.get("phone") or ""))


def _key(h: Held) -> tuple:
    return (h.merchant_id, h.warehouse_id, h.customer, h.address, h.currency, h.shipping_method, h.b2b,
            h.payment_method == "cod")


def group_id(anchor_fulfilment_id: str) -> str:
    """The merged delivery order's id: the oldest member's fulfilment id, prefixed (so a retried
    or repeated release names the same delivery order, the WMS's idempotency key)."""
    return f"{GROUP_PREFIX}{anchor_fulfilment_id}"


def is_group_id(value: str) -> bool:
    return value.startswith(GROUP_PREFIX)


def merged_line_no(member_index: int, line_no: int) -> int:
    return (member_index + 1) * LINE_BLOCK + line_no


def member_line(merged_no: int) -> tuple[int, int]:
    """``(member index, its own line number)`` of a merged delivery order's line number."""
    return merged_no // LINE_BLOCK - 1, merged_no % LINE_BLOCK


def release(held: Iterable[Held], now: datetime) -> list[tuple[Held, ...]]:
    """The batches to dispatch at ``now``: held fulfilments with one merchant, warehouse, customer,
    address, currency, shipping method, b2b flag and cash on delivery or not form a batch once the oldest one's window has
    closed (``until <= now``); every fulfilment of that key held at that moment goes with it (its
    own window need not have closed: it was placed within the oldest one's window). A batch of one
    goes alone. Members oldest first (``held_at``, then fulfilment id); batches by their first."""
    by_key: dict[tuple, dict[str, Held]] = {}
    for h in held:
        by_key.setdefault(_key(h), {})[h.fulfilment_id] = h
    out = []
    for members in by_key.values():
        ordered = tuple(sorted(members.values(), key=lambda h: (h.held_at, h.fulfilment_id)))
        if ordered[0].until <= now:
            out.append(ordered)
    return sorted(out, key=lambda b: (b[0].held_at, b[0].fulfilment_id))
