"""Benchmark instrumentation, loaded through PYTHONPATH by the router's own processes (bench/e2e.py
puts this directory on PYTHONPATH). Does nothing unless ``BENCH_COUNT_DIR`` is set, and then only
in the API (gunicorn) and the Dramatiq workers. No product code is changed.

Per process it counts, attributed to the Dramatiq actor running in the thread (or ``-`` outside):
MongoDB commands by name (and by name and collection) and their client-side durations (a pymongo CommandListener), messages
sent per actor and the time spent publishing them, messages processed per actor and their wall
time, and outbound HTTP calls and their time. Every second, and at exit, it writes
``$BENCH_COUNT_DIR/<role>-<pid>.json``.
"""
import os


def _role():
    try:
        with open("/proc/self/cmdline", "rb") as f:
            cmd = f.read().split(b"\0")
    except OSError:
        return None
    if b"gunicorn" in cmd:
        return "api"
    if b"dramatiq" in cmd:
        return "worker"
    return None


# The imports below are local to the functions: this module is loaded at every interpreter start
# on PYTHONPATH, and imports nothing more unless BENCH_COUNT_DIR is set.

class _Counts:
    """This process's counters, keyed by the actor running in the current thread."""

    def __init__(self):
        import threading

        self.local = threading.local()
        self.lock = threading.Lock()
        self.state = {}
        self.reset()

    def reset(self):
        from collections import defaultdict

        self.state.update(db=defaultdict(int), db_coll=defaultdict(int), db_unmodified=defaultdict(int),
                          db_us=defaultdict(int), sent=defaultdict(int), send_s=defaultdict(float),
                          done=defaultdict(int), run_s=defaultdict(float), http=defaultdict(int),
                          http_s=defaultdict(float))

    def actor(self):
        return getattr(self.local, "actor", "-")


def _count_mongodb(counts):
    from pymongo import monitoring

    state, lock, actor = counts.state, counts.lock, counts.actor

    class Listener(monitoring.CommandListener):
        def started(self, event):
            name = event.command_name
            target = event.command.get(name)
            coll = target if isinstance(target, str) else "-"
            if name == "bulkWrite":  # MongoDB 8.0's client bulk write: the collections it writes
                coll = "+".join(ns["ns"].split(".", 1)[-1] for ns in event.command.get("nsInfo", []))
            key = f"{actor()}|{name}"
            with lock:
                state["db"][key] += 1
                state["db_coll"][f"{key}|{coll}"] += 1

        def succeeded(self, event):
            with lock:
                state["db_us"][f"{actor()}|{event.command_name}"] += event.duration_micros
                if event.command_name == "update" and not event.reply.get("nModified", 1):
                    state["db_unmodified"][actor()] += 1  # a guarded update that matched nothing

        def failed(self, event):
            with lock:
                state["db_us"][f"{actor()}|{event.command_name}"] += event.duration_micros

    monitoring.register(Listener())


def _count_dramatiq(counts):
    import time

    from dramatiq import Actor

    state, lock, actor, local = counts.state, counts.lock, counts.actor, counts.local
    original_send = Actor.send_with_options
    original_call = Actor.__call__

    def send_with_options(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original_send(self, *args, **kwargs)
        finally:
            with lock:
                state["sent"][f"{actor()}>{self.actor_name}"] += 1
                state["send_s"][actor()] += time.perf_counter() - t0

    def call(self, *args, **kwargs):
        outer = getattr(local, "actor", "-")
        local.actor = self.actor_name
        t0 = time.perf_counter()
        try:
            return original_call(self, *args, **kwargs)
        finally:
            local.actor = outer
            with lock:
                state["done"][self.actor_name] += 1
                state["run_s"][self.actor_name] += time.perf_counter() - t0

    Actor.send_with_options = send_with_options
    Actor.__call__ = call


def _count_httpx(counts):
    import time

    import httpx

    state, lock, actor = counts.state, counts.lock, counts.actor
    original_http = httpx.Client.send

    def http_send(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original_http(self, *args, **kwargs)
        finally:
            with lock:
                state["http"][actor()] += 1
                state["http_s"][actor()] += time.perf_counter() - t0

    httpx.Client.send = http_send


def _dump_every_second(counts, out_dir, role):
    """Writes the counts every second in a thread (restarted in a forked child), and at exit."""
    import atexit
    import contextlib
    import json
    import threading
    import time

    def dump():
        with counts.lock:
            snapshot = {k: dict(v) for k, v in counts.state.items()}
        path = os.path.join(out_dir, f"{role}-{os.getpid()}.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"role": role, "pid": os.getpid(), **snapshot}, f)
        os.replace(tmp, path)

    def loop():
        while True:
            time.sleep(1.0)
            with contextlib.suppress(Exception):  # the next second tries again
                dump()

    def start_dumper():
        threading.Thread(target=loop, daemon=True, name="bench-counts").start()

    def after_fork():
        counts.reset()  # a forked child counts its own work only
        start_dumper()

    os.register_at_fork(after_in_child=after_fork)
    start_dumper()
    atexit.register(lambda: dump())


def _install(out_dir, role):
    counts = _Counts()
    _count_mongodb(counts)
    _count_dramatiq(counts)
    _count_httpx(counts)
    _dump_every_second(counts, out_dir, role)


_dir = os.environ.get("BENCH_COUNT_DIR")
if _dir:
    _r = _role()
    if _r:
        try:
            _install(_dir, _r)
        except Exception as exc:  # never break the product over instrumentation
            import sys

            print(f"bench shim not installed: {exc!r}", file=sys.stderr)
