"""Ingest: requests per second and latency of ``POST /v1/channels/shopify/orders`` (a signed
Shopify ``orders/create`` webhook: HMAC check, mapping, one insert, one confirmed publish) at 1, 8
and 32 concurrent clients, beside a baseline measured in the same run: the same gunicorn gthread
server answering a constant. Also the API's and the database's CPU milliseconds per request (from
/proc: steadier than req/s on a shared machine). No worker runs: the accepted orders' messages wait
in RabbitMQ, as they would for an API tier on machines of its own (the end-to-end benchmark
measures the rest). Prints the table and writes ``bench/results/ingest.json``.

    python bench/ingest.py [--quick] [--seconds S] [--repeat K]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import RESULTS, cpu_seconds, machine_info, median, percentile, pids_named  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "channels" / "shopify_order_paid_multiline.json"
SECRET = "bench-shopify-secret"
CONSTANT_APP = '''
def app(environ, start_response):
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    body = b'{"order_id": "O0", "duplicate": false}'
    start_response("202 ACCEPTED", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
'''


def shopify_bodies(n: int, skus: list[str], run: str) -> list[tuple[bytes, dict]]:
    """N distinct signed webhooks (distinct order and webhook ids) over the seeded SKUs."""
    template = json.loads(FIXTURE.read_text())
    out = []
    for i in range(n):
        order = copy.deepcopy(template)
        order["id"] = int(f"{abs(hash(run)) % 10**6}{i:07d}")
        order["name"] = f"#B{i}"
        # two SKUs for the template's first two lines (any further line is dropped just below)
        for item, sku in zip(order["line_items"], (skus[i % len(skus)], skus[(i + 7) % len(skus)]), strict=False):
            item["sku"] = sku
        order["line_items"] = order["line_items"][:2]
        raw = json.dumps(order).encode()
        sig = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()
        out.append((raw, {"Content-Type": "application/json", "X-Shopify-Hmac-Sha256": sig,
                          "X-Shopify-Webhook-Id": f"{run}-{i}", "X-Shopify-Topic": "orders/create"}))
    return out


async def load(url: str, bodies: list[tuple[bytes, dict]], clients: int, seconds: float) -> dict:
    """``clients`` concurrent senders for ``seconds`` (bounded by the bodies available)."""
    latencies: list[float] = []
    errors = 0
    queue = iter(bodies)
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def sender():
            nonlocal errors
            for raw, headers in queue:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                response = await client.post(url, content=raw, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code not in (200, 202):
                    errors += 1
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {"requests": len(latencies), "errors": errors, "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2), "p99_ms": round(percentile(latencies, 99) * 1000, 2)}


def constant_server(port: int, threads: int) -> subprocess.Popen:
    folder = Path(tempfile.mkdtemp(prefix="ingest-baseline-"))
    (folder / "constant_app.py").write_text(CONSTANT_APP)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--chdir", str(folder), "constant_app:app",
                             "--bind", f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "1",
                             "--threads", str(threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short runs")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per cell")
    ap.add_argument("--repeat", type=int, default=None, help="runs per cell; medians reported")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--out", default=str(RESULTS / "ingest.json"))
    args = ap.parse_args()
    seconds = args.seconds or (4 if args.quick else 15)
    repeat = args.repeat or (1 if args.quick else 3)
    clients = [int(c) for c in args.clients.split(",")]
    from urllib.parse import urlsplit

    from adapters.demo import running_router
    from adapters.stack import descendants, wait_http
    from documents.embedded import free_port

    cells = {}
    with running_router(workers=0) as router:  # the ingest tier alone: no worker competes for the 2 cores
        from adapters.seed import load_world

        load_world({"channels": [{"id": "shopify", "format": "shopify", "merchant_id": "acme", "secret": SECRET}]})
        skus = [s["sku"] for s in router.seed["skus"] if s["merchant_id"] == "acme"]
        port = free_port()
        baseline = constant_server(port, 16)
        with contextlib.suppress(RuntimeError):
            wait_http(f"http://127.0.0.1:{port}/", timeout=30)
        try:
            for n in clients:
                ours, base = [], []
                for r in range(repeat):
                    bodies = shopify_bodies(int(seconds * 2000), skus, f"{n}-{r}-{os.getpid()}")
                    api_pids = [router.api_pid, *descendants(router.api_pid)]
                    db_pids = pids_named(f"--port {urlsplit(router.mongo_url).port} ")
                    cpu0 = cpu_seconds(api_pids), cpu_seconds(db_pids)
                    cell = asyncio.run(load(f"{router.api}/v1/channels/shopify/orders", bodies, n, seconds))
                    done = max(cell["requests"], 1)
                    cell["api_cpu_ms_per_request"] = round(1000 * (cpu_seconds(api_pids) - cpu0[0]) / done, 2)
                    cell["db_cpu_ms_per_request"] = round(1000 * (cpu_seconds(db_pids) - cpu0[1]) / done, 2)
                    ours.append(cell)
                    time.sleep(1)  # let the relay thread publish the tail before the next cell
                    base.append(asyncio.run(load(f"http://127.0.0.1:{port}/", bodies, n, seconds)))
                cell = {"ours": {k: median([o[k] for o in ours]) for k in ours[0]},
                        "baseline": {k: median([b[k] for b in base]) for k in base[0]}}
                cell["ratio"] = round(cell["ours"]["rps"] / cell["baseline"]["rps"], 3)
                cells[str(n)] = cell
                print(f"{n:>3} clients: ours {cell['ours']['rps']:>7.1f} req/s p50 {cell['ours']['p50_ms']:.1f} ms "
                      f"p99 {cell['ours']['p99_ms']:.1f} ms | constant {cell['baseline']['rps']:>7.1f} req/s "
                      f"| ratio {cell['ratio']:.2f} | errors {cell['ours']['errors']} | CPU ms per request: API "
                      f"{cell['ours']['api_cpu_ms_per_request']}, DB {cell['ours']['db_cpu_ms_per_request']} "
                      f"| load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            baseline.terminate()
            baseline.wait(timeout=10)
    result = {"benchmark": "ingest", "machine": machine_info(), "seconds_per_cell": seconds, "repeat": repeat,
              "endpoint": "POST /v1/channels/shopify/orders (signed Shopify orders/create, publisher confirms on)",
              "cells": cells, "aim_ratio": 0.7}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    from bench.common import exit_on_sigterm

    exit_on_sigterm()
    main()
