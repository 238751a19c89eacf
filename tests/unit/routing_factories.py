"""Small factories and hypothesis strategies for the routing, freight and money tests."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from hypothesis import strategies as st

from router.model import (
    Address,
    Carrier,
    Network,
    Order,
    OrderLine,
    Sku,
    StockLevel,
    Warehouse,
)
from router.statuses import ShippingMethod

PLACED_AT = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def line(n: int, sku: str, qty: int, price: str = "10.00", merchant: str = "m1", discount: str = "0") -> OrderLine:
    return OrderLine(line_no=n, sku=sku, merchant_id=merchant, quantity=qty, unit_price=Decimal(price),
                     discount=Decimal(discount))


def order(*lines: OrderLine, order_id: str = "O1", country: str = "CN", region: str = "ZJ",
          channel: str = "web", lat: float | None = None, lon: float | None = None, **kw) -> Order:
    return Order(order_id=order_id, channel=channel, channel_order_id="c-" + order_id, currency=kw.pop("currency", "CNY"),
                 lines=tuple(lines), address=Address(country=country, region=region, lat=lat, lon=lon),
                 placed_at=PLACED_AT, **kw)


def wh(wid: str, *merchants: str, country: str = "CN", region: str = "ZJ", rank: int = 100, **kw) -> Warehouse:
    return Warehouse(id=wid, merchant_ids=frozenset(merchants or ("m1",)), country=country, region=region,
                     rank=rank, **kw)


def stock(*entries: tuple[str, str, int], safety: int = 0) -> dict[tuple[str, str], StockLevel]:
    """(sku, warehouse_id, available) triples."""
    return {(s, w): StockLevel(sku=s, warehouse_id=w, on_hand=q, reserved=0, safety_stock=safety)
            for s, w, q in entries}


def network(*warehouses: Warehouse, skus: dict[str, Sku] | None = None, carriers=()) -> Network:
    return Network(warehouses=tuple(warehouses), skus=skus or {}, carriers=tuple(carriers))


REGIONS = ["CN-ZJ", "CN-SH", "CN-GD", "US-CA"]


@st.composite
def routing_inputs(draw, max_lines: int = 6, max_warehouses: int = 6):
    """(order, stock, network, exclude) with a few merchants, warehouses, SKUs and carriers."""
    merchants = [f"m{i}" for i in range(1, draw(st.integers(1, 3)) + 1)]
    skus = {}
    for m in merchants:
        for j in range(draw(st.integers(1, 3))):
            code = f"{m}-s{j}"
            skus[code] = Sku(sku=code, merchant_id=m, price=Decimal("1"),
                             weight_grams=draw(st.integers(1, 3000)),
                             product_type=draw(st.sampled_from(["general", "cold"])))
    warehouses = []
    for i in range(draw(st.integers(1, max_warehouses))):
        region = draw(st.sampled_from(REGIONS))
        country, sub = region.split("-")
        warehouses.append(Warehouse(
            id=f"W{i}", merchant_ids=frozenset(draw(st.sets(st.sampled_from(merchants), min_size=1, max_size=2))),
            country=country, region=sub, rank=draw(st.integers(1, 3)),
            active=draw(st.sampled_from([True, True, True, False])),
            daily_capacity=draw(st.none() | st.integers(0, 3)), orders_today=draw(st.integers(0, 3)),
            product_types=draw(st.sampled_from([frozenset(), frozenset({"general"}), frozenset({"cold"})])),
            serves_regions=draw(st.sampled_from([frozenset(), frozenset({"CN"}), frozenset({"US"})]))))
    levels = {}
    for w in warehouses:
        for code, sku in skus.items():
            if sku.merchant_id in w.merchant_ids and draw(st.booleans()):
                on_hand = draw(st.integers(0, 12))
                levels[(code, w.id)] = StockLevel(code, w.id, on_hand, draw(st.integers(0, on_hand)),
                                                  draw(st.integers(0, 2)))
    n_lines = draw(st.integers(1, max_lines))
    lines = []
    for n in range(1, n_lines + 1):
        code = draw(st.sampled_from(sorted(skus)))
        qty = draw(st.integers(1, 6))
        price = Decimal(draw(st.integers(0, 10000))) / 100
        disc = min(price * qty, Decimal(draw(st.integers(0, 500))) / 100)
        lines.append(OrderLine(n, code, skus[code].merchant_id, qty, price, disc))
    goods = sum((ln.goods - ln.discount for ln in lines), Decimal("0"))
    order_discount = (goods * Decimal(draw(st.integers(0, 100))) / 100).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    shipping_fee = draw(st.none() | st.integers(0, 5000).map(lambda c: Decimal(c) / 100))
    region = draw(st.sampled_from(REGIONS))
    country, sub = region.split("-")
    the_order = Order(order_id="O1", channel=draw(st.sampled_from(["web", "taobao"])), channel_order_id="c1",
                      currency="CNY", lines=tuple(lines), address=Address(country=country, region=sub),
                      placed_at=PLACED_AT, order_discount=order_discount, shipping_fee=shipping_fee,
                      shipping_method=draw(st.sampled_from(list(ShippingMethod))))
    carriers = (Carrier("sf", frozenset({"CN"}), rank=1), Carrier("ups", frozenset({"US"}), rank=2),
                Carrier("ems", frozenset(), frozenset({ShippingMethod.STANDARD}), rank=5))
    exclude = frozenset(draw(st.sets(st.sampled_from([w.id for w in warehouses]), max_size=1)))
    return the_order, levels, Network(tuple(warehouses), skus, carriers), exclude


@st.composite
def strategy_dicts(draw, name: str):
    """One strategy in the plain-dict form, with random conditions, filters, scoring and split."""
    when = {}
    if draw(st.booleans()):
        when["channels"] = draw(st.sets(st.sampled_from(["web", "taobao"]), min_size=1).map(sorted))
    if draw(st.booleans()):
        when["merchants"] = draw(st.sets(st.sampled_from(["m1", "m2", "m3"]), min_size=1).map(sorted))
    if draw(st.booleans()):
        when["min_order_value"] = str(draw(st.integers(0, 100)))
    mode = draw(st.sampled_from(["tie_breakers", "weighted"]))
    criteria = ["rank", "distance", "stock", "freight"]
    scoring = {"mode": mode, "distance": draw(st.sampled_from(["great_circle", "region_table"]))}
    if mode == "weighted":
        scoring["weights"] = {c: draw(st.integers(1, 5)) for c in draw(st.sets(st.sampled_from(criteria), min_size=1))}
    else:
        scoring["tie_breakers"] = draw(st.permutations(criteria))[: draw(st.integers(0, 4))]
    split = {"allow": draw(st.booleans()), "allow_line_split": draw(st.booleans())}
    if draw(st.booleans()):
        split["max_fulfilments"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        split["min_shipment_value"] = str(draw(st.integers(0, 200)))
    return {"name": name, "when": when, "scoring": scoring, "split": split,
            "filters": draw(st.sets(st.sampled_from(["serves_region", "product_type", "capacity"])).map(sorted)),
            "fallback": draw(st.sampled_from(["backorder", "next_strategy", "hold"]))}


@st.composite
def rules_dicts(draw):
    strategies = [draw(strategy_dicts(f"s{i}")) for i in range(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        strategies.append({"name": "catch-all"})
    return {
        "version": "test-1",
        "strategies": strategies,
        "distances": {"table": {"CN-ZJ": {"CN-SH": 170, "CN-GD": 1200}, "CN": {"US": 11000}}, "unknown_km": 5000},
        "carrier_preference": draw(st.sampled_from([["rank", "cost"], ["cost", "rank"]])),
        "shipping_templates": [
            {"id": "default", "basis": "weight", "rates": [
                {"regions": ["*"], "first_units": 1000, "first_fee": "12.00", "additional_units": 1000,
                 "additional_fee": "5.00"},
                {"regions": ["CN"], "first_units": 1000, "first_fee": "8.00", "additional_units": 500,
                 "additional_fee": "1.50", "free_above": "99.00"}],
             "remote_regions": ["CN-GD"], "remote_surcharge": "3.00"},
            {"id": "m2-pieces", "merchant": "m2", "basis": "piece", "rates": [
                {"first_units": 1, "first_fee": "6.00", "additional_units": 1, "additional_fee": "1.00"}]},
        ],
        "carrier_rates": {"sf": {"rates": [{"first_fee": "9.00", "additional_units": 1000, "additional_fee": "2"}]},
                          "ems": {"rates": [{"first_fee": "5.00"}]}},
    }
