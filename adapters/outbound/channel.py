"""Telling a channel what happened to its order: shipped (with carrier and tracking number),
cancelled, refunded. Each call carries an idempotency key (outbox entry id), so a retried notice
has one effect at a channel that honours it. Only channels with an ``api_url`` are notified, and
only of what their API can take (each provider's ``UNSUPPORTED``).

One provider per channel ``format`` (default ``canonical``), each a :class:`ChannelProvider`
(so a :class:`services.ports.ChannelClient`): ``canonical``, ``shopify``, ``woocommerce``,
``taobao``, ``amazon`` (adapters/outbound/channel_*.py), found in a
:class:`~adapters.outbound.registry.Registry` that :class:`ChannelProviders` looks up. A provider
says which notices its channel's API cannot take (``UNSUPPORTED``, kind -> why: recorded on the
order, never sent) and which need the order's raw channel payload (``NEEDS_RAW``: the channel's
own item ids are in it).

Refunds: the channel took the customer's payment, so it is asked to pay the case amount back
through it: Shopify ``refunds/calculate.json`` for the parent transaction, then
``refunds.json`` with that transaction capped at the amount; WooCommerce ``orders/{id}/refunds``
with ``api_refund``. Amazon's shipment confirmation is ``confirmShipment`` (one package per
fulfilment, the fulfilment's position in the order as ``packageReferenceId``, so a repeat edits
rather than doubles).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from adapters.errors import PayloadError
from adapters.outbound.policy import OutboundError, outbound_retry, send
from adapters.outbound.registry import Registry
from services.ports import ChannelClient


def channel_format(channel: dict) -> str:
    return channel.get("format") or "canonical"


def party(channel: dict) -> str:
    return f"channel:{channel['_id']}"


class ChannelCall:
    """What every notice needs: the channel's base URL, our party name, its token, the order."""

    def __init__(self, channel: dict, entry: dict, order: dict):
        self.base, self.party, self.token = channel["api_url"].rstrip("/"), party(channel), channel.get("api_token")
        self.channel, self.entry, self.order, self.oid, self.key = channel, entry, order, order["channel_order_id"], entry["id"]

    def send(self, method: str, path: str, body: dict | None, key_suffix: str = "") -> dict:
        return send(self.party, method, f"{self.base}{path}", json=body, token=self.token,
                    idempotency_key=f"{self.key}{key_suffix}")


class ChannelProvider:
    """Notices to the channels of one format: a subclass builds each notice its API takes
    (:meth:`shipped`, :meth:`cancelled`, :meth:`refunded`) and declares the others ``UNSUPPORTED``."""

    UNSUPPORTED: ClassVar[Mapping[str, str]] = {}  # notice kind -> why this channel's API cannot take it
    NEEDS_RAW: ClassVar[frozenset[str]] = frozenset()  # notice kinds built from the raw channel order
    CALL: ClassVar[type[ChannelCall]] = ChannelCall  # how a call is made (a channel's own authentication)

    def unsupported(self, channel: dict, kind: str) -> str | None:
        """Why ``channel``'s API cannot take a ``kind`` notice, or None when it can."""
        return self.UNSUPPORTED.get(kind)

    def needs_raw(self, channel: dict, kind: str) -> bool:
        """Whether notifying ``kind`` needs the order's raw channel payload (its item ids)."""
        return kind in self.NEEDS_RAW

    @outbound_retry
    def notify(self, channel: dict, entry: dict, order: dict) -> None:
        """Deliver one outbox ``entry`` (kind ``shipped``, ``cancelled`` or ``refunded``) for
        ``order`` (with ``raw`` when :meth:`needs_raw`). Raises OutboundError."""
        why = self.unsupported(channel, entry["kind"])
        if why:
            raise OutboundError(party(channel), why, retryable=False)
        notice = {"shipped": self.shipped, "cancelled": self.cancelled, "refunded": self.refunded}[entry["kind"]]
        try:
            notice(self.CALL(channel, entry, order))
        except PayloadError as exc:
            raise OutboundError(party(channel), f"{entry['kind']} notice: {exc}", retryable=False) from exc

    def shipped(self, c: ChannelCall) -> None:
        raise NotImplementedError(f"{type(self).__name__}: no shipped notice, and none declared unsupported")

    def cancelled(self, c: ChannelCall) -> None:
        raise NotImplementedError(f"{type(self).__name__}: no cancelled notice, and none declared unsupported")

    def refunded(self, c: ChannelCall) -> None:
        raise NotImplementedError(f"{type(self).__name__}: no refunded notice, and none declared unsupported")


def refund_reason(c: ChannelCall) -> str:
    return c.entry.get("note") or f"after-sales case {c.entry['case_id']}"


class ChannelProviders:
    """:class:`services.ports.ChannelClient` for every channel: each call goes to the provider of
    the channel's ``format``. A format no provider speaks: its notices are recorded as
    unsupported, with that reason (the notice is written by the same update as the change it
    reports, which must not fail for it), and :meth:`notify` refuses (non-retryable OutboundError)."""

    def __init__(self, registry: Registry[ChannelClient]):
        self.registry = registry

    def provider(self, channel: dict) -> ChannelClient:
        return self.registry.provider(party(channel), channel_format(channel))

    def unsupported(self, channel: dict, kind: str) -> str | None:
        try:
            provider = self.provider(channel)
        except OutboundError as exc:
            return str(exc)
        return provider.unsupported(channel, kind)

    def needs_raw(self, channel: dict, kind: str) -> bool:
        return channel_format(channel) in self.registry and self.provider(channel).needs_raw(channel, kind)

    def notify(self, channel: dict, entry: dict, order: dict) -> None:
        self.provider(channel).notify(channel, entry, order)
