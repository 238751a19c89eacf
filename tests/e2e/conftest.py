"""End-to-end fixtures live in tests/conftest.py (shared with the integration tests); the names are
re-exported here for modules that import them from this file."""
from tests.conftest import carrier, seeded, wms  # noqa: F401
