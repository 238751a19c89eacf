"""The channels the README documents exist in the example seed: channels exist only by
configuration, so a channel missing there would refuse every order (404)."""
from pathlib import Path

import pytest

from adapters.seed import WorldSchema, read

pytestmark = pytest.mark.unit

SEED = Path(__file__).resolve().parents[2] / "examples" / "seed.yaml"


def test_the_documented_channels_are_seeded_manual_with_its_token():
    channels = {c["id"]: c for c in WorldSchema().load(read(SEED))["channels"]}
    assert {"manual", "shopify", "woocommerce", "taobao"} <= set(channels)
    assert channels["manual"]["format"] == "canonical"
    assert channels["manual"]["token"] == "manual-change-me"  # the README's curl example
    for native in ("shopify", "woocommerce", "taobao"):
        assert channels[native]["format"] == native and channels[native]["secret"]
