"""Database cost per operation: server CPU milliseconds for each kind of round trip the pipeline
makes, on routed orders built by the router's own code (intake, routing), against the same
operation on a small document in an unindexed collection (what bench/baseline.py does).

Deterministic enough to compare while the machine is shared: it counts the database process's
own CPU time (from /proc), one client thread, no broker (a StubBroker swallows the sends).

    python bench/dbops.py [--orders N] [--without-list-indexes] [--unpatched]

Writes bench/results/dbops.json (dbops-unpatched.json with --unpatched).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("ROUTER_BROKER", "stub")

from bench.common import cpu_seconds  # noqa: E402


def measure(name: str, pid: int, n: int, fn, results: dict) -> None:
    t0, c0 = time.perf_counter(), cpu_seconds([pid])
    for i in range(n):
        fn(i)
    wall, cpu = time.perf_counter() - t0, cpu_seconds([pid]) - c0
    results[name] = {"server_cpu_ms": round(1000 * cpu / n, 3), "wall_ms": round(1000 * wall / n, 3)}
    print(f"{name:<58} server CPU {1000 * cpu / n:7.3f} ms  wall {1000 * wall / n:7.3f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--without-list-indexes", action="store_true",
                    help="drop the order list indexes first (what each index costs an update on this server)")
    ap.add_argument("--unpatched", action="store_true",
                    help="run SecantusDB's own entry point, without documents/embedded_server.py's _id-first write lookup")
    args = ap.parse_args()
    import shutil

    from adapters.demo import generate_orders
    from adapters.intake import accept_order
    from adapters.seed import load_world, read
    from services.routing import route
    from documents import connection, inbox, indexes, orders, reference
    from documents.embedded import EmbeddedMongo

    own = shutil.which("secantusd-py") or str(Path(sys.executable).with_name("secantusd-py"))
    launch = (lambda command: [own, *command[3:]]) if args.unpatched else None  # past "python -m module"
    server = EmbeddedMongo(":memory:", launch_with=launch).start()
    try:
        connection.connect(server.url, "dbops")
        indexes.ensure_indexes()
        world = read(REPO / "examples" / "seed.yaml")
        for sku in world["skus"]:
            sku["stock"] = {w: q * 100 for w, q in (sku.get("stock") or {}).items()}
        load_world(world)
        reference.network_cache.clear()
        pid = server.process.pid
        n = args.orders
        ids = []
        from datetime import datetime, timezone

        for o in generate_orders(world, n, seed=7):
            ids.append(accept_order("manual", o).id)
        for oid in ids:
            route(orders.load(oid, working=True), datetime.now(timezone.utc))
        docs = {oid: orders.load(oid) for oid in ids}
        if args.without_list_indexes:
            for field in orders.LIST_FILTER_FIELDS:
                orders.collection().drop_index(orders.list_index_name(field))
        res: dict = {}
        utcnow = lambda: datetime.now(timezone.utc)  # noqa: E731
        coll = orders.collection()
        db = connection.database()
        measure("find order by _id (working set)", pid, n,
                lambda i: coll.find_one({"_id": ids[i]}, orders.WORKING_SET), res)
        measure("find order by _id (whole)", pid, n, lambda i: coll.find_one({"_id": ids[i]}), res)
        fids = [docs[o]["fulfilments"][0]["id"] for o in ids if docs[o].get("fulfilments")]
        measure("find summary by fulfilments.id", pid, len(fids),
                lambda i: orders.load_summary_by_fulfilment(fids[i]), res)
        measure("update order: $set 2 fields + $inc version", pid, n,
                lambda i: coll.update_one({"_id": ids[i]}, {"$set": {"note_x": i, "updated_at": utcnow()},
                                                            "$inc": {"version": 1}}), res)
        measure("update order: guarded on version ({_id, version}) + $inc version", pid, n,
                lambda i: coll.update_one({"_id": ids[i], "version": {"$gte": 0}},
                                          {"$set": {"note_x": i, "updated_at": utcnow()}, "$inc": {"version": 1}}), res)
        measure("update order: $set status (indexed) + $push timeline", pid, n,
                lambda i: coll.update_one({"_id": ids[i]}, {"$set": {"after_sales_status": "none", "updated_at": utcnow()},
                                                            "$push": {"timeline": {"at": utcnow(), "event": "x"}},
                                                            "$inc": {"version": 1}}), res)
        owner = {f["id"]: o for o in ids for f in docs[o].get("fulfilments", [])}
        measure("update order: positional fulfilment + $push tracking", pid, len(fids),
                lambda i: coll.update_one({"_id": owner[fids[i]], "fulfilments": {"$elemMatch": {"id": fids[i]}}},
                                          {"$set": {"fulfilments.$.note": i, "updated_at": utcnow()},
                                           "$push": {"fulfilments.$.tracking": {"event": "x", "at": utcnow()}},
                                           "$inc": {"version": 1}}), res)
        fresh = [{**docs[o], "_id": f"{o}-copy", "channel_order_id": f"{o}-copy"} for o in ids]
        from documents.codec import to_bson
        measure("insert order (one insert per order)", pid, n // 2,
                lambda i: coll.insert_one(to_bson(fresh[i])), res)
        measure("insert orders 8 at a time (insert_many), per order", pid, n // 2,
                lambda i: i % 8 == 0 and coll.insert_many(
                    [to_bson(d) for d in fresh[n // 2 + i:n // 2 + i + 8]], ordered=False), res)
        measure("inbox insert", pid, n, lambda i: inbox.record("wms", "bench", f"e{i}", {"order_id": ids[i], "x": i}, ids[i]), res)
        measure("inbox mark processed", pid, n, lambda i: inbox.mark_processed(f"wms:bench:e{i}"), res)
        for size in (500, 100):
            keys = [f"wms:bench:m{size}-{i}" for i in range(max(n, size))]
            for i, key in enumerate(keys):
                inbox.record("wms", "bench", key.split(":", 2)[2], {"order_id": ids[i % n], "x": i}, ids[i % n])
            measure(f"inbox: update_many of {size} ids ($in), per entry", pid, len(keys),
                    lambda i, keys=keys, size=size: i % size == 0 and inbox.InboxEvent._get_collection().update_many(
                        {"_id": {"$in": keys[i:i + size]}}, {"$set": {"processed": True}}), res)
        small = db["small_docs"]
        measure("small doc insert (baseline shape)", pid, n, lambda i: small.insert_one({"_id": i, "version": 0}), res)
        measure("small doc update (baseline shape)", pid, n,
                lambda i: small.update_one({"_id": i}, {"$set": {"t": datetime.now(timezone.utc)}, "$inc": {"version": 1}}), res)
        measure("small doc find (baseline shape)", pid, n, lambda i: small.find_one({"_id": i}), res)
        measure("ping", pid, n, lambda i: db.command("ping"), res)
        import bson
        sizes = sorted(len(bson.encode(d)) for d in coll.find({}))
        print(f"order document size: median {sizes[len(sizes)//2]} bytes, max {sizes[-1]}; "
              f"indexes on orders: {len(coll.index_information())}; load average {os.getloadavg()[0]:.2f}")
        from bench.common import machine_info, write_result

        print("wrote", write_result("dbops-unpatched" if args.unpatched else "dbops",
                                    {"benchmark": "dbops", "orders": n, "unpatched": args.unpatched,
                                     "machine": machine_info(), "operations": res}))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
