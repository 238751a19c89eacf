"""Signing secrets from the environment (ROUTER_PARTY_SECRETS) over the seed's, and the signed
timestamp window: adapters/http/parties.py."""
from datetime import datetime, timedelta, timezone

import pytest

import config
from adapters.http import parties
from adapters.http.errors import ApiError

pytestmark = pytest.mark.unit
NOW = datetime(2024, 3, 12, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def settings():
    before = config.get_settings()

    def change(**fields):
        config.use(before.with_(**fields))
    yield change
    config.use(before)


def test_an_environment_secret_wins_over_the_seeds(settings):
    settings(party_secrets="carrier:aftership-us:env:with:colons, warehouse:WH-SH:qm ,channel:shopify:shp,"
                           "planet:mars:x,carrier::nobody,carrier:empty:,junk")
    assert parties.environment_secrets() == {("carriers", "aftership-us"): "env:with:colons",
                                             ("warehouses", "WH-SH"): "qm", ("channels", "shopify"): "shp"}
    assert parties.secret_of("carriers", "aftership-us", {"secret": "seeded"}) == "env:with:colons"
    assert parties.secret_of("carriers", "other", {"secret": "seeded"}) == "seeded"
    assert parties.secret_of("carriers", "other", {}) is None
    settings(party_secrets="")
    assert parties.secret_of("carriers", "aftership-us", {"secret": "seeded"}) == "seeded"


def test_a_signed_timestamp_outside_the_window_is_refused_either_way(settings):
    settings(signature_window_seconds=300.0)
    parties.fresh(NOW - timedelta(seconds=299), NOW)
    parties.fresh(NOW + timedelta(seconds=299), NOW)
    for off in (301, -301, 86_400):
        with pytest.raises(ApiError) as refused:
            parties.fresh(NOW - timedelta(seconds=off), NOW)
        assert (refused.value.status, refused.value.code) == (401, "stale_request")
    settings(signature_window_seconds=900.0)
    parties.fresh(NOW - timedelta(minutes=14), NOW)
