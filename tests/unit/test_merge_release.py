"""Order merge (issue 17, item 14): which held fulfilments go to their warehouse together, and
the merged delivery order's line numbers (router/merging.py: release, group_id, merged_line_no)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.merging import (LINE_BLOCK, Held, address_key_of, group_id, is_group_id, member_line,
                            merged_line_no, release)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
WINDOW = timedelta(minutes=30)
ADDRESS = address_key_of({"country": "US", "region": "NY", "city": "New York", "postcode": "10001",
                          "lines": ["1 Main St"], "name": "Ada Lovelace"})


def held(n: int, minutes: int = 0, **kw) -> Held:
    at = T0 + timedelta(minutes=minutes)
    base = Held(f"O{n}", f"O{n}-F1", "m1", "WH-EAST", "cust-1", ADDRESS, "USD", "standard", False, at, at + WINDOW)
    return replace(base, **kw)


def test_a_pair_within_the_window_goes_together_once_the_oldest_window_closed():
    a, b = held(1), held(2, minutes=10)
    assert release([a, b], T0 + timedelta(minutes=29)) == []  # nobody's window closed yet
    assert release([b, a], T0 + WINDOW) == [(a, b)]  # oldest first, whatever the input order


def test_another_customer_address_warehouse_merchant_currency_or_payment_goes_alone():
    a = held(1)
    others = [held(2, customer="cust-2"), held(3, warehouse_id="WH-WEST"), held(4, merchant_id="m2"),
              held(5, currency="EUR"), held(6, address=address_key_of({"country": "US", "city": "Boston"})),
              held(7, shipping_method="express"), held(8, b2b=True), held(9, payment_method="cod")]
    batches = release([a, *others], T0 + timedelta(hours=1))
    assert sorted(len(b) for b in batches) == [1] * 9


def test_addresses_compare_without_case_and_extra_spaces():
    assert address_key_of({"country": "us", "city": "New  York ", "lines": [" 1 main st"]}) == \
        address_key_of({"country": "US", "city": "new york", "lines": ["1 Main St"]})


def test_group_id_and_line_numbers_round_trip():
    assert is_group_id(group_id("O1-F1")) and not is_group_id("O1-F1")
    assert member_line(merged_line_no(2, 7)) == (2, 7)


keys = st.tuples(st.sampled_from(["cust-1", "cust-2"]), st.sampled_from(["WH-EAST", "WH-WEST"]),
                 st.sampled_from(["online", "cod"]))
helds = st.lists(st.tuples(keys, st.integers(0, 120)), max_size=12).map(
    lambda xs: [held(i, minutes, customer=c, warehouse_id=w, payment_method=p)
                for i, ((c, w, p), minutes) in enumerate(xs)])


@settings(max_examples=200, deadline=None)
@given(helds, st.integers(0, 200))
def test_release_partitions_what_is_due(items, minutes):
    now = T0 + timedelta(minutes=minutes)
    batches = release(items, now)
    released = [h for b in batches for h in b]
    # each fulfilment goes at most once, and a batch is one key, oldest first, its oldest due
    assert len(released) == len({h.fulfilment_id for h in released})
    for b in batches:
        assert b[0].until <= now
        assert len({(h.customer, h.warehouse_id, h.payment_method == "cod") for h in b}) == 1
        assert list(b) == sorted(b, key=lambda h: (h.held_at, h.fulfilment_id))
    # nothing due is left behind, and nothing goes whose group has no due member
    for h in items:
        if h.until <= now:
            assert h in released
    # releasing the same set again gives the same batches (a repeated sweep names the same groups)
    assert release(list(reversed(items)), now) == batches


@given(st.integers(0, 50), st.integers(1, LINE_BLOCK - 1))
def test_merged_line_numbers_are_unique_and_map_back(member, line_no):
    assert member_line(merged_line_no(member, line_no)) == (member, line_no)
    assert merged_line_no(member, line_no) != merged_line_no(member + 1, line_no)
