"""A fulfilment's tracking history is shown in the order events happened, not arrived
(adapters/http/views.py: the API's order and the console's order page)."""
from datetime import datetime

import pytest

from adapters.http.views import in_event_order, order_view, with_history_in_event_order

pytestmark = pytest.mark.unit


def test_events_are_listed_by_when_they_happened_whatever_their_zone():
    arrived = [
        {"event": "shipped", "received_at": datetime(2024, 3, 5, 12, 0)},  # naive stored time: UTC
        {"event": "out_for_delivery", "occurred_at": "2024-03-06T18:00:00+08:00"},  # 10:00 UTC
        {"event": "in_transit", "occurred_at": "2024-03-06T09:00:00+00:00"},  # arrived late
        {"event": "note"},  # no time at all: stays right after the event it arrived after
        {"event": "in_transit_again", "occurred_at": "2024-03-06T09:00:00Z"},  # a tie keeps arrival order
        {"event": "bad", "occurred_at": "not a time", "received_at": "2024-03-06T11:00:00+00:00"},
    ]
    assert [e["event"] for e in in_event_order(arrived)] == [
        "shipped", "in_transit", "note", "in_transit_again", "out_for_delivery", "bad"]
    assert in_event_order([]) == []


def test_the_order_view_shows_the_history_in_event_order_and_stores_nothing():
    doc = {"_id": "O1", "version": 3, "fulfilments": [
        {"id": "O1-F1", "tracking": [{"event": "b", "occurred_at": "2024-03-06T10:00:00+00:00"},
                                     {"event": "a", "occurred_at": "2024-03-06T09:00:00+00:00"}]},
        {"id": "O1-F2"}]}
    assert [e["event"] for e in order_view(doc)["fulfilments"][0]["tracking"]] == ["a", "b"]
    assert [e["event"] for e in with_history_in_event_order(doc)["fulfilments"][0]["tracking"]] == ["a", "b"]
    assert [e["event"] for e in doc["fulfilments"][0]["tracking"]] == ["b", "a"]  # the stored order is untouched
    assert with_history_in_event_order({"_id": "O2"}) == {"_id": "O2"}
    assert order_view(doc)["fulfilments"][1] == {"id": "O1-F2"}
