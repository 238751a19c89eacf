"""The edge of intake: a canonical order payload (the ``manual`` channel's, a native format's
mapping, a CSV row) is validated with the wire schema and handed to the intake use case
(services/intake.py), which stores and publishes it."""
from __future__ import annotations

from datetime import datetime, timezone

from adapters.channels.channel_order import ChannelOrder
from adapters.schemas import CanonicalOrderSchema, to_domain
from services import channel_updates, intake
from services.intake import Accepted, accept_directly, accept_event

__all__ = ["Accepted", "accept_channel_order", "accept_directly", "accept_event", "accept_order"]
_order_schema = CanonicalOrderSchema()


def accept_order(channel: str, payload: dict, *, raw: dict | None = None, flags: list[str] | tuple[str, ...] = (),
                 now: datetime | None = None, extra: dict | None = None) -> Accepted:
    """Validate a canonical order dict (raises marshmallow ValidationError), store it, publish routing."""
    data = _order_schema.load(payload)
    now = now or datetime.now(timezone.utc)
    order = to_domain(intake.new_order_id(now), channel, data)
    payment = {k: (v.value if hasattr(v, "value") else v) for k, v in (data.get("payment") or {}).items()}
    return intake.accept_order(order, payment=payment, now=now, notes=data.get("notes", ""), raw=raw, flags=flags,
                               extra=extra)


def accept_channel_order(channel: str, channel_order: ChannelOrder, webhook_id: str | None) -> Accepted:
    """A channel's native order webhook (create, update or cancel), already mapped: a new order is
    accepted (routed unless the channel fulfils it itself, e.g. Amazon AFN) with one insert, which
    also records the webhook id; a known one is updated (services.channel_updates.after_channel_order)."""
    extra = {"channel_updated_at": channel_order.updated_at, "native_status": channel_order.native_status,
             "ship_by": channel_order.ship_by, "webhook_ids": [webhook_id] if webhook_id else []}
    if not channel_order.route:
        extra["routing"] = {"state": "external", "reason": "fulfilled by the channel", "attempts": 0}
    accepted = accept_order(channel, channel_order.canonical, raw=channel_order.raw, flags=channel_order.flags,
                            extra=extra)
    update = channel_updates.ChannelUpdate(
        channel_order_id=channel_order.canonical["channel_order_id"], updated_at=channel_order.updated_at,
        native_status=channel_order.native_status, cancelled=channel_order.cancelled,
        refunded=channel_order.refunded,
        paid=(channel_order.canonical.get("payment") or {}).get("status") == "paid")
    channel_updates.after_channel_order(channel, accepted, update, webhook_id)
    return accepted
