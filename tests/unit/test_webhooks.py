"""Outbound webhooks' pure rules (router/webhooks.py): the signature a receiver checks, the rule
that keeps an order's events in order, the topics a timeline entry raises, the retry schedule."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import pytest

from router import webhooks as wh

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
BODY = b'{"id":"ord_1.0","topic":"order.created"}'


def test_signature_is_hmac_sha256_of_timestamp_dot_body_in_the_documented_header():
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert wh.signature("s3cret", 1700000000, BODY) == expected
    assert wh.signature_header("s3cret", 1700000000, BODY) == f"t=1700000000,v1={expected}"


def test_a_receiver_accepts_the_signed_body_and_refuses_any_change():
    header = wh.signature_header("s3cret", 1700000000, BODY)
    assert wh.verify("s3cret", header, BODY, now=1700000010)
    assert not wh.verify("s3cret", header, BODY + b" ", now=1700000010)  # body changed
    assert not wh.verify("other", header, BODY, now=1700000010)  # another secret
    assert not wh.verify("s3cret", header.replace("t=1700000000", "t=1700000001"), BODY, now=1700000010)
    assert not wh.verify("s3cret", header, BODY, now=1700000000 + 301)  # too old: a replay
    assert not wh.verify("s3cret", None, BODY, now=1700000010)
    assert not wh.verify("s3cret", "t=abc,v1=00", BODY, now=1700000010)
    # a header carrying two signatures (a secret being rotated) passes on either
    assert wh.verify("s3cret", f"t=1700000000,v1={'0' * 64},v1={wh.signature('s3cret', 1700000000, BODY)}", BODY,
                     now=1700000000)


def _row(sequence, status=wh.PENDING, next_at=NOW):
    return {"_id": f"s:o.{sequence}", "sequence": sequence, "status": status, "next_at": next_at, "attempts": 0}


def test_only_the_lowest_undelivered_event_of_an_order_may_go_and_only_when_due():
    assert wh.next_to_send([_row(0), _row(8), _row(16)], NOW)["sequence"] == 0
    assert wh.next_to_send([], NOW) is None
    # the first is retrying later, or in flight (its lease): nothing after it goes meanwhile
    assert wh.next_to_send([_row(0, next_at=NOW + timedelta(seconds=5)), _row(8)], NOW) is None
    # the first failed for good: the rest wait for its replay
    assert wh.next_to_send([_row(0, status=wh.FAILED, next_at=None), _row(8)], NOW) is None
    # held behind an earlier one (no due time)
    assert wh.next_to_send([_row(8, next_at=None)], NOW) is None
    with pytest.raises(ValueError):
        wh.next_to_send([_row(8), _row(0)], NOW)


def _entry(event, frm=None, to=None, **changes):
    return {"at": NOW, "actor": "system", "event": event, "from": frm, "to": to,
            "details": {"changes": {k.replace("__", "."): v for k, v in changes.items()}}}


def test_timeline_entries_raise_the_documented_topics():
    assert wh.topics_of({"event": "received", "to": "pending_payment"}) == [wh.ORDER_CREATED]
    assert wh.topics_of(_entry("routing.routed", "pending_payment", "pending_payment")) == [wh.ORDER_ROUTED]
    assert wh.topics_of(_entry("payment.paid", "pending_payment", "awaiting_shipment",
                               payment_status=["unpaid", "paid"])) == []
    assert wh.topics_of(_entry("fulfilment.shipped", "awaiting_shipment", "shipped",
                               fulfilments__F1=["packed", "shipped"])) == [wh.FULFILMENT_SHIPPED]
    assert wh.topics_of(_entry("fulfilment.delivered", "shipped", "shipped", fulfilments__F1=["shipped", "delivered"],
                               shipment_status=["shipped", "delivered"])) == [wh.ORDER_DELIVERED]
    assert wh.topics_of(_entry("order.cancel", "pending_payment", "cancelled")) == [wh.ORDER_CANCELLED]
    assert wh.topics_of(_entry("after_sales.refund_only", "cancelled", "cancelled",
                               after_sales_status=["none", "awaiting_refund"])) == [wh.REFUND_CREATED]
    assert wh.topics_of(_entry("exception.flagged", "shipped", "shipped")) == [wh.EXCEPTION_RAISED]
    assert wh.topics_of(_entry("order.cancel", "cancelled", "cancelled")) == []  # no change: nothing new


def test_retries_follow_the_schedule_and_stop_after_the_give_up_window():
    schedule = wh.parse_schedule("1, 5,30")
    assert schedule == (1.0, 5.0, 30.0)
    first = NOW - timedelta(hours=1)
    assert wh.retry_at(1, first, NOW, schedule, 86400) == NOW + timedelta(seconds=1)
    assert wh.retry_at(2, first, NOW, schedule, 86400) == NOW + timedelta(seconds=5)
    assert wh.retry_at(9, first, NOW, schedule, 86400) == NOW + timedelta(seconds=30)  # the last repeats
    assert wh.retry_at(9, NOW - timedelta(days=1), NOW, schedule, 86400) is None  # a day: failed
    with pytest.raises(ValueError):
        wh.parse_schedule("")
