"""The console's order filters: a date no list window can step from is a bad filter, named, never
an OverflowError (``to=9999-12-31`` has no next day; ``from=0001-01-01`` no earlier millisecond)."""
import pytest

from adapters.console.orders import parse_filters

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("args, problems", [
    ({"from": "0001-01-01", "to": "9999-12-31"}, ["from", "to"]),
    ({"from": "1899-12-31"}, ["from"]),
    ({"to": "8999-12-30"}, []),
    ({"from": "2024-06-01", "to": "2024-06-30"}, []),
])
def test_far_dates_are_named_as_bad_filters(args, problems):
    filters, found = parse_filters(args)
    assert found == problems
    assert len(filters) == len(args) - len(problems)  # a bad date filters nothing
