"""The next steps a use case asks for, as small named commands, and the port that sends them.

A service never imports the actors (they call the services): it says what should happen next,
``send(DispatchFulfilment(order_id, fulfilment_id))``, and the composition root has installed a
sender that maps each command to its actor (actors/steps.py: ``DispatchFulfilment`` ->
``dispatch_fulfilment``). The message on the wire is the actor's, with the command's fields as
its arguments, in order (trailing defaults left out, as a direct ``.send`` would).
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Callable

import structlog

log = structlog.get_logger(__name__)


class Step:
    """A command for one actor; its dataclass fields are the actor's arguments, in order."""

    def args(self) -> tuple:
        values = [getattr(self, f.name) for f in fields(self)]  # type: ignore[arg-type]
        defaults = [f.default for f in fields(self)]  # type: ignore[arg-type]
        while values and defaults[len(values) - 1] is not MISSING and values[-1] == defaults[len(values) - 1]:
            values.pop()
        return tuple(values)


@dataclass(frozen=True)
class ProcessOrder(Step):
    order_id: str


@dataclass(frozen=True)
class RetryBackorder(Step):
    """Try an order's backordered units again now (stock of one of their SKUs arrived)."""

    order_id: str


@dataclass(frozen=True)
class DispatchFulfilment(Step):
    order_id: str
    fulfilment_id: str
    retry: bool = False


@dataclass(frozen=True)
class RegisterTracking(Step):
    order_id: str
    fulfilment_id: str
    tracking_number: str | None = None
    carrier_id: str | None = None


@dataclass(frozen=True)
class InterceptFulfilment(Step):
    order_id: str
    fulfilment_id: str


@dataclass(frozen=True)
class UpdateWmsAddress(Step):
    order_id: str
    fulfilment_id: str


@dataclass(frozen=True)
class RerouteFailed(Step):
    order_id: str
    fulfilment_id: str


@dataclass(frozen=True)
class SyncChannel(Step):
    order_id: str
    entry_id: str


@dataclass(frozen=True)
class DeliverWebhooks(Step):
    """Send a subscription's due webhook events of one order, in order (services/webhooks.py)."""

    subscription_id: str
    order_id: str


@dataclass(frozen=True)
class SendNotification(Step):
    """Send one customer e-mail notification if it is due (services/notifications.py)."""

    notification_id: str


@dataclass(frozen=True)
class FireTimer(Step):
    order_id: str


@dataclass(frozen=True)
class ApplyPayment(Step):
    event_key: str
    event: dict | None = None


@dataclass(frozen=True)
class ApplyWmsEvent(Step):
    event_key: str
    event: dict | None = None


@dataclass(frozen=True)
class ApplyCarrierEvent(Step):
    event_key: str
    event: dict | None = None


@dataclass(frozen=True)
class Replay(Step):
    """A dead letter sent again: the actor it names, with its recorded arguments."""

    actor_name: str
    args_: tuple
    kwargs: dict


EventStep = ApplyPayment | ApplyWmsEvent | ApplyCarrierEvent
EVENT_STEPS: dict[str, type[EventStep]] = {"payment": ApplyPayment, "wms": ApplyWmsEvent, "carrier": ApplyCarrierEvent}

Sender = Callable[[Step], None]
_port: dict[str, Callable] = {}


def install(sender: Sender, publisher: Callable[[Step], bool] | None = None) -> None:
    """Set how steps are sent (the composition root does, with the actors' sender). ``publisher``
    is for intake, whose publish may be handed to a relay thread; it defaults to sending now."""
    _port["send"] = sender
    _port["publish"] = publisher or _publish_now


def install_publisher(publisher: Callable[[Step], bool]) -> None:
    """Set how intake publishes (the API hands it to its relay thread)."""
    _port["publish"] = publisher


def send(step: Step) -> None:
    """Send ``step`` now, with publisher confirms; raises when the broker refuses."""
    sender = _port.get("send")
    if sender is None:
        raise RuntimeError("no message sender installed: the entry point must call adapters.wiring.setup() first")
    sender(step)


def publish(step: Step) -> bool:
    """Send an accepted input's first step: False (logged) when it could not be sent now; the
    reconciler re-sends from the stored state."""
    return _port.get("publish", _publish_now)(step)


def _publish_now(step: Step) -> bool:
    try:
        send(step)
        return True
    except Exception:  # noqa: BLE001 - any broker failure: the stored state is the outbox
        log.warning("publish_failed", step=type(step).__name__, key=step.args()[0] if step.args() else None,
                    exc_info=True)
        return False
