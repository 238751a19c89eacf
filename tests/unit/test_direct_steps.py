"""router.lifecycle.direct_step: the change an event applied without reading the order makes is
the one the lifecycle makes on the whole order, whatever else the order holds, as long as what
the direct write is guarded on holds (the order's status, the fulfilment's, no cancel asked, no
open flag on the fulfilment)."""
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from router.fulfilment_flow import SHIPPED_OR_LATER, derive_shipment_status, stage_of
from router.lifecycle import DIRECT_STEPS, direct_step, on_fulfilment_event
from router.order_state import OrderState
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus as O
from router.statuses import PaymentMethod, PaymentStatus

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 5, 9, 30, tzinfo=timezone.utc)


@st.composite
def orders_for_a_step(draw):
    """An order as the direct write's guard lets through for a drawn event and order state: the
    order's status (and shipment status, where the state names one) and the fulfilment's as
    ``DIRECT_STEPS`` names them; siblings, backorders, payment and flags on other fulfilments drawn
    freely (the shipment status derived from them, as stored)."""
    event = draw(st.sampled_from(sorted(DIRECT_STEPS)))
    befores, states = DIRECT_STEPS[event]
    before = draw(st.sampled_from(befores))
    status, shipment = order = draw(st.sampled_from(states))
    siblings = draw(st.lists(st.sampled_from(list(F)), max_size=4))
    fulfilments = {"o1-F1": before, **{f"o1-F{i + 2}": s for i, s in enumerate(siblings)}}
    backordered = draw(st.integers(min_value=0, max_value=3))
    derived = derive_shipment_status(fulfilments.values(), outstanding=backordered > 0)
    assume(shipment is None or derived is shipment)
    flagged = draw(st.frozensets(st.sampled_from(["", *list(fulfilments)[1:]]), max_size=2))
    state = OrderState(
        order_id="o1", status=status, fulfilments=fulfilments, shipment_status=derived,
        payment_status=draw(st.sampled_from(list(PaymentStatus))),
        payment_method=draw(st.sampled_from(list(PaymentMethod))),
        payable=Decimal("100.00"), paid_amount=draw(st.sampled_from([Decimal(0), Decimal("100.00")])),
        refund_due=draw(st.booleans()), backordered_units=backordered, flagged=flagged)
    return event, before, order, state


@given(orders_for_a_step(), st.sampled_from(["wms:WH1", "carrier:SF"]))
def test_a_direct_step_is_the_lifecycles_change_on_the_whole_order(case, actor):
    event, before, order, state = case
    whole = on_fulfilment_event(state, "o1-F1", event, NOW, actor)
    direct = direct_step("o1", "o1-F1", event, NOW, actor, before, order)
    assert direct.fields == whole.fields == {}
    assert direct.fulfilments == whole.fulfilments
    assert direct.outcomes == whole.outcomes == ()
    assert direct.expect == whole.expect
    assert direct.timeline == whole.timeline


def test_a_parcel_out_while_the_order_awaits_shipment_needs_something_else_unshipped():
    # the guard's shipment status is what makes it direct: with every other fulfilment shipped,
    # the same scan ships the order, which a direct step could not know
    state = OrderState(order_id="o1", status=O.AWAITING_SHIPMENT, fulfilments={"o1-F1": F.SHIPPED, "o1-F2": F.SHIPPED},
                       shipment_status=derive_shipment_status([F.SHIPPED, F.SHIPPED]))
    assert on_fulfilment_event(state, "o1-F1", "in_transit", NOW, "carrier:SF").fields["status"] == O.SHIPPED
    assert (O.AWAITING_SHIPMENT, None) not in DIRECT_STEPS["in_transit"][1]
    with pytest.raises(ValueError):
        direct_step("o1", "o1-F1", "in_transit", NOW, "carrier:SF", F.SHIPPED, (O.AWAITING_SHIPMENT, None))


@pytest.mark.parametrize(("event", "before", "order"), [(e, b, o) for e, (befores, states) in sorted(DIRECT_STEPS.items())
                                                        for b in befores for o in states])
def test_each_direct_step_stays_in_its_stage_and_records_where_it_moved(event, before, order):
    change = direct_step("o1", "o1-F1", event, NOW, "carrier:SF", before, order)
    after = change.fulfilments.get("o1-F1", before)
    assert stage_of(after) == stage_of(before)
    assert (before in SHIPPED_OR_LATER) == (after in SHIPPED_OR_LATER)
    assert change.timeline[0]["details"]["fulfilment_id"] == "o1-F1"


def test_other_events_are_not_direct():
    assert not {"shipped", "partially_shipped", "delivered", "short_picked", "rejected", "intercepted", "exception",
                "delivery_failed", "expired", "available_for_pickup"} & set(DIRECT_STEPS)
