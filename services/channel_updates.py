"""A channel's later word on an order it sent before (an update, a cancel, a refund, a payment),
applied with the same commands operators use; the channel is never told back what it told us."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog

from documents import orders
from router.errors import IllegalTransition
from router.statuses import PaymentStatus
from services import commands
from services.after_sales import refund_from_channel
from services.intake import Accepted, accept_event

log = structlog.get_logger(__name__)
# the order's money came in already (some or all of it may have gone back since): a channel update
# that still says paid is no new payment
_PAID_ONCE = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED})


@dataclass(frozen=True)
class ChannelUpdate:
    """What a channel's later webhook says of an order it sent before."""

    channel_order_id: str
    updated_at: datetime | None
    native_status: str
    cancelled: bool = False
    refunded: Decimal | None = None  # the total the channel says it paid back
    paid: bool = False


def after_channel_order(channel: str, accepted: Accepted, update: ChannelUpdate, webhook_id: str | None) -> None:
    """A channel's native order webhook was accepted (create, update or cancel). A repeated
    delivery (a webhook id the order has seen) or a stale update (an older ``updated_at``) changes
    nothing; a newer update that says paid records the payment; one that says cancelled cancels
    the order here, and the channel is not told back what it told us."""
    if accepted.duplicate:
        if webhook_id and orders.has_seen_webhook(accepted.id, webhook_id):
            return  # the same delivery again
        apply_channel_update(channel, accepted.id, update)
        if webhook_id:
            orders.remember_webhook(accepted.id, webhook_id)
    elif update.cancelled:
        apply_channel_update(channel, accepted.id, update)


def _refund_from_channel(channel: str, doc: dict, amount) -> None:
    """The channel refunded more than the router knows of: record it (never told back)."""
    try:
        refund_from_channel(doc["_id"], channel, amount)
    except (IllegalTransition, ValueError) as exc:
        log.warning("channel_refund_refused", order_id=doc["_id"], amount=str(amount), reason=str(exc))


def apply_channel_update(channel: str, order_id: str, update: ChannelUpdate) -> None:
    doc = orders.load(order_id)
    assert doc is not None, "accepted just before (or already held)"
    seen = doc.get("channel_updated_at")
    if update.updated_at and seen and update.updated_at <= seen and not update.cancelled:
        return  # stale: an older state of the order than the one we hold
    cancelling = update.cancelled and doc["status"] not in ("cancelled", "closed")
    if cancelling:  # a paid order's refund is then owed, and the channel's refund below settles it
        try:
            doc = commands.cancel(order_id, f"channel:{channel}")
        except IllegalTransition:
            log.warning("channel_cancel_refused", order_id=order_id, status=doc["status"])
    if update.refunded and update.refunded > Decimal(doc.get("refunded_amount") or 0):
        _refund_from_channel(channel, doc, update.refunded - Decimal(doc.get("refunded_amount") or 0))
    elif update.paid and not cancelling and doc["payment_status"] not in _PAID_ONCE:
        accept_event("payment", channel, f"{update.channel_order_id}:paid",
                     {"order_id": order_id, "transaction_id": f"{channel}:{update.channel_order_id}",
                      "type": "paid", "amount": str(doc.get("payable") or doc["amounts"]["payable"])},
                     order_id=order_id)
    if update.updated_at:
        orders.record_channel_state(order_id, update.updated_at, update.native_status)
