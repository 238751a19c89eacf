"""Reference data from YAML or JSON: merchants, channels, warehouses, carriers, SKUs and their
stock, routing rules and shipping templates. Loading is idempotent (upserts by id)."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import yaml
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from documents import reference, stock
from router.errors import InvalidRoutingRules
from router.notifications import KINDS as NOTIFICATION_KINDS
from router.notifications import LANGUAGES
from router.rules import RoutingRules

_ID = validate.Regexp(r"^[\w\-]{1,60}$", error="1-60 letters, digits, _ or -")


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=_ID)
    name = fields.String(load_default="")


class EmailNotificationsSchema(Schema):
    """A merchant's customer e-mails (router/notifications.py): on or off, which kinds, and the
    language when neither the customer nor the channel says."""

    class Meta:
        unknown = EXCLUDE

    enabled = fields.Boolean(load_default=True)
    events = fields.List(fields.String(validate=validate.OneOf(NOTIFICATION_KINDS)), load_default=None,
                         allow_none=True)  # absent: every kind
    language = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGES))


class NotificationsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    email = fields.Nested(EmailNotificationsSchema, load_default=None, allow_none=True)


class MerchantSchema(_Base):
    notifications = fields.Nested(NotificationsSchema, load_default=None, allow_none=True)
    # order merge (services/merging.py), opt-in: paid orders of one customer to one address and
    # warehouse within the window (minutes; 0 or absent: 30) go to the WMS as one delivery order
    merge_orders = fields.Boolean(load_default=False)
    merge_window_minutes = fields.Integer(load_default=0, validate=validate.Range(min=0, max=24 * 60))


class ChannelSchema(_Base):
    format = fields.String(load_default="canonical")
    merchant_id = fields.String(load_default=None)
    secret = fields.String(load_default=None)
    token = fields.String(load_default=None)
    api_url = fields.String(load_default=None)
    api_token = fields.String(load_default=None)
    marketplace_id = fields.String(load_default=None)  # Amazon: the marketplace polled and confirmed to
    consumer_key = fields.String(load_default=None)  # WooCommerce REST API key (Basic over https, OAuth 1.0a over http)
    consumer_secret = fields.String(load_default=None)
    # Amazon: Login with Amazon, exchanging the refresh token for SP-API access tokens (adapters/outbound/sp_api.py)
    lwa_client_id = fields.String(load_default=None)
    lwa_client_secret = fields.String(load_default=None)
    lwa_refresh_token = fields.String(load_default=None)
    lwa_token_url = fields.String(load_default=None)  # default https://api.amazon.com/auth/o2/token
    # Taobao: the TOP app (secret = its app secret, api_token = the seller's session key) and how it signs
    app_key = fields.String(load_default=None)
    sign_method = fields.String(load_default="md5", validate=validate.OneOf(["md5", "hmac", "hmac-sha256"]))
    # customer e-mails (router/notifications.py): the channel sends its own (ours are off), and
    # the language of ours when the order's customer has no locale (zh, en)
    notifies_customers = fields.Boolean(load_default=False)
    locale = fields.String(load_default=None, allow_none=True)


class WarehouseSchema(_Base):
    merchant_ids = fields.List(fields.String(validate=_ID), required=True)
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    region = fields.String(load_default="")
    city = fields.String(load_default="")
    lat = fields.Float(load_default=None, allow_none=True)
    lon = fields.Float(load_default=None, allow_none=True)
    rank = fields.Integer(load_default=100)
    daily_capacity = fields.Integer(load_default=None, allow_none=True)
    product_types = fields.List(fields.String(), load_default=list)
    serves_regions = fields.List(fields.String(), load_default=list)
    wms_url = fields.String(required=True)
    wms_token = fields.String(load_default=None)
    wms_format = fields.String(load_default="generic", validate=validate.OneOf(["generic", "qimen", "shiphero"]))
    token = fields.String(load_default=None)  # what the warehouse presents when it calls us
    secret = fields.String(load_default=None)  # what it signs its callbacks with (Qimen sign, ShipHero HMAC)
    refresh_token = fields.String(load_default=None)  # ShipHero: renews the access token (wms_token) when it expires
    active = fields.Boolean(load_default=True)


class CarrierSchema(_Base):
    regions = fields.List(fields.String(), load_default=list)
    service_levels = fields.List(fields.String(validate=validate.OneOf(["standard", "express"])),
                                 load_default=lambda: ["standard", "express"])
    api_url = fields.String(required=True)
    api_token = fields.String(load_default=None)
    token = fields.String(load_default=None)
    tracking_format = fields.String(load_default="generic")
    secret = fields.String(load_default=None)  # what it signs its callbacks with
    amazon_code = fields.String(load_default=None)  # its CarrierCode on Amazon (else "Other" with the id as name)
    taobao_code = fields.String(load_default=None)  # its logistics company code on Taobao (SF, ZTO...; else its id)
    # how a waybill is booked: the router's own protocol, or EasyPost's API (api_url, api_token = API key)
    booking_format = fields.String(load_default="generic", validate=validate.OneOf(["generic", "easypost"]))
    booking_carrier = fields.String(load_default=None)  # EasyPost: the rates' carrier to buy from (e.g. USPS)
    booking_service = fields.String(load_default=None)  # EasyPost: the service to buy (else the cheapest rate)
    # 17TRACK: its API (register) and its 17token; the numeric carrier code when auto-detection will not do
    tracking_api_url = fields.String(load_default=None)
    tracking_api_token = fields.String(load_default=None)
    tracking_carrier_code = fields.Integer(load_default=None, allow_none=True)
    rank = fields.Integer(load_default=100)
    # the customer's tracking page, {tracking_number} filled in (customer e-mails)
    tracking_url = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Regexp(r"^https?://\S*\{tracking_number\}\S*$",
                                                          error="an http(s) URL with {{tracking_number}} in it"))


class SkuSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    sku = fields.String(required=True, validate=validate.Length(min=1, max=100))
    merchant_id = fields.String(required=True, validate=_ID)
    name = fields.String(load_default="")
    price = fields.Decimal(required=True, validate=validate.Range(min=Decimal("0")))
    weight_grams = fields.Integer(load_default=500, validate=validate.Range(min=0))
    # length, width, height of one packed unit: sent with a carrier booking of a single unit
    dimensions_mm = fields.List(fields.Integer(validate=validate.Range(min=1)), load_default=None, allow_none=True,
                                validate=validate.Length(equal=3))
    product_type = fields.String(load_default="general")
    low_stock_threshold = fields.Integer(load_default=5)
    safety_stock = fields.Integer(load_default=0)
    stock = fields.Dict(keys=fields.String(validate=_ID), values=fields.Integer(validate=validate.Range(min=0)),
                        load_default=dict)


class WorldSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    merchants = fields.List(fields.Nested(MerchantSchema), load_default=list)
    channels = fields.List(fields.Nested(ChannelSchema), load_default=list)
    warehouses = fields.List(fields.Nested(WarehouseSchema), load_default=list)
    carriers = fields.List(fields.Nested(CarrierSchema), load_default=list)
    skus = fields.List(fields.Nested(SkuSchema), load_default=list)
    routing_rules = fields.Dict(load_default=None, allow_none=True)  # with its shipping templates
    settings = fields.Dict(load_default=dict)


def read(path: str | Path) -> dict:
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)


def load_world(data: dict) -> dict[str, int]:
    """Validate (raises marshmallow ValidationError naming the field path) and upsert everything.

    Returns counts per kind.
    """
    world = WorldSchema().load(data or {})
    _check_rules(world)
    for kind in ("merchants", "channels", "warehouses", "carriers"):
        for item in world[kind]:
            reference.upsert(kind, item.pop("id"), item)
    levels = 0
    for item in world["skus"]:
        levels_of = item.pop("stock")
        safety = item.pop("safety_stock")
        code = item.pop("sku")
        reference.upsert("skus", code, item)
        for warehouse_id, on_hand in levels_of.items():
            stock.upsert_level(code, warehouse_id, on_hand, safety, item["low_stock_threshold"])
            levels += 1
    if world["routing_rules"] is not None:
        reference.upsert("settings", "routing_rules", {"value": world["routing_rules"]})
    for name, value in world["settings"].items():
        reference.upsert("settings", name, {"value": value})
    reference.network_cache.clear()
    return {**{k: len(world[k]) for k in ("merchants", "channels", "warehouses", "carriers", "skus")},
            "stock_levels": levels}


def _check_rules(world: dict) -> None:
    if world["routing_rules"] is None:
        return
    try:
        RoutingRules.from_dict(world["routing_rules"])
    except InvalidRoutingRules as exc:
        raise ValidationError({"routing_rules": {exc.field or "_": [exc.message]}}) from exc
