"""End-to-end fixtures live in tests/conftest.py (shared with the integration tests); the names are
re-exported here for modules that import them from this file. Every end-to-end module also ends
each test with stock and money conserved across the database (``conserved``)."""
import pytest

from tests import factories
from tests.conftest import carrier, seeded, wms  # noqa: F401

# Figures a test reports at the end of the run, whatever pytest's verbosity (test_openapi_contract.py)
CONTRACT_FIGURES = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for line in config.stash.get(CONTRACT_FIGURES, []):
        terminalreporter.write_line(line)


@pytest.fixture
def conserved(db, worker):
    """Every path ends with stock and money conserved across the database."""
    yield
    from tests.helpers import assert_conserved

    assert_conserved()


@pytest.fixture
def shop(api):
    """A simulated sales channel API the router syncs shipments, cancellations and refunds to."""
    with factories.shop_simulator() as sim:  # knows the credentials in factories.SHOP_CREDENTIALS
        yield sim
