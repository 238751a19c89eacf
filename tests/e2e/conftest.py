"""Fixtures for end-to-end tests: simulated WMS and carriers on loopback, a seeded world."""
from __future__ import annotations

import pytest

from adapters.simulators.carrier import CarrierSimulator
from adapters.simulators.wms import WmsSimulator
from tests import factories


@pytest.fixture
def wms(api):
    sim = WmsSimulator(callback_url=api, tokens=factories.TOKENS, auto_progress=False, step_delay=0.02)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def carrier(api):
    sim = CarrierSimulator(callback_url=api, tokens=factories.TOKENS, auto_progress=False, step_delay=0.02)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture
def seeded(db, wms, carrier):
    from adapters.seed import load_world

    load_world(factories.world(wms.url, carrier.url))
    return factories
