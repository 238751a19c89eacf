"""Small builders for test data: a world (merchants, warehouses, carriers, SKUs, stock) and orders."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

from adapters.simulators.channel import ChannelSimulator

_numbers = itertools.count(1)
# Each party uses one token both ways (what it presents to us, what we present to it).
TOKENS = {p: f"tok-{p}" for p in ("WH-EAST", "WH-WEST", "WH-M2", "fastship", "slowpost")}
# And one secret it signs its calls with when its format is signed (Qimen, ShipHero, AfterShip,
# EasyPost, 17TRACK): never the token, so a test tells the two apart. The `wms` and `carrier`
# fixtures sign with these.
SECRETS = {p: f"whsec-{p}-0123456789" for p in TOKENS}
# What the router presents to a shop's API (the `shop` fixture's ChannelSimulator knows them): a
# Shopify Admin API access token, a WooCommerce REST API key and secret.
SHOP_CREDENTIALS = {"api_token": "shpat_0123456789abcdef0123456789abcdef",
                    "consumer_key": "ck_0123456789abcdef0123456789abcdef01234567",
                    "consumer_secret": "cs_0123456789abcdef0123456789abcdef01234567"}


def shop_simulator():
    """A ChannelSimulator that knows SHOP_CREDENTIALS (not started)."""
    return ChannelSimulator(shopify_tokens={SHOP_CREDENTIALS["api_token"]},
                            woocommerce_keys={SHOP_CREDENTIALS["consumer_key"]: SHOP_CREDENTIALS["consumer_secret"]})


def world(wms_url: str, carrier_url: str, stock: dict[str, dict[str, int]] | None = None) -> dict:
    """Two merchants, three warehouses, two carriers, four SKUs."""
    stock = stock or {"SKU-A": {"WH-EAST": 10, "WH-WEST": 5}, "SKU-B": {"WH-EAST": 3},
                      "SKU-C": {"WH-WEST": 8}, "SKU-M2": {"WH-M2": 20}}
    merchant_of = {"SKU-A": "m1", "SKU-B": "m1", "SKU-C": "m1", "SKU-M2": "m2"}
    return {
        "merchants": [{"id": "m1", "name": "Acme"}, {"id": "m2", "name": "Globex"}],
        "channels": [{"id": "manual", "format": "canonical"}],
        "warehouses": [
            {"id": "WH-EAST", "merchant_ids": ["m1"], "country": "US", "region": "NY", "lat": 40.7, "lon": -74.0,
             "rank": 1, "wms_url": wms_url, "wms_token": TOKENS["WH-EAST"], "token": TOKENS["WH-EAST"],
             "secret": SECRETS["WH-EAST"]},
            {"id": "WH-WEST", "merchant_ids": ["m1"], "country": "US", "region": "CA", "lat": 34.0, "lon": -118.2,
             "rank": 2, "wms_url": wms_url, "wms_token": TOKENS["WH-WEST"], "token": TOKENS["WH-WEST"],
             "secret": SECRETS["WH-WEST"]},
            {"id": "WH-M2", "merchant_ids": ["m2"], "country": "US", "region": "TX", "lat": 29.7, "lon": -95.3,
             "rank": 1, "wms_url": wms_url, "wms_token": TOKENS["WH-M2"], "token": TOKENS["WH-M2"],
             "secret": SECRETS["WH-M2"]},
        ],
        "carriers": [
            {"id": "fastship", "regions": ["US"], "api_url": carrier_url, "api_token": TOKENS["fastship"], "token": TOKENS["fastship"],
             "secret": SECRETS["fastship"], "rank": 1},
            {"id": "slowpost", "regions": [], "api_url": carrier_url, "api_token": TOKENS["slowpost"], "token": TOKENS["slowpost"],
             "secret": SECRETS["slowpost"], "rank": 2},
        ],
        "skus": [{"sku": sku, "merchant_id": merchant_of[sku], "name": sku, "price": "10.00",
                  "stock": levels} for sku, levels in stock.items()],
    }


def speaks_qimen(world: dict, warehouse_id: str) -> dict:
    """Make ``warehouse_id`` a Qimen warehouse: Qimen has one app secret, used both ways (the
    router signs ``deliveryorder.create`` with ``wms_token`` and checks the WMS's callbacks with
    ``secret``), so both are the warehouse's token, as the WMS simulator uses it."""
    warehouse = next(w for w in world["warehouses"] if w["id"] == warehouse_id)
    warehouse.update(wms_format="qimen", secret=TOKENS[warehouse_id])
    return world


def order(lines=(("SKU-A", 2),), *, payment_method="online", paid=False, channel_order_id=None, **extra) -> dict:
    """A canonical order as a channel would post it."""
    number = next(_numbers)
    body = {
        "channel_order_id": channel_order_id or f"T-{number}",
        "currency": "USD",
        "customer": {"id": f"cust-{number % 7}", "name": "Ada Lovelace", "email": "ada@example.com"},
        "shipping_address": {"name": "Ada Lovelace", "country": "US", "region": "NY", "city": "New York",
                             "postcode": "10001", "lines": ["1 Main St"], "lat": 40.7, "lon": -74.0},
        "lines": [{"sku": sku, "merchant_id": "m2" if sku == "SKU-M2" else "m1", "quantity": qty,
                   "unit_price": "10.00"} for sku, qty in lines],
        "payment": {"method": payment_method, "status": "paid" if paid else "unpaid"},
        "placed_at": datetime.now(timezone.utc).isoformat(),
    }
    body.update(extra)
    return body
