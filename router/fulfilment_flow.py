"""The fulfilment status machine: router commands, WMS events and canonical tracking events.

A fulfilment only ever moves forward. An event that the fulfilment is already past (a
late carrier scan, a repeated WMS ack) is *stale*: :func:`apply_event` returns the current
status unchanged instead of raising, because warehouses and carriers deliver late and
twice. An event that makes no sense at all in the current state (shipping a fulfilment
that was never reserved, a carrier scan on a cancelled one) raises
:class:`~router.errors.IllegalTransition`.

``exception`` is a detour of the carrier leg (delivery failed, parcel held): the next
progress scan after it is taken at face value.

``partially_shipped``: the warehouse confirmed some boxes (a partial confirmation, Qimen
``confirmType`` 1) and more will follow; the final confirmation (``shipped``) completes it. The
carrier's scans of the boxes already out are recorded meanwhile but move nothing: the fulfilment
is with the carrier only once all of it left.

``return_received`` is not a fulfilment event: returns belong to ``router/after_sales.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from router.errors import IllegalTransition
from router.statuses import FulfilmentStatus as F
from router.statuses import ShipmentStatus
from router.statuses import TrackingStatus as T
from router.statuses import WmsEventType as W


class FulfilmentCommand(StrEnum):
    """What the router itself does to a fulfilment."""

    RESERVE = "reserve"
    DISPATCH = "dispatch"  # the WMS took the order (HTTP 2xx)
    DISPATCH_FAILED = "dispatch_failed"  # the WMS could not be reached or refused the request
    CANCEL = "cancel"  # before the WMS has it; after, ask the WMS to intercept


_Status = TypeVar("_Status", bound=str)  # the status type a transition table holds


def transition(machine: str, table: Mapping[tuple[Any, Any], _Status], current: str, command: str) -> _Status:
    """Look ``(current, command)`` up in ``table``; return the new status.

    Raises :class:`IllegalTransition` (with the commands ``current`` allows) when absent.
    """
    try:
        return table[(current, command)]
    except KeyError:
        raise IllegalTransition(machine, current, command, commands_from(table, current)) from None


def commands_from(table: Mapping, current: str | None) -> tuple[str, ...]:
    """The commands ``table`` allows from ``current``, sorted."""
    return tuple(sorted({str(cmd) for (src, cmd) in table if src == current}))


def _rows(event: str, sources: Iterable[F], to: F) -> dict:
    return {(src, event): to for src in sources}


# Where the fulfilment stands, for "never backwards". exception and dispatch_failed are
# detours, cancelled is an end; they have no rank.
RANK: dict[F, int] = {
    F.PLANNED: 0,
    F.RESERVED: 1,
    F.DISPATCHED: 2,
    F.ACCEPTED: 3,
    F.PICKED: 4,
    F.PACKED: 5,
    F.PARTIALLY_SHIPPED: 6,
    F.SHIPPED: 7,
    F.IN_TRANSIT: 8,
    F.OUT_FOR_DELIVERY: 9,
    F.DELIVERED: 10,
}
SHIPPED_OR_LATER = frozenset({F.SHIPPED, F.IN_TRANSIT, F.OUT_FOR_DELIVERY, F.DELIVERED, F.EXCEPTION})
AT_WAREHOUSE = frozenset({F.DISPATCHED, F.ACCEPTED, F.PICKED, F.PACKED})
NOT_YET_DISPATCHED = frozenset({F.PLANNED, F.RESERVED, F.DISPATCH_FAILED})
# Some of it or all of it left the warehouse (what "anything shipped" means for cancels and addresses).
PARTLY_OR_ALL_SHIPPED = SHIPPED_OR_LATER | {F.PARTIALLY_SHIPPED}
# Fulfilments whose (remaining) units are still held in their warehouse's stock.
HOLDS_STOCK = frozenset({F.RESERVED, *AT_WAREHOUSE, F.PARTIALLY_SHIPPED})
# A parcel that may still be scanned: its fulfilment neither delivered nor cancelled.
LIVE_PARCEL = frozenset(set(F) - {F.DELIVERED, F.CANCELLED})

# The warehouse may answer before the router has recorded its own dispatch (or after a
# timed-out dispatch it counted as failed): evidence from the WMS wins over our record.
_WMS_SOURCES = (F.RESERVED, F.DISPATCH_FAILED, F.DISPATCHED)
_CARRIER_LEG = (F.SHIPPED, F.IN_TRANSIT, F.OUT_FOR_DELIVERY, F.EXCEPTION)

TRANSITIONS: dict[tuple[F, str], F] = {
    # router commands
    (F.PLANNED, FulfilmentCommand.RESERVE): F.RESERVED,
    (F.RESERVED, FulfilmentCommand.DISPATCH): F.DISPATCHED,
    (F.DISPATCH_FAILED, FulfilmentCommand.DISPATCH): F.DISPATCHED,
    (F.RESERVED, FulfilmentCommand.DISPATCH_FAILED): F.DISPATCH_FAILED,
    (F.PLANNED, FulfilmentCommand.CANCEL): F.CANCELLED,
    (F.RESERVED, FulfilmentCommand.CANCEL): F.CANCELLED,
    (F.DISPATCH_FAILED, FulfilmentCommand.CANCEL): F.CANCELLED,
    # WMS events
    **_rows(W.ACCEPTED, _WMS_SOURCES, F.ACCEPTED),
    **_rows(W.PICKED, (*_WMS_SOURCES, F.ACCEPTED), F.PICKED),
    **_rows(W.PACKED, (*_WMS_SOURCES, F.ACCEPTED, F.PICKED), F.PACKED),
    **_rows(W.PARTIALLY_SHIPPED, (*_WMS_SOURCES, F.ACCEPTED, F.PICKED, F.PACKED), F.PARTIALLY_SHIPPED),
    **_rows(W.SHIPPED, (*_WMS_SOURCES, F.ACCEPTED, F.PICKED, F.PACKED, F.PARTIALLY_SHIPPED), F.SHIPPED),
    **_rows(W.SHORT_PICKED, (F.DISPATCHED, F.ACCEPTED, F.PICKED), F.DISPATCH_FAILED),
    **_rows(W.REJECTED, (F.RESERVED, F.DISPATCHED), F.DISPATCH_FAILED),
    **_rows(W.INTERCEPTED, (F.DISPATCHED, F.ACCEPTED, F.PICKED, F.PACKED, F.DISPATCH_FAILED), F.CANCELLED),
    # carrier tracking events (canonical words); a scan proves the parcel left the warehouse
    **_rows(T.IN_TRANSIT, (*AT_WAREHOUSE, F.SHIPPED, F.EXCEPTION), F.IN_TRANSIT),
    **_rows(T.OUT_FOR_DELIVERY, (*AT_WAREHOUSE, F.SHIPPED, F.IN_TRANSIT, F.EXCEPTION), F.OUT_FOR_DELIVERY),
    **_rows(
        T.AVAILABLE_FOR_PICKUP, (*AT_WAREHOUSE, F.SHIPPED, F.IN_TRANSIT, F.EXCEPTION), F.OUT_FOR_DELIVERY
    ),
    **_rows(T.DELIVERED, (*AT_WAREHOUSE, *_CARRIER_LEG), F.DELIVERED),
    **_rows(T.DELIVERY_FAILED, (*AT_WAREHOUSE, F.SHIPPED, F.IN_TRANSIT, F.OUT_FOR_DELIVERY), F.EXCEPTION),
    **_rows(T.EXCEPTION, (*AT_WAREHOUSE, F.SHIPPED, F.IN_TRANSIT, F.OUT_FOR_DELIVERY), F.EXCEPTION),
    **_rows(T.EXPIRED, (*AT_WAREHOUSE, F.SHIPPED, F.IN_TRANSIT, F.OUT_FOR_DELIVERY), F.EXCEPTION),
}

EVENTS: tuple[str, ...] = (
    *FulfilmentCommand,
    *(w for w in W if w is not W.RETURN_RECEIVED),
    *T,
)

_ROUTER_COMMANDS = frozenset(str(c) for c in FulfilmentCommand)
# WMS words that may trail an intercept (sent before it, delivered after it).
_LATE_ON_CANCELLED = frozenset(
    {
        W.ACCEPTED,
        W.PICKED,
        W.PACKED,
        W.SHORT_PICKED,
        W.REJECTED,
        W.INTERCEPTED,
        FulfilmentCommand.CANCEL,
        FulfilmentCommand.DISPATCH_FAILED,
    }
)


def is_stale(current: F, event: str) -> bool:
    """True when ``event`` is not in the table from ``current`` because ``current`` is past it.

    Stale events are no-ops: repeated and late WMS acks and carrier scans, the router's
    own reserve / dispatch messages redelivered after the fact. Once a fulfilment is
    dispatched the table holds every forward move, so any other WMS or carrier event is
    behind it. ``label_created`` is informational and never moves anything. Not stale
    (so illegal): anything on a planned fulfilment, WMS refusals and
    carrier scans on one never dispatched, shipping or carrier scans on a cancelled one
    (goods moved that we believed stopped), and cancelling one the WMS already has.
    """
    current = F(current)
    if (current, event) in TRANSITIONS or event not in EVENTS or current is F.PLANNED:
        return False
    if event == T.LABEL_CREATED:
        return True  # informational: a label says nothing about where the parcel is
    if current is F.CANCELLED:
        return event in _LATE_ON_CANCELLED
    if event == FulfilmentCommand.CANCEL:
        return False
    if event in _ROUTER_COMMANDS:
        return True
    if current is F.RESERVED:
        return False
    if current is F.DISPATCH_FAILED:
        return event in (W.SHORT_PICKED, W.REJECTED)
    return True


def apply_event(current: F, event: str) -> F:
    """Apply a router command, WMS event or canonical tracking status to a fulfilment.

    Returns the new status; returns ``current`` itself for a stale event (see
    :func:`is_stale`). Raises :class:`IllegalTransition` (machine ``"fulfilment"``) for any
    other event the table does not allow from ``current``.
    """
    current = F(current)
    if (current, event) in TRANSITIONS:
        return TRANSITIONS[(current, event)]
    if is_stale(current, event):
        return current
    raise IllegalTransition("fulfilment", current, event, commands_from(TRANSITIONS, current))


def derive_shipment_status(fulfilment_statuses: Iterable[F], outstanding: bool = False) -> ShipmentStatus:
    """The order's shipment status from its fulfilments' statuses.

    Cancelled fulfilments are ignored. None shipped (or no fulfilment at all): unshipped;
    some shipped or later, or one partially shipped: partially_shipped; all shipped or later:
    shipped; all delivered: delivered. ``exception`` counts as shipped (the parcel is with the
    carrier).
    ``outstanding``: some units of the order are in no fulfilment yet (backordered, waiting for
    stock), so whatever shipped is only part of it: partially_shipped at most.
    """
    live = [F(s) for s in fulfilment_statuses if F(s) is not F.CANCELLED]
    shipped = [s for s in live if s in SHIPPED_OR_LATER]
    if not shipped and F.PARTIALLY_SHIPPED not in live:
        return ShipmentStatus.UNSHIPPED
    if len(shipped) < len(live) or outstanding:
        return ShipmentStatus.PARTIALLY_SHIPPED
    if all(s is F.DELIVERED for s in live):
        return ShipmentStatus.DELIVERED
    return ShipmentStatus.SHIPPED


_STAGES = {F.PLANNED: "unshipped", F.RESERVED: "unshipped", F.DISPATCHED: "unshipped", F.ACCEPTED: "unshipped",
           F.PICKED: "unshipped", F.PACKED: "unshipped", F.DISPATCH_FAILED: "unshipped",
           F.PARTIALLY_SHIPPED: "partly_shipped",
           F.SHIPPED: "with_carrier", F.IN_TRANSIT: "with_carrier", F.OUT_FOR_DELIVERY: "with_carrier",
           F.EXCEPTION: "with_carrier", F.DELIVERED: "delivered", F.CANCELLED: "cancelled"}


def stage_of(status: F | str) -> str:
    """What the order-level statuses see of a fulfilment: unshipped, partly_shipped, with_carrier,
    delivered or cancelled. A move within one stage cannot change the order's status or shipment status,
    whatever its sibling fulfilments do meanwhile."""
    return _STAGES[F(status)]


def moved_meanwhile(read: F | str, new: F | str) -> tuple[F, ...]:
    """The statuses a fulfilment read in ``read`` may be in by the time an event that moves it to
    ``new`` (in the same stage) is written: ``read`` itself and every ranked status after it and
    before ``new`` (the events in between landed first). From each of them the same event gives
    ``new`` with nothing derived at order level changing, so the write may be guarded on these
    instead of ``read`` alone: consecutive warehouse or carrier events no longer undo each other's
    guard when they arrive close together. Empty when ``read`` and ``new`` are not ranked or not in
    one stage."""
    read, new = F(read), F(new)
    if read not in RANK or new not in RANK or stage_of(read) != stage_of(new) or RANK[new] <= RANK[read]:
        return ()
    return tuple(s for s in RANK if RANK[read] <= RANK[s] < RANK[new])


def still_stale(read: F | str, event: str) -> tuple[F, ...]:
    """For an ``event`` stale at ``read`` (see :func:`is_stale`): ``read`` and the ranked statuses
    after it at which the event is stale too, those the fulfilment may have reached meanwhile.
    Recording a late or repeated event may be guarded on these: wherever among them the
    fulfilment is, the event only joins its history. Empty when the event is not stale at ``read``."""
    read = F(read)
    if not is_stale(read, event):
        return ()
    later = (s for s in RANK if read in RANK and RANK[s] > RANK[read] and is_stale(s, event))
    return (read, *later)


def parcels(fulfilment: Mapping | None) -> list[tuple[str, str | None]]:
    """``(tracking_number, carrier_id)`` of a fulfilment's waybill and of every package its
    warehouse reported (each number once, the waybill first); a package without a carrier of its
    own goes with the fulfilment's carrier, which may be unknown (None)."""
    if not fulfilment:
        return []
    carrier = fulfilment.get("carrier_id")
    found = {fulfilment["tracking_number"]: carrier} if fulfilment.get("tracking_number") else {}
    for p in fulfilment.get("packages") or []:
        found.setdefault(p["tracking_number"], p.get("carrier_id") or carrier)
    return list(found.items())


def delivers_fulfilment(parcel: str | None, parcels: Iterable[str], delivered_before: Iterable[str]) -> bool:
    """Whether a carrier's ``delivered`` for ``parcel`` delivers its fulfilment: always for a
    fulfilment shipped as one parcel (or none known); for one shipped in several ``parcels``
    (tracking numbers), only once every other parcel was ``delivered_before``. Until then the
    scan is kept in the fulfilment's tracking history and the fulfilment stays with the carrier."""
    parcels = set(parcels)
    if len(parcels) < 2 or parcel not in parcels:
        return True
    return parcels <= set(delivered_before) | {parcel}


def unshipped_quantity(line: Mapping) -> int:
    """Units of a fulfilment line still in the warehouse: its quantity less what partial
    confirmations reported shipped (``shipped``)."""
    return max(0, int(line["quantity"]) - int(line.get("shipped") or 0))


def lines_after_shipment(lines: Iterable[Mapping], reported: Iterable[Mapping], final: bool) -> list[dict]:
    """A fulfilment's ``lines`` after a warehouse confirmed shipping ``reported`` units
    (``{line_no or None, sku, quantity}`` as the warehouse reported them; a partial confirmation
    reports what left with it, not a running total). Each line's ``shipped`` grows by what was
    reported for it, never past its quantity: a report is matched to the line of that number and
    SKU, else to the lines of that SKU in order. A final confirmation ships every line whole
    (the warehouse says the delivery order is complete); an order never partly shipped keeps no
    ``shipped`` keys."""
    out = [dict(line) for line in lines]
    if final:  # whole, and said so on every line once a partial confirmation said it of some
        return [{**line, "shipped": line["quantity"]} for line in out] if any("shipped" in l for l in out) else out
    for report in reported:
        left = int(report.get("quantity") or 0)
        candidates = [line for line in out if line["sku"] == report.get("sku")]
        candidates.sort(key=lambda line: line.get("line_no") != report.get("line_no"))  # its own line first
        for line in candidates:
            take = min(left, unshipped_quantity(line))
            if take:
                line["shipped"] = int(line.get("shipped") or 0) + take
                left -= take
    return out


def live_owner(owners: Iterable[Mapping]) -> Mapping | None:
    """Which of the fulfilments holding one tracking number (with one carrier) its events go to:
    the newest live parcel (neither delivered nor cancelled; ``since`` is when it got the
    number), else the newest of all. ``owners`` are ``{"status", "since", ...}``."""
    owners = list(owners)
    if not owners:
        return None
    live = [o for o in owners if o["status"] in LIVE_PARCEL]

    def newest(o: Mapping):
        return (o.get("since") is not None, o.get("since") or 0)

    return max(live or owners, key=newest)
