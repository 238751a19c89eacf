"""Junk in every actor message: refused before the actor runs (failed without retries, recorded as
a dead letter with the reason) or, when it fits the actor's signature (an id nothing has), a
no-op. Never a crashed worker, and nothing changed in the database. Budget: 50 examples per actor."""
from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dramatiq

import actors  # noqa: F401  (declares every actor)
from actors.declare import declared
from actors.message_shape import shape_error
from tests.fuzz.conftest import ORDER_ID, fingerprint
from tests.fuzz.strategies import MONGO_OPERATORS, deep, junk

pytestmark = pytest.mark.integration
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
NAMES = sorted(a.actor_name for a in declared())


def test_every_actor_of_the_router_is_fuzzed():
    assert {"process_order", "dispatch_fulfilment", "apply_payment", "apply_wms_event", "apply_carrier_event",
            "sync_channel", "fire_timer", "reconcile"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(args=st.lists(junk(), max_size=4), kwargs=st.dictionaries(st.text(max_size=10), junk(), max_size=2))
def test_junk_arguments_are_refused_or_change_nothing(world, db, name, args, kwargs):
    actor = dramatiq.get_broker().get_actor(name)
    before = fingerprint(db)
    problem = shape_error(actor.fn, args, kwargs)
    if problem is None and (args or kwargs):  # it fits the signature: the actor must shrug it off
        # an exception is allowed: retried, then a dead letter with its traceback
        with contextlib.suppress(Exception):
            actor.fn(*args, **kwargs)
    assert fingerprint(db) == before


@pytest.mark.parametrize("args, kwargs, named", [
    ([MONGO_OPERATORS[0]], {}, "order_id"),
    (["$where"], {}, "order_id"),
    ([ORDER_ID * 20], {}, "order_id"),
    ([12], {}, "order_id"),
    ([], {}, "arguments do not match"),
    ([ORDER_ID, "extra"], {}, "arguments do not match"),
    ([], {"order_id": ORDER_ID, "$set": 1}, "arguments do not match"),
])
def test_junk_for_an_order_actor_is_refused_naming_the_argument(args, kwargs, named):
    assert named in shape_error(dramatiq.get_broker().get_actor("process_order").fn, args, kwargs)


@pytest.mark.parametrize("event, named", [
    ("not an object", "event: must be dict"),
    ({"payload": {"$set": {"status": "delivered"}}}, "key '$set' is not allowed"),
    (deep(20), "nested deeper than 8"),
    ({"payload": "x" * 70_000}, "larger than"),
])
def test_junk_event_payloads_riding_in_a_message_are_refused(event, named):
    assert named in shape_error(dramatiq.get_broker().get_actor("apply_wms_event").fn, ["wms:WH-EAST:e1", event], {})


def test_well_formed_messages_pass(world):
    assert shape_error(dramatiq.get_broker().get_actor("dispatch_fulfilment").fn, [ORDER_ID, f"{ORDER_ID}-F1"],
                       {"retry": True}) is None
    assert shape_error(dramatiq.get_broker().get_actor("apply_carrier_event").fn,
                       ["carrier:x:1", {"order_id": ORDER_ID, "source": "x", "payload": {"status": "delivered"}}],
                       {}) is None
