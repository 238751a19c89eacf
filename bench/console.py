"""Time the console's order list (``GET /v1/orders`` with typical filters) over 100,000 orders.

Inserts N generated orders (stored shape, ``insert_many`` in batches of 1,000), then calls the
API in-process (Flask test client: routing, validation, query, serialisation; no socket) for
each filter set, and prints p50 / p95 per filter set with the index MongoDB's ``explain()``
says the query used. Writes bench/results/console.json. Prints numbers, asserts nothing.
Usage::

    python bench/console.py [--orders 100000] [--runs 40] [--no-record] [--keep DIR]

Uses ``ROUTER_MONGO_URL`` when set, else starts the embedded wire server (in memory, or with
``--keep DIR`` on disk in DIR, database ``bench_console``: kept afterwards and reused by the next
run when it holds the same number of orders, so 100,000 orders are inserted once).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine_info, percentile, write_result  # noqa: E402

CHANNELS = ("web", "shopify", "taobao", "amazon", "manual")
STATUSES = ("pending_payment", "awaiting_shipment", "shipped", "completed", "cancelled", "closed", "on_hold")
BUDGET_S = 10.0  # per filter set


def generate(n: int, now: datetime, seed: int = 1):
    """Orders in the stored shape over the 180 days before ``now``, yielded in batches of 1,000."""
    from bson.decimal128 import Decimal128

    rng = random.Random(seed)
    batch = []
    for i in range(n):
        skus = sorted({f"SKU-{rng.randrange(2000):04d}" for _ in range(rng.randint(1, 3))})
        payable = Decimal(rng.randint(500, 200000)) / 100
        batch.append({
            "_id": f"B{i:07d}", "channel": rng.choice(CHANNELS), "channel_order_id": f"C{i}",
            "status": rng.choices(STATUSES, weights=(10, 15, 15, 45, 6, 6, 3))[0], "payment_status": "paid",
            "shipment_status": "shipped", "after_sales_status": "none", "currency": rng.choice(("CNY", "USD")),
            "placed_at": now - timedelta(seconds=rng.randrange(180 * 86400)),
            "customer": {"id": f"cust-{rng.randrange(20000)}"}, "merchant_ids": [f"m{rng.randrange(20)}"],
            "warehouse_ids": [f"WH-{rng.randrange(12)}"], "skus": skus,
            "lines": [{"line_no": k + 1, "sku": s, "quantity": 1, "unit_price": str(payable), "merchant_id": "m1"}
                      for k, s in enumerate(skus)],
            "amounts": {"payable": str(payable)}, "payable": Decimal128(payable), "address": {"country": "CN"},
            "timeline": [{"event": "received", "at": now}], "fulfilments": [], "version": 1,
        })
        if len(batch) == 1000:
            yield batch
            batch = []
    if batch:
        yield batch


def filter_sets(now: datetime) -> dict[str, dict]:
    """Label -> query parameters of ``GET /v1/orders``, for data generated at ``now``."""
    return {
    "newest (no filter)": {},
    "status": {"status": "awaiting_shipment"},
    "channel": {"channel": "taobao"},
    "customer": {"customer": "cust-42"},
    "sku": {"sku": "SKU-0042"},
    "warehouse": {"warehouse": "WH-3"},
    "placed range (7 days)": {"placed_from": (now - timedelta(days=7)).isoformat(), "placed_to": now.isoformat()},
    "status + placed range": {"status": "completed", "placed_from": (now - timedelta(days=30)).isoformat()},
    "amount range": {"min_amount": "1000", "max_amount": "1200"},
    "channel order id": {"channel_order_id": "C77777"},
    }


def explain(filters: dict) -> dict:
    """The winning plan's index (or COLLSCAN) and docs examined, as the API's query would run."""
    from adapters.http.schemas import OrderQuerySchema
    from documents import queries
    from documents.orders import collection

    args = OrderQuerySchema().load(filters)
    args.pop("limit"), args.pop("cursor", None)
    cursor = collection().find(queries.order_filter(args), queries.LIST_PROJECTION) \
        .sort([("placed_at", -1), ("_id", -1)]).limit(51).hint(queries._index_for(args))
    plan = cursor.explain()
    stage, index = plan["queryPlanner"]["winningPlan"], None
    stages = []
    while stage:
        stages.append(stage.get("stage"))
        index = index or stage.get("indexName")
        stage = stage.get("inputStage")
    stats = plan.get("executionStats", {})
    return {"index": index or "COLLSCAN", "stages": stages, "docs_examined": stats.get("totalDocsExamined"),
            "keys_examined": stats.get("totalKeysExamined")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="keep the database (embedded server: on disk in DIR) and reuse it")
    options = parser.parse_args()

    import os

    from documents import connection

    server = None
    url = os.environ.get("ROUTER_MONGO_URL")
    if not url:
        from documents.embedded import EmbeddedMongo

        server = EmbeddedMongo(options.keep or ":memory:").start()
        url = server.url
    name = "bench_console" if options.keep else f"bench_console_{uuid.uuid4().hex[:8]}"
    import mongoengine

    mongoengine.disconnect()  # the app's options, with a socket timeout long enough for bulk inserts
    mongoengine.connect(db=name, host=url, **{**connection.CLIENT_OPTIONS, "socketTimeoutMS": 300_000})
    database = mongoengine.get_db()
    try:
        connection.ensure_indexes()
        from adapters.http.app import create_app
        from pymongo.errors import BulkWriteError

        from documents.orders import collection

        started = time.perf_counter()
        # a live business: its newest orders are recent (a reused data set keeps the time it was made at)
        made = database.bench_meta.find_one({"_id": "console"}) if options.keep else None
        reuse = bool(made) and made["orders"] == collection().estimated_document_count() == options.orders
        now = made["now"] if reuse else datetime.now(timezone.utc)
        if options.keep and not reuse:
            collection().delete_many({})
            database.bench_meta.delete_many({})
        for batch in () if reuse else generate(options.orders, now):
            try:
                collection().insert_many(batch, ordered=False)
            except BulkWriteError as exc:  # a retried batch: its duplicates are already in
                if any(e["code"] != 11000 for e in exc.details["writeErrors"]):
                    raise
        insert_s = time.perf_counter() - started
        if options.keep and not reuse:
            database.bench_meta.insert_one({"_id": "console", "orders": options.orders, "now": now})
        print(f"{'reused' if reuse else 'inserted'} {options.orders:,} orders in {insert_s:.1f} s", flush=True)

        os.environ.setdefault("ROUTER_API_TOKENS", "bench:viewer:bench-viewer")
        client = create_app().test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + os.environ["ROUTER_API_TOKENS"].split(",")[0].split(":", 2)[2]
        results = {}
        print(f"{'filter':28} {'p50 ms':>8} {'p95 ms':>8} {'rows':>5}  index (docs examined)")
        for label, filters in filter_sets(now).items():
            timings, rows, budget = [], 0, time.perf_counter() + BUDGET_S
            for run in range(options.runs):
                if run >= 3 and time.perf_counter() > budget:
                    break  # a slow plan (a collection scan) gets fewer runs
                t0 = time.perf_counter()
                response = client.get("/v1/orders", query_string={**filters, "limit": 50})
                timings.append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200:
                    break  # e.g. the server gave up on a scan: record it and move on
                rows = len(response.get_json()["orders"])
            status = response.status_code
            cursor = response.get_json().get("next_cursor") if status == 200 else None
            page2 = []
            for _ in range(min(10, options.runs)) if cursor else ():
                t0 = time.perf_counter()
                client.get("/v1/orders", query_string={**filters, "limit": 50, "cursor": cursor})
                page2.append((time.perf_counter() - t0) * 1000)
            plan = explain(filters)
            results[label] = {"filters": filters, "rows": rows, "runs": len(timings), "status": status, "p50_ms": round(percentile(timings, 50), 2),
                              "p95_ms": round(percentile(timings, 95), 2),
                              "page2_p95_ms": round(percentile(page2, 95), 2) if page2 else None, "explain": plan}
            print(f"{label:28} {results[label]['p50_ms']:8.1f} {results[label]['p95_ms']:8.1f} {rows:5}  "
                  f"{plan['index']} ({plan['docs_examined']})" + ("" if status == 200 else f" HTTP {status}"), flush=True)
        summary = {"orders": options.orders, "runs_per_filter": options.runs, "insert_seconds": round(insert_s, 1),
                   "server": "mongod" if os.environ.get("ROUTER_MONGO_URL") else "embedded (secantusdb)",
                   "machine": machine_info(), "at": datetime.now(timezone.utc).isoformat(), "filters": results}
        if not options.no_record:
            print("wrote", write_result("console", summary))
    finally:
        if not options.keep:
            database.client.drop_database(name)
        if server:
            server.stop()


if __name__ == "__main__":
    main()
