"""Refunds follow cancellations: money an order will not keep goes back where it came from.

A change that leaves an order owing money back (it was cancelled or rejected, wholly or in part;
money arrived after that; it was paid twice: the lifecycle's ``refund_due`` outcome) opens, in
the same guarded update, a refund-only after-sales case for what is owed
(``router.after_sales.open_owed_refund``: approved by the cancellation, ``awaiting_refund``),
marked ``cause: cancellation`` and with where the money goes (``refund_via``):

- ``channel``: the channel took the payment and its API refunds (Shopify, WooCommerce, a
  canonical channel with an ``api_url``): a ``refunded`` notice goes in the outbox and the case is
  refunded (``payment_status`` refunded / partially_refunded) once the channel has accepted it
  (services/channel_sync.py). A cancel that came from the channel itself sends nothing back: the
  channel's own report of its refund settles the case (``services.after_sales.refund_from_channel``);
- ``payments``: the order's channel has no API (the manual and canonical channels): the payment
  service reads the refunds owed (``GET /v1/refunds``) and confirms each with a ``refunded``
  payment notice naming the case (``POST /v1/payments``, ``after_sales_case``);
- ``operator``: the channel's API takes no refund (Taobao, Amazon: the notice is kept as
  ``unsupported`` with why), or a native channel has no API configured: a person refunds in the
  channel's back office and records it (``POST /v1/after-sales/{case}/refund``).

Settling a case (:func:`settle_fields`) is the after-sales path's own ``refund_done`` step with
its payment record and refund slip, whichever way the confirmation came. Nothing is only logged.
"""
from __future__ import annotations

from dataclasses import asdict, replace
from datetime import datetime, timezone
from decimal import Decimal

import structlog

from documents import orders, reference
from documents.converters import change_fields, order_state
from router import after_sales, lifecycle
from router.after_sales import AfterSalesCase, CaseCommand, ReturnCondition
from router.errors import IllegalTransition, RefundExceedsPaid
from router.order_state import AfterSalesType, Outcome
from router.paperwork import PaperKind, with_paper
from router.statuses import AfterSalesStatus, FulfilmentStatus, OrderStatus, PaymentEventType
from services.outbox import outbox_entry, send_pending

log = structlog.get_logger(__name__)
CAUSE = "cancellation"  # the ``cause`` of a case this module opens
DEAD = frozenset({OrderStatus.CANCELLED.value, OrderStatus.REJECTED.value})


# --- cases as stored ----------------------------------------------------------------------------

def case_from(d: dict) -> AfterSalesCase:
    return AfterSalesCase(case_id=d["case_id"], order_id=d["order_id"], type=AfterSalesType(d["type"]),
                          status=AfterSalesStatus(d["status"]), opened_at=d["opened_at"],
                          amount=Decimal(d.get("amount") or 0), lines=tuple(tuple(x) for x in d.get("lines", [])),
                          reason=d.get("reason", ""),
                          condition=ReturnCondition(d["condition"]) if d.get("condition") else None)


def case_doc(case: AfterSalesCase, extra: dict | None = None) -> dict:
    d = asdict(case)
    d.update(type=case.type.value, status=case.status.value, amount=str(case.amount),
             lines=[list(x) for x in case.lines], condition=case.condition.value if case.condition else None)
    return {**d, **(extra or {})}


def save_cases(doc: dict, cases: list[AfterSalesCase], state, now, actor, timeline, extra_fields=None,
               extra: dict[str, dict] | None = None) -> tuple[dict, list]:
    """Fields and timeline for an order whose cases changed (after-sales status re-derived); each
    stored case keeps the keys of its own it had (``extra``: more of them, by case id)."""
    change = after_sales.on_cases_changed(state, cases, now, actor)
    fields = change_fields(doc, change)
    old = {c["case_id"]: c for c in doc.get("after_sales", [])}
    fields["after_sales"] = [case_doc(c, {**{k: v for k, v in old.get(c.case_id, {}).items() if k not in asdict(c)},
                                          **(extra or {}).get(c.case_id, {})}) for c in cases]
    fields.update(extra_fields or {})
    return fields, list(timeline) + list(change.timeline)


# --- what is owed ------------------------------------------------------------------------------

def _payable(amounts: dict | None) -> Decimal:
    return Decimal(str((amounts or {}).get("payable") or 0))


def kept(doc: dict) -> Decimal:
    """What the order still charges for: nothing once cancelled or rejected; otherwise its payable
    less that of its cancelled fulfilments (not a re-routed one: its money moved to its
    replacements) and of its cancelled backordered units (services/backorders.py)."""
    if doc.get("status") in DEAD:
        return Decimal(0)
    cancelled = sum((_payable(f.get("amounts")) for f in doc.get("fulfilments") or []
                     if f.get("status") == FulfilmentStatus.CANCELLED and not f.get("rerouted_to")), Decimal(0))
    backorders = sum((_payable(e.get("amounts")) for e in (doc.get("routing") or {}).get("backorder_cancelled") or []),
                     Decimal(0))
    return _payable(doc.get("amounts")) - cancelled - backorders


def owed_lines(doc: dict) -> tuple[tuple[int, int], ...]:
    """The ``(line_no, quantity)`` the refund is for: every line of a dead order, else the units of
    its cancelled fulfilments (none for money paid twice)."""
    if doc.get("status") in DEAD:
        return tuple((line["line_no"], line["quantity"]) for line in doc.get("lines") or [])
    units: dict[int, int] = {}
    for f in doc.get("fulfilments") or []:
        if f.get("status") == FulfilmentStatus.CANCELLED and not f.get("rerouted_to"):
            for line in f.get("lines") or []:
                units[line["line_no"]] = units.get(line["line_no"], 0) + line["quantity"]
    return tuple(sorted(units.items()))


def _reason(doc: dict) -> str:
    if doc.get("status") == OrderStatus.CANCELLED:
        return "order cancelled"
    if doc.get("status") == OrderStatus.REJECTED:
        return "order rejected"
    return "part of the order cancelled" if owed_lines(doc) else "paid more than the order charges"


def refund_via(doc: dict, actor: str, outbox: list[dict], case_id: str) -> str:
    """Where the money goes back (see the module docstring)."""
    channel = reference.cached("channels", doc["channel"]) or {}
    if actor == f"channel:{doc['channel']}":
        return "channel"  # the channel cancelled: its own refund report settles the case
    entry = next((e for e in outbox if e["id"] == f"{case_id}:refunded"), None)
    if entry is not None:
        return "channel" if entry["state"] == "pending" else "operator"
    return "payments" if (channel.get("format") or "canonical") == "canonical" else "operator"


def owed_refund_fields(doc: dict, now: datetime, actor: str, cause: str | None = None,
                       reason: str | None = None) -> tuple[dict, list]:
    """The fields and timeline entries that open the refund ``doc`` (an order as it is, or as a
    change leaves it) owes, with its notice to the channel; ``({}, [])`` when it owes nothing.
    ``cause``: the notice's, for the caller's ``send_pending`` (default the case id)."""
    state = order_state(doc)
    cases = [case_from(c) for c in doc.get("after_sales") or []]
    amount = after_sales.refund_owed(state, kept(doc), cases)
    if amount <= 0:
        return {}, []
    case_id = f"{doc['_id']}-AS{len(cases) + 1}"
    reason = reason or _reason(doc)
    lines = owed_lines(doc)
    opened = after_sales.open_owed_refund(state, case_id, amount, now, actor, lines, reason, cases)
    # a cancel the channel made is the channel's to refund, whoever completes it (an intercept)
    origin = doc["cancelled_by"] if str(doc.get("cancelled_by") or "").startswith("channel:") else actor
    outbox = outbox_entry(doc, "refunded", case_id, origin=origin, cause=cause or case_id, case_id=case_id,
                          amount=str(amount), lines=[list(x) for x in lines], note=reason, confirms=True)
    via = refund_via(doc, origin, outbox, case_id)
    fields, entries = save_cases(doc, cases + [opened.case], state, now, actor, opened.timeline,
                                 extra={case_id: {"cause": CAUSE, "refund_via": via}})
    if outbox != list(doc.get("outbox") or []):
        fields["outbox"] = outbox
    log.info("refund_owed", order_id=doc["_id"], case_id=case_id, amount=str(amount), via=via)
    return fields, entries


def with_owed_refund(doc: dict, fields: dict, timeline, outcomes, now: datetime, cause: str | None = None
                     ) -> tuple[dict, list]:
    """``fields`` and ``timeline`` of a change to ``doc``, plus, when its ``outcomes`` say money
    is due back (``refund_due``), the refund it owes (:func:`owed_refund_fields`) in the same
    update; its actor is the change's."""
    timeline = list(timeline)
    if Outcome.REFUND_DUE not in set(outcomes or ()):
        return fields, timeline
    actor = timeline[0]["actor"] if timeline else "system"
    more, entries = owed_refund_fields({**doc, **fields}, now, actor, cause)
    return {**fields, **more}, timeline + entries


def open_owed(order_id: str, actor: str = "system") -> dict | None:
    """Open the refund the order owes, if any and not opened yet (the follow-up of a change whose
    update did not open it itself), and relay its notice. Returns the order."""
    now = datetime.now(timezone.utc)
    cause = f"owed:{now.isoformat()}"

    def decide(doc):
        fields, entries = owed_refund_fields(doc, now, actor, cause)
        return (fields, entries, None) if fields else None

    doc, _ = orders.update_with(order_id, decide)
    send_pending(doc, cause=cause)
    return doc


# --- the money went back -----------------------------------------------------------------------

def settle_fields(doc: dict, case_id: str, now: datetime, actor: str, transaction_id: str | None = None,
                  amount: Decimal | None = None) -> tuple[dict, list, AfterSalesCase, tuple]:
    """A case's money went back to the customer: the payment is refunded by its amount
    (partially_refunded / refunded; a fully refunded open order closes), the case succeeds, a
    payment record and a refund slip are kept. ``amount`` below the case's (a channel that
    refunded less): the case is for that much and what is still owed is opened again as a case
    of its own. Returns ``(fields, timeline, case, order outcomes)``; raises KeyError for an
    unknown case, IllegalTransition when it is not awaiting its refund."""
    cases = [case_from(c) for c in doc.get("after_sales", [])]
    index = next((i for i, c in enumerate(cases) if c.case_id == case_id), None)
    if index is None:
        raise KeyError(case_id)
    case = cases[index]
    if amount is not None and 0 < amount < case.amount:
        case = replace(case, amount=amount)
    state = order_state(doc)
    done = after_sales.apply_case(case, CaseCommand.REFUND_DONE, now, actor)
    paid_back = lifecycle.on_payment(state, PaymentEventType.REFUNDED, case.amount, now, actor="payment")
    cases[index] = done.case
    after = paid_back.apply(state)
    fields = change_fields(doc, paid_back)
    payment = {"type": "refunded", "amount": str(case.amount), "transaction_id": transaction_id or case_id,
               "after_sales_case": case_id, "received_at": now}
    more, timeline = save_cases({**doc, **fields}, cases, after, now, actor,
                                list(paid_back.timeline) + list(done.timeline),
                                {"payments": doc.get("payments", []) + [payment],
                                 "papers": with_paper(doc.get("papers", []), PaperKind.REFUND_SLIP, case_id, now,
                                                      amount=str(case.amount))})
    fields = {**fields, **more}
    old = next(c for c in doc.get("after_sales", []) if c["case_id"] == case_id)
    if old.get("cause") == CAUSE and case.amount < Decimal(old["amount"]):
        rest, entries = owed_refund_fields({**doc, **fields}, now, actor)
        fields, timeline = {**fields, **rest}, timeline + entries
    return fields, timeline, done.case, tuple(paid_back.outcomes) + tuple(done.outcomes)


def confirmed_by_channel(doc: dict, entry: dict, now: datetime) -> tuple[dict, list, tuple]:
    """The channel accepted a ``refunded`` notice that settles its case on acceptance
    (``confirms``): the case is refunded, unless it was settled another way meanwhile (an operator,
    the channel's own report). Returns ``(fields, timeline, order outcomes)``."""
    case = next((c for c in doc.get("after_sales", []) if c["case_id"] == entry.get("case_id")), None)
    if case is None or case["status"] != AfterSalesStatus.AWAITING_REFUND:
        return {}, [], ()
    try:
        fields, timeline, _, outcomes = settle_fields(doc, case["case_id"], now, f"channel:{doc['channel']}",
                                                      transaction_id=f"{doc['channel']}:{entry['id']}")
    except (IllegalTransition, RefundExceedsPaid) as exc:  # the order moved on: a person looks at the case
        log.warning("refund_not_recorded", order_id=doc["_id"], case_id=case["case_id"], reason=str(exc))
        return {}, [], ()
    return fields, timeline, outcomes
