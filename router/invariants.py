"""The router's invariants as pure checks over stored data (plain dicts), for the checker,
the chaos test and operators.

Each ``check_*`` takes stock rows and/or order dicts shaped as stored (``_id``, ``holds``,
``fulfilments``, ``amounts`` as decimal strings or Decimals) and returns a list of
:class:`Violation`. Nothing here reads a clock, a database or the network: ``now`` is passed in.

- Stock: ``on_hand = available + reserved``, nothing negative, ``reserved = sum(holds)``.
- Holds: every hold ``<order_id>~<line_no>`` (``~<tag>`` added for a fulfilment planned after
  the first routing, see ``hold_key``) in a SKU's stock at a warehouse belongs to a fulfilment of
  that order, in that warehouse, for that line, that still holds stock, with the same quantity;
  every such fulfilment line has its hold.
- Money: ``payable = goods - discount + freight``, plus ``tax`` where the prices exclude it
  (contained where they include it), for the order, each fulfilment, merchant sub-order and
  line; fulfilments plus the backordered rest, sub-orders and lines each add up to the order
  (the rest exactly what the backorder and its cancelled units carry, when they carry money);
  every amount is a whole number of the currency's minor unit. Refunds: never above what was
  paid, and the refunded amount is the refunds recorded. Cash-on-delivery shares: each
  fulfilment collects its own payable, and once every unit is placed they add up to the payable.
- Units: every ordered unit is in a live fulfilment (on its way, shipped, delivered, returned),
  live-backordered, or cancelled (a cancelled backorder, or the whole order); an order with units
  still backordered has not shipped, completed or been delivered.
- Capacity: each warehouse's daily counter is never negative and counts exactly the fulfilments
  it names.
- Progress: no order left in routing ``received`` for long, no fulfilment left in
  ``dispatch_failed`` unseen, and (once timers are in) no live order without a ``due_at``.
- Uniqueness: fulfilment ids across orders, (channel, channel order id) across orders, and a
  tracking number held by at most one live parcel per carrier.
- Exceptions: every exception flag says why (a reason) and when.
- Cash on delivery: what the carriers collected is the share of every delivered COD fulfilment.
- Legality: status words from the vocabularies, shipment status derived from the fulfilments
  (and the backorder: partly shipped while units wait).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Iterable

from router import cod
from router.exceptions import open_flags
from router.fulfilment_flow import HOLDS_STOCK, LIVE_PARCEL, derive_shipment_status, parcels, unshipped_quantity
from router.money import currency_quantum, payable_of
from router.statuses import (FulfilmentStatus as F, OrderStatus, PaymentStatus, RoutingState,
                             ShipmentStatus)

# Fulfilments whose units are still in the warehouse under a hold.
HOLDING = HOLDS_STOCK  # a partly shipped one: for the units not shipped yet
# A failed dispatch keeps its hold until an operator retries or a re-route releases it.
MAY_HOLD = HOLDING | {F.DISPATCH_FAILED}
# Orders whose holds an orphan repair may release (nothing of theirs will ship).
DEAD_ORDERS = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED})
# Live orders that must have a timer (``due_at``) once timers exist.
TIMED = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.AWAITING_SHIPMENT, OrderStatus.SHIPPED})
RECEIVED_TOO_LONG = timedelta(minutes=10)
AMOUNT_KEYS = ("goods", "discount", "freight", "tax", "payable")


@dataclass(frozen=True)
class Violation:
    """One broken invariant.

    ``kind`` is a stable code (``stock_counts``, ``orphan_hold``, ...), ``subject`` what it is
    about (``stock SKU@WH``, ``order O...``), ``repair`` what ``--repair`` would do, or None
    when it needs a person. ``details`` holds the numbers.
    """

    kind: str
    subject: str
    message: str
    repair: str | None = None
    details: dict = field(default_factory=dict, compare=False)

    def __str__(self) -> str:
        fix = f"  [repair: {self.repair}]" if self.repair else ""
        return f"{self.kind:<24} {self.subject}: {self.message}{fix}"


# --- stock ---------------------------------------------------------------------------------

def stock_subject(row: dict) -> str:
    return f"stock {row.get('sku')}@{row.get('warehouse_id')}"


def counter_targets(row: dict) -> dict[str, int]:
    """What ``reserved`` and ``available`` should be: the sum of the holds, and on hand less it."""
    reserved = sum(q for q in (row.get("holds") or {}).values() if _is_count(q))
    return {"reserved": reserved, "available": row.get("on_hand", 0) - reserved}


def check_stock(rows: Iterable[dict]) -> list[Violation]:
    """Conservation per SKU and warehouse: on hand = available + reserved, reserved = sum of
    holds, nothing negative, every hold a positive whole number."""
    out = []
    for row in rows:
        subject = stock_subject(row)
        on_hand, reserved, available = (row.get(k, 0) for k in ("on_hand", "reserved", "available"))
        holds = row.get("holds") or {}
        target = counter_targets(row)
        numbers = {"on_hand": on_hand, "reserved": reserved, "available": available, **{
            f"target_{k}": v for k, v in target.items()}}
        fixable = target["available"] >= 0
        repair = (f"set reserved={target['reserved']}, available={target['available']}" if fixable else None)
        for key, qty in holds.items():
            if not _is_count(qty) or qty <= 0:
                out.append(Violation("hold_bad_quantity", subject, f"hold {key} is {qty!r}", None,
                                     {"key": key, "quantity": qty}))
        if reserved != target["reserved"]:
            out.append(Violation("reserved_mismatch", subject,
                                 f"reserved {reserved} but holds sum to {target['reserved']}", repair, numbers))
        if on_hand != available + reserved:
            out.append(Violation("stock_counts", subject,
                                 f"on hand {on_hand} != available {available} + reserved {reserved}", repair,
                                 numbers))
        negative = {k: v for k, v in (("on_hand", on_hand), ("reserved", reserved), ("available", available))
                    if v < 0}
        if negative:
            out.append(Violation("stock_negative", subject, ", ".join(f"{k} {v}" for k, v in negative.items()),
                                 repair if fixable and on_hand >= 0 else None, numbers))
    return out


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- holds against fulfilments ----------------------------------------------------------------

def hold_key(order_id: str, line_no: int, tag: str | None = None) -> str:
    """The hold of an order line's units in one warehouse: ``<order_id>~<line_no>``, and
    ``~<tag>`` for a fulfilment planned after the first routing (a backorder retry, a re-route),
    whose units may share a warehouse with earlier units of the same line."""
    return f"{order_id}~{line_no}" if not tag else f"{order_id}~{line_no}~{tag}"


def parse_hold_key(key: str) -> tuple[str, int] | None:
    """``"<order_id>~<line_no>"`` (or ``...~<tag>``) -> ``(order_id, line_no)``; None when malformed."""
    order_id, sep, line = key.rpartition("~")
    if sep and order_id and not line.isdigit() and line.isalnum():  # a tagged key
        order_id, sep, line = order_id.rpartition("~")
    if not sep or not order_id or not line.isdigit():
        return None
    return order_id, int(line)


def expected_holds(order: dict, statuses: frozenset = HOLDING) -> dict[tuple[str, str, str], int]:
    """``{(sku, warehouse, hold key): quantity}`` the order's fulfilments in ``statuses`` need: each
    line's units not shipped yet (a partial confirmation shipped the others)."""
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for f in order.get("fulfilments") or []:
        if f.get("status") in statuses:
            for line in f.get("lines") or []:
                if unshipped_quantity(line):
                    key = hold_key(order["_id"], line["line_no"], f.get("hold_tag"))
                    out[(line["sku"], f["warehouse_id"], key)] += unshipped_quantity(line)
    return dict(out)


def check_holds(rows: Iterable[dict], orders: Iterable[dict]) -> list[Violation]:
    """Every hold belongs to a fulfilment still holding stock with that quantity, and every such
    fulfilment line has its hold. Holds of an order still being routed (``received``) are not
    judged: routing places holds before it records the fulfilments."""
    by_id = {o["_id"]: o for o in orders}
    required: dict[tuple[str, str, str], int] = {}
    allowed: dict[tuple[str, str, str], int] = {}
    for o in by_id.values():
        required.update(expected_holds(o, HOLDING))
        allowed.update(expected_holds(o, MAY_HOLD))
    out, seen = [], set()
    for row in rows:
        for key, qty in (row.get("holds") or {}).items():
            where = (row.get("sku"), row.get("warehouse_id"), key)
            seen.add(where)
            parsed = parse_hold_key(key)
            order = by_id.get(parsed[0]) if parsed else None
            subject = f"{stock_subject(row)} hold {key}"
            if order is not None and (order.get("routing") or {}).get("state") == RoutingState.RECEIVED:
                continue
            if where in allowed:
                if allowed[where] != qty:
                    out.append(Violation("hold_quantity_mismatch", subject,
                                         f"holds {qty}, its fulfilment line has {allowed[where]}", None,
                                         {"hold": qty, "fulfilment": allowed[where]}))
                continue
            status = order.get("status") if order else None
            releasable = order is None or status in DEAD_ORDERS
            why = ("no such order" if order is None or parsed is None else
                   f"order is {status} and no fulfilment of it holds {row.get('sku')} in {row.get('warehouse_id')} "
                   f"for line {parsed[1]}")
            out.append(Violation("orphan_hold", subject, why, f"release {qty}" if releasable else None,
                                 {"sku": row.get("sku"), "warehouse_id": row.get("warehouse_id"), "key": key,
                                  "quantity": qty, "order_status": status}))
    for (sku, warehouse, key), qty in sorted(required.items()):
        if (sku, warehouse, key) not in seen:
            out.append(Violation("missing_hold", f"order {key.split('~')[0]}",
                                 f"open fulfilment line {key} needs {qty} x {sku} held in {warehouse}, none is",
                                 None, {"sku": sku, "warehouse_id": warehouse, "key": key, "quantity": qty}))
    return out


# --- money -------------------------------------------------------------------------------------

def _amounts(raw: dict | None) -> dict[str, Decimal] | None:
    if not raw:
        return None
    try:
        return {k: Decimal(str(raw.get(k, "0"))) for k in AMOUNT_KEYS}
    except InvalidOperation:
        return None


def _sum(parts: Iterable[dict[str, Decimal]]) -> dict[str, Decimal]:
    total = {k: Decimal(0) for k in AMOUNT_KEYS}
    for p in parts:
        for k in AMOUNT_KEYS:
            total[k] += p[k]
    return total


def _differs(a: dict[str, Decimal], b: dict[str, Decimal]) -> list[str]:
    return [k for k in AMOUNT_KEYS if a[k] != b[k]]


def check_money(order: dict) -> list[Violation]:
    """The order's amounts add up at every level, exactly, in whole minor units."""
    subject, out = f"order {order['_id']}", []
    total = _amounts(order.get("amounts"))
    if total is None:
        return [Violation("money_missing", subject, "no readable amounts")]
    quantum = currency_quantum((order.get("amounts") or {}).get("currency") or order.get("currency") or "XXX")
    levels = [("order", total)]
    fulfilments = []
    for f in order.get("fulfilments") or []:
        a = _amounts(f.get("amounts"))
        if a is None:
            out.append(Violation("money_missing", subject, f"fulfilment {f.get('id')} has no readable amounts"))
            continue
        fulfilments.append(a)
        levels.append((f"fulfilment {f.get('id')}", a))
    subs = {m: _amounts(a) for m, a in (order.get("sub_orders") or {}).items()}
    lines = {n: _amounts(a) for n, a in (order.get("line_amounts") or {}).items()}
    levels += [(f"sub-order {m}", a) for m, a in subs.items() if a] + [(f"line {n}", a) for n, a in lines.items() if a]
    included = tax_included(order)
    for name, a in levels:
        if a["payable"] != payable_of(a["goods"], a["discount"], a["freight"], a["tax"], included):
            tax = f" (tax {a['tax']} included)" if included else f" + tax {a['tax']}"
            out.append(Violation("money_payable", subject,
                                 f"{name}: payable {a['payable']} != goods {a['goods']} - discount {a['discount']}"
                                 f" + freight {a['freight']}{tax}", None, {k: str(v) for k, v in a.items()}))
        odd = [k for k in AMOUNT_KEYS if a[k] % quantum]
        if odd:
            out.append(Violation("money_precision", subject, f"{name}: {', '.join(odd)} not in units of {quantum}"))
    negative = [k for k in AMOUNT_KEYS if total[k] < 0]
    if negative and order.get("status") != OrderStatus.REJECTED:
        out.append(Violation("money_negative", subject, f"order amounts negative: {', '.join(negative)}"))
    if order.get("payable") is not None and Decimal(str(order["payable"])) != total["payable"]:
        out.append(Violation("money_payable", subject,
                             f"payable field {order['payable']} != amounts.payable {total['payable']}"))
    for label, parts in (("sub-orders", subs), ("lines", lines)):
        if parts and all(parts.values()):
            wrong = _differs(_sum(p for p in parts.values() if p), total)  # every one is there (all() above)
            if wrong:
                out.append(Violation("money_sum", subject, f"{label} do not add up to the order in {wrong}"))
    out += _check_fulfilment_sum(order, subject, total, fulfilments)
    out += check_refunds(order) + check_cod_shares(order)
    return out


def tax_included(order: dict) -> bool:
    """Whether the order's prices hold their tax (stored on its amounts and on the order)."""
    return bool((order.get("amounts") or {}).get("tax_included") or order.get("prices_include_tax"))


def _money(value) -> Decimal | None:
    try:
        return Decimal(str(value if value is not None else "0"))
    except InvalidOperation:
        return None


def check_refunds(order: dict) -> list[Violation]:
    """Never more refunded than paid, and the refunded amount is the refunds recorded in its
    payments (after-sales and cancellation refunds, the payment service's, the channel's)."""
    subject = f"order {order['_id']}"
    paid, refunded = _money(order.get("paid_amount")), _money(order.get("refunded_amount"))
    if paid is None or refunded is None:
        return [Violation("money_missing", subject, "paid or refunded amount unreadable")]
    out = []
    if refunded > paid:
        out.append(Violation("refund_exceeds_paid", subject, f"refunded {refunded} but paid {paid}", None,
                             {"paid": str(paid), "refunded": str(refunded)}))
    records = [_money(p.get("amount")) for p in order.get("payments") or [] if p.get("type") == "refunded"]
    readable = [r for r in records if r is not None]
    if len(readable) < len(records):
        out.append(Violation("money_missing", subject, "a refund record has no readable amount"))
    elif sum(readable, Decimal(0)) != refunded:
        out.append(Violation("refund_records", subject,
                             f"refunded {refunded} but the refunds recorded add up to {sum(readable, Decimal(0))}"))
    return out


def check_cod_shares(order: dict) -> list[Violation]:
    """A cash-on-delivery order's fulfilments each collect their own payable (``cod_amount``; one
    stored before that field collects its payable), and once every unit is placed the shares add
    up to the order's payable (what carriers collected is ``check_cod``)."""
    if order.get("payment_method") != "cod" or not order.get("fulfilments"):
        return []
    subject, out, shares = f"order {order['_id']}", [], []
    for f in order["fulfilments"]:
        payable = _money((f.get("amounts") or {}).get("payable"))
        share = payable if f.get("cod_amount") is None else _money(f["cod_amount"])
        if share is None or payable is None:
            out.append(Violation("money_missing", subject, f"fulfilment {f.get('id')}: cod_amount unreadable"))
            continue
        shares.append(share)
        if share != payable:
            out.append(Violation("cod_share", subject,
                                 f"fulfilment {f.get('id')} collects {share} but its payable is {payable}"))
    routing = order.get("routing") or {}
    total = _money((order.get("amounts") or {}).get("payable"))
    placed = routing.get("state") == RoutingState.ROUTED and not routing.get("backordered")
    if total is not None:  # backordered units cancelled for want of stock are not collected (services/backorders)
        total -= sum((_money((c.get("amounts") or {}).get("payable")) or Decimal(0)
                      for c in routing.get("backorder_cancelled") or []), Decimal(0))
    if placed and not out and total is not None and sum(shares, Decimal(0)) != total:
        out.append(Violation("cod_sum", subject,
                             f"cash-on-delivery shares add up to {sum(shares, Decimal(0))}, the payable is {total}"))
    return out


def _backorder_money(routing: dict) -> dict[str, Decimal] | None:
    """What the order's backordered and cancelled backordered units carry together, or None when
    there are none or some entry carries no money (stored before entries did)."""
    entries = list(routing.get("backordered") or []) + list(routing.get("backorder_cancelled") or [])
    amounts = [_amounts(e.get("amounts")) for e in entries]
    if not entries or any(a is None for a in amounts):
        return None
    return _sum(a for a in amounts if a is not None)


def _check_fulfilment_sum(order, subject, total, fulfilments) -> list[Violation]:
    """Fulfilments plus the backordered rest add up to the order; with nothing backordered the
    rest is zero, otherwise it is never negative; when the backorder's entries carry their money,
    the rest is exactly what they (and the cancelled ones) carry."""
    routing = order.get("routing") or {}
    rest = {k: total[k] - v for k, v in _sum(fulfilments).items()}
    carried = _backorder_money(routing)
    if carried is not None and routing.get("state") in (RoutingState.ROUTED, RoutingState.BACKORDERED):
        wrong = _differs(rest, carried)
        if wrong:
            return [Violation("money_sum", subject, "fulfilments and the backorder do not add up to the order in "
                              f"{wrong}", None, {k: f"{rest[k]} vs {carried[k]}" for k in wrong})]
        return []
    fully_routed = routing.get("state") == RoutingState.ROUTED and not routing.get("backordered")
    if fully_routed and any(rest.values()):
        return [Violation("money_sum", subject, "fulfilments do not add up to the order: "
                          + ", ".join(f"{k} off by {v}" for k, v in rest.items() if v),
                          None, {k: str(v) for k, v in rest.items()})]
    short = {k: v for k, v in rest.items() if k != "payable" and v < 0}
    if short:
        return [Violation("money_sum", subject, "fulfilments add up to more than the order: "
                          + ", ".join(f"{k} {v}" for k, v in short.items()))]
    return []


# --- progress ----------------------------------------------------------------------------------

def check_progress(order: dict, now: datetime, received_too_long: timedelta = RECEIVED_TOO_LONG,
                   require_timers: bool = False) -> list[Violation]:
    """Nothing is left without a next step: routing not stuck in ``received``, failed dispatches
    surfaced, and (``require_timers``) every live order has a ``due_at``."""
    subject, out = f"order {order['_id']}", []
    routing = order.get("routing") or {}
    since = order.get("updated_at") or order.get("created_at")
    if routing.get("state") == RoutingState.RECEIVED and since is not None and now - since > received_too_long:
        out.append(Violation("stuck_received", subject, f"still in routing 'received' since {since.isoformat()}"))
    for f in order.get("fulfilments") or []:
        if f.get("status") == F.DISPATCH_FAILED:
            out.append(Violation("dispatch_failed", subject, f"fulfilment {f.get('id')} failed dispatch "
                                 f"({f.get('error') or 'no error recorded'}); retry or re-route it"))
    # An order being routed (again: a backorder retry puts it back in ``received``) waits for its
    # routing, not a timer; stuck_received above watches that wait.
    if require_timers and order.get("status") in TIMED and not order.get("due_at") \
            and not open_flags(order.get("exceptions")) \
            and routing.get("state") != RoutingState.RECEIVED:
        out.append(Violation("no_deadline", subject, f"{order.get('status')} with nothing scheduled (no due_at)"))
    return out


# --- legality and uniqueness -------------------------------------------------------------------

_VOCAB = (("status", OrderStatus), ("payment_status", PaymentStatus), ("shipment_status", ShipmentStatus))


def check_states(order: dict) -> list[Violation]:
    """Status words come from the vocabularies; the shipment status follows the fulfilments."""
    subject, out = f"order {order['_id']}", []
    for name, vocab in _VOCAB:
        if order.get(name) not in set(vocab):
            out.append(Violation("illegal_status", subject, f"{name} {order.get(name)!r}"))
    statuses = [f.get("status") for f in order.get("fulfilments") or []]
    bad = [s for s in statuses if s not in set(F)]
    if bad:
        out.append(Violation("illegal_status", subject, f"fulfilment statuses {bad}"))
    elif order.get("shipment_status") in set(ShipmentStatus):
        derived = derive_shipment_status(statuses, outstanding=waiting_units(order) > 0)
        if derived != order["shipment_status"]:
            out.append(Violation("shipment_status_mismatch", subject,
                                 f"shipment_status {order['shipment_status']} but fulfilments say {derived}"))
    return out


# --- units and capacity -------------------------------------------------------------------------

# Orders whose units are all cancelled (or refunded whole) whatever their lists say.
_ENDED_UNSHIPPED = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.CLOSED})
_PLACED = frozenset({RoutingState.ROUTED, RoutingState.BACKORDERED})


def waiting_units(order: dict) -> int:
    """Units of the order backordered and still waiting for stock."""
    return sum(int(e.get("quantity") or 0) for e in (order.get("routing") or {}).get("backordered") or [])


def check_units(order: dict) -> list[Violation]:
    """Every ordered unit of a routed order is in a live fulfilment (reserved, at the warehouse,
    shipped, delivered, returned), live-backordered, or in a cancelled backorder, exactly once;
    and an order with units still waiting has not shipped, completed or been delivered."""
    subject, routing = f"order {order['_id']}", order.get("routing") or {}
    if routing.get("state") not in _PLACED or order.get("status") in _ENDED_UNSHIPPED or "lines" not in order:
        return []
    ordered: Counter = Counter()
    for line in order.get("lines") or []:
        ordered[line.get("line_no")] += int(line.get("quantity") or 0)
    accounted: Counter = Counter()
    for f in order.get("fulfilments") or []:
        if f.get("status") != F.CANCELLED:
            for line in f.get("lines") or []:
                accounted[line.get("line_no")] += int(line.get("quantity") or 0)
    for e in list(routing.get("backordered") or []) + list(routing.get("backorder_cancelled") or []):
        accounted[e.get("line_no")] += int(e.get("quantity") or 0)
    out = []
    wrong = {n: (ordered[n], accounted[n]) for n in sorted(set(ordered) | set(accounted), key=str)
             if ordered[n] != accounted[n]}
    if wrong:
        out.append(Violation("units_unaccounted", subject, "; ".join(
            f"line {n}: {o} ordered, {a} shipped, in fulfilments, backordered or cancelled"
            for n, (o, a) in wrong.items()), None, {str(n): list(v) for n, v in wrong.items()}))
    waiting = waiting_units(order)
    if waiting and (order.get("status") in (OrderStatus.SHIPPED, OrderStatus.COMPLETED)
                    or order.get("shipment_status") in (ShipmentStatus.SHIPPED, ShipmentStatus.DELIVERED)):
        out.append(Violation("ended_with_backorder", subject,
                             f"{order.get('status')} / {order.get('shipment_status')} with {waiting} units "
                             "backordered, never shipped"))
    return out


def check_capacity(rows: Iterable[dict]) -> list[Violation]:
    """Each daily capacity counter (``{warehouse_id, day, count, fulfilments}``) is never
    negative and counts exactly the fulfilments it names."""
    out = []
    for row in rows:
        subject = f"capacity {row.get('warehouse_id')}@{row.get('day')}"
        count, named = row.get("count", 0), len(row.get("fulfilments") or {})
        if not _is_count(count) or count < 0:
            out.append(Violation("capacity_negative", subject, f"count is {count!r}", None, {"count": count}))
        elif count != named:
            out.append(Violation("capacity_mismatch", subject, f"count {count} but {named} fulfilments counted",
                                 None, {"count": count, "named": named}))
    return out


def check_unique(orders: Iterable[dict]) -> list[Violation]:
    """Fulfilment ids are unique across all orders; so is (channel, channel order id)."""
    fulfilment_owners: dict[str, list[str]] = defaultdict(list)
    channel_ids: Counter = Counter()
    owners: dict[tuple, list[str]] = defaultdict(list)
    for o in orders:
        for f in o.get("fulfilments") or []:
            fulfilment_owners[f.get("id")].append(o["_id"])
        key = (o.get("channel"), o.get("channel_order_id"))
        channel_ids[key] += 1
        owners[key].append(o["_id"])
    out = [Violation("duplicate_fulfilment", f"fulfilment {fid}", f"appears {len(ids)} times, in orders {sorted(set(ids))}")
           for fid, ids in sorted(fulfilment_owners.items(), key=lambda kv: str(kv[0])) if len(ids) > 1]
    out += [Violation("duplicate_channel_order", f"channel order {c}/{coid}", f"stored as {sorted(owners[(c, coid)])}")
            for (c, coid), n in sorted(channel_ids.items(), key=str) if n > 1]
    return out


# --- all ----------------------------------------------------------------------------------------

def check_all(stock_rows: list[dict], orders: list[dict], now: datetime, require_timers: bool = False,
              capacity_rows: Iterable[dict] = ()) -> list[Violation]:
    """Every check over a snapshot of stock rows, orders and capacity counters; violations in a
    stable order."""
    out = check_stock(stock_rows) + check_holds(stock_rows, orders) + check_unique(orders) \
        + check_tracking_numbers(orders) + check_capacity(capacity_rows)
    for o in orders:
        out += check_states(o) + check_money(o) + check_progress(o, now, require_timers=require_timers) \
            + check_exceptions(o) + check_cod(o) + check_units(o)
    return out


# --- tracking numbers, exception flags, cash on delivery ----------------------------------------

def live_parcels(order: dict) -> list[tuple[str | None, str, str]]:
    """``(carrier_id, tracking_number, fulfilment_id)`` of the order's parcels that may still be
    scanned: of a fulfilment neither delivered nor cancelled, and not delivered on its own."""
    out = []
    for f in order.get("fulfilments") or []:
        if f.get("status") not in LIVE_PARCEL:
            continue
        delivered = {t.get("tracking_number") for t in f.get("tracking") or [] if t.get("event") == "delivered"}
        out += [(carrier, number, f.get("id")) for number, carrier in parcels(f) if number not in delivered]
    return out


def check_tracking_numbers(orders: Iterable[dict]) -> list[Violation]:
    """A tracking number is held by one live parcel per carrier (the members of a merged delivery
    order count as one): two live holders mean a carrier issued a number still in use (the later claim is flagged on its order when it comes)."""
    holders: dict[tuple, set] = defaultdict(set)
    for o in orders:
        groups = {f.get("id"): (f.get("merge") or {}).get("group") for f in o.get("fulfilments") or []}
        for carrier, number, fid in live_parcels(o):
            # the members of a merged delivery order share its parcel: one holder (services/merging.py)
            holders[(carrier or "", number)].add(("merge group", groups[fid]) if groups.get(fid) else (o["_id"], fid))
    return [Violation("duplicate_tracking", f"tracking number {number}",
                      f"{len(who)} live parcels of carrier {carrier or '(unknown)'}: "
                      + ", ".join(f"{oid}/{fid}" for oid, fid in sorted(who)), None,
                      {"carrier_id": carrier, "tracking_number": number, "owners": sorted(who)})
            for (carrier, number), who in sorted(holders.items()) if len(who) > 1]


def check_exceptions(order: dict) -> list[Violation]:
    """Every exception flag says why (a reason) and when (``at``)."""
    return [Violation("exception_without_reason", f"order {order['_id']}",
                      f"exception flag {f.get('id') or f.get('kind') or '?'} has no "
                      + ("reason" if not f.get("reason") else "time"))
            for f in order.get("exceptions") or [] if not f.get("reason") or not f.get("at")]


def check_cod(order: dict) -> list[Violation]:
    """Cash on delivery collected = the share of every delivered COD fulfilment (router/cod.py)."""
    if order.get("payment_method") != cod.COD_METHOD:
        return []
    try:
        due, got = cod.due_on_delivery(order), cod.collected(order.get("payments"))
    except (InvalidOperation, TypeError, KeyError):
        return [Violation("cod_collected", f"order {order['_id']}", "unreadable cash-on-delivery amounts")]
    if due == got:
        return []
    return [Violation("cod_collected", f"order {order['_id']}",
                      f"carriers collected {got}, its delivered COD fulfilments are worth {due}", None,
                      {"collected": str(got), "due": str(due)})]
