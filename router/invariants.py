"""The router's invariants as pure checks over stored data (plain dicts), for the checker,
the chaos test and operators.

Each ``check_*`` takes stock rows and/or order dicts shaped as stored (``_id``, ``holds``,
``fulfilments``, ``amounts`` as decimal strings or Decimals) and returns a list of
:class:`Violation`. Nothing here reads a clock, a database or the network: ``now`` is passed in.

- Stock: ``on_hand = available + reserved``, nothing negative, ``reserved = sum(holds)``.
- Holds: every hold ``<order_id>~<line_no>`` in a SKU's stock at a warehouse belongs to a
  fulfilment of that order, in that warehouse, for that line, that still holds stock, with the
  same quantity; every such fulfilment line has its hold.
- Money: ``payable = goods - discount + freight`` for the order, each fulfilment, merchant
  sub-order and line; fulfilments plus the backordered rest, sub-orders and lines each add up
  to the order; every amount is a whole number of the currency's minor unit.
- Progress: no order left in routing ``received`` for long, no fulfilment left in
  ``dispatch_failed`` unseen, and (once timers are in) no live order without a ``due_at``.
- Uniqueness: fulfilment ids across orders, (channel, channel order id) across orders.
- Legality: status words from the vocabularies, shipment status derived from the fulfilments.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Iterable

from router.fulfilment_flow import derive_shipment_status
from router.money import currency_quantum
from router.statuses import (FulfilmentStatus as F, OrderStatus, PaymentStatus, RoutingState,
                             ShipmentStatus)

# Fulfilments whose units are still in the warehouse under a hold.
HOLDING = frozenset({F.RESERVED, F.DISPATCHED, F.ACCEPTED, F.PICKED, F.PACKED})
# A failed dispatch keeps its hold until an operator retries or a re-route releases it.
MAY_HOLD = HOLDING | {F.DISPATCH_FAILED}
# Orders whose holds an orphan repair may release (nothing of theirs will ship).
DEAD_ORDERS = frozenset({OrderStatus.CANCELLED, OrderStatus.REJECTED})
# Live orders that must have a timer (``due_at``) once timers exist.
TIMED = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.AWAITING_SHIPMENT, OrderStatus.SHIPPED})
RECEIVED_TOO_LONG = timedelta(minutes=10)
AMOUNT_KEYS = ("goods", "discount", "freight", "payable")


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

def parse_hold_key(key: str) -> tuple[str, int] | None:
    """``"<order_id>~<line_no>"`` -> ``(order_id, line_no)``; None when malformed."""
    order_id, sep, line = key.rpartition("~")
    if not sep or not order_id or not line.isdigit():
        return None
    return order_id, int(line)


def expected_holds(order: dict, statuses: frozenset = HOLDING) -> dict[tuple[str, str, str], int]:
    """``{(sku, warehouse, hold key): quantity}`` the order's fulfilments in ``statuses`` need."""
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for f in order.get("fulfilments") or []:
        if f.get("status") in statuses:
            for line in f.get("lines") or []:
                out[(line["sku"], f["warehouse_id"], f"{order['_id']}~{line['line_no']}")] += line["quantity"]
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
            out.append(Violation("missing_hold", f"order {key.rpartition('~')[0]}",
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
    for name, a in levels:
        if a["payable"] != a["goods"] - a["discount"] + a["freight"]:
            out.append(Violation("money_payable", subject,
                                 f"{name}: payable {a['payable']} != goods {a['goods']} - discount {a['discount']}"
                                 f" + freight {a['freight']}", None, {k: str(v) for k, v in a.items()}))
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
    return out


def _check_fulfilment_sum(order, subject, total, fulfilments) -> list[Violation]:
    """Fulfilments plus the backordered rest add up to the order; with nothing backordered the
    rest is zero, otherwise it is never negative."""
    routing = order.get("routing") or {}
    rest = {k: total[k] - v for k, v in _sum(fulfilments).items()}
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
        derived = derive_shipment_status(statuses)
        if derived != order["shipment_status"]:
            out.append(Violation("shipment_status_mismatch", subject,
                                 f"shipment_status {order['shipment_status']} but fulfilments say {derived}"))
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

def check_all(stock_rows: list[dict], orders: list[dict], now: datetime, require_timers: bool = False
              ) -> list[Violation]:
    """Every check over a snapshot of stock rows and orders; violations in a stable order."""
    out = check_stock(stock_rows) + check_holds(stock_rows, orders) + check_unique(orders)
    for o in orders:
        out += check_states(o) + check_money(o) + check_progress(o, now, require_timers=require_timers)
    return out
