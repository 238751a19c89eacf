"""Polling with a deadline (tests never sleep to wait) and small HTTP helpers."""
from __future__ import annotations

import contextlib
import threading
import time

import httpx

ADMIN = {"Authorization": "Bearer test-admin"}
# The tests' HTTP client acts as an admin operator unless a request says otherwise.
http = httpx.Client(headers=ADMIN, timeout=10)


def eventually(check, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Call ``check`` until it returns a truthy value; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def get_order(api: str, order_id: str) -> dict:
    response = http.get(f"{api}/v1/orders/{order_id}", timeout=5)
    response.raise_for_status()
    return response.json()


def order_in(api: str, order_id: str, **expected):
    """Poll until the order's top-level fields equal ``expected``; return the order."""
    def check():
        order = get_order(api, order_id)
        return order if all(order.get(k) == v for k, v in expected.items()) else None
    return eventually(check, what=f"order {order_id} with {expected}")


def stock_of(api: str, sku: str, warehouse: str) -> dict:
    rows = http.get(f"{api}/v1/stock", params={"sku": sku, "warehouse": warehouse}, timeout=5).json()["stock"]
    assert len(rows) == 1, rows
    return {k: rows[0][k] for k in ("on_hand", "reserved", "available")}


def assert_conserved(timeout: float = 15.0) -> None:
    """Stock and money add up over the whole database (documents/invariants.py), once messages
    still in flight have landed."""
    from documents import invariants

    deadline = time.monotonic() + timeout
    while True:
        violations = invariants.check_all()
        if not violations or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert violations == [], "\n".join(str(v) for v in violations)


@contextlib.contextmanager
def ticking(send, every: float = 0.3):
    """What ``orderrouter scheduler`` does for one sweep, faster: ``send()`` every ``every`` seconds
    on a thread, until the block ends."""
    stop = threading.Event()

    def tick():
        while not stop.wait(every):
            with contextlib.suppress(Exception):  # the broker connection may hiccup: the next tick sends
                send()
    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)

