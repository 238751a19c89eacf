"""Report figures from the aggregation pipelines against an independent computation in plain
Python over the same 1,200 generated orders (60 days, four channels, three currencies)."""
from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.helpers import http

from documents import orders as order_docs
from documents import reference, reports
from documents.codec import to_bson

pytestmark = pytest.mark.integration

START = datetime(2024, 3, 1, tzinfo=timezone.utc)
DAYS = 60
CHANNELS = ("web", "shopify", "taobao", "amazon")
PLACES = {"CNY": [("CN", "SH"), ("CN", "GD"), ("CN", "BJ")], "USD": [("US", "NY"), ("US", "CA")],
          "EUR": [("DE", "BE"), ("FR", "IDF")]}
SKUS = [f"SKU-{i:02d}" for i in range(25)]
CATALOGUE_ONLY = ["SKU-NEVER-1", "SKU-NEVER-2"]
STATUSES = ("pending_payment", "awaiting_shipment", "shipped", "completed", "cancelled", "rejected", "closed")


def generate_orders(n: int = 1200, seed: int = 7) -> list[dict]:
    """Orders in the stored shape, spread over ``DAYS`` days from ``START``."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        currency = rng.choice(list(PLACES))
        country, region = rng.choice(PLACES[currency])
        placed = START + timedelta(seconds=rng.randrange(DAYS * 86400))
        lines, goods, discount = [], Decimal("0"), Decimal("0")
        for no in range(1, rng.randint(1, 3) + 1):
            qty, price = rng.randint(1, 4), Decimal(rng.randint(100, 50000)) / 100
            line_discount = rng.choice([Decimal("0"), Decimal("0"), Decimal("1.50")])
            lines.append({"line_no": no, "sku": rng.choice(SKUS[:20] if rng.random() < .9 else SKUS), "quantity": qty,
                          "unit_price": str(price), "discount": str(line_discount), "merchant_id": "m1"})
            goods += price * qty
            discount += line_discount
        freight = Decimal(rng.choice(["0.00", "8.00", "12.50"]))
        payable = goods - discount + freight
        status = rng.choices(STATUSES, weights=(10, 15, 15, 40, 8, 4, 8))[0]
        payments, fulfilments = [], [{"id": f"F{i}-1", "status": "reserved", "shipped_at": None}]
        if status in ("awaiting_shipment", "shipped", "completed", "closed") and rng.random() < .9:
            payments.append({"type": "paid", "amount": str(payable), "transaction_id": f"tx{i}",
                             "received_at": placed + timedelta(minutes=rng.randint(1, 600))})
        if status in ("shipped", "completed", "closed"):
            base = (payments[0]["received_at"] if payments else placed)
            fulfilments = [{"id": f"F{i}-{k}", "status": "shipped",
                            "shipped_at": base + timedelta(minutes=rng.randint(30, 5000))} for k in (1, 2)]
            fulfilments.append({"id": f"F{i}-3", "status": "cancelled"})  # no shipped_at at all
        docs.append({
            "_id": f"O{i:05d}", "channel": rng.choice(CHANNELS), "channel_order_id": f"C{i}", "currency": currency,
            "status": status, "payment_status": "paid" if payments else "unpaid", "shipment_status": "unshipped",
            "placed_at": placed, "address": {"country": country, "region": region},
            "customer": {"id": f"cust-{i % 50}"}, "lines": lines, "skus": sorted({l["sku"] for l in lines}),
            "merchant_ids": ["m1"], "warehouse_ids": ["WH-1"],
            "amounts": {"goods": str(goods), "discount": str(discount), "freight": str(freight),
                        "payable": str(payable), "currency": currency},
            "payable": payable, "payments": payments, "fulfilments": fulfilments, "version": 1,
        })
    return docs


@pytest.fixture
def stored_orders(db):
    docs = generate_orders()
    for start in range(0, len(docs), 1000):
        order_docs.collection().insert_many(to_bson(docs[start:start + 1000]))
    for code in SKUS + CATALOGUE_ONLY:
        reference.upsert("skus", code, {"merchant_id": "m1", "price": "1.00"})
    return docs


def in_range(docs, start, end, currency=None):
    return [d for d in docs if start <= d["placed_at"] < end and d["status"] != "rejected"
            and (currency is None or d["currency"] == currency)]


def revenue_of(d) -> Decimal:
    return Decimal("0") if d["status"] == "cancelled" else Decimal(d["amounts"]["payable"])


def expected_groups(docs, key) -> dict:
    out: dict = defaultdict(lambda: [0, Decimal("0")])
    for d in docs:
        entry = out[key(d)]
        entry[0] += 1
        entry[1] += revenue_of(d)
    return {k: (n, str(v)) for k, (n, v) in out.items()}


RANGE = reports.ReportRange(START + timedelta(days=10), START + timedelta(days=45))


def test_orders_and_revenue_per_day_match_plain_python_per_currency(stored_orders):
    rows = reports.orders_by_period(RANGE, "day")
    expected = expected_groups(in_range(stored_orders, RANGE.start, RANGE.end),
                               lambda d: (d["placed_at"].strftime("%Y-%m-%d"), d["currency"]))
    got = {(r["period"], r["currency"]): (r["orders"], r["revenue"]) for r in rows}
    assert got == expected
    assert len({c for _, c in got}) == 3 and len({p for p, _ in got}) == 35
    assert [(r["period"], r["currency"]) for r in rows] == sorted(got)


def test_orders_per_month_keep_currencies_apart(stored_orders):
    rng = reports.ReportRange(START, START + timedelta(days=DAYS))
    rows = reports.orders_by_period(rng, "month")
    expected = expected_groups(in_range(stored_orders, rng.start, rng.end),
                               lambda d: (d["placed_at"].strftime("%Y-%m"), d["currency"]))
    assert {(r["period"], r["currency"]): (r["orders"], r["revenue"]) for r in rows} == expected
    assert sum(r["orders"] for r in rows) == len([d for d in stored_orders if d["status"] != "rejected"])


def test_by_channel_and_by_region_match_and_one_currency_filters(stored_orders):
    docs = in_range(stored_orders, RANGE.start, RANGE.end)
    got = {(r["channel"], r["currency"]): (r["orders"], r["revenue"]) for r in reports.by_channel(RANGE)}
    assert got == expected_groups(docs, lambda d: (d["channel"], d["currency"]))
    got = {(r["country"], r["region"], r["currency"]): (r["orders"], r["revenue"]) for r in reports.by_region(RANGE)}
    assert got == expected_groups(docs, lambda d: (d["address"]["country"], d["address"]["region"], d["currency"]))
    usd = reports.ReportRange(RANGE.start, RANGE.end, "USD")
    rows = reports.by_region(usd)
    assert {r["currency"] for r in rows} == {"USD"} and {r["country"] for r in rows} == {"US"}


def test_best_and_slow_sellers_count_units_of_live_orders_and_unsold_catalogue_skus(stored_orders):
    live = [d for d in in_range(stored_orders, RANGE.start, RANGE.end) if d["status"] != "cancelled"]
    units: dict = defaultdict(int)
    revenue: dict = defaultdict(lambda: defaultdict(Decimal))
    for d in live:
        for line in d["lines"]:
            units[line["sku"]] += line["quantity"]
            revenue[line["sku"]][d["currency"]] += Decimal(line["unit_price"]) * line["quantity"] - Decimal(line["discount"])
    for code in SKUS + CATALOGUE_ONLY:
        units.setdefault(code, 0)
    found = reports.top_skus(RANGE, limit=5)
    best = sorted((s for s in units if units[s]), key=lambda s: (-units[s], s))[:5]
    slow = sorted(units, key=lambda s: (units[s], s))[:5]
    assert [r["sku"] for r in found["best"]] == best
    assert [r["units"] for r in found["best"]] == [units[s] for s in best]
    assert found["best"][0]["revenue"] == {c: str(v) for c, v in sorted(revenue[best[0]].items())}
    assert [r["sku"] for r in found["slow"]] == slow
    assert found["slow"][0]["units"] == 0 and "SKU-NEVER-1" in slow


def test_average_payment_to_shipment_uses_first_payment_and_first_shipment(stored_orders):
    spans: dict = defaultdict(list)
    for d in in_range(stored_orders, RANGE.start, RANGE.end):
        paid = [p["received_at"] for p in d["payments"] if p["type"] == "paid"]
        shipped = [f["shipped_at"] for f in d["fulfilments"] if f.get("shipped_at")]
        if d["status"] != "cancelled" and paid and shipped:
            spans[d["channel"]].append((min(shipped) - min(paid)).total_seconds())
    found = reports.payment_to_shipment(RANGE)
    everything = [s for v in spans.values() for s in v]
    assert found["overall"]["orders"] == len(everything) > 100
    assert found["overall"]["average_seconds"] == pytest.approx(sum(everything) / len(everything), abs=1e-3)
    for row in found["by_channel"]:
        assert row["orders"] == len(spans[row["channel"]])
        assert row["average_seconds"] == pytest.approx(sum(spans[row["channel"]]) / row["orders"], abs=1e-3)


def test_reports_api_answers_json_and_csv_with_inclusive_dates(api, stored_orders):
    params = {"from": "2024-03-11", "to": "2024-04-14"}  # the days of RANGE, "to" inclusive
    body = http.get(f"{api}/v1/reports/by-channel", params=params, timeout=10).json()
    assert body["from"] == RANGE.start.isoformat() and body["to"] == RANGE.end.isoformat()
    assert body["rows"] == reports.by_channel(RANGE)
    exported = http.get(f"{api}/v1/reports/orders-by-day", params={**params, "format": "csv", "currency": "CNY"},
                         timeout=10)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    expected = expected_groups(in_range(stored_orders, RANGE.start, RANGE.end, "CNY"),
                               lambda d: d["placed_at"].strftime("%Y-%m-%d"))
    assert {r["period"]: (int(r["orders"]), r["revenue"]) for r in rows} == expected
    assert {r["currency"] for r in rows} == {"CNY"}
    for name in ("orders-by-month", "by-region", "top-skus", "payment-to-shipment"):
        assert http.get(f"{api}/v1/reports/{name}", params=params, timeout=10).status_code == 200, name


def test_reports_api_refuses_a_backwards_range_and_a_bad_currency(api, db):
    backwards = http.get(f"{api}/v1/reports/by-region", params={"from": "2024-05-01", "to": "2024-04-01"}, timeout=5)
    lower = http.get(f"{api}/v1/reports/by-region", params={"currency": "usd"}, timeout=5)
    assert backwards.status_code == 422 and lower.status_code == 422


# --- low-stock alerts (documents/alerts.py) ----------------------------------------------------

def test_low_stock_alert_is_recorded_and_posted_once_per_crossing_and_rearmed_above(db):
    from documents import alerts, stock

    stock.upsert_level("SKU-L", "WH-1", on_hand=10, low_stock_threshold=5)
    posted = []
    assert alerts.check_low_stock("SKU-L", "WH-1", notify=posted.append) is None  # 10 >= 5
    stock.adjust("SKU-L", "WH-1", -6)  # available 4 < 5: a crossing
    first = alerts.check_low_stock("SKU-L", "WH-1", notify=posted.append)
    assert first and first["available"] == 4 and first["threshold"] == 5
    stock.adjust("SKU-L", "WH-1", -1)  # still below: the same crossing
    assert alerts.check_low_stock("SKU-L", "WH-1", notify=posted.append) is None
    assert alerts.sweep_low_stock(notify=posted.append)["raised"] == 0
    assert [a["_id"] for a in posted] == [first["_id"]]
    assert [a["_id"] for a in alerts.open_alerts()] == [first["_id"]]

    stock.adjust("SKU-L", "WH-1", 10)  # back above: re-armed, the alert resolved
    assert alerts.sweep_low_stock(notify=posted.append)["rearmed"] == 1
    assert alerts.open_alerts() == []
    stock.adjust("SKU-L", "WH-1", -12)  # a second crossing is a second alert
    second = alerts.check_low_stock("SKU-L", "WH-1", notify=posted.append)
    assert second and second["_id"] != first["_id"] and len(posted) == 2


def test_a_failed_webhook_post_is_retried_by_the_sweep_over_real_http(db, monkeypatch):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from adapters.outbound.alerts import WebhookAlertClient
    from documents import alerts, stock

    received, answers = [], [500, 200]

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append((json.loads(self.rfile.read(int(self.headers["Content-Length"]))),
                             self.headers["Idempotency-Key"]))
            self.send_response(answers.pop(0))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = WebhookAlertClient(f"http://127.0.0.1:{server.server_port}/hook")
        stock.upsert_level("SKU-W", "WH-1", on_hand=2, low_stock_threshold=3)
        alert = alerts.check_low_stock("SKU-W", "WH-1", notify=hook.post_low_stock)
        assert alerts.open_alerts()[0]["webhook"]["status"] == alerts.PENDING  # the 500
        assert alerts.sweep_low_stock(notify=hook.post_low_stock)["delivered"] == 1
        assert alerts.sweep_low_stock(notify=hook.post_low_stock)["delivered"] == 0
    finally:
        server.shutdown()
    assert [(body["alert_id"], body["sku"], body["available"], key) for body, key in received] == \
        [(alert["_id"], "SKU-W", 2, alert["_id"])] * 2
    assert alerts.open_alerts()[0]["webhook"]["status"] == alerts.DELIVERED
