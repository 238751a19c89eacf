"""The parts of the order document (``documents.orders.OrderDocument``), declared once: every key
the router stores on an order, at every depth, with how it is stored.

Orders are written as plain dicts through the raw collection (``documents.orders``: insert,
guarded ``$set`` / ``$push``), never by a mongoengine save, so these declarations take no part
in writing: they are the reference of the stored shape, and :func:`stored_shape_errors` checks a
stored document against them (tests/integration/test_order_shape.py runs the pipeline and checks
every order it stored). A new key written without being declared here fails that test.

How values are stored, as the writers write them:

- money the router computes with is ``Decimal128`` (a ``Decimal`` turned by
  ``documents.codec.to_bson``): line prices and discounts, ``order_discount``, ``shipping_fee``,
  ``payable``, ``paid_amount``, ``refunded_amount``;
- money in breakdowns and records is a decimal string (``router.money.Amounts.to_dict``): the
  ``amounts`` of the order, its merchants, lines and fulfilments, a fulfilment's ``freight``, and
  the amounts of payments, cases, papers and channel notices;
- times are BSON dates, except the time a party says an event happened (``occurred_at`` of a
  tracking entry: an ISO string, as reported);
- status words are strings, spelled in ``router/statuses.py``;
- ``None`` (null) is stored for a value not known yet (a carrier id, a waybill, a due time).

Open values, whose inside is not the router's shape: ``raw`` (the channel's native payload, as
received), ``routing.decision`` (the routing explanation: candidates, filters, scores, rules
version, ``inputs_ref``; see ``router.routing``), ``timeline.details`` (what each event adds).
"""
from __future__ import annotations

from datetime import datetime

import mongoengine as me
from bson.decimal128 import Decimal128


class Amounts(me.EmbeddedDocument):
    """``router.money.Amounts.to_dict()``: decimal strings, ``payable = goods - discount + freight``
    plus ``tax`` where prices exclude it (contained where they include it: the order's
    ``amounts.tax_included``)."""

    goods = me.StringField(required=True)
    discount = me.StringField(required=True)
    freight = me.StringField(required=True)
    payable = me.StringField(required=True)
    tax = me.StringField()  # absent on orders priced before tax was modelled


class OrderAmounts(me.EmbeddedDocument):
    """The order's :class:`Amounts` and its currency."""

    goods = me.StringField(required=True)
    discount = me.StringField(required=True)
    freight = me.StringField(required=True)
    payable = me.StringField(required=True)
    currency = me.StringField(required=True)
    tax = me.StringField()  # the order's tax total: its lines' and its freight's
    tax_included = me.BooleanField()  # the prices hold the tax (contained, not added)


class Customer(me.EmbeddedDocument):
    """``router.model.Customer``."""

    id = me.StringField()
    name = me.StringField()
    email = me.StringField()
    phone = me.StringField()
    tier = me.StringField()
    locale = me.StringField()  # the language of the router's e-mails (router/notifications.py); absent on older orders


class Address(me.EmbeddedDocument):
    """``router.model.Address`` (also what an address change writes: the wire's AddressSchema)."""

    country = me.StringField(required=True)
    region = me.StringField()
    city = me.StringField()
    district = me.StringField()
    postcode = me.StringField()
    lines = me.ListField(me.StringField())
    name = me.StringField()
    phone = me.StringField()
    lat = me.FloatField()
    lon = me.FloatField()
    region_code = me.StringField()  # ISO 3166-2 ("CN-ZJ") beside the region as written; "" when unknown


class OrderLine(me.EmbeddedDocument):
    """``router.model.OrderLine``."""

    line_no = me.IntField(required=True)
    sku = me.StringField(required=True)
    merchant_id = me.StringField()
    quantity = me.IntField(required=True)
    unit_price = me.Decimal128Field(required=True)
    discount = me.Decimal128Field()
    name = me.StringField()
    tax = me.Decimal128Field()  # the line's tax after its discounts
    tax_rate = me.Decimal128Field()  # as the channel stated it (0.2 for 20%); null: not stated


class PaymentTerms(me.EmbeddedDocument):
    """How the order is paid, as the channel said (its payment status is ``payment_status``)."""

    method = me.StringField()
    transaction_id = me.StringField()
    terms_days = me.IntField()
    po_number = me.StringField()
    due_at = me.DateTimeField()  # B2B terms: placed_at + terms_days


class Problem(me.EmbeddedDocument):
    """``router.validation.Problem``: why routing rejected or held the order."""

    field = me.StringField()
    code = me.StringField()
    message = me.StringField()


class PlacedLine(me.EmbeddedDocument):
    """``router.model.FulfilmentLine``: units of one order line (in a fulfilment, or backordered)."""

    line_no = me.IntField(required=True)
    sku = me.StringField(required=True)
    quantity = me.IntField(required=True)
    # units its warehouse confirmed shipped (a fulfilment's line once partly shipped:
    # router.fulfilment_flow.lines_after_shipment); absent while none was reported apart
    shipped = me.IntField()


class Backordered(me.EmbeddedDocument):
    """``router.backorders.Backorder``: units of one order line waiting for stock, the money they
    carry and since when they wait (entries stored before they carried money have neither)."""

    line_no = me.IntField(required=True)
    sku = me.StringField(required=True)
    quantity = me.IntField(required=True)
    amounts = me.EmbeddedDocumentField(Amounts)
    since = me.DateTimeField()


class CancelledBackorder(me.EmbeddedDocument):
    """Backordered units cancelled after waiting too long (services.backorders): a
    :class:`Backordered` entry, when it was cancelled, and the refund case opened for its money
    with the cancel (none when nothing was paid)."""

    line_no = me.IntField(required=True)
    sku = me.StringField(required=True)
    quantity = me.IntField(required=True)
    amounts = me.EmbeddedDocumentField(Amounts)
    since = me.DateTimeField()
    cancelled_at = me.DateTimeField(required=True)
    reason = me.StringField()
    refund_case = me.StringField()  # the refund-only case opened for it (services/refunds.py)


class LaterDecision(me.EmbeddedDocument):
    """A routing decision after the first (``routing.decision``): a backorder retry that placed
    units, or a re-route of a fulfilment the warehouse could not ship; replayable like the first."""

    kind = me.StringField(required=True)  # backorder_retry, reroute
    at = me.DateTimeField(required=True)
    decision = me.DictField()  # open: the routing explanation, with its inputs_ref
    fulfilments = me.ListField(me.StringField())  # the fulfilments it created
    failed = me.StringField()  # reroute: the fulfilment it replaced


class Routing(me.EmbeddedDocument):
    """Where the order stands in routing (``router.statuses.RoutingState``) and what was decided."""

    state = me.StringField(required=True)
    attempts = me.IntField()  # written as 0 at intake; routing's record replaces it
    reason = me.StringField()
    decision = me.DictField()  # open: the routing explanation (router.routing)
    problems = me.ListField(me.EmbeddedDocumentField(Problem))
    backordered = me.ListField(me.EmbeddedDocumentField(Backordered))  # units waiting for stock
    backorder_cancelled = me.ListField(me.EmbeddedDocumentField(CancelledBackorder))
    decisions = me.ListField(me.EmbeddedDocumentField(LaterDecision))  # after the first
    routed_at = me.DateTimeField()
    retried_at = me.DateTimeField()  # the last backorder retry (the next is due from then)
    approved_by = me.StringField()  # the operator who approved a hold


class TrackingEntry(me.EmbeddedDocument):
    """One WMS or carrier event in a fulfilment's history (``services.direct_events.event_details``);
    ``direct``: applied where it arrived, without a message (services/direct_events.py)."""

    event = me.StringField(required=True)
    received_at = me.DateTimeField(required=True)
    event_id = me.StringField()
    tracking_number = me.StringField()
    carrier_id = me.StringField()
    occurred_at = me.StringField()  # ISO, as the party reported it
    location = me.StringField()
    description = me.StringField()
    raw_status = me.StringField()
    raw_type = me.StringField()
    exception_reason = me.StringField()
    direct = me.BooleanField()


class Parcel(me.EmbeddedDocument):
    """One box a warehouse reported shipping."""

    tracking_number = me.StringField(required=True)
    carrier_id = me.StringField()


class MergeHold(me.EmbeddedDocument):
    """A fulfilment of a merchant that merges orders (issue 17, item 14; services/merging.py):
    held from ``held_at`` until ``until`` (the merchant's window) for other orders of the customer
    to the same address and warehouse; at release, ``group`` names the merged delivery order
    (``router.merging.group_id``) and ``members`` its fulfilments as ``order_id/fulfilment_id``,
    oldest first (a batch of one goes alone: no group)."""

    held_at = me.DateTimeField(required=True)
    until = me.DateTimeField(required=True)
    released_at = me.DateTimeField()
    group = me.StringField()
    members = me.ListField(me.StringField())


class Fulfilment(me.EmbeddedDocument):
    """One shipment from one warehouse (``router.model.PlannedFulfilment`` and what became of it)."""

    id = me.StringField(required=True)  # "<order id>-F<n>"
    merchant_id = me.StringField()
    warehouse_id = me.StringField(required=True)
    carrier_id = me.StringField()
    status = me.StringField(required=True)  # router.statuses.FulfilmentStatus
    lines = me.ListField(me.EmbeddedDocumentField(PlacedLine))
    amounts = me.EmbeddedDocumentField(Amounts)
    freight = me.StringField()
    cod_amount = me.StringField()  # cash on delivery: what the courier collects with it; null otherwise
    tracking_number = me.StringField()  # the booked waybill
    label_url = me.StringField()  # its label, when the carrier sold one with it (EasyPost postage_label.label_url)
    wms_order_id = me.StringField()
    tracking = me.ListField(me.EmbeddedDocumentField(TrackingEntry))
    packages = me.ListField(me.EmbeddedDocumentField(Parcel))
    # its numbers a newer live parcel claimed since (documents.orders.note_reclaimed): events on
    # them look their live owner up again
    reclaimed_numbers = me.ListField(me.StringField())
    merge = me.EmbeddedDocumentField(MergeHold)  # held for an order merge, and the merged delivery order
    error = me.StringField()  # why dispatch failed
    reroute = me.BooleanField()  # the warehouse cannot ship it: route it elsewhere
    rerouted_to = me.ListField(me.StringField())
    hold_tag = me.StringField()  # planned after the first routing: its stock holds carry this tag
    amounts_before_reroute = me.EmbeddedDocumentField(Amounts)
    # "<status>_at": when it reached that status (services change_fields / events fast step)
    planned_at = me.DateTimeField()
    reserved_at = me.DateTimeField()
    dispatched_at = me.DateTimeField()
    accepted_at = me.DateTimeField()
    picked_at = me.DateTimeField()
    packed_at = me.DateTimeField()
    partially_shipped_at = me.DateTimeField()
    shipped_at = me.DateTimeField()
    in_transit_at = me.DateTimeField()
    out_for_delivery_at = me.DateTimeField()
    delivered_at = me.DateTimeField()
    exception_at = me.DateTimeField()
    cancelled_at = me.DateTimeField()
    dispatch_failed_at = me.DateTimeField()


class PaymentRecord(me.EmbeddedDocument):
    """A payment event applied to the order (the payment service's notice, a channel's payment,
    or an after-sales refund), with when the router applied it."""

    type = me.StringField(required=True)  # router.statuses.PaymentEventType
    transaction_id = me.StringField(required=True)
    amount = me.StringField(required=True)
    received_at = me.DateTimeField(required=True)
    order_id = me.StringField()
    currency = me.StringField()
    # a datetime when the event was read back from the inbox (a replay), an ISO string when it
    # rode in its message (services/intake.py makes messages JSON): both are stored today
    occurred_at = me.DynamicField()
    after_sales_case = me.StringField()
    method = me.StringField()  # "cod": collected by the carrier on delivery (router/cod.py)
    fulfilment_id = me.StringField()  # cod: the parcel whose delivery collected it


class AfterSalesCase(me.EmbeddedDocument):
    """``router.after_sales.AfterSalesCase`` (``services.after_sales.case_doc``)."""

    case_id = me.StringField(required=True)
    order_id = me.StringField(required=True)
    type = me.StringField(required=True)
    status = me.StringField(required=True)
    opened_at = me.DateTimeField(required=True)
    amount = me.StringField()
    lines = me.ListField(me.ListField(me.IntField()))  # [line_no, quantity]
    reason = me.StringField()
    condition = me.StringField()
    exchange_order_id = me.StringField()  # the replacement order of an exchange
    cause = me.StringField()  # "cancellation": a refund the order owed (services/refunds.py)
    refund_via = me.StringField()  # who makes that refund: channel, payments or operator


class Paper(me.EmbeddedDocument):
    """A receipt, shipping note, return slip or refund slip (``router.paperwork``)."""

    number = me.StringField(required=True)
    kind = me.StringField(required=True)
    ref = me.StringField(required=True)
    issued_at = me.DateTimeField(required=True)
    amount = me.StringField()  # receipt, refund slip
    transaction_id = me.StringField()  # receipt
    warehouse_id = me.StringField()  # shipping note
    tracking_number = me.StringField()  # shipping note
    lines = me.ListField(me.ListField(me.IntField()))  # return slip: [line_no, quantity]


class OutboxEntry(me.EmbeddedDocument):
    """A notice to the channel (``services.channel_sync.outbox_entry``) and how its delivery went."""

    id = me.StringField(required=True)  # "<key>:<kind>", the idempotency key
    kind = me.StringField(required=True)  # shipped, cancelled, refunded
    state = me.StringField(required=True)  # pending, sent, failed, unsupported
    reason = me.StringField()  # why unsupported
    cause = me.StringField()  # the event that wrote it
    sent_at = me.DateTimeField()
    error = me.StringField()  # why failed
    fulfilment_id = me.StringField()  # shipped
    carrier_id = me.StringField()
    tracking_number = me.StringField()
    order_shipped = me.BooleanField()
    case_id = me.StringField()  # refunded
    amount = me.StringField()
    lines = me.ListField(me.ListField(me.IntField()))
    note = me.StringField()
    confirms = me.BooleanField()  # refunded: the channel accepting it is the refund made (services/refunds.py)


class ChannelRefund(me.EmbeddedDocument):
    """A refund the channel reports by its own id (Taobao's ``taobao.refunds.receive.get``), kept
    once per id (``documents.orders.record_channel_refund``): their sum is what the channel says
    it paid back."""

    refund_id = me.StringField(required=True)
    amount = me.StringField(required=True)  # decimal string
    sub_order = me.StringField()  # the channel's line id (Taobao ``oid``)
    recorded_at = me.DateTimeField(required=True)


class TimelineEntry(me.EmbeddedDocument):
    """One event in the order's history (``router.order_state.decide`` and the services)."""

    at = me.DateTimeField(required=True)
    actor = me.StringField(required=True)
    event = me.StringField(required=True)
    from_ = me.StringField(db_field="from")  # order status before; null for "received"
    to = me.StringField()
    details = me.DictField()  # open: what the event adds (ids, tracking numbers, changes)


class DueTimer(me.EmbeddedDocument):
    """The timer due at ``due_at`` (``documents.schedule``)."""

    action = me.StringField(required=True)
    fulfilment_id = me.StringField()


class ExchangeLink(me.EmbeddedDocument):
    """On a replacement order: the order and case it replaces goods for."""

    order_id = me.StringField(required=True)
    case_id = me.StringField(required=True)


class ReshipLink(me.EmbeddedDocument):
    """On a replacement order of a parcel in exception (services.commands.reship): the order and
    fulfilment it sends the goods of again."""

    order_id = me.StringField(required=True)
    fulfilment_id = me.StringField(required=True)


class ExceptionFlag(me.EmbeddedDocument):
    """An exception flag an operator sees (``router/exceptions.py``): a carrier exception, a stall a
    timer raised (a WMS that never acknowledged, a parcel never scanned), a reused tracking number;
    open until resolved."""

    id = me.StringField()  # kind:fulfilment:subject, one open flag per key (older entries have none)
    at = me.DateTimeField(required=True)
    kind = me.StringField(required=True)  # router.exceptions.ExceptionKind
    reason = me.StringField()  # why: return_to_sender, no_wms_acknowledgement... (older entries have none)
    fulfilment_id = me.StringField()
    tracking_number = me.StringField()
    carrier_event = me.StringField()  # the canonical tracking word of a carrier exception
    detail = me.StringField()  # the carrier's own words
    status = me.StringField()  # a stall: the fulfilment's status when it fired
    due_at = me.StringField()  # a stall: when it was due (ISO)
    other_order_id = me.StringField()  # a reused number: the live parcel that holds it
    other_fulfilment_id = me.StringField()
    resolved_at = me.DateTimeField()
    resolved_by = me.StringField()  # operator:<name>, or the party that moved on (wms:, carrier:)
    resolution = me.StringField()  # resolved, reshipped, delivered, moved on
    reshipped_to = me.StringField()  # reshipped: the replacement order


def stored_shape_errors(document: type[me.Document | me.EmbeddedDocument], raw: dict,
                        path: str = "") -> list[str]:
    """Where the stored (BSON, as read by pymongo) ``raw`` differs from the declaration of
    ``document``: a key not declared, a required value missing, or a value not stored as its
    field says (a string where ``Decimal128`` is declared, a number for a string...). Stricter
    than mongoengine's ``validate``, which converts first (a string passes as a decimal or a
    date there). Null is accepted for any field not required."""
    errors = []
    fields = {f.db_field: f for f in document._fields.values()}
    for key in raw:
        if key not in fields:
            errors.append(f"{path}{key}: not declared")
    for key, field in fields.items():
        value = raw.get(key)
        if value is None:
            if field.required:
                errors.append(f"{path}{key}: required")
            continue
        errors.extend(_value_errors(field, value, f"{path}{key}"))
    return errors


# The stored type of each scalar field class (bool is an int in Python: it is refused apart).
_STORED: dict[type, type | tuple[type, ...]] = {me.StringField: str, me.IntField: int, me.FloatField: (float, int), me.BooleanField: bool,
           me.DateTimeField: datetime, me.Decimal128Field: Decimal128}


def _value_errors(field, value, path: str) -> list[str]:
    if isinstance(field, me.EmbeddedDocumentField):
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a subdocument"]
        return stored_shape_errors(field.document_type, value, f"{path}.")
    if isinstance(field, me.ListField):
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, not a list"]
        if field.field is None:
            return []
        return [e for i, item in enumerate(value) for e in _item_errors(field.field, item, f"{path}.{i}")]
    if isinstance(field, me.DictField):  # MapField too
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a subdocument"]
        if field.field is None:
            return []  # open
        return [e for k, item in value.items() for e in _item_errors(field.field, item, f"{path}.{k}")]
    if isinstance(field, me.DynamicField):
        return []
    stored = _STORED[type(field)]
    if isinstance(value, bool) and stored is not bool or not isinstance(value, stored):
        return [f"{path}: {type(value).__name__} {value!r:.40}, declared {type(field).__name__}"]
    return []


def _item_errors(field, item, path: str) -> list[str]:
    """An element of a list or a map: null only where it would be for a field."""
    if item is None:
        return [f"{path}: null"] if field.required else []
    return _value_errors(field, item, path)
