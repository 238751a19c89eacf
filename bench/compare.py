"""Before and after in one run: two commits' end-to-end benchmarks, alternating, on one machine.

    python bench/compare.py REF_A REF_B [--orders 300] [--seed 42] [--rounds 2] [-- E2E_ARGS...]

Each ref is checked out side by side (``git worktree add --detach`` into a temporary directory)
and its own ``bench/e2e.py`` is run from its own checkout with the shared ``.venv`` python (an
older commit has its own settings module and harness: e2e.py puts its checkout first on the path
and starts the router's processes with it as their working directory, so each run is that
commit's code throughout). Each run gets a fresh MongoDB-wire server started here as that run's
commit starts it (a commit with ``documents/embedded_server.py`` runs SecantusDB through it, with
its ``_id``-first write lookup; an older one runs SecantusDB's own entry point), so a change to how
the server is run is measured as part of its commit; e2e measures that server's CPU by its port.
All runs share the machine's RabbitMQ (each run in a queue namespace of its own). Runs alternate A B, B A, A B... so that a machine
growing busier or a server warming up weighs on both alike; the medians per ref are compared.

Each round also runs the reference pipeline once (``bench/reference.py``: the minimum an order
needs, through the same orders, on the same servers), between the round's two runs (A R B, B R A):
its code (and its database server's) is always this checkout's, so A and B are measured against the same yardstick, and each
ref's ratio to it says how far that commit is from the machine's limit, whatever the load.

Prints, for both refs and their ratio B / A: delivered and dispatched orders per second, DB round
trips, messages and CPU milliseconds (database, workers, API) per order; then the reference's
figures and A / reference, B / reference. Writes ``bench/results/compare.json`` with every run's
summary. Benchmarks never assert.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import exit_on_sigterm, machine_info, median, write_result  # noqa: E402
from documents.embedded import EmbeddedMongo  # noqa: E402

PYTHON = REPO / ".venv" / "bin" / "python"
# (label, e2e summary key, digits): what is compared. Round trips are the workers' plus the API's.
FIGURES = (
    ("delivered orders/s", "throughput_to_delivered_per_s", 2),
    ("dispatched orders/s", "throughput_to_dispatched_per_s", 2),
    ("DB round trips / order", "db_round_trips_per_order", 1),
    ("  workers", "db_round_trips_per_order_workers", 1),
    ("  API", "db_round_trips_per_order_api", 1),
    ("messages / order", "messages_per_order", 2),
    ("CPU ms / order", "cpu_ms_per_order", 1),
    ("  database", "cpu_ms_per_order_db", 1),
    ("  workers", "cpu_ms_per_order_workers", 1),
    ("  API", "cpu_ms_per_order_api", 1),
    ("p50 accepted -> delivered s", "latency_delivered_p50_s", 1),
)
HIGHER_IS_BETTER = {"throughput_to_delivered_per_s", "throughput_to_dispatched_per_s"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


class Checkout:
    """A ref checked out in a worktree of its own under ``base``."""

    def __init__(self, ref: str, label: str, base: Path):
        self.ref, self.label = ref, label
        self.sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
        self.subject = git("log", "-1", "--format=%s", self.sha)[:100]
        self.path = base / f"{label}-{self.sha[:8]}"

    def add(self) -> Checkout:
        git("worktree", "add", "--detach", str(self.path), self.sha)
        if not (self.path / "bench" / "e2e.py").exists():
            raise SystemExit(f"{self.ref} ({self.sha[:8]}) has no bench/e2e.py")
        return self

    def remove(self) -> None:
        try:
            git("worktree", "remove", "--force", str(self.path))
        except subprocess.CalledProcessError as exc:
            log(f"could not remove the worktree {self.path}: {exc.stderr.strip()}")

    def info(self) -> dict:
        return {"ref": self.ref, "sha": self.sha, "subject": self.subject}


def child_env(mongo_url: str) -> dict[str, str]:
    """This process's environment for an e2e run: the shared database server, nothing of this
    checkout on the path (e2e puts its own checkout and its counting shim there)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BENCH_COUNT_DIR")}
    env["ROUTER_MONGO_URL"] = mongo_url
    return env


def server_for(checkout: Checkout | None, log_path: Path) -> EmbeddedMongo:
    """A fresh MongoDB-wire server for one run, started the way that run's commit starts it (the
    reference's: this checkout's)."""
    tree = checkout.path if checkout else REPO
    if (tree / "documents" / "embedded_server.py").exists():  # python -m documents.embedded_server, from that tree
        def launch(command: list[str]) -> list[str]:
            return ["env", f"PYTHONPATH={tree}", *command]
    else:  # before it: SecantusDB's own entry point, with the same arguments
        own = shutil.which("secantusd-py") or str(PYTHON.with_name("secantusd-py"))

        def launch(command: list[str]) -> list[str]:
            return [own, *command[3:]]  # past "python -m documents.embedded_server"
    return EmbeddedMongo(":memory:", log_path=str(log_path), launch_with=launch).start()


def imports_from(checkout: Checkout, env: dict[str, str]) -> str:
    """Where the router's packages are imported from when run in ``checkout`` (a sanity check: the
    project is also installed in the .venv, editable, from this checkout)."""
    done = subprocess.run([str(PYTHON), "-c", "import adapters; print(adapters.__file__)"], cwd=checkout.path,
                          env=env, capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or done.stderr.strip()[-300:]


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float, out: Path, log_path: Path) -> dict:
    """Run one benchmark script (it stops what it started on SIGTERM: sent when it overstays,
    then SIGKILL); ``{"summary", "seconds"}`` from the JSON it wrote to ``out``, or the error."""
    started = time.monotonic()
    with open(log_path, "ab") as output:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=timeout + 600)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
    seconds = round(time.monotonic() - started, 1)
    if code != 0 or not out.exists():
        return {"error": f"{Path(argv[1]).as_posix()} exited {code}; see {log_path}", "seconds": seconds}
    return {"summary": json.loads(out.read_text())["summary"], "seconds": seconds}


def run_e2e(checkout: Checkout, args, extra: list[str], env: dict[str, str], out: Path, log_path: Path) -> dict:
    """One run of ``checkout``'s bench/e2e.py; its summary, or the error."""
    argv = [str(PYTHON), "bench/e2e.py", "--orders", str(args.orders), "--no-baseline", "--out", str(out),
            "--workers", str(args.workers), "--threads", str(args.threads), "--timeout", str(args.timeout)]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    run = _run(argv + extra, checkout.path, env, args.timeout, out, log_path)
    if "summary" in run:
        summary = run["summary"]
        summary["db_round_trips_per_order"] = _sum(summary, "db_round_trips_per_order_workers",
                                                   "db_round_trips_per_order_api")
        summary["cpu_ms_per_order"] = _sum(summary, "cpu_ms_per_order_db", "cpu_ms_per_order_workers",
                                           "cpu_ms_per_order_api")
        run["load_average_1m"] = round(os.getloadavg()[0], 2)
    return run


def run_reference(args, extra: list[str], env: dict[str, str], out: Path, log_path: Path) -> dict:
    """One run of this checkout's bench/reference.py with the e2e runs' orders, workers and threads
    (and their --concurrency, when given to e2e); its summary, or the error."""
    argv = [str(PYTHON), str(REPO / "bench" / "reference.py"), "--orders", str(args.orders), "--out", str(out),
            "--workers", str(args.workers), "--threads", str(args.threads), "--timeout", str(args.timeout)]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    if "--concurrency" in extra[:-1]:
        argv += ["--concurrency", extra[extra.index("--concurrency") + 1]]
    run = _run(argv, REPO, env, args.timeout, out, log_path)
    if "summary" in run:
        run["load_average_1m"] = round(os.getloadavg()[0], 2)
    return run


def _sum(summary: dict, *keys: str) -> float | None:
    values = [summary.get(k) for k in keys]
    return None if any(v is None for v in values) else round(sum(values), 2)


def order_of_round(k: int, a: Checkout, b: Checkout) -> tuple[Checkout, Checkout]:
    return (a, b) if k % 2 == 0 else (b, a)


def medians(runs: list[dict], label: str) -> dict:
    mine = [r["summary"] for r in runs if r["label"] == label and "summary" in r]
    return {key: median([s.get(key) for s in mine]) for _, key, _ in FIGURES}


def ratios(a: dict, b: dict) -> dict:
    return {key: (round(b[key] / a[key], 3) if a.get(key) and b.get(key) is not None else None)
            for _, key, _ in FIGURES}


def _fmt(v, digits: int) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def reference_report(med: dict) -> list[str]:
    """The reference's medians and each ref's ratio to them (empty when no reference run worked)."""
    if not any(v is not None for v in med["R"].values()):
        return []
    to_ref = {"A": ratios(med["R"], med["A"]), "B": ratios(med["R"], med["B"])}
    lines = ["", f"{'against the reference pipeline':<34}{'ref':>10}{'A / ref':>10}{'B / ref':>9}"]
    for label, key, digits in FIGURES:
        lines.append(f"{label:<34}{_fmt(med['R'][key], digits):>10}{_fmt(to_ref['A'][key], 2):>10}"
                     f"{_fmt(to_ref['B'][key], 2):>9}")
    return lines


def report(a: Checkout, b: Checkout, med: dict, ratio: dict, runs: list[dict]) -> str:
    lines = [f"A = {a.ref} ({a.sha[:8]}): {a.subject}", f"B = {b.ref} ({b.sha[:8]}): {b.subject}", "",
             f"{'figure (median of ' + str(sum(r['label'] == 'A' for r in runs)) + ' runs each)':<34}"
             f"{'A':>10}{'B':>10}{'B / A':>9}"]
    for label, key, digits in FIGURES:
        better = "" if ratio[key] is None else (
            " better" if (ratio[key] > 1) == (key in HIGHER_IS_BETTER) and ratio[key] != 1 else "")
        lines.append(f"{label:<34}{_fmt(med['A'][key], digits):>10}{_fmt(med['B'][key], digits):>10}"
                     f"{_fmt(ratio[key], 2):>9}{better}")
    lines += reference_report(med)
    lines += ["", "runs, in order (R: the reference pipeline): ref, delivered orders/s, DB round trips, messages, "
              "CPU ms per order, load"]
    for r in runs:
        s = r.get("summary")
        if s is None:
            lines.append(f"  {r['label']}  {r['error']}")
            continue
        lines.append(f"  {r['label']}  {_fmt(s['throughput_to_delivered_per_s'], 2):>7}/s  "
                     f"{_fmt(s['db_round_trips_per_order'], 1):>6}  {_fmt(s['messages_per_order'], 2):>6}  "
                     f"{_fmt(s['cpu_ms_per_order'], 1):>7}  load {r['load_average_1m']}  ({r['seconds']} s)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ref_a", help="the commit before (e.g. 58575d6)")
    ap.add_argument("ref_b", help="the commit after (e.g. HEAD)")
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--seed", type=int, default=42, help="order generator seed: both refs get the same orders")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each ref, alternating (A B, B A, ...)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--timeout", type=int, default=600, help="seconds each run waits for its orders to settle")
    ap.add_argument("--keep", action="store_true", help="keep the worktrees and logs (printed)")
    ap.add_argument("--no-reference", action="store_true", help="do not run the reference pipeline each round")
    ap.add_argument("--out", default=None)
    return ap.parse_args(argv), extra


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    a, b = Checkout(args.ref_a, "A", base), Checkout(args.ref_b, "B", base)
    started, runs, added = time.time(), [], []
    mongo = None
    try:
        for checkout in (a, b):
            added.append(checkout)
            checkout.add()
        env = child_env("mongodb://127.0.0.1:9/")  # each run gets its own server below
        for checkout in (a, b):
            where = imports_from(checkout, env)
            log(f"{checkout.label} = {checkout.ref} ({checkout.sha[:8]}) in {checkout.path}: imports {where}")
            if not where.startswith(str(checkout.path)):
                raise SystemExit(f"{checkout.ref} would not run its own code (imports {where})")
        per_round = 2 if args.no_reference else 3
        for k in range(args.rounds):
            first, second = order_of_round(k, a, b)
            for checkout in (first, None, second):  # None: the reference, between the round's two runs
                if checkout is None and args.no_reference:
                    continue
                n = len(runs) + 1
                label = checkout.label if checkout else "R"
                log(f"run {n}/{per_round * args.rounds}: "
                    f"{f'{label} ({checkout.sha[:8]})' if checkout else 'R (reference pipeline)'}, {args.orders} orders")
                out, log_path = base / f"e2e-{n}-{label}.json", base / f"e2e-{n}-{label}.log"
                mongo = server_for(checkout, base / f"mongo-{n}-{label}.log")
                env = child_env(mongo.url)
                try:
                    result = run_e2e(checkout, args, extra, env, out, log_path) if checkout else \
                        run_reference(args, extra, env, out, log_path)
                finally:
                    mongo.stop()
                    mongo = None
                runs.append({"label": label, "sha": checkout.sha if checkout else git("rev-parse", "HEAD"),
                             "round": k, **result})
                s = result.get("summary")
                log(f"  {result['error']}" if s is None else
                    f"  {s['throughput_to_delivered_per_s']} delivered/s, {s['db_round_trips_per_order']} round "
                    f"trips, {s['messages_per_order']} messages, {s['cpu_ms_per_order']} CPU ms per order "
                    f"({result['seconds']} s)")
    finally:
        if mongo:
            mongo.stop()
        if not args.keep:
            for checkout in added:
                checkout.remove()
            git("worktree", "prune")
        if args.keep or not all("summary" in r for r in runs):
            log(f"kept {base} (logs{' and worktrees' if args.keep else ''})")
        else:
            shutil.rmtree(base, ignore_errors=True)
    med = {"A": medians(runs, "A"), "B": medians(runs, "B"), "R": medians(runs, "R")}
    ratio = ratios(med["A"], med["B"])
    text = report(a, b, med, ratio, runs)
    result = {"benchmark": "compare", "a": a.info(), "b": b.info(), "orders": args.orders, "seed": args.seed,
              "rounds": args.rounds, "workers": args.workers, "threads": args.threads, "e2e_args": extra,
              "servers": "a fresh MongoDB-wire server per run, started as the run's commit starts it; the machine's RabbitMQ",
              "seconds": round(time.time() - started, 1), "machine": machine_info(),
              "medians": med, "ratios_b_over_a": ratio,
              "reference": {"code": "this checkout's bench/reference_app.py, once per round between A and B",
                            "ratios_a_over_reference": ratios(med["R"], med["A"]),
                            "ratios_b_over_reference": ratios(med["R"], med["B"])},
              "runs": runs, "report": text.splitlines()}
    path = write_result("compare", result, args.out)
    print()
    print(text)
    print(f"\nwrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0 if all("summary" in r for r in runs) else 1


if __name__ == "__main__":
    exit_on_sigterm()
    raise SystemExit(main())
