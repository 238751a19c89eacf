"""Issue 17, items 2b, 8, 9, 10 in router/: partial shipments (fulfilment flow, lines shipped), exception
flags (raised, deduplicated, resolved, settled; the buttons they change; the timers they stop),
tracking number owners, cash collected on delivery, and the invariants that watch them."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.wms_formats import shiphero
from router import cod, invariants
from router.errors import IllegalTransition
from router.exceptions import (ExceptionKind, carrier_reason, flagged, list_flags, open_flags, resolved, settled_by,
                               timeline_entries, with_flag)
from router.fulfilment_flow import (apply_event, derive_shipment_status, lines_after_shipment, live_owner,
                                    stage_of)
from router.lifecycle import (OrderState, allowed_commands, cancel, confirm_receipt, on_fulfilment_event, on_payment,
                              reship, resolve_exceptions)
from router.statuses import FulfilmentStatus as F
from router.statuses import OrderStatus as O
from router.statuses import PaymentMethod, ShipmentStatus
from router.statuses import PaymentStatus as P
from router.statuses import TrackingStatus as T
from router.statuses import WmsEventType as W
from router.timers import Deadlines, TimerAction, Timestamps, all_deadlines

pytestmark = pytest.mark.unit
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


# --- partial shipments --------------------------------------------------------------------------

def test_a_partial_confirmation_moves_the_fulfilment_and_the_order_to_partly_shipped():
    assert apply_event(F.PACKED, W.PARTIALLY_SHIPPED) is F.PARTIALLY_SHIPPED
    assert apply_event(F.DISPATCHED, W.PARTIALLY_SHIPPED) is F.PARTIALLY_SHIPPED  # the WMS's evidence wins
    assert apply_event(F.PARTIALLY_SHIPPED, W.PARTIALLY_SHIPPED) is F.PARTIALLY_SHIPPED  # another box: recorded
    assert apply_event(F.PARTIALLY_SHIPPED, W.SHIPPED) is F.SHIPPED  # the final confirmation
    for scan in (T.IN_TRANSIT, T.DELIVERED, T.EXCEPTION):  # boxes out are scanned: nothing moves yet
        assert apply_event(F.PARTIALLY_SHIPPED, scan) is F.PARTIALLY_SHIPPED
    with pytest.raises(IllegalTransition):
        apply_event(F.CANCELLED, W.PARTIALLY_SHIPPED)
    assert derive_shipment_status([F.PARTIALLY_SHIPPED]) is ShipmentStatus.PARTIALLY_SHIPPED
    assert derive_shipment_status([F.PARTIALLY_SHIPPED, F.DELIVERED]) is ShipmentStatus.PARTIALLY_SHIPPED
    assert stage_of(F.PARTIALLY_SHIPPED) not in (stage_of(F.PACKED), stage_of(F.SHIPPED))

    state = OrderState("o1", status=O.AWAITING_SHIPMENT, payment_status=P.PAID, fulfilments={"o1-F1": F.PACKED})
    partly = on_fulfilment_event(state, "o1-F1", W.PARTIALLY_SHIPPED, NOW, "wms:w1").apply(state)
    assert partly.status is O.AWAITING_SHIPMENT and partly.shipment_status is ShipmentStatus.PARTIALLY_SHIPPED
    with pytest.raises(IllegalTransition):  # something left: a cancel is an after-sales matter now
        cancel(partly, "customer", NOW)
    done = on_fulfilment_event(partly, "o1-F1", W.SHIPPED, NOW, "wms:w1").apply(partly)
    assert done.status is O.SHIPPED and done.shipment_status is ShipmentStatus.SHIPPED


def test_lines_shipped_by_partial_confirmations_add_up_and_the_final_one_ships_the_rest():
    lines = [{"line_no": 1, "sku": "A", "quantity": 2}, {"line_no": 2, "sku": "B", "quantity": 1}]
    first = lines_after_shipment(lines, [{"line_no": 1, "sku": "A", "quantity": 1}], final=False)
    assert first == [{"line_no": 1, "sku": "A", "quantity": 2, "shipped": 1}, lines[1]]
    # a report without our line number goes to the lines of its SKU; never past a line's quantity
    second = lines_after_shipment(first, [{"line_no": None, "sku": "A", "quantity": 5}], final=False)
    assert second[0]["shipped"] == 2 and "shipped" not in second[1]
    assert lines_after_shipment(second, [], final=True) == [{**l, "shipped": l["quantity"]} for l in lines]
    assert lines_after_shipment(lines, [], final=True) == lines  # never partly shipped: no shipped keys


# --- exception flags ------------------------------------------------------------------------------

def test_carrier_reasons_name_what_happened():
    assert carrier_reason(T.EXCEPTION, "return_to_sender", "return") == "return_to_sender"
    assert carrier_reason(T.DELIVERY_FAILED, "failure", "") == "delivery_failed"
    assert carrier_reason(T.EXCEPTION, "exception", "Package lost in transit") == "lost"
    assert carrier_reason(T.EXPIRED, "Expired", "") == "expired"
    assert carrier_reason(T.EXCEPTION, "", "") == "carrier_exception"


def test_a_flag_is_raised_once_while_open_resolved_by_an_operator_and_raised_again_after():
    flags = with_flag([], ExceptionKind.CARRIER_EXCEPTION, "return_to_sender", NOW, fulfilment_id="o1-F1",
                      subject="TN1", tracking_number="TN1", detail="")
    assert flags == [{"id": "carrier_exception:o1-F1:TN1", "kind": "carrier_exception", "reason": "return_to_sender",
                      "at": NOW, "fulfilment_id": "o1-F1", "tracking_number": "TN1"}]
    assert with_flag(flags, ExceptionKind.CARRIER_EXCEPTION, "lost", NOW, fulfilment_id="o1-F1", subject="TN1") == flags
    assert flagged(flags) == {"o1-F1"} and list_flags(flags) == ["exception"]
    with pytest.raises(ValueError):
        with_flag(flags, ExceptionKind.WMS_ACK_STALLED, "", NOW)
    done = resolved(flags, "operator:ada", NOW, "resolved")
    assert open_flags(done) == [] and list_flags(done) == [] and done[0]["resolved_by"] == "operator:ada"
    assert [e["event"] for e in timeline_entries(flags, done, NOW, "operator:ada", "shipped")] == ["exception.resolved"]
    again = with_flag(done, ExceptionKind.CARRIER_EXCEPTION, "lost", NOW, fulfilment_id="o1-F1", subject="TN1")
    assert len(open_flags(again)) == 1 and len(again) == 2
    assert [e["event"] for e in timeline_entries(done, again, NOW, "system", "shipped")] == ["exception.flagged"]


def test_the_party_a_flag_waited_for_settles_it_by_moving_on():
    flags = with_flag([], ExceptionKind.WMS_ACK_STALLED, "no_wms_acknowledgement", NOW, fulfilment_id="o1-F1")
    flags = with_flag(flags, ExceptionKind.CARRIER_EXCEPTION, "delivery_failed", NOW, fulfilment_id="o1-F2")
    assert settled_by(W.ACCEPTED, from_warehouse=True) == (ExceptionKind.WMS_ACK_STALLED,)
    assert ExceptionKind.CARRIER_EXCEPTION in settled_by(T.DELIVERED, from_warehouse=False)
    assert settled_by(T.EXCEPTION, from_warehouse=False) == ()
    after = resolved(flags, "wms:w1", NOW, "moved on", fulfilment_id="o1-F1", kinds=settled_by(W.ACCEPTED, True))
    assert flagged(after) == {"o1-F2"}


def shipped_with_exception(**overrides) -> OrderState:
    values = dict(order_id="o1", status=O.SHIPPED, payment_status=P.PAID, shipment_status=ShipmentStatus.SHIPPED,
                  fulfilments={"o1-F1": F.EXCEPTION}, flagged=frozenset({"o1-F1"}))
    return OrderState(**{**values, **overrides})


def test_a_returned_parcel_offers_reship_refund_and_resolve_but_not_confirm_receipt():
    state = shipped_with_exception()
    buttons = allowed_commands(state)
    assert "confirm_receipt" not in buttons
    assert {"reship", "resolve_exception", "after_sales.refund_only"} <= set(buttons)
    with pytest.raises(IllegalTransition):
        confirm_receipt(state, "customer", NOW)
    assert reship(state, "o1-F1", "operator:ada", NOW).timeline[0]["event"] == "order.reship"
    with pytest.raises(IllegalTransition):
        reship(state, "o1-F2", "operator:ada", NOW)
    assert resolve_exceptions(state, "operator:ada", NOW).is_noop
    resolved_state = shipped_with_exception(flagged=frozenset())
    assert "confirm_receipt" in allowed_commands(resolved_state) and "resolve_exception" not in allowed_commands(
        resolved_state)
    with pytest.raises(IllegalTransition):
        resolve_exceptions(resolved_state, "operator:ada", NOW)


def test_the_receipt_timer_waits_while_a_parcel_is_in_exception_and_stalls_need_a_scannable_parcel():
    stamps = Timestamps(placed_at=NOW, shipped_at=NOW, picked_up_at={"o1-F1": NOW})
    assert [t.action for _, t in all_deadlines(shipped_with_exception(), Deadlines(), stamps)] == []
    assert [t.action for _, t in all_deadlines(shipped_with_exception(flagged=frozenset()), Deadlines(), stamps)] == [
        TimerAction.AUTO_CONFIRM_RECEIPT]
    moving = OrderState("o1", status=O.SHIPPED, payment_status=P.PAID, fulfilments={"o1-F1": F.IN_TRANSIT})
    scanned = NOW + timedelta(hours=30)
    stamps = Timestamps(placed_at=NOW, shipped_at=NOW, picked_up_at={"o1-F1": NOW},
                        last_scan_at={"o1-F1": scanned}, trackable=frozenset({"o1-F1"}))
    stall = [(at, t) for at, t in all_deadlines(moving, Deadlines(), stamps) if t.action is TimerAction.CARRIER_SCAN_STALLED]
    assert stall[0][0] == scanned + Deadlines().carrier_scan_stall  # counted from the last scan
    untrackable = Timestamps(placed_at=NOW, shipped_at=NOW, picked_up_at={"o1-F1": NOW}, trackable=frozenset())
    assert TimerAction.CARRIER_SCAN_STALLED not in [t.action for _, t in all_deadlines(moving, Deadlines(), untrackable)]


# --- tracking number owners ---------------------------------------------------------------------------

def test_events_of_a_reused_number_go_to_its_newest_live_parcel():
    old = {"fulfilment_id": "A-F1", "status": "delivered", "since": NOW}
    live = {"fulfilment_id": "B-F1", "status": "shipped", "since": NOW + timedelta(days=90)}
    assert live_owner([old, live])["fulfilment_id"] == "B-F1"
    assert live_owner([old])["fulfilment_id"] == "A-F1"  # a late scan of a delivered parcel still finds it
    claimed = {"fulfilment_id": "C-F1", "status": "dispatched", "since": NOW + timedelta(days=91)}
    assert live_owner([live, claimed])["fulfilment_id"] == "C-F1"
    assert live_owner([]) is None


# --- cash on delivery ------------------------------------------------------------------------------------

def test_cash_collected_is_the_share_of_each_delivered_parcel():
    f1 = {"id": "o1-F1", "status": "delivered", "cod_amount": "30.00", "amounts": {"payable": "29.00"}}
    f2 = {"id": "o1-F2", "status": "in_transit", "amounts": {"payable": "70.00"}}
    assert cod.share(f1, "100.00") == Decimal("30.00") and cod.share(f2, "100.00") == Decimal("70.00")
    assert cod.share({"id": "x"}, Decimal("12.50")) == Decimal("12.50")
    order = {"_id": "o1", "payment_method": "cod", "payable": Decimal("100.00"), "fulfilments": [f1, f2],
             "payments": [{"type": "paid", "method": "cod", "amount": "30.00", "transaction_id": "cod:o1-F1"}]}
    assert cod.due_on_delivery(order) == cod.collected(order["payments"]) == Decimal("30.00")
    assert cod.is_collected(order["payments"], "o1-F1") and not cod.is_collected(order["payments"], "o1-F2")
    assert invariants.check_cod(order) == []
    f2["status"] = "delivered"
    assert [v.kind for v in invariants.check_cod(order)] == ["cod_collected"]


def test_a_cod_or_terms_order_closed_unpaid_takes_its_payment():
    closed = OrderState("o1", status=O.CLOSED, payment_method=PaymentMethod.TERMS, payable=Decimal("50"))
    paid = on_payment(closed, "paid", Decimal("50"), NOW).apply(closed)
    assert paid.payment_status is P.PAID and not paid.refund_due
    online = OrderState("o1", status=O.CLOSED, payable=Decimal("50"))
    assert on_payment(online, "paid", Decimal("50"), NOW).apply(online).refund_due


# --- invariants ---------------------------------------------------------------------------------------

def _order(oid, fulfilments, **extra):
    return {"_id": oid, "channel": "manual", "channel_order_id": oid, "fulfilments": fulfilments, **extra}


def test_a_live_tracking_number_with_two_owners_is_reported():
    a = _order("A", [{"id": "A-F1", "status": "in_transit", "carrier_id": "ups", "tracking_number": "1Z"}])
    b = _order("B", [{"id": "B-F1", "status": "dispatched", "carrier_id": "ups", "tracking_number": "1Z"}])
    assert [v.kind for v in invariants.check_tracking_numbers([a, b])] == ["duplicate_tracking"]
    a["fulfilments"][0]["status"] = "delivered"  # re-issued after delivery: one live owner
    assert invariants.check_tracking_numbers([a, b]) == []
    a["fulfilments"][0]["status"] = "in_transit"
    b["fulfilments"][0]["carrier_id"] = "dhl"  # the same digits at another carrier are another parcel
    assert invariants.check_tracking_numbers([a, b]) == []


def test_every_exception_flag_has_a_reason():
    ok = _order("A", [], exceptions=[{"kind": "carrier_exception", "reason": "lost", "at": NOW}])
    bad = _order("B", [], exceptions=[{"kind": "wms_ack_stalled", "at": NOW, "fulfilment_id": "B-F1"}])
    assert invariants.check_exceptions(ok) == []
    assert [v.kind for v in invariants.check_exceptions(bad)] == ["exception_without_reason"]


def test_a_partly_shipped_fulfilment_holds_only_what_has_not_left():
    order = _order("O1", [{"id": "O1-F1", "status": "partially_shipped", "warehouse_id": "WH1",
                           "lines": [{"line_no": 1, "sku": "A", "quantity": 2, "shipped": 1},
                                     {"line_no": 2, "sku": "B", "quantity": 1, "shipped": 1}]}])
    assert invariants.expected_holds(order) == {("A", "WH1", "O1~1"): 1}


def test_a_shiphero_shipment_not_completed_is_a_partial_one_and_its_boxes_are_kept():
    payload = json.loads((Path(__file__).parents[1] / "fixtures" / "wms" / "shiphero_shipment_update.json").read_text())
    [whole] = shiphero.parse(payload, NOW)
    assert whole.final is True and whole.packages == []
    payload["fulfillment"]["completed"] = False
    payload["packages"] = [{**payload["packages"][0], "tracking_number": "1Z999AA10123456784"},
                           {"name": "Box 2", "tracking_number": "1Z999AA10123456795", "line_items": []}]
    [part] = shiphero.parse(payload, NOW)
    assert part.final is False and part.type is W.SHIPPED  # the router reads final=False as partially shipped
    assert part.packages == [("1Z999AA10123456784", "ups"), ("1Z999AA10123456795", "ups")]
