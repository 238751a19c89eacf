"""The composition root: settings, broker, actors, outbound clients and the database, put
together by an explicit call from each entry point (API app factory, worker, scheduler, CLI,
tests), never at import.

``setup(settings)`` builds the broker the settings name, binds every declared actor to it,
installs the sender services use for their next steps (each step one actor's message) and the
outbound clients they use for warehouses, carriers, channels and the low-stock webhook, and,
with ``connect_db``, connects MongoDB. Calling it again (a test that changes settings) rebinds
everything to the new set-up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import dramatiq

import config
from actors import steps
from actors.broker import build_broker
from actors.declare import bind_all
from adapters.outbound.alerts import WebhookAlertClient
from adapters.outbound.email import SmtpMailer
from adapters.outbound.carrier import CarrierProviders
from adapters.outbound.carrier_17track import SeventeenTrack
from adapters.outbound.carrier_easypost import EasyPostCarrier
from adapters.outbound.carrier_generic import GenericCarrier
from adapters.customer.links import SignedOrderLinks
from adapters.outbound.channel import ChannelProviders
from adapters.outbound.channel_amazon import AmazonChannel
from adapters.outbound.channel_canonical import CanonicalChannel
from adapters.outbound.channel_shopify import ShopifyChannel
from adapters.outbound.channel_taobao import TaobaoChannel
from adapters.outbound.channel_woocommerce import WooCommerceChannel
from adapters.outbound.registry import Registry
from adapters.outbound.webhooks import SignedWebhooks
from adapters.outbound.wms import WmsProviders
from adapters.outbound.wms_generic import GenericWms
from adapters.outbound.wms_qimen import QimenWms
from adapters.outbound.wms_shiphero import ShipHeroWms
from config import Settings
from documents.connection import connect
from documents.indexes import ensure_indexes
from services import messages, ports


@dataclass(frozen=True)
class Wiring:
    settings: Settings
    broker: dramatiq.Broker


def outbound_clients(settings: Settings) -> ports.Outbound:
    """The outbound clients: for warehouses, carriers and channels, a dispatcher handing each call
    to the provider of the party's configured format, from these registries (adapters/outbound/)."""
    wms: Registry[ports.WmsClient] = Registry("WMS", {
        "generic": GenericWms(), "qimen": QimenWms(), "shiphero": ShipHeroWms()})
    carriers: Registry[ports.CarrierClient] = Registry("carrier", {
        "generic": GenericCarrier(), "easypost": EasyPostCarrier(), "17track": SeventeenTrack()})
    channels: Registry[ports.ChannelClient] = Registry("channel", {
        "canonical": CanonicalChannel(), "shopify": ShopifyChannel(), "woocommerce": WooCommerceChannel(),
        "taobao": TaobaoChannel(), "amazon": AmazonChannel()})
    return ports.Outbound(wms=WmsProviders(wms), carrier=CarrierProviders(carriers),
                          channel=ChannelProviders(channels), alerts=WebhookAlertClient(settings.low_stock_webhook))


def setup(settings: Settings | None = None, *, connect_db: bool = False, indexes: bool = False,
          publisher: Callable[[messages.Step], bool] | None = None,
          outbound: ports.Outbound | None = None, inline_dispatch: bool = False) -> Wiring:
    """Wire this process. ``settings``: put in force (default: read from the environment).
    ``connect_db``: connect MongoDB now (workers connect in each process when it boots instead);
    ``indexes``: also make sure every index exists. ``publisher``: how intake publishes (the
    API's relay thread); default, at once. ``outbound``: clients to use instead of the real ones.
    ``inline_dispatch``: a worker process, which dispatches the orders its actors make ready
    itself (``ports.allow_inline_dispatch``); other processes leave that to messages."""
    if settings is not None:
        config.use(settings)
    settings = config.get_settings()
    broker = build_broker(settings)
    bind_all(broker, settings.queue_prefix)
    messages.install(steps.send, publisher)
    ports.install(outbound or outbound_clients(settings))
    ports.allow_inline_dispatch(inline_dispatch)
    ports.install_webhooks(SignedWebhooks())
    ports.install_notifications(SmtpMailer(), SignedOrderLinks())
    if connect_db:
        if not settings.mongo_url:
            raise RuntimeError("ROUTER_MONGO_URL must be set (orderrouter up sets it)")
        connect(settings.mongo_url, settings.mongo_db, settings.slow_command_ms,
                reports_read_preference=settings.mongo_reports_read_preference)
        if indexes:
            ensure_indexes()
    return Wiring(settings, broker)
