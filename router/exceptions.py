"""Exception flags: what an operator must look at on an order, each with a reason and a time.

One structure, the order's ``exceptions`` list, for every kind: a carrier exception (returned to
sender, failed delivery, lost, expired), a stalled WMS acknowledgement, a stalled carrier scan, a
tracking number claimed while another live parcel holds it. A flag is open until an operator
resolves it (``resolved_at``), or the party it waited for moves on (a stalled WMS acknowledges,
a stalled parcel is scanned, a parcel in exception is delivered after all: :func:`settled_by`):
the order is then on the exceptions page and in ``GET /v1/orders?flag=exception`` no more.
Flags are keyed (``id``), so a repeated event or a replayed message raises one flag, not two; a
new occurrence after the flag was resolved opens a new one. Pure: the caller passes ``now`` and stores the list with the order's guarded update.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum

from router.statuses import TrackingStatus


class ExceptionKind(StrEnum):
    CARRIER_EXCEPTION = "carrier_exception"
    WMS_ACK_STALLED = "wms_ack_stalled"
    CARRIER_SCAN_STALLED = "carrier_scan_stalled"
    TRACKING_NUMBER_REUSED = "tracking_number_reused"


# The list filter (and the order list row's ``flags``) word for an order with an open exception.
EXCEPTION_FLAG = "exception"
CARRIER_EXCEPTIONS = frozenset({TrackingStatus.EXCEPTION, TrackingStatus.DELIVERY_FAILED, TrackingStatus.EXPIRED})
_REASON_WORDS = (("return", "return_to_sender"), ("lost", "lost"), ("missing", "lost"), ("damag", "damaged"),
                 ("refus", "refused"), ("address", "address_problem"), ("expired", "expired"))


def carrier_reason(status: str, raw_status: str = "", detail: str = "") -> str:
    """The reason of a carrier exception, from the canonical ``status`` and the carrier's own
    words: return_to_sender, lost, damaged, refused, address_problem, expired, delivery_failed,
    else carrier_exception. Never empty."""
    words = f"{raw_status} {detail}".lower()
    for fragment, reason in _REASON_WORDS:
        if fragment in words:
            return reason
    if status == TrackingStatus.EXPIRED:
        return "expired"
    if status == TrackingStatus.DELIVERY_FAILED:
        return "delivery_failed"
    return "carrier_exception"


def flag_id(kind: str, fulfilment_id: str | None = None, subject: str | None = None) -> str:
    """The key of a flag: one open flag per kind, fulfilment and subject (a tracking number). A flag
    raised again after one of its key was resolved gets ``#2``, ``#3``... after the key."""
    return ":".join([str(kind), fulfilment_id or "", subject or ""])


def is_open(flag: Mapping) -> bool:
    return not flag.get("resolved_at")


def open_flags(flags: Iterable[Mapping] | None) -> list[Mapping]:
    return [f for f in flags or [] if is_open(f)]


def flagged(flags: Iterable[Mapping] | None) -> frozenset[str]:
    """What the open flags are about: fulfilment ids, ``""`` for the order as a whole
    (``OrderState.flagged``)."""
    return frozenset(f.get("fulfilment_id") or "" for f in open_flags(flags))


def list_flags(flags: Iterable[Mapping] | None) -> list[str]:
    """The order list row's ``flags``: ``["exception"]`` while any flag is open."""
    return [EXCEPTION_FLAG] if open_flags(flags) else []


def with_flag(flags: Iterable[Mapping] | None, kind: str, reason: str, now: datetime,
              fulfilment_id: str | None = None, subject: str | None = None, **details) -> list[dict]:
    """``flags`` with a flag raised, unless the same one (kind, fulfilment, subject) is open
    already. ``reason`` must say why (the invariant checker insists): raises ``ValueError`` when
    empty. ``details`` (a tracking number, the carrier's words, another order) are kept on it."""
    if not reason:
        raise ValueError("an exception flag needs a reason")
    current = [dict(f) for f in flags or []]
    key = flag_id(kind, fulfilment_id, subject)
    before = [f for f in current if str(f.get("id") or "").split("#")[0] == key]
    if any(is_open(f) for f in before):
        return current
    flag = {"id": f"{key}#{len(before) + 1}" if before else key, "kind": str(kind), "reason": reason, "at": now, "fulfilment_id": fulfilment_id,
            **{k: v for k, v in details.items() if v not in (None, "")}}
    return [*current, flag]


def resolved(flags: Iterable[Mapping] | None, actor: str, now: datetime, resolution: str = "resolved",
             fulfilment_id: str | None = None, kinds: Iterable[str] | None = None, **details) -> list[dict]:
    """``flags`` with the open ones (only those about ``fulfilment_id``, of ``kinds``, when given)
    resolved by ``actor`` at ``now`` with ``resolution`` (resolved, reshipped, delivered...)."""
    kinds = None if kinds is None else {str(k) for k in kinds}
    out = []
    for f in flags or []:
        f = dict(f)
        if is_open(f) and (fulfilment_id is None or f.get("fulfilment_id") == fulfilment_id) \
                and (kinds is None or f.get("kind") in kinds):
            f.update(resolved_at=now, resolved_by=actor, resolution=resolution,
                     **{k: v for k, v in details.items() if v not in (None, "")})
        out.append(f)
    return out


_SETTLES = {
    "wms": (ExceptionKind.WMS_ACK_STALLED,),
    "scan": (ExceptionKind.CARRIER_SCAN_STALLED,),
    "delivered": (ExceptionKind.CARRIER_SCAN_STALLED, ExceptionKind.CARRIER_EXCEPTION),
}


def settled_by(event: str, from_warehouse: bool) -> tuple[ExceptionKind, ...]:
    """The kinds of a fulfilment's open flags an event of its WMS (``from_warehouse``) or carrier
    settles: any warehouse event a stalled acknowledgement, a progress scan a stalled scan, a
    delivery a carrier exception too."""
    if from_warehouse:
        return _SETTLES["wms"]
    if event == TrackingStatus.DELIVERED:
        return _SETTLES["delivered"]
    if event in (TrackingStatus.IN_TRANSIT, TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.AVAILABLE_FOR_PICKUP):
        return _SETTLES["scan"]
    return ()


def timeline_entries(before: Iterable[Mapping] | None, after: Iterable[Mapping] | None, now: datetime,
                     actor: str, status: str) -> list[dict]:
    """The order's timeline entries for the flags raised (``exception.flagged``) and resolved
    (``exception.resolved``) between ``before`` and ``after``; the order status is unchanged."""
    was = {(f.get("id"), f.get("at")): f for f in before or []}
    out = []
    for f in after or []:
        old = was.get((f.get("id"), f.get("at")))  # ids repeat only in entries stored before they were kept
        if old is None:
            event = "exception.flagged"
        elif is_open(old) and not is_open(f):
            event = "exception.resolved"
        else:
            continue
        details = {k: f.get(k) for k in ("id", "kind", "reason", "fulfilment_id", "tracking_number", "resolution")
                   if f.get(k)}
        out.append({"at": now, "actor": actor, "event": event, "from": status, "to": status, "details": details})
    return out
