"""The fulfilment machine: every table transition, every refused pair, stale events, shipment status."""

from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.errors import IllegalTransition
from router.fulfilment_flow import (
    EVENTS,
    RANK,
    SHIPPED_OR_LATER,
    TRANSITIONS,
    FulfilmentCommand,
    apply_event,
    commands_from,
    derive_shipment_status,
    is_stale,
    moved_meanwhile,
    stage_of,
    still_stale,
)
from router.statuses import FulfilmentStatus as F
from router.statuses import ShipmentStatus
from router.statuses import TrackingStatus as T
from router.statuses import WmsEventType as W

pytestmark = pytest.mark.unit

ALL_PAIRS = list(product(F, EVENTS))
NOT_IN_TABLE = [(s, e) for s, e in ALL_PAIRS if (s, e) not in TRANSITIONS]
STALE = [(s, e) for s, e in NOT_IN_TABLE if is_stale(s, e)]
REFUSED = [(s, e) for s, e in NOT_IN_TABLE if not is_stale(s, e)]


@pytest.mark.parametrize(("current", "event"), list(TRANSITIONS))
def test_every_table_transition_moves_to_its_target(current, event):
    assert apply_event(current, event) is TRANSITIONS[(current, event)]


@pytest.mark.parametrize(("current", "event"), STALE)
def test_stale_events_leave_the_fulfilment_where_it_is(current, event):
    assert apply_event(current, event) is current


@pytest.mark.parametrize(("current", "event"), REFUSED)
def test_every_other_pair_is_refused_with_the_allowed_commands(current, event):
    with pytest.raises(IllegalTransition) as caught:
        apply_event(current, event)
    assert caught.value.machine == "fulfilment"
    assert caught.value.current == current
    assert caught.value.command == event
    assert caught.value.allowed == commands_from(TRANSITIONS, current)


def test_the_table_only_moves_forward_between_ranked_statuses():
    for (src, _event), to in TRANSITIONS.items():
        if src in RANK and to in RANK:
            assert RANK[to] > RANK[src], (src, _event, to)


def test_shipped_or_later_never_goes_back_to_the_warehouse():
    for (src, _event), to in TRANSITIONS.items():
        if src in SHIPPED_OR_LATER:
            assert to in SHIPPED_OR_LATER, (src, _event, to)


def test_late_carrier_scan_after_delivery_is_a_no_op():
    assert apply_event(F.DELIVERED, T.IN_TRANSIT) is F.DELIVERED
    assert apply_event(F.OUT_FOR_DELIVERY, T.IN_TRANSIT) is F.OUT_FOR_DELIVERY


def test_repeated_wms_ack_is_a_no_op():
    assert apply_event(F.PICKED, W.PICKED) is F.PICKED
    assert apply_event(F.PACKED, W.ACCEPTED) is F.PACKED


def test_a_carrier_scan_proves_a_parcel_left_when_the_wms_shipped_ack_is_missing():
    assert apply_event(F.PACKED, T.IN_TRANSIT) is F.IN_TRANSIT


def test_wms_answer_after_a_timed_out_dispatch_is_believed():
    assert apply_event(F.DISPATCH_FAILED, W.ACCEPTED) is F.ACCEPTED


def test_shipping_a_cancelled_fulfilment_is_refused():
    with pytest.raises(IllegalTransition):
        apply_event(F.CANCELLED, W.SHIPPED)
    with pytest.raises(IllegalTransition):
        apply_event(F.CANCELLED, T.DELIVERED)


def test_late_pick_after_intercept_is_a_no_op():
    assert apply_event(F.CANCELLED, W.PICKED) is F.CANCELLED


def test_cancelling_a_fulfilment_the_wms_has_is_refused():
    with pytest.raises(IllegalTransition) as caught:
        apply_event(F.ACCEPTED, FulfilmentCommand.CANCEL)
    assert W.INTERCEPTED in caught.value.allowed


def test_exception_recovers_on_the_next_scan():
    assert apply_event(F.IN_TRANSIT, T.DELIVERY_FAILED) is F.EXCEPTION
    assert apply_event(F.EXCEPTION, T.OUT_FOR_DELIVERY) is F.OUT_FOR_DELIVERY


def test_return_received_belongs_to_after_sales():
    with pytest.raises(IllegalTransition):
        apply_event(F.DELIVERED, W.RETURN_RECEIVED)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], ShipmentStatus.UNSHIPPED),
        ([F.PLANNED, F.RESERVED], ShipmentStatus.UNSHIPPED),
        ([F.CANCELLED], ShipmentStatus.UNSHIPPED),
        ([F.SHIPPED, F.PACKED], ShipmentStatus.PARTIALLY_SHIPPED),
        ([F.DELIVERED, F.DISPATCH_FAILED], ShipmentStatus.PARTIALLY_SHIPPED),
        ([F.SHIPPED, F.CANCELLED], ShipmentStatus.SHIPPED),
        ([F.IN_TRANSIT, F.EXCEPTION, F.DELIVERED], ShipmentStatus.SHIPPED),
        ([F.DELIVERED, F.DELIVERED, F.CANCELLED], ShipmentStatus.DELIVERED),
    ],
)
def test_shipment_status_is_derived_from_live_fulfilments(statuses, expected):
    assert derive_shipment_status(statuses) is expected


def _stage(status: F) -> int:
    """0 not shipped, 1 with the carrier, 2 delivered; for the never-backwards property."""
    return 2 if status is F.DELIVERED else 1 if status in SHIPPED_OR_LATER else 0


@given(st.lists(st.sampled_from(EVENTS), max_size=40))
def test_random_event_sequences_never_move_a_fulfilment_backwards(events):
    status = F.PLANNED
    for event in events:
        try:
            new = apply_event(status, event)
        except IllegalTransition:
            continue
        assert new in F
        assert _stage(new) >= _stage(status)
        if status in RANK and new in RANK:
            assert RANK[new] >= RANK[status]
        if status in (F.DELIVERED, F.CANCELLED):
            assert new is status
        status = new


def test_a_fulfilment_in_several_parcels_is_delivered_with_its_last_parcel():
    from router.fulfilment_flow import delivers_fulfilment

    assert delivers_fulfilment("A", [], [])  # one parcel (none reported): its delivery is the fulfilment's
    assert delivers_fulfilment("A", ["A"], [])
    assert not delivers_fulfilment("A", ["A", "B", "C"], [])
    assert not delivers_fulfilment("B", ["A", "B", "C"], ["A"])
    assert delivers_fulfilment("C", ["A", "B", "C"], ["A", "B"])
    assert delivers_fulfilment("X", ["A", "B"], [])  # a number that is no parcel of it: not ours to hold back


IN_STAGE_MOVES = [(src, event, to) for (src, event), to in TRANSITIONS.items()
                  if src in RANK and to in RANK and stage_of(src) == stage_of(to)]


@given(st.sampled_from(IN_STAGE_MOVES))
def test_an_in_stage_event_gives_the_same_status_from_wherever_the_fulfilment_moved_meanwhile(move):
    src, event, to = move
    between = moved_meanwhile(src, to)
    assert between[0] is src and to not in between
    for status in between:
        assert apply_event(status, event) is to, (status, event)
        assert stage_of(status) == stage_of(to)


@given(st.sampled_from(list(F)), st.sampled_from(list(F)))
def test_nothing_moved_meanwhile_across_stages_or_backwards(read, new):
    between = moved_meanwhile(read, new)
    if read not in RANK or new not in RANK or stage_of(read) != stage_of(new) or RANK[new] <= RANK[read]:
        assert between == ()
    else:
        assert [RANK[s] for s in between] == list(range(RANK[read], RANK[new]))


@given(st.sampled_from(list(F)), st.sampled_from(EVENTS))
def test_an_event_stale_where_read_is_stale_wherever_the_fulfilment_went_meanwhile(read, event):
    statuses = still_stale(read, event)
    if not is_stale(read, event):
        assert statuses == ()
        return
    assert statuses[0] is read
    for status in statuses:
        assert apply_event(status, event) is status, (status, event)
        assert status is read or RANK[status] > RANK[read]


def test_parcels_are_the_waybill_then_each_new_box_with_its_carrier():
    from router.fulfilment_flow import parcels

    f = {"tracking_number": "W1", "carrier_id": "sf",
         "packages": [{"tracking_number": "W1", "carrier_id": "sf"}, {"tracking_number": "B2"},
                      {"tracking_number": "B3", "carrier_id": "yto"}]}
    assert parcels(f) == [("W1", "sf"), ("B2", "sf"), ("B3", "yto")]
    assert parcels({"packages": [{"tracking_number": "B1"}]}) == [("B1", None)]
    assert parcels(None) == [] and parcels({}) == []
