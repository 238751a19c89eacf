"""Carrier tracking payloads -> canonical TrackingUpdate lists; signatures; junk never escapes."""

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adapters.errors import BadSignature, PayloadError
from adapters.tracking import TRACKING_FORMATS, aftership, easypost, generic, seventeen_track
from router.statuses import TrackingStatus
from tests.unit.junk import junk, paths, replaced

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tracking"
RECEIVED = datetime(2024, 3, 12, 8, 0, tzinfo=timezone.utc)
CHINA = timezone(timedelta(hours=8))


def fixture(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def only(updates):
    assert len(updates) == 1
    return updates[0]


def test_aftership_in_transit_takes_the_latest_checkpoint():
    u = only(aftership.parse(fixture("aftership_in_transit"), RECEIVED))
    assert (u.event_id, u.tracking_number) == ("a8a8b4c0-1b5e-4f7e-9c5e-2f7e3b1d4c11", "SF1402345678901")
    assert u.status is TrackingStatus.IN_TRANSIT and u.raw_status == "InTransit"
    assert u.occurred_at == datetime(2024, 3, 6, 9, 45, tzinfo=CHINA)
    assert u.description == "快件已到达【杭州转运中心】" and u.location == "杭州市, 浙江省, China"
    assert u.exception_reason == ""


def test_aftership_exception_carries_its_reason_and_a_zoned_time():
    u = only(aftership.parse(fixture("aftership_exception")))
    assert u.status is TrackingStatus.EXCEPTION and u.exception_reason == "Returning to sender"
    # checkpoint_time has no zone: the checkpoint's created_at (UTC) is used instead
    assert (
        u.occurred_at == datetime(2024, 3, 8, 17, 0, tzinfo=timezone.utc) and u.location == "Columbus, OH, US"
    )


def test_aftership_without_checkpoints_takes_the_webhooks_ts():
    # AfterShip sends updates with no checkpoint (Pending, Expired): the event's time is its ``ts``
    # (Unix seconds), not the tracking's updated_at and not when it arrived
    u = only(aftership.parse(fixture("aftership_expired_no_checkpoints"), RECEIVED))
    assert u.status is TrackingStatus.EXPIRED and u.exception_reason == "Expired"
    assert u.occurred_at == datetime(2024, 3, 12, 6, 15, tzinfo=timezone.utc)
    payload = fixture("aftership_expired_no_checkpoints")
    del payload["ts"]
    assert only(aftership.parse(payload, RECEIVED)).occurred_at == datetime(2024, 3, 12, 6, 30, tzinfo=timezone.utc)
    del payload["msg"]["updated_at"]
    assert only(aftership.parse(payload, RECEIVED)).occurred_at == RECEIVED
    for bad in (-1, "soon", 10**13):
        with pytest.raises(PayloadError) as err:
            aftership.parse({**payload, "ts": bad}, RECEIVED)
        assert err.value.field_path == "ts"


def test_aftership_a_checkpoint_time_wins_over_ts():
    payload = fixture("aftership_in_transit")
    assert payload["ts"] != int(datetime(2024, 3, 6, 9, 45, tzinfo=CHINA).timestamp())
    assert only(aftership.parse(payload)).occurred_at == datetime(2024, 3, 6, 9, 45, tzinfo=CHINA)


def test_aftership_attempt_fail_is_a_failed_delivery():
    u = only(aftership.parse(fixture("aftership_attempt_fail")))
    assert u.status is TrackingStatus.DELIVERY_FAILED and u.exception_reason == "Addressee not available"


@pytest.mark.parametrize(
    "tag, status",
    [
        ("InfoReceived", TrackingStatus.LABEL_CREATED),
        ("OutForDelivery", TrackingStatus.OUT_FOR_DELIVERY),
        ("Delivered", TrackingStatus.DELIVERED),
        ("AvailableForPickup", TrackingStatus.AVAILABLE_FOR_PICKUP),
        ("Expired", TrackingStatus.EXPIRED),
        ("Pending", None),
        ("SomethingNew", None),
    ],
)
def test_aftership_tags(tag, status):
    payload = fixture("aftership_in_transit")
    payload["msg"]["tag"] = tag
    u = only(aftership.parse(payload))
    assert u.status is status and u.raw_status == tag


def test_easypost_out_for_delivery():
    u = only(easypost.parse(fixture("easypost_out_for_delivery")))
    assert (u.event_id, u.tracking_number) == ("evt_4c0a9b1e2f3d4a5b8c7d6e5f", "9400110898825022579493")
    assert u.status is TrackingStatus.OUT_FOR_DELIVERY and u.raw_status == "out_for_delivery"
    assert u.occurred_at == datetime(2024, 3, 7, 13, 55, tzinfo=timezone.utc)
    assert u.description == "Out for Delivery" and u.location == "PORTLAND, OR, 97201"


def test_easypost_return_to_sender_is_an_exception_with_its_detail():
    u = only(easypost.parse(fixture("easypost_return_to_sender")))
    assert u.status is TrackingStatus.EXCEPTION and u.raw_status == "return_to_sender"
    assert u.exception_reason == "return"


@pytest.mark.parametrize(
    "word, status",
    [
        ("pre_transit", TrackingStatus.LABEL_CREATED),
        ("delivered", TrackingStatus.DELIVERED),
        ("available_for_pickup", TrackingStatus.AVAILABLE_FOR_PICKUP),
        ("failure", TrackingStatus.DELIVERY_FAILED),
        ("cancelled", TrackingStatus.EXCEPTION),
        ("error", None),
        ("unknown", None),
        ("teleported", None),
    ],
)
def test_easypost_statuses(word, status):
    payload = fixture("easypost_out_for_delivery")
    payload["result"]["status"] = word
    assert only(easypost.parse(payload)).status is status


def test_easypost_events_about_other_objects_give_nothing():
    payload = fixture("easypost_out_for_delivery")
    payload["result"]["object"] = "Batch"
    assert easypost.parse(payload) == []


def test_17track_delivered_builds_its_event_id_from_number_status_and_time():
    u = only(seventeen_track.parse(fixture("17track_delivered")))
    assert u.event_id == "YT2406512345678901:Delivered:2024-03-11T13:20:00Z"
    assert u.status is TrackingStatus.DELIVERED and u.description == "Zugestellt an Nachbarn"
    assert u.occurred_at == datetime(2024, 3, 11, 13, 20, tzinfo=timezone.utc) and u.location == "Berlin, DE"


def test_17track_delivery_failure_and_stopped_events():
    u = only(seventeen_track.parse(fixture("17track_delivery_failure")))
    assert u.status is TrackingStatus.DELIVERY_FAILED and u.exception_reason == "Nobody home"
    assert seventeen_track.parse({"event": "TRACKING_STOPPED", "data": {"number": "YT1"}}) == []


@pytest.mark.parametrize(
    "word, status",
    [
        ("NotFound", None),
        ("InfoReceived", TrackingStatus.LABEL_CREATED),
        ("InTransit", TrackingStatus.IN_TRANSIT),
        ("Expired", TrackingStatus.EXPIRED),
        ("AvailableForPickup", TrackingStatus.AVAILABLE_FOR_PICKUP),
        ("OutForDelivery", TrackingStatus.OUT_FOR_DELIVERY),
        ("Exception", TrackingStatus.EXCEPTION),
        ("Lost", None),
    ],
)
def test_17track_statuses(word, status):
    payload = fixture("17track_delivered")
    payload["data"]["track_info"]["latest_status"]["status"] = word
    u = only(seventeen_track.parse(payload))
    assert u.status is status and u.raw_status == word


def test_generic_event_and_its_defaults():
    u = only(generic.parse(fixture("generic_delivered")))
    assert u.status is TrackingStatus.DELIVERED and u.occurred_at == datetime(2024, 3, 6, 16, 0, tzinfo=CHINA)
    simulator_event = {
        "event_id": "e1",
        "tracking_number": "SIM-1",
        "status": "warped",
        "location": "x",
        "description": "y",
    }
    u = only(generic.parse(simulator_event, RECEIVED))
    assert u.status is None and u.raw_status == "warped" and u.occurred_at == RECEIVED
    with pytest.raises(PayloadError) as err:
        generic.parse(simulator_event)  # no time at all
    assert err.value.field_path == "occurred_at"


def test_missing_tracking_number_names_the_native_path():
    payload = fixture("aftership_in_transit")
    del payload["msg"]["tracking_number"]
    with pytest.raises(PayloadError) as err:
        aftership.parse(payload)
    assert err.value.field_path == "msg.tracking_number"


def test_signatures():
    body = (FIXTURES / "aftership_in_transit.json").read_bytes()
    after = base64.b64encode(hmac.new(b"k", body, hashlib.sha256).digest()).decode()
    ep = "hmac-sha256-hex=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    seventeen = hashlib.sha256(body + b"/k").hexdigest()
    cases = [
        (aftership.verify, {"aftership-hmac-sha256": after}),
        (easypost.verify, {"X-Hmac-Signature": ep}),
        (seventeen_track.verify, {"sign": seventeen}),
    ]
    for verify, headers in cases:
        verify(headers, body, "k")
        for bad_headers, bad_body, bad_secret in [
            (headers, body + b"x", "k"),
            (headers, body, "j"),
            ({}, body, "k"),
        ]:
            with pytest.raises(BadSignature):
                verify(bad_headers, bad_body, bad_secret)
    assert TRACKING_FORMATS["generic"].verify is None
    # none of them signs a delivery time: nothing for a freshness check
    assert all(verify(headers, body, "k", {"timestamp": "x"}) is None for verify, headers in cases)


JUNK = junk("", "2024-03-05T10:00:00", "2024-03-05T10:00:00+08:00", "Delivered", "nope")



@pytest.mark.parametrize("name", sorted(p.stem for p in FIXTURES.glob("*.json")))
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_junk_gives_payload_error_or_updates(name, data):
    fmt = TRACKING_FORMATS[name.split("_")[0]]
    payload = fixture(name)
    path = data.draw(st.sampled_from(list(paths(payload))))
    payload = replaced(payload, path, data.draw(JUNK))
    try:
        updates = fmt.parse(payload, data.draw(st.sampled_from([None, RECEIVED])))
    except PayloadError:
        return
    for u in updates:
        assert u.occurred_at.tzinfo is not None and isinstance(u.event_id, str) and u.event_id
        assert u.status is None or isinstance(u.status, TrackingStatus)
