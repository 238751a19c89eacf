"""Reference data: merchants, channels, warehouses, carriers, SKUs, routing rules, templates.

Small collections read often: :func:`load_network` caches them for a few seconds per process so
routing does not read them for every order.
"""
from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import mongoengine as me
from pymongo.errors import DuplicateKeyError

from documents.codec import from_bson, to_bson
from router.model import Carrier, Network, Sku, Warehouse
from router.statuses import ShippingMethod


class MerchantDocument(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "merchants"}


class ChannelDocument(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # the channel name in the URL
    meta = {"collection": "channels"}


class WarehouseDocument(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "warehouses"}


class CarrierDocument(me.DynamicDocument):
    id = me.StringField(primary_key=True)
    meta = {"collection": "carriers"}


class SkuDocument(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # the SKU code
    meta = {"collection": "skus", "indexes": [{"fields": ["merchant_id"]}]}


class SettingDocument(me.DynamicDocument):
    """Versioned singletons: routing rules, shipping templates, timer overrides."""

    id = me.StringField(primary_key=True)
    meta = {"collection": "settings"}


DOCUMENTS = (MerchantDocument, ChannelDocument, WarehouseDocument, CarrierDocument, SkuDocument, SettingDocument)
KINDS: dict[str, type[me.Document]] = {"merchants": MerchantDocument, "channels": ChannelDocument, "warehouses": WarehouseDocument,
         "carriers": CarrierDocument, "skus": SkuDocument, "settings": SettingDocument}


def upsert(kind: str, doc_id: str, fields: dict) -> None:
    KINDS[kind]._get_collection().update_one({"_id": doc_id}, {"$set": to_bson(fields)}, upsert=True)


def get(kind: str, doc_id: str) -> dict | None:
    raw = KINDS[kind]._get_collection().find_one({"_id": doc_id})
    return from_bson(raw) if raw else None


def all_of(kind: str) -> list[dict]:
    return [from_bson(d) for d in KINDS[kind]._get_collection().find({})]


def skus(codes: list[str]) -> dict[str, dict]:
    return {d["_id"]: from_bson(d) for d in SkuDocument._get_collection().find({"_id": {"$in": list(codes)}})}


def to_warehouse(d: dict) -> Warehouse:
    return Warehouse(
        id=d["_id"], merchant_ids=frozenset(d.get("merchant_ids", ())), country=d.get("country", ""),
        region=d.get("region", ""), lat=d.get("lat"), lon=d.get("lon"), rank=d.get("rank", 100),
        daily_capacity=d.get("daily_capacity"), product_types=frozenset(d.get("product_types", ())),
        serves_regions=frozenset(d.get("serves_regions", ())), active=d.get("active", True),
    )


def to_carrier(d: dict) -> Carrier:
    levels = d.get("service_levels") or [m.value for m in ShippingMethod]
    return Carrier(id=d["_id"], regions=frozenset(d.get("regions", ())),
                   service_levels=frozenset(ShippingMethod(x) for x in levels), rank=d.get("rank", 100))


def to_sku(d: dict) -> Sku:
    return Sku(sku=d["_id"], merchant_id=d["merchant_id"], price=Decimal(str(d.get("price", "0"))),
               weight_grams=d.get("weight_grams", 500), product_type=d.get("product_type", "general"),
               name=d.get("name", ""), low_stock_threshold=d.get("low_stock_threshold", 5),
               dimensions_mm=tuple(d["dimensions_mm"]) if d.get("dimensions_mm") else None)


class _NetworkCache:
    """Warehouses, carriers and SKUs for routing, refreshed at most every ``ttl`` seconds."""

    def __init__(self, ttl: float = 5.0):
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value: tuple[float, str, Network] | None = None

    def get(self) -> Network:
        from mongoengine import get_db

        key = get_db().name
        with self._lock:
            if self._value and self._value[1] == key and time.monotonic() - self._value[0] < self.ttl:
                return self._value[2]
        network = Network(
            warehouses=tuple(sorted((to_warehouse(d) for d in all_of("warehouses")), key=lambda w: w.id)),
            skus={d["_id"]: to_sku(d) for d in all_of("skus")},
            carriers=tuple(sorted((to_carrier(d) for d in all_of("carriers")), key=lambda c: c.id)),
        )
        with self._lock:
            self._value = (time.monotonic(), key, network)
        return network

    def clear(self) -> None:
        with self._lock:
            self._value = None
        _settings_cache.clear()


network_cache = _NetworkCache()


def load_network() -> Network:
    return network_cache.get()


_settings_cache: dict[tuple[str, str], tuple[float, Any]] = {}  # settings and cached documents
SETTINGS_TTL = 5.0


def cached_setting(name: str):
    """:func:`load_setting`, cached per database for a few seconds (read on every order)."""
    from mongoengine import get_db

    key = (get_db().name, name)
    hit = _settings_cache.get(key)
    if hit and time.monotonic() - hit[0] < SETTINGS_TTL:
        return hit[1]
    value = load_setting(name)
    _settings_cache[key] = (time.monotonic(), value)
    return value


def cached(kind: str, doc_id: str) -> dict | None:
    """:func:`get`, cached per database for a few seconds (channels and parties read per event)."""
    from mongoengine import get_db

    key = (get_db().name, f"{kind}/{doc_id}")
    hit = _settings_cache.get(key)
    if hit and time.monotonic() - hit[0] < SETTINGS_TTL:
        return hit[1]
    value = get(kind, doc_id)
    _settings_cache[key] = (time.monotonic(), value)
    return value


def replace_setting(name: str, current: dict | None, value: dict) -> bool:
    """Store ``value`` as setting ``name`` if the one stored is still ``current`` by its version
    (None: none is stored yet): a compare-and-set, so two replacements decided on the same setting
    cannot both land. False when another landed first."""
    settings = KINDS["settings"]._get_collection()
    try:
        if current is None:
            settings.insert_one({"_id": name, "value": to_bson(value)})
            return True
        version = current.get("version")
        guard = {"value.version": version} if version is not None else {"value.version": {"$exists": False}}
        return settings.update_one({"_id": name, **guard}, {"$set": {"value": to_bson(value)}}).modified_count == 1
    except DuplicateKeyError:
        return False


def load_setting(name: str) -> dict | None:
    doc = get("settings", name)
    return doc.get("value") if doc else None
