"""Addresses as written, codes beside them: the ISO 3166-2 subdivision of a written region, and
routing reading the code where it read the region before."""
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router import geo
from router.model import Address
from router.routing import plan_fulfilments
from router.rules import RoutingRules
from router.subdivisions import CN_PROVINCES, CN_SHORT_NAMES, subdivision_code
from tests.unit.routing_factories import line, network, order, stock, wh

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("country, region, code", [
    ("CN", "浙江省", "CN-ZJ"), ("CN", "浙江", "CN-ZJ"), ("CN", "广西壮族自治区", "CN-GX"), ("CN", "北京市", "CN-BJ"),
    ("CN", "ZJ", "CN-ZJ"), ("CN", "cn-zj", "CN-ZJ"), ("CN", "火星省", ""), ("CN", "Zhejiang", ""),
    ("US", "NY", "US-NY"), ("US", "US-NY", "US-NY"), ("JP", "JP-13", "JP-13"), ("US", "New York", ""),
    ("JP", "東京都", ""), ("US", "", ""), ("", "NY", ""),
])
def test_the_code_of_a_written_region(country, region, code):
    assert subdivision_code(country, region) == code


@given(st.sampled_from(sorted(CN_PROVINCES)), st.sampled_from(["", " ", "\n"]))
def test_every_province_by_its_official_name_its_short_name_or_its_code(code, pad):
    for written in (CN_PROVINCES[code], CN_SHORT_NAMES[code], code):
        assert subdivision_code("CN", pad + written + pad) == f"CN-{code}"


@given(st.text(max_size=30), st.sampled_from(["CN", "US", "DE", "JP"]))
def test_any_text_gives_a_code_of_its_country_or_none_and_never_raises(text, country):
    code = subdivision_code(country, text)
    assert code == "" or code.startswith(f"{country}-")


def test_routing_reads_the_code_and_falls_back_to_the_written_region_of_an_older_address():
    written = Address(country="CN", region="浙江省", city="杭州市", region_code="CN-ZJ")
    assert geo.destination_key(written) == "CN-ZJ"
    assert geo.destination_key(Address(country="CN", region="ZJ")) == "CN-ZJ"  # stored before codes were kept
    assert geo.destination_key(Address(country="CN", region="火星省")) == "CN-火星省"  # unknown: as before


def test_a_rule_on_a_province_matches_the_address_written_in_chinese_by_its_code():
    rules = RoutingRules.from_dict({"version": "t-1", "strategies": [
        {"name": "zj", "when": {"destinations": ["CN-ZJ"]}, "action": "hold", "hold_reason": "zhejiang"},
        {"name": "rest"}]})
    net = network(wh("W1"))
    zj = order(line(1, "A", 1), region="浙江省")
    coded = replace(zj, address=replace(zj.address, region_code="CN-ZJ"))
    assert plan_fulfilments(coded, stock(("A", "W1", 5)), net, rules).held_reason == "zhejiang"
    assert plan_fulfilments(zj, stock(("A", "W1", 5)), net, rules).held_reason is None  # no code: no match
