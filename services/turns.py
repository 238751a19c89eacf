"""Events for one order that reach one worker process together take turns.

A warehouse or carrier often reports several steps of one order within milliseconds (accepted,
picked, packed; a box scanned in transit as the next one is delivered), and a worker's threads
pick them up together. Each event is a load, a decision and a guarded update of the order, so
two of them at once mean one update lost on the guard, a reload and a second decision: measured
as most of the unmodified order updates of the end-to-end benchmark. Within a process they now
wait for each other instead, which costs no database work; across processes the guard still
decides, as before. Correctness never rests on a turn: a turn not had within ``wait_s`` is gone
without, and the guarded update still holds.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager


class Turns:
    def __init__(self, wait_s: float = 5.0):
        self.wait_s = wait_s
        self.lock = threading.Lock()
        self.held: dict[str, list] = {}  # key -> [lock, threads holding or waiting]

    @contextmanager
    def turn(self, key: str):
        """Run the block while no other thread of this process runs one for ``key``."""
        with self.lock:
            entry = self.held.setdefault(key, [threading.Lock(), 0])
            entry[1] += 1
        got = entry[0].acquire(timeout=self.wait_s)
        try:
            yield got
        finally:
            if got:
                entry[0].release()
            with self.lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self.held[key]


per_order = Turns()
