"""The sender services use for their next steps: each command of services/messages.py is one
actor's message. This table is where a step meets its actor."""
from __future__ import annotations

import dramatiq

from actors.channel_sync import sync_channel
from actors.declare import LazyActor
from actors.dispatch import dispatch_fulfilment, intercept_fulfilment, register_tracking, update_wms_address
from actors.events import apply_carrier_event, apply_payment, apply_wms_event
from actors.notifications import send_notification
from actors.routing import process_order, reroute_failed, retry_backorder
from actors.sweeps import fire_timer
from actors.webhooks import deliver_webhooks
from services import messages

ACTOR_OF: dict[type[messages.Step], LazyActor] = {
    messages.ProcessOrder: process_order,
    messages.DispatchFulfilment: dispatch_fulfilment,
    messages.RegisterTracking: register_tracking,
    messages.InterceptFulfilment: intercept_fulfilment,
    messages.UpdateWmsAddress: update_wms_address,
    messages.RerouteFailed: reroute_failed,
    messages.RetryBackorder: retry_backorder,
    messages.SyncChannel: sync_channel,
    messages.FireTimer: fire_timer,
    messages.ApplyPayment: apply_payment,
    messages.ApplyWmsEvent: apply_wms_event,
    messages.ApplyCarrierEvent: apply_carrier_event,
    messages.DeliverWebhooks: deliver_webhooks,
    messages.SendNotification: send_notification,
}


def send(step: messages.Step) -> None:
    """Send ``step`` as its actor's message (publisher confirms on: raises when refused)."""
    if isinstance(step, messages.Replay):  # a dead letter names its actor as recorded
        dramatiq.get_broker().get_actor(step.actor_name).send(*step.args_, **step.kwargs)
        return
    ACTOR_OF[type(step)].send(*step.args())
