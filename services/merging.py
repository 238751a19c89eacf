"""Order merge (issue 17, item 14), opt-in per merchant (seed: ``merge_orders: true``,
``merge_window_minutes``, default 30).

- **Hold.** A reserved fulfilment of an opted-in merchant that would be dispatched is held instead
  (its ``merge``: ``held_at``, ``until`` = now + the merchant's window; one positional update
  guarded on it being reserved and not held yet). A merchant not opted in is dispatched at once,
  as before: nothing is read but its merchant record (cached).
- **Release.** The timer sweep (:func:`release_holds`, given ``now``, never sleeping) finds held
  fulfilments whose window has closed and groups every fulfilment then held at that warehouse with
  :func:`router.merging.release` (same merchant, warehouse, customer, address, currency, shipping
  method, b2b). Each member is released by one positional update guarded on it being reserved,
  held and not released (``merge.group`` = :func:`router.merging.group_id` of the oldest member,
  ``merge.members``), then its dispatch is sent; a batch of one goes alone, as an ordinary
  delivery order. A crash between the two leaves a released reserved fulfilment, which the
  reconciler's stalled-dispatch pass sends again.
- **Dispatch** (services/dispatch.py) of a member sends the merged delivery order: one carrier
  booking and one WMS delivery order, both under the group id as idempotency key (the delivery
  order id at the WMS), with every member's lines renumbered ``(i + 1) * 1000 + line_no``
  (:func:`router.merging.merged_line_no`), so each member's dispatch (and any retry of it) makes
  nothing twice; each member records its own dispatch, tracking number and WMS order id, and
  keeps its own money, status, timeline and documents.
- **Events back.** A WMS event for the group id is one event per member (adapters/http/inbound.py,
  event id ``<id>:<fulfilment id>``, lines mapped back to the member's own); a carrier event for
  the shared waybill goes to every member holding it.
- **Cancel.** A cancel while held cancels that order's fulfilment (it is not dispatched, so it is
  in no group); the others are released without it. Neither the generic WMS protocol nor Qimen
  can drop some lines of a delivery order (``order.cancel`` stops the whole order), and stopping
  the merged order would stop the other customers' orders too; so a member cancelled after the
  merged dispatch is not intercepted: it is recorded as an intercept that failed, its parcel
  ships with the others, and it goes the after-sales (return) way.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import structlog

from documents import orders, reference
from router import merging
from router.statuses import FulfilmentStatus
from services.messages import DispatchFulfilment, send

log = structlog.get_logger(__name__)
BATCH = 500


def window_of(merchant_id: str | None) -> timedelta | None:
    """The merchant's merge window, None when it does not merge orders."""
    merchant = reference.cached("merchants", merchant_id) if merchant_id else None
    if not merchant or not merchant.get("merge_orders"):
        return None
    minutes = merchant.get("merge_window_minutes")
    return timedelta(minutes=minutes) if minutes else merging.DEFAULT_WINDOW


def waits(doc: dict, f: dict, now: datetime) -> bool:
    """Whether the dispatch of ``f`` waits for its merge window (holding it now if its merchant
    merges orders and it is not held yet). False: dispatch it (no merge, or released)."""
    hold = f.get("merge") or {}
    if hold.get("released_at"):
        return False
    if hold.get("until"):
        return True  # the timer sweep releases it
    window = window_of(f.get("merchant_id"))
    if window is None or f["status"] != FulfilmentStatus.RESERVED.value:
        return False
    until = now + window
    entry = {"at": now, "actor": "system", "event": "fulfilment.merge_held", "from": doc["status"],
             "to": doc["status"], "details": {"fulfilment_id": f["id"], "until": until.isoformat()}}
    orders.hold_for_merge(doc["_id"], f["id"], {"held_at": now, "until": until}, [entry])
    return True  # held by this call or, a moment earlier, by another delivery of the same message


def release_holds(now: datetime) -> int:
    """Release every held fulfilment whose window closed by ``now`` with the others held for the
    same customer, address and warehouse; returns how many were released (by this call)."""
    warehouses = sorted({f["warehouse_id"] for doc in orders.merge_holds_due(now, BATCH)
                         for f in doc.get("fulfilments", []) if _held(f) and _aware(f["merge"]["until"]) <= now})
    released = 0
    for warehouse_id in warehouses:
        docs = {d["_id"]: d for d in orders.merge_holds_at(warehouse_id, BATCH)}
        held = [_held_of(doc, f) for doc in docs.values() for f in doc.get("fulfilments", [])
                if _held(f) and f["warehouse_id"] == warehouse_id]
        for batch in merging.release(held, now):
            released += _release(batch, now)
    if released:
        log.info("merge_holds_released", count=released)
    return released


def _release(batch: tuple[merging.Held, ...], now: datetime) -> int:
    group = merging.group_id(batch[0].fulfilment_id) if len(batch) > 1 else None
    members = [f"{h.order_id}/{h.fulfilment_id}" for h in batch]
    count = 0
    for h in batch:
        fields = {"released_at": now, "group": group, "members": members if group else []}
        entry = {"at": now, "actor": "system", "event": "fulfilment.merge_released", "from": None, "to": None,
                 "details": {"fulfilment_id": h.fulfilment_id, "group": group, "members": fields["members"]}}
        if orders.release_merge_hold(h.order_id, h.fulfilment_id, fields, [entry]):
            count += 1
            send(DispatchFulfilment(h.order_id, h.fulfilment_id))
    return count


def _held(f: dict) -> bool:
    hold = f.get("merge") or {}
    return f.get("status") == FulfilmentStatus.RESERVED.value and bool(hold.get("until")) \
        and not hold.get("released_at") and not hold.get("group")


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _held_of(doc: dict, f: dict) -> merging.Held:
    customer = doc.get("customer") or {}
    address = doc.get("address") or {}
    who = customer.get("id") or f"{address.get('name', '')}|{address.get('phone', '')}"
    return merging.Held(doc["_id"], f["id"], f.get("merchant_id") or "", f["warehouse_id"], str(who),
                        merging.address_key_of(address), str(doc.get("currency") or ""),
                        str(doc.get("shipping_method") or ""), bool(doc.get("b2b")),
                        _aware(f["merge"]["held_at"]), _aware(f["merge"]["until"]),
                        str(doc.get("payment_method") or ""))


def members_of(f: dict) -> list[tuple[str, str]]:
    """``(order_id, fulfilment_id)`` of the merged delivery order ``f`` is in, oldest first."""
    return [(m.split("/", 1)[0], m.split("/", 1)[1]) for m in (f.get("merge") or {}).get("members") or []]
