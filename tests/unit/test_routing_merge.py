"""Merging open orders of one customer, per merchant."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from router.merging import MergeGroup, merge_candidates
from router.model import Address, Customer
from routing_factories import PLACED_AT, line, order

pytestmark = pytest.mark.unit


def at(minutes: int, order_id: str, *lines, **kw):
    o = order(*(lines or (line(1, "A", 1),)), order_id=order_id, customer=Customer(id="c1"), **kw)
    return replace(o, placed_at=PLACED_AT + timedelta(minutes=minutes))


NOW = PLACED_AT + timedelta(hours=1)


def test_orders_of_one_customer_to_one_address_within_the_window_merge_per_merchant():
    orders = [at(0, "O2", line(1, "A", 1), line(2, "B", 1, merchant="m2")), at(-30, "O1"), at(10, "O3",
              line(1, "B", 1, merchant="m2"))]
    assert merge_candidates(orders, now=NOW) == [MergeGroup("m1", ("O1", "O2")), MergeGroup("m2", ("O2", "O3"))]
    assert merge_candidates(orders, now=NOW, merchants=frozenset({"m2"})) == [MergeGroup("m2", ("O2", "O3"))]


def test_orders_outside_the_window_or_to_another_address_or_customer_do_not_merge():
    base = at(0, "O1")
    others = [at(-200, "OLD"), at(90, "FUTURE"), replace(at(5, "ELSEWHERE"), address=Address("CN", "GD")),
              replace(at(5, "SOMEONE"), customer=Customer(id="c2"))]
    assert merge_candidates([base, *others], now=NOW) == []


def test_address_comparison_ignores_case_and_spacing():
    a = replace(at(0, "O1"), address=Address("CN", "ZJ", "Hangzhou", lines=("1  West Lake Rd",)))
    b = replace(at(5, "O2"), address=Address("cn", "zj", "HANGZHOU ", lines=("1 west lake rd",)))
    assert merge_candidates([a, b], now=NOW) == [MergeGroup("m1", ("O1", "O2"))]
