"""After-sales cases (refund only, return and refund, exchange) on an order, applied synchronously
for the API, with their follow-ups: restock on a resaleable return, a replacement order for an
exchange, the refund recorded against the payment."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import structlog

from documents import orders, stock
from documents.converters import order_from_document, order_state
from router import after_sales
from router.after_sales import AfterSalesCase, CaseCommand, CaseOutcome
from router.errors import IllegalTransition
from router.order_state import AfterSalesType
from router.paperwork import PaperKind, with_paper
from router.model import Order, OrderLine
from router.statuses import AfterSalesStatus, PaymentMethod, ShippingMethod
from services import intake, refunds
from services.follow_up import follow_up
from services.outbox import outbox_entry, send_pending
from services.refunds import case_doc, case_from  # noqa: F401  (the stored case, kept importable from here)
from services.refunds import save_cases as _save_cases

log = structlog.get_logger(__name__)


class CaseNotFound(LookupError):
    pass


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
    order_id = case_id.rsplit("-AS", 1)[0]

    return _refund(order_id, case_id, actor, transaction_id)


def _refund(order_id: str, case_id: str, actor: str, transaction_id: str | None, amount: Decimal | None = None) -> dict:
    """:func:`refund` (``amount``: less than the case's, see ``refunds.settle_fields``)."""
    now = datetime.now(timezone.utc)

    def decide(doc):
        _index([case_from(c) for c in doc.get("after_sales", [])], case_id)
        fields, timeline, case, outcomes = refunds.settle_fields(doc, case_id, now, actor, transaction_id, amount)
        if case.amount > 0:
            fields["outbox"] = outbox_entry({**doc, **fields}, "refunded", case_id, origin=actor, cause=case_id,
                                            case_id=case_id, amount=str(case.amount),
                                            lines=[list(x) for x in case.lines], note=case.reason)
        return fields, timeline, (case, outcomes)

    doc, result = orders.update_with(order_id, decide)
    if doc is None:
        raise CaseNotFound(case_id)
    send_pending(doc, cause=case_id)
    return _case_follow_up(doc, *result)


def refund_from_channel(order_id: str, channel: str, amount: Decimal, reason: str = "") -> dict | None:
    """The channel reports it refunded ``amount`` more than the router knows of. A refund the
    order owes after a cancellation (services/refunds.py) is settled by it first (up to its
    amount; a smaller refund settles that much and leaves the rest owed); anything beyond is
    recorded as a refund-only case opened, approved and refunded by ``channel:<channel>``. Nothing
    is echoed back to the channel. Returns the last case. Raises IllegalTransition, ValueError
    (more than was paid)."""
    actor = f"channel:{channel}"
    case = None
    for attempt in range(3):
        doc = orders.load(order_id, working=True)
        if doc is None:
            raise CaseNotFound(order_id)
        for owed in [c for c in doc.get("after_sales", [])
                     if c.get("cause") == refunds.CAUSE and c["status"] == AfterSalesStatus.AWAITING_REFUND]:
            if amount <= 0:
                break
            take = min(amount, Decimal(owed["amount"]))
            try:
                case = _refund(order_id, owed["case_id"], actor, f"{channel}:refund:{take}", take)
            except IllegalTransition:  # settled meanwhile (the channel accepted our own notice of it)
                continue
            amount -= take
        if amount <= 0:
            return case
        try:
            case = open_case(order_id, AfterSalesType.REFUND_ONLY, actor, amount,
                             reason=reason or "refunded at the channel")
            break
        except IllegalTransition:
            if attempt == 2:
                raise
            # the order moved on meanwhile (a cancel completed at the warehouse): the refund that
            # cancel left owed is there to settle now
    assert case is not None, "opened just above"
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
