"""Events of one order take turns within a worker process (actors/turns.py)."""
import threading
import time

import pytest

from services.turns import Turns

pytestmark = pytest.mark.unit


def _run_together(turns: Turns, keys: list[str], hold_s: float) -> list[tuple[str, float, float, bool]]:
    """Each key in its own thread, all released at once; returns (key, entered, left, had turn)."""
    start, spans, lock = threading.Barrier(len(keys)), [], threading.Lock()

    def work(key):
        start.wait()
        with turns.turn(key) as had:
            entered = time.monotonic()
            time.sleep(hold_s)
            left = time.monotonic()
        with lock:
            spans.append((key, entered, left, had))

    threads = [threading.Thread(target=work, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return spans


def _overlap(a, b) -> bool:
    return a[1] < b[2] and b[1] < a[2]


def test_blocks_for_one_order_never_overlap_and_the_registry_empties():
    turns = Turns()
    spans = _run_together(turns, ["o1"] * 4, 0.05)
    assert len(spans) == 4 and all(s[3] for s in spans)
    assert not any(_overlap(a, b) for i, a in enumerate(spans) for b in spans[i + 1:])
    assert turns.held == {}


def test_blocks_for_different_orders_run_at_once():
    spans = _run_together(Turns(), ["o1", "o2", "o3"], 0.2)
    assert all(_overlap(a, b) for i, a in enumerate(spans) for b in spans[i + 1:])


def test_a_turn_not_had_in_time_goes_ahead_without_one():
    turns = Turns(wait_s=0.05)
    spans = _run_together(turns, ["o1", "o1"], 0.3)
    assert sorted(s[3] for s in spans) == [False, True]
    assert _overlap(*spans)  # the guarded update, not the turn, keeps it right then
    assert turns.held == {}


def test_an_exception_in_the_block_gives_the_turn_back():
    turns = Turns(wait_s=0.5)
    with pytest.raises(ValueError), turns.turn("o1"):
        raise ValueError("boom")
    with turns.turn("o1") as had:
        assert had
    assert turns.held == {}
