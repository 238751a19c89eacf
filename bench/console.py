"""Time the order list over 100,000 orders: ``GET /v1/orders`` and the console's orders page.

Inserts N generated orders in their stored shape and size (raw channel payload, timeline,
fulfilments with tracking, routing decision: about 7 KB each, ``insert_many`` in batches of
1,000), builds the list rows with ``documents.order_list.rebuild`` (the repair path), then calls
the app in-process (Flask test client: routing, validation, query, serialisation; no socket) for
each filter set: p50 / p95 of the API list, of its second page, and of the console page (its
tab counts from the cache, as a console sees them between refreshes), with the index and the
rows examined that the server's ``explain()`` reports for the list's first window query. Also
times a cold tab count and what the row write adds to an order save. Writes
bench/results/console.json. Prints numbers, asserts nothing. Usage::

    python bench/console.py [--orders 100000] [--runs 40] [--no-record] [--keep DIR]

Uses ``ROUTER_MONGO_URL`` when set, else starts the embedded wire server (in memory, or with
``--keep DIR`` on disk in DIR, database ``bench_console``: kept afterwards and reused by the next
run when it holds the same number of orders, so 100,000 orders are inserted once).
"""
from __future__ import annotations

import argparse
import os
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
BUDGET_S = 10.0  # per filter set and measurement


def generate(n: int, now: datetime, seed: int = 1):
    """Orders in the stored shape over the 180 days before ``now``, yielded in batches of 1,000."""
    from bson.decimal128 import Decimal128

    rng = random.Random(seed)
    batch = []
    for i in range(n):
        skus = sorted({f"SKU-{rng.randrange(2000):04d}" for _ in range(rng.randint(1, 3))})
        payable = Decimal(rng.randint(500, 200000)) / 100
        placed = now - timedelta(seconds=rng.randrange(180 * 86400))
        warehouse = f"WH-{rng.randrange(12)}"
        lines = [{"line_no": k + 1, "sku": s, "name": f"Product {s} in a colour and size", "quantity": 1,
                  "unit_price": Decimal128(payable), "merchant_id": "m1"} for k, s in enumerate(skus)]
        tracking = [{"at": placed + timedelta(hours=h), "event": "in_transit", "location": "Sorting centre Hangzhou",
                     "raw": {"code": "IT", "desc": "Parcel has left the sorting centre"}} for h in range(6)]
        batch.append({
            "_id": f"B{i:07d}", "channel": rng.choice(CHANNELS), "channel_order_id": f"C{i}",
            "status": rng.choices(STATUSES, weights=(10, 15, 15, 45, 6, 6, 3))[0], "payment_status": "paid",
            "shipment_status": "shipped", "after_sales_status": rng.choices(("none", "pending_review"), (97, 3))[0],
            "currency": rng.choice(("CNY", "USD")), "placed_at": placed,
            "customer": {"id": f"cust-{rng.randrange(20000)}", "name": "Li Lei", "email": "li.lei@example.com",
                         "phone": "+8613800138000"},
            "address": {"name": "Li Lei", "country": "CN", "region": "Zhejiang", "city": "Hangzhou",
                        "postcode": "310000", "lines": ["No. 1 West Lake Road", "Building 2, Room 301"]},
            "merchant_ids": [f"m{rng.randrange(20)}"], "warehouse_ids": [warehouse], "skus": skus, "lines": lines,
            "amounts": {"goods": Decimal128(payable), "discount": Decimal128("0"), "freight": Decimal128("0"),
                        "payable": Decimal128(payable)}, "payable": Decimal128(payable),
            "line_amounts": {str(k + 1): {"goods": Decimal128(payable), "payable": Decimal128(payable)}
                             for k in range(len(skus))},
            "fulfilments": [{"id": f"B{i:07d}-F1", "warehouse_id": warehouse, "carrier_id": "sf", "status": "shipped",
                             "lines": [{"line_no": k + 1, "quantity": 1} for k in range(len(skus))],
                             "tracking_number": f"SF{i:010d}", "tracking": tracking}],
            "routing": {"state": "routed", "reason": "nearest warehouse with stock",
                        "decision": {"inputs": {"warehouses": [f"WH-{w}" for w in range(12)]},
                                     "scores": {f"WH-{w}": rng.random() for w in range(12)}}},
            "timeline": [{"at": placed + timedelta(minutes=m), "actor": "worker", "event": f"step-{m}",
                          "from": "a", "to": "b", "details": {"note": "moved on by the router"}} for m in range(12)],
            "raw": {"payload": {"id": i, "note": "x" * 1500, "line_items": [{"sku": s, "title": "t" * 80} for s in skus]},
                    "headers": {f"X-Header-{h}": "v" * 30 for h in range(12)}},
            "version": 14,
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
        "merchant": {"merchant": "m7"},
        "placed range (7 days)": {"placed_from": (now - timedelta(days=7)).isoformat(), "placed_to": now.isoformat()},
        "status + placed range": {"status": "completed", "placed_from": (now - timedelta(days=30)).isoformat()},
        "status + channel": {"status": "awaiting_shipment", "channel": "taobao"},
        "amount range": {"min_amount": "1000", "max_amount": "1200"},
        "channel order id": {"channel_order_id": "C77777"},
    }


def console_args(filters: dict) -> dict:
    """The console page's query string for API filters (dates as days, search as ``q``)."""
    names = {"placed_from": "from", "placed_to": "to", "channel_order_id": "q"}
    return {names.get(k, k): (v[:10] if k in ("placed_from", "placed_to") else v) for k, v in filters.items()}


def explain(filters: dict) -> dict:
    """What the server's ``explain()`` reports for each window query the first page ran: the
    indexes, how many windows, and the documents examined over all of them."""
    from adapters.http.schemas import OrderQuerySchema
    from documents import order_list, queries

    args = OrderQuerySchema().load(filters)
    args.pop("limit"), args.pop("cursor", None)
    ran, window_rows = [], queries._window_rows

    def record(filters_, lower, upper, inclusive, after_id, wanted):
        ran.append((queries.window_query(filters_, lower, upper, inclusive), wanted))
        return window_rows(filters_, lower, upper, inclusive, after_id, wanted)

    queries._window_rows = record
    try:
        queries.list_rows(args, limit=50)
    finally:
        queries._window_rows = window_rows
    indexes, examined = [], 0
    for query, wanted in ran:
        plan = order_list.collection().find(query).sort(queries.NEWEST_FIRST).limit(wanted).explain()
        stage, index = plan["queryPlanner"]["winningPlan"], None
        while stage:
            index = index or stage.get("indexName")
            stage = stage.get("inputStage")
        indexes.append(index or "COLLSCAN")
        examined += plan.get("executionStats", {}).get("totalDocsExamined") or 0
    return {"index": "/".join(dict.fromkeys(indexes)), "windows": len(ran), "docs_examined": examined,
            "first_query": {k: str(v) for k, v in ran[0][0].items()} if ran else None}


def timed(call, runs: int) -> list[float]:
    out, budget = [], time.perf_counter() + BUDGET_S
    for run in range(runs):
        if run >= 3 and time.perf_counter() > budget:
            break  # a slow shape gets fewer runs
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def insert_generated(collection, n: int, now: datetime, seed: int = 1) -> None:
    """Insert ``n`` generated orders into ``collection`` (a pymongo collection whose client has a
    socket timeout long enough for bulk inserts: a 1,000-order batch is about 7 MB). A batch the
    driver retried after a lost answer may be partly in already: its duplicates are skipped."""
    from pymongo.errors import BulkWriteError

    for batch in generate(n, now, seed=seed):
        try:
            collection.insert_many(batch, ordered=False)
        except BulkWriteError as exc:
            if any(e["code"] != 11000 for e in exc.details["writeErrors"]):
                raise


def row_write_cost(url: str, n: int = 300) -> dict:
    """What keeping the list row adds to an order save, in a scratch database on the same server:
    ``save_change`` with a status change (order update + row write) against one with a change the
    list does not show (order update only), p50 / p95 ms over ``n`` saves each."""
    from documents import connection, indexes, order_list, orders

    name = f"bench_console_writes_{uuid.uuid4().hex[:6]}"
    connection.connect(url, name)
    indexes.ensure_indexes()
    try:
        now = datetime.now(timezone.utc)
        docs = [d for batch in generate(n, now, seed=2) for d in batch]
        for d in docs:
            d["status"], d["version"] = "awaiting_shipment", 0
            orders.insert_new(d)
        plain, listed, former = [], [], []
        for d in docs:
            current = orders.load(d["_id"], working=True)
            t0 = time.perf_counter()
            saved = orders.save_change(d["_id"], current["version"], {"notes": "checked"}, current=current)
            plain.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            orders.save_change(d["_id"], saved["version"], {"status": "shipped"}, current=saved)
            listed.append((time.perf_counter() - t0) * 1000)
        # before the list rows, orders carried the list's indexes themselves (and the embedded
        # server rewrites every index entry of a document on each update): the same save then
        for field in (f for f in order_list.LIST_FILTER_FIELDS if f not in (None, "channel_order_id")):
            orders.collection().create_index([(field, 1), ("placed_at", -1), ("_id", -1)])
        orders.collection().create_index([("payable", 1), ("placed_at", -1)])
        orders.collection().create_index([("channel_order_id", 1)])
        for d in docs:
            current = orders.load(d["_id"], working=True)
            t0 = time.perf_counter()
            orders.collection().update_one({"_id": d["_id"], "version": current["version"]},
                                           {"$set": {"notes": "again"}, "$inc": {"version": 1}})
            former.append((time.perf_counter() - t0) * 1000)
        figures = {"unlisted_change": plain, "status_change": listed, "unlisted_change_former_indexes": former}
        return {"saves": n, **{f"{k}_p{p}_ms": round(percentile(v, p), 2) for k, v in figures.items() for p in (50, 95)}}
    finally:
        connection.database().client.drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="keep the database (embedded server: on disk in DIR) and reuse it")
    options = parser.parse_args()

    import mongoengine

    from documents import connection, indexes

    server = None
    url = os.environ.get("ROUTER_MONGO_URL")
    if not url:
        from documents.embedded import EmbeddedMongo

        server = EmbeddedMongo(options.keep or ":memory:").start()
        url = server.url
    name = "bench_console" if options.keep else f"bench_console_{uuid.uuid4().hex[:8]}"
    mongoengine.disconnect()  # the app's options, with a socket timeout long enough for bulk inserts
    mongoengine.connect(db=name, host=url, **{**connection.CLIENT_OPTIONS, "socketTimeoutMS": 600_000})
    database = mongoengine.get_db()
    try:
        indexes.ensure_indexes()
        from adapters.http.app import create_app
        from documents import order_list, queries, reports
        from documents.orders import collection

        started = time.perf_counter()
        # a live business: its newest orders are recent (a reused data set keeps the time it was made at)
        made = database.bench_meta.find_one({"_id": "console"}) if options.keep else None
        reuse = bool(made) and made["orders"] == collection().estimated_document_count() == options.orders \
            and made.get("shape") == 2
        now = made["now"] if reuse else datetime.now(timezone.utc)
        if options.keep and not reuse:
            collection().delete_many({})
            order_list.collection().delete_many({})
            database.bench_meta.delete_many({})
        if not reuse:
            insert_generated(collection(), options.orders, now)
        insert_s = time.perf_counter() - started
        if options.keep and not reuse:
            database.bench_meta.insert_one({"_id": "console", "orders": options.orders, "now": now, "shape": 2})
        print(f"{'reused' if reuse else 'inserted'} {options.orders:,} orders in {insert_s:.1f} s", flush=True)
        rebuild_s = None
        if order_list.collection().estimated_document_count() != options.orders:
            t0 = time.perf_counter()
            rebuilt = order_list.rebuild()
            rebuild_s = round(time.perf_counter() - t0, 1)
            print(f"list rows rebuilt: {rebuilt} in {rebuild_s} s", flush=True)

        os.environ.setdefault("ROUTER_API_TOKENS", "bench:viewer:bench-viewer")
        token = os.environ["ROUTER_API_TOKENS"].split(",")[0].split(":", 2)[2]
        app = create_app()
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = "Bearer " + token
        console = app.test_client()
        console.post("/console/login", data={"token": token})

        results, counts = {}, {}
        for label, base in (("all orders", {}), ("channel", {"channel": "taobao"})):
            queries.forget_counts()
            t0 = time.perf_counter()
            queries.count_tabs(base, reports.OPEN_AFTER_SALES)
            counts[label] = round((time.perf_counter() - t0) * 1000, 1)
        print("cold tab counts ms (one aggregation over the matching rows; the page serves them cached):", counts)
        print(f"{'filter':24} {'api p50':>8} {'api p95':>8} {'page2 p95':>9} {'console p50':>11} {'console p95':>11} "
              f"{'rows':>5}  index (docs examined)")
        for label, filters in filter_sets(now).items():
            response = client.get("/v1/orders", query_string={**filters, "limit": 50})
            status = response.status_code
            body = response.get_json() if status == 200 else {}
            api = timed(lambda filters=filters: client.get("/v1/orders", query_string={**filters, "limit": 50}),
                        options.runs)
            cursor = body.get("next_cursor")
            page2 = []
            if cursor:
                next_page = {**filters, "limit": 50, "cursor": cursor}
                page2 = timed(lambda q=next_page: client.get("/v1/orders", query_string=q), min(10, options.runs))
            page = console.get("/console/orders", query_string=console_args(filters))  # warms the tab counts
            pages = timed(lambda filters=filters: console.get("/console/orders", query_string=console_args(filters)),
                          options.runs)
            plan = explain(filters)
            rows = len(body.get("orders", []))
            results[label] = {"filters": filters, "rows": rows, "status": status, "console_status": page.status_code,
                              "runs": len(api), "p50_ms": round(percentile(api, 50), 2),
                              "p95_ms": round(percentile(api, 95), 2),
                              "page2_p95_ms": round(percentile(page2, 95), 2) if page2 else None,
                              "console_p50_ms": round(percentile(pages, 50), 2),
                              "console_p95_ms": round(percentile(pages, 95), 2), "explain": plan}
            r = results[label]
            print(f"{label:24} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['page2_p95_ms'] or 0:9.1f} "
                  f"{r['console_p50_ms']:11.1f} {r['console_p95_ms']:11.1f} {rows:5}  {plan['index']} "
                  f"({plan['docs_examined']} in {plan['windows']} windows)" + ("" if status == 200 else f" HTTP {status}"), flush=True)
        writes = row_write_cost(url)
        print("order save ms (scratch database):", writes)
        summary = {"orders": options.orders, "runs_per_filter": options.runs, "insert_seconds": round(insert_s, 1),
                   "rows_rebuild_seconds": rebuild_s, "reused": reuse,
                   "server": "mongod" if os.environ.get("ROUTER_MONGO_URL") else "embedded (secantusdb)",
                   "machine": machine_info(), "at": datetime.now(timezone.utc).isoformat(),
                   "cold_tab_counts_ms": counts, "counts_ttl_s": queries.COUNTS_TTL_S, "order_save": writes,
                   "filters": results}
        print("load average:", os.getloadavg())
        if not options.no_record:
            print("wrote", write_result("console", summary))
    finally:
        try:
            if not options.keep and not (server and server.storage == ":memory:"):  # stopping discards those
                mongoengine.connect(db=name, host=url, alias="drop", **{
                    **connection.CLIENT_OPTIONS, "socketTimeoutMS": connection.BATCH_SOCKET_TIMEOUT_MS})
                mongoengine.get_db("drop").client.drop_database(name)
        finally:
            if server:
                server.stop()


if __name__ == "__main__":
    from bench.common import exit_on_sigterm

    exit_on_sigterm()
    main()
