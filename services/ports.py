"""The outbound parties the use cases talk to, as ports: one small interface per kind, the
implementations (one per party's format) in adapters/outbound/, injected by the composition root.

Services import only this module to reach a warehouse, a carrier, a channel or the low-stock
webhook, so they never import adapters (and tests can install a recording fake).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class OutboundError(Exception):
    """The far side failed; ``retryable`` says whether trying again later may help."""

    def __init__(self, party: str, message: str, status: int | None = None, retryable: bool = True):
        super().__init__(f"{party}: {message}")
        self.party = party
        self.status = status
        self.retryable = retryable


class WmsClient(Protocol):
    def create_delivery_order(self, warehouse: dict, payload: dict) -> dict: ...
    def cancel_delivery_order(self, warehouse: dict, fulfilment_id: str) -> bool: ...
    def change_address(self, warehouse: dict, fulfilment_id: str, address: dict) -> None: ...


@dataclass(frozen=True)
class Booking:
    """A booked waybill: the tracking number, and the label's URL when the carrier gave one."""

    tracking_number: str
    label_url: str | None = None


class CarrierClient(Protocol):
    def book_shipment(self, carrier: dict, payload: dict) -> Booking: ...
    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None: ...


class ChannelClient(Protocol):
    def notify(self, channel: dict, entry: dict, order: dict) -> None: ...
    def unsupported(self, channel: dict, kind: str) -> str | None: ...
    def needs_raw(self, channel: dict, kind: str) -> bool: ...


class AlertClient(Protocol):
    @property
    def enabled(self) -> bool: ...  # False: no webhook configured, alerts are only recorded

    def post_low_stock(self, alert: dict) -> None: ...


@dataclass(frozen=True)
class Outbound:
    wms: WmsClient
    carrier: CarrierClient
    channel: ChannelClient
    alerts: AlertClient


_installed: list[Outbound] = []


def install(outbound: Outbound) -> None:
    """Put ``outbound`` in force (the composition root does, once per process)."""
    _installed[:] = [outbound]


def outbound() -> Outbound:
    if not _installed:
        raise RuntimeError("no outbound clients installed: the entry point must call adapters.wiring.setup() first")
    return _installed[0]


class WebhookClient(Protocol):
    """Posts one signed event to a subscriber (services/webhooks.py); returns the HTTP status
    (2xx), raises :class:`OutboundError` otherwise."""

    def post(self, url: str, secret: str, event_id: str, topic: str, body: bytes) -> int: ...


_webhooks: list[WebhookClient] = []


def install_webhooks(client: WebhookClient) -> None:
    """Put the outbound webhook client in force (the composition root does)."""
    _webhooks[:] = [client]


def webhooks() -> WebhookClient:
    if not _webhooks:
        raise RuntimeError("no webhook client installed: the entry point must call adapters.wiring.setup() first")
    return _webhooks[0]


class Mailer(Protocol):
    """Hands one e-mail to the SMTP server (services/notifications.py): returns once the server
    accepted it; raises :class:`OutboundError` otherwise (``retryable`` for a 4xx answer or none,
    not for a 5xx). ``message_id`` (the notification's id) is the e-mail's Message-ID, the same on
    every attempt."""

    def send(self, to: str, subject: str, body: str, message_id: str) -> None: ...


class OrderLinks(Protocol):
    """The customer's signed link to one order (its page), or None when the channel cannot sign."""

    def order_link(self, channel: str, order_id: str) -> str | None: ...


_notifications: list[tuple[Mailer, OrderLinks]] = []


def install_notifications(mailer: Mailer, links: OrderLinks) -> None:
    """Put the e-mail sender and the order links in force (the composition root does)."""
    _notifications[:] = [(mailer, links)]


def mailer() -> Mailer:
    if not _notifications:
        raise RuntimeError("no mailer installed: the entry point must call adapters.wiring.setup() first")
    return _notifications[0][0]


def order_links() -> OrderLinks:
    if not _notifications:
        raise RuntimeError("no order links installed: the entry point must call adapters.wiring.setup() first")
    return _notifications[0][1]


_inline_dispatch: list[bool] = [False]


def allow_inline_dispatch(on: bool) -> None:
    """Whether this process calls the carrier and the WMS itself when a change makes an order ready
    to ship (``services.dispatch.dispatch_reserved``): the composition root turns it on for the
    workers. Off, the fulfilments go as ``DispatchFulfilment`` messages, so that no HTTP request
    (an operator's approval, say) waits on a warehouse."""
    _inline_dispatch[0] = on


def inline_dispatch() -> bool:
    return _inline_dispatch[0]
