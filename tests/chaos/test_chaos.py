"""Chaos, small: 60 orders with payments, WMS and carrier events, while worker processes are
SIGKILLed every few seconds, the (private) RabbitMQ node and the database are each restarted
once, and the WMS answers 500 to 30% of calls and hangs past the client timeout now and then.
Afterwards every accepted order is in a definite state, exactly once; each fulfilment reached
the WMS as one delivery order; stock and money are conserved (the invariant checker finds
nothing). About 2-3 minutes. The big run is bench/chaos.py."""
from __future__ import annotations

import config

import json
import os

import pytest

from tests.chaos.harness import ChaosConfig, run

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]


@pytest.fixture
def isolated_settings(monkeypatch):
    """The chaos run's own processes get their URLs explicitly; keep this process's defaults out."""
    monkeypatch.delenv("ROUTER_MONGO_URL", raising=False)
    config.use(None)
    yield
    config.use(None)


def test_orders_survive_worker_kills_broker_and_database_restarts_and_a_failing_wms(tmp_path, isolated_settings):
    # Given the router on its own broker and database, under faults for the whole load
    config = ChaosConfig(orders=int(os.environ.get("CHAOS_ORDERS", "60")), kill_every=(5.0, 10.0))

    # When 60 orders are pushed and paid while workers die and the broker and database restart
    result = run(config, base=tmp_path)
    (tmp_path / "result.json").write_text(json.dumps(result.summary(), indent=1, default=str))
    print(json.dumps(result.summary(), default=str))

    # Then the faults really happened
    assert result.kills >= 2 and result.broker_restarts == 1 and result.mongo_restarts == 1, result.summary()
    assert result.wms_retries > 0, "the WMS never failed: the fault injection did not work"
    # And every accepted order exists once, in a definite state
    assert result.accepted == config.orders, result.summary()
    assert result.missing_orders == [] and result.unsettled == [], result.summary()
    # And no fulfilment was dispatched twice (or never)
    assert result.double_dispatched == [], result.summary()
    # And stock, holds and money are conserved
    assert result.violations == [], "\n".join(result.violations)
    # And every dead letter the broker holds is in the operators' list too (a failure while the
    # database was down reaches it through the reconciler's harvest of the .XQ queues)
    assert result.unrecorded_dead_letters == [], result.summary()
