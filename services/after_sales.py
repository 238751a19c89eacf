"""After-sales cases (refund only, return and refund, exchange) on an order, applied synchronously
for the API, with their follow-ups: restock on a resaleable return, a replacement order for an
exchange, the refund recorded against the payment."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from decimal import Decimal

import structlog

from documents import orders, stock
from documents.converters import change_fields, order_from_document, order_state
from router import after_sales, lifecycle
from router.after_sales import AfterSalesCase, CaseCommand, CaseOutcome, ReturnCondition
from router.order_state import AfterSalesType
from router.paperwork import PaperKind, with_paper
from router.model import Order, OrderLine
from router.statuses import AfterSalesStatus, PaymentEventType, PaymentMethod, ShippingMethod
from services.channel_sync import outbox_entry, send_pending
from services import intake
from services.follow_up import follow_up

log = structlog.get_logger(__name__)


class CaseNotFound(LookupError):
    pass


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


def _save_cases(doc: dict, cases: list[AfterSalesCase], state, now, actor, timeline, extra_fields=None):
    """Fields and timeline for an order whose cases changed (after-sales status re-derived)."""
    change = after_sales.on_cases_changed(state, cases, now, actor)
    fields = change_fields(doc, change)
    old = {c["case_id"]: c for c in doc.get("after_sales", [])}
    fields["after_sales"] = [case_doc(c, {k: v for k, v in old.get(c.case_id, {}).items()
                                          if k not in asdict(c)}) for c in cases]
    fields.update(extra_fields or {})
    return fields, list(timeline) + list(change.timeline)


def open_case(order_id: str, case_type: str, actor: str, amount: Decimal = Decimal(0),
              lines: tuple = (), reason: str = "") -> dict:
    """Open a case; returns it. Raises IllegalTransition, RefundExceedsPaid, ValueError."""
    now = datetime.now(timezone.utc)

    def decide(doc):
        state = order_state(doc)
        cases = [case_from(c) for c in doc.get("after_sales", [])]
        _check_lines(doc, lines)
        opened = after_sales.open_case(state, f"{order_id}-AS{len(cases) + 1}", case_type, now, actor,
                                       amount=amount, lines=tuple(lines), reason=reason, cases=cases)
        fields, timeline = _save_cases(doc, cases + [opened.case], state, now, actor, opened.timeline)
        return fields, timeline, (opened.case, opened.outcomes)

    doc, result = orders.update_with(order_id, decide)
    if doc is None:
        raise CaseNotFound(order_id)
    return _case_follow_up(doc, *result)


def step(case_id: str, command: str, actor: str, condition: str | None = None) -> dict:
    """Move a case one step (approve, reject, return_received with a condition)."""
    now = datetime.now(timezone.utc)
    order_id = case_id.rsplit("-AS", 1)[0]

    def decide(doc):
        cases = [case_from(c) for c in doc.get("after_sales", [])]
        index = _index(cases, case_id)
        moved = after_sales.apply_case(cases[index], command, now, actor, condition)
        cases[index] = moved.case
        papers = doc.get("papers", [])
        if command == CaseCommand.APPROVE and moved.case.type is not AfterSalesType.REFUND_ONLY:
            papers = with_paper(papers, PaperKind.RETURN_SLIP, case_id, now, lines=[list(x) for x in moved.case.lines])
        fields, timeline = _save_cases(doc, cases, order_state(doc), now, actor, moved.timeline, {"papers": papers})
        return fields, timeline, (moved.case, moved.outcomes)

    doc, result = orders.update_with(order_id, decide)
    if doc is None:
        raise CaseNotFound(case_id)
    return _case_follow_up(doc, *result)


def refund(case_id: str, actor: str, transaction_id: str | None = None) -> dict:
    """The case's money went back to the customer: the payment is refunded by the case amount
    (partially_refunded / refunded, a fully refunded order closes) and the case succeeds. The
    channel hears of it through the outbox, unless the refund came from that channel."""
    now = datetime.now(timezone.utc)
    order_id = case_id.rsplit("-AS", 1)[0]

    def decide(doc):
        cases = [case_from(c) for c in doc.get("after_sales", [])]
        index = _index(cases, case_id)
        case = cases[index]
        state = order_state(doc)
        paid_back = lifecycle.on_payment(state, PaymentEventType.REFUNDED, case.amount, now, actor="payment")
        done = after_sales.apply_case(case, CaseCommand.REFUND_DONE, now, actor)
        cases[index] = done.case
        after = paid_back.apply(state)
        fields = change_fields(doc, paid_back)
        payment = {"type": "refunded", "amount": str(case.amount), "transaction_id": transaction_id or case_id,
                   "after_sales_case": case_id, "received_at": now}
        more, timeline = _save_cases({**doc, **fields}, cases, after, now, actor, list(paid_back.timeline) + list(done.timeline),
                                     {"payments": doc.get("payments", []) + [payment],
                                      "papers": with_paper(doc.get("papers", []), PaperKind.REFUND_SLIP, case_id, now,
                                                           amount=str(case.amount))})
        if case.amount > 0:
            more["outbox"] = outbox_entry(doc, "refunded", case_id, origin=actor, cause=case_id, case_id=case_id,
                                          amount=str(case.amount), lines=[list(x) for x in case.lines],
                                          note=case.reason)
        return {**fields, **more}, timeline, (done.case, tuple(paid_back.outcomes) + tuple(done.outcomes))

    doc, result = orders.update_with(order_id, decide)
    if doc is None:
        raise CaseNotFound(case_id)
    send_pending(doc, cause=case_id)
    return _case_follow_up(doc, *result)


def refund_from_channel(order_id: str, channel: str, amount: Decimal, reason: str = "") -> dict | None:
    """The channel reports it refunded ``amount`` more than the router knows of: recorded as a
    refund-only case opened, approved and refunded by ``channel:<channel>`` (so nothing is echoed
    back to it). Returns the case. Raises IllegalTransition, ValueError (more than was paid)."""
    actor = f"channel:{channel}"
    case = open_case(order_id, AfterSalesType.REFUND_ONLY, actor, amount, reason=reason or "refunded at the channel")
    if case["status"] == AfterSalesStatus.PENDING_REVIEW:
        case = step(case["case_id"], CaseCommand.APPROVE, actor)
    return refund(case["case_id"], actor, transaction_id=f"{channel}:refund:{amount}")


def _index(cases: list[AfterSalesCase], case_id: str) -> int:
    for i, c in enumerate(cases):
        if c.case_id == case_id:
            return i
    raise CaseNotFound(case_id)


def _check_lines(doc: dict, lines) -> None:
    ordered = {l["line_no"]: l["quantity"] for l in doc["lines"]}
    for line_no, quantity in lines:
        if line_no not in ordered or not 0 < quantity <= ordered[line_no]:
            raise ValueError(f"line {line_no}: quantity {quantity} is not on the order")


def _case_follow_up(doc: dict, case: AfterSalesCase, outcomes) -> dict:
    order_outcomes = [o for o in outcomes if not isinstance(o, CaseOutcome)]
    follow_up(doc, order_outcomes)
    if CaseOutcome.RESTOCK in outcomes:
        restock(doc, case)
    if CaseOutcome.SHIP_EXCHANGE in outcomes:
        ship_exchange(doc, case)
    saved = orders.load(doc["_id"], working=True)
    assert saved is not None, "the case was just saved on it"
    return next(c for c in saved["after_sales"] if c["case_id"] == case.case_id)


def restock(doc: dict, case: AfterSalesCase) -> None:
    """Resaleable returns go back to available stock in the warehouse that shipped them, once."""
    shipped_from: dict[int, tuple[str, str]] = {}
    for f in doc["fulfilments"]:
        for l in f["lines"]:
            shipped_from.setdefault(l["line_no"], (l["sku"], f["warehouse_id"]))
    for line_no, quantity in case.lines:
        if line_no in shipped_from:
            sku, warehouse = shipped_from[line_no]
            stock.restock(sku, warehouse, f"{case.case_id}~{line_no}", quantity)


def ship_exchange(doc: dict, case: AfterSalesCase) -> None:
    """The replacement goods travel as an order of their own (channel ``exchange``, nothing to pay),
    routed, dispatched and tracked like any other; its delivery finishes the case."""
    original = order_from_document(doc)
    by_line = {line.line_no: line for line in original.lines}
    now = datetime.now(timezone.utc)
    replacement = Order(
        order_id=intake.new_order_id(now), channel="exchange", channel_order_id=case.case_id,
        currency=original.currency, address=original.address, customer=original.customer, placed_at=now,
        lines=tuple(OrderLine(line_no=i, sku=by_line[n].sku, merchant_id=by_line[n].merchant_id, quantity=q,
                              unit_price=Decimal("0"), name=by_line[n].name)
                    for i, (n, q) in enumerate(case.lines, start=1)),
        shipping_method=ShippingMethod.STANDARD, payment_method=PaymentMethod.ONLINE,
        order_discount=Decimal("0"), shipping_fee=None, b2b=False)
    payment = {"method": "online", "status": "paid", "transaction_id": "", "terms_days": None, "po_number": ""}
    accepted = intake.accept_order(replacement, payment=payment, now=now,
                                   notes=f"exchange for {doc['_id']} ({case.case_id})",
                                   extra={"exchange_for": {"order_id": doc["_id"], "case_id": case.case_id}})
    log.info("exchange_order", case_id=case.case_id, order_id=accepted.id, duplicate=accepted.duplicate)


def exchange_progress(doc: dict) -> None:
    """Called after a replacement order's fulfilment moved: advance the original case."""
    link = doc.get("exchange_for")
    if not link:
        return
    command = {"shipped": CaseCommand.EXCHANGE_SHIPPED, "delivered": CaseCommand.EXCHANGE_DELIVERED}.get(
        doc["shipment_status"])
    if command is None:
        return
    original = orders.load(link["order_id"], working=True)
    assert original is not None, "an exchange order links to the order it replaces"
    case = next((c for c in original.get("after_sales", []) if c["case_id"] == link["case_id"]), None)
    if case is None or case["status"] != AfterSalesStatus.EXCHANGE_SHIPPING:
        return
    if command is CaseCommand.EXCHANGE_SHIPPED and case.get("exchange_order_id") == doc["_id"]:
        return
    if command is CaseCommand.EXCHANGE_SHIPPED:
        _mark_exchange(link["order_id"], link["case_id"], doc["_id"])
    step(link["case_id"], command, "system")


def _mark_exchange(order_id: str, case_id: str, exchange_order_id: str) -> None:
    def decide(doc):
        cases = doc.get("after_sales", [])
        return {"after_sales": [{**c, "exchange_order_id": exchange_order_id} if c["case_id"] == case_id else c
                                for c in cases]}, [], None

    orders.update_with(order_id, decide)
