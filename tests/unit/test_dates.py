"""Times at the edges: the plausible window for placed_at, the queryable range, and deadlines that
saturate instead of overflowing (a year 9999 order once looped in the workers with OverflowError)."""
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.errors import PayloadError
from adapters.native import Native, occurred
from router.dates import (EARLIEST_PLACED, EARLIEST_QUERY, LATEST_QUERY, event_time_problem, placed_at_problem, plus,
                          query_time_problem, representable)
from router.lifecycle import OrderState
from router.statuses import AfterSalesStatus, PaymentMethod, PaymentStatus, ShipmentStatus
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus as O
from router.timers import Deadlines, Timestamps, all_deadlines, backorder_deadline, due_action, parse_duration

pytestmark = pytest.mark.unit

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)
ZONES = st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
ANY_TIME = st.datetimes(timezones=ZONES)
MAX = datetime.max.replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("placed, ok", [
    (datetime(9999, 12, 31, tzinfo=timezone.utc), False),
    (datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone.utc), False),
    (datetime(1, 1, 1, tzinfo=timezone.utc), False),
    (EARLIEST_PLACED, True),
    (NOW, True),
    (NOW + timedelta(days=1), True),  # a channel's clock a little ahead
    (NOW + timedelta(days=1, seconds=1), False),
    (datetime(2000, 1, 1, 7, 59, tzinfo=timezone(timedelta(hours=8))), False),  # 1999-12-31 23:59 UTC
])
def test_placed_at_must_be_after_2000_and_at_most_a_day_ahead(placed, ok):
    assert (placed_at_problem(placed, NOW) is None) is ok


@given(ANY_TIME)
def test_the_placed_at_window_never_raises_and_accepts_exactly_the_window(placed):
    problem = placed_at_problem(placed, NOW)
    assert (problem is None) == (EARLIEST_PLACED <= placed <= NOW + timedelta(days=1))


@given(ANY_TIME)
def test_a_query_time_is_refused_outside_1900_9000_and_never_raises(moment):
    assert (query_time_problem(moment) is None) == (EARLIEST_QUERY <= moment < LATEST_QUERY)


@given(ANY_TIME, st.timedeltas())
def test_plus_saturates_instead_of_overflowing(moment, delta):
    result = plus(moment, delta)
    try:
        expected = moment + delta
    except OverflowError:
        assert result in (MAX, datetime.min.replace(tzinfo=timezone.utc))
        assert (result > moment) == (delta > timedelta(0))
    else:
        assert result == expected


def test_parse_duration_refuses_what_a_timedelta_cannot_hold():
    for bad in ("999999999999d", 1e300, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            parse_duration(bad)


STATES = st.sampled_from([
    OrderState("o1", payable=Decimal(10), fulfilments={"o1-F1": F.RESERVED}),
    OrderState("o1", status=O.SHIPPED, payment_status=PaymentStatus.PAID, paid_amount=Decimal(10),
               payable=Decimal(10), shipment_status=ShipmentStatus.SHIPPED,
               fulfilments={"o1-F1": F.IN_TRANSIT, "o1-F2": F.DISPATCHED}),
    OrderState("o1", status=O.COMPLETED, payment_status=PaymentStatus.PAID, paid_amount=Decimal(10),
               payable=Decimal(10), shipment_status=ShipmentStatus.DELIVERED, fulfilments={"o1-F1": F.DELIVERED},
               after_sales_status=AfterSalesStatus.NONE, payment_method=PaymentMethod.ONLINE),
])
DEADLINES = st.builds(Deadlines, **{name: st.timedeltas(min_value=timedelta(microseconds=1))
                                    for name in ("unpaid_cancel", "auto_confirm_receipt", "after_sales_window",
                                                 "wms_ack_stall", "carrier_scan_stall", "backorder_retry")})


@given(STATES, DEADLINES, ANY_TIME, ANY_TIME)
def test_deadlines_of_any_stored_times_never_overflow(state, deadlines, at, now):
    stamps = Timestamps(placed_at=at, shipped_at=at, completed_at=at, dispatched_at={"o1-F2": at},
                        picked_up_at={"o1-F1": at}, last_scan_at={"o1-F1": at})
    armed = all_deadlines(state, deadlines, stamps)
    assert armed and all(due >= at for due, _ in armed)
    for _, timer in armed:
        due_action(state, timer, now, deadlines, stamps)  # fires or not, never raises
    assert backorder_deadline(O.PENDING_PAYMENT, "backordered", at, deadlines) >= at


def test_an_order_placed_in_9999_gets_a_deadline_at_the_end_of_time():
    state = OrderState("o1", payable=Decimal(10), fulfilments={"o1-F1": F.RESERVED})
    [(due, timer)] = all_deadlines(state, Deadlines(), Timestamps(placed_at=datetime(9999, 12, 31, 23, 50,
                                                                                      tzinfo=timezone.utc)))
    assert due == MAX and timer.action == "cancel_unpaid"


@pytest.mark.parametrize("text, ok", [("9999-12-31T23:00:00-05:00", False), ("0001-01-01T00:30:00+05:00", False),
                                      ("9999-12-31T23:59:59+00:00", True), ("2024-06-01T12:00:00+08:00", True)])
def test_a_time_is_representable_when_it_has_a_utc_time(text, ok):
    assert representable(datetime.fromisoformat(text)) is ok


def test_event_times_share_the_placed_at_window():
    assert event_time_problem(datetime(1999, 12, 31, tzinfo=timezone.utc), NOW)
    assert event_time_problem(NOW + timedelta(days=2), NOW)
    assert event_time_problem(NOW - timedelta(days=400), NOW) is None


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+05:00"])
def test_a_native_time_with_no_utc_time_is_a_payload_error_naming_its_path(text):
    node = Native({"updated_at": text}, "order").get("updated_at")
    with pytest.raises(PayloadError) as err:
        node.when()
    assert err.value.field_path == "order.updated_at" and "out of range" in err.value.message
    with pytest.raises(PayloadError):
        occurred([node], NOW, node)
