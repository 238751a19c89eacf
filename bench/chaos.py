"""Chaos, big: ``python bench/chaos.py --orders 5000`` pushes N orders with payments through the
router while worker processes are SIGKILLed, a private RabbitMQ node and the database are each
restarted once, and the WMS fails 30% of calls; then checks every invariant. Prints the figures
and writes them to bench/results/chaos.json. Exits 1 when anything was lost, doubled or broken.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chaos.harness import ChaosConfig, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--kill-every", type=float, nargs=2, default=(8.0, 15.0), metavar=("MIN", "MAX"),
                        help="seconds between worker SIGKILLs")
    parser.add_argument("--settle-timeout", type=float, default=2700.0,
                        help="seconds to wait for every order to settle (the embedded server needs about 20 "
                             "minutes of CPU for the steps of 5,000 orders alone)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="bench/results/chaos.json")
    parser.add_argument("--base", help="directory for the run's logs and data (kept; default: a new temporary one)")
    args = parser.parse_args()
    config = ChaosConfig(orders=args.orders, seed=args.seed, concurrency=args.concurrency, workers=args.workers,
                         kill_every=tuple(args.kill_every), broker_restart_at=30.0, mongo_restart_at=90.0,
                         settle_timeout=args.settle_timeout)
    result = run(config, Path(args.base) if args.base else None)
    summary = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config": config.__dict__,
               "orders": result.orders, "accepted": result.accepted, "kills": result.kills,
               "restarts": {"broker": result.broker_restarts, "database": result.mongo_restarts},
               "retries": {"wms_calls": result.wms_calls, "wms_retries": result.wms_retries,
                           "wms_hangs": result.wms_hangs},
               "dead_letters": {"recorded": result.dead_letters, "in_broker": result.dead_letters_in_broker,
                                "in_broker_unrecorded": result.unrecorded_dead_letters},
               "delivery_orders": result.delivery_orders, "statuses": result.statuses,
               "lost": result.missing_orders, "unsettled": result.unsettled[:100],
               "unsettled_count": len(result.unsettled), "double_dispatched": result.double_dispatched,
               "violations_found": len(result.violations), "violations": result.violations[:100],
               "seconds": result.seconds}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(json.dumps(summary, indent=2, default=str))
    bad = (result.missing_orders or result.unsettled or result.double_dispatched or result.violations
           or result.unrecorded_dead_letters)
    return 1 if bad else 0


if __name__ == "__main__":
    from bench.common import exit_on_sigterm

    exit_on_sigterm()
    sys.exit(main())
