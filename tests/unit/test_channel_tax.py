"""Tax from every channel format into the canonical order, and the payable it prices to: the
platform's own stated total, on fixtures written from Shopify's and WooCommerce's REST order
resources (tax-inclusive and tax-exclusive), Amazon's Orders API, Taobao's trades and the CSV
import. Bad tax input is refused naming the field."""
from __future__ import annotations

import copy
import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from marshmallow import ValidationError

from adapters.channels import CHANNEL_FORMATS, amazon
from adapters.channels.csv_import import parse_csv
from adapters.errors import PayloadError
from adapters.schemas import CanonicalOrderSchema, field_errors, to_domain
from router.model import RoutingDecision
from router.money import price_order
from router.validation import amount_problems

pytestmark = pytest.mark.unit
FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"
SCHEMA = CanonicalOrderSchema()


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def priced(fmt: str, payload: dict):
    """(canonical dict, domain order, its pricing with nothing routed yet)."""
    canonical = CHANNEL_FORMATS[fmt].to_canonical(payload, "m1").canonical
    order = to_domain("O1", fmt, SCHEMA.load(canonical))
    return canonical, order, price_order(order, RoutingDecision(()))


@pytest.mark.parametrize("fmt, name, included, payable, tax, discount", [
    ("woocommerce", "woocommerce_order_tax_inclusive", True, "70.00", "11.17", "5.00"),
    ("woocommerce", "woocommerce_order_tax_exclusive", False, "69.35", "5.65", "6.30"),
    ("shopify", "shopify_order_tax_inclusive", True, "77.89", "12.98", "8.10"),
    ("shopify", "shopify_order_tax_exclusive", False, "157.33", "12.33", "15.00"),
    ("amazon", "amazon_cod_restricted_jp", True, "4330", "394", "0"),
    ("amazon", "amazon_mfn_unshipped", False, "78.97", "0.00", "1.02"),  # 10.00 / 3: 3.34 less 0.02
    ("taobao", "taobao_trade_paid", True, "356.00", "0.00", "40.00"),
])
def test_the_payable_is_what_the_platform_says_the_customer_pays(fmt, name, included, payable, tax, discount):
    canonical, order, pricing = priced(fmt, fixture(name))
    assert canonical["prices_include_tax"] is included and order.prices_include_tax is included
    assert pricing.order.payable == D(payable) == order.stated_total
    assert (pricing.order.tax, pricing.order.discount) == (D(tax), D(discount))
    assert amount_problems(order, pricing.order.payable) == []


def test_woocommerce_tax_inclusive_lines_carry_what_the_customer_saw_with_their_tax_and_rate():
    canonical, _, pricing = priced("woocommerce", fixture("woocommerce_order_tax_inclusive"))
    assert [(ln["unit_price"], ln["discount"], ln["tax"], ln["tax_rate"]) for ln in canonical["lines"]] == [
        ("25.00", "5.00", "7.18", "0.19"), ("20.00", "0.00", "3.19", "0.19")]
    assert (canonical["shipping_fee"], canonical["shipping_tax"], canonical["stated_total"]) == ("5.00", "0.80", "70.00")
    # the exclusive figures priced as if they were the price: the 58.83 the issue saw
    assert pricing.order.payable - pricing.order.tax == D("58.83")


def test_woocommerce_tax_exclusive_lines_keep_the_exclusive_figures_and_add_the_tax():
    canonical, _, _ = priced("woocommerce", fixture("woocommerce_order_tax_exclusive"))
    assert [(ln["unit_price"], ln["discount"], ln["tax"], ln["tax_rate"]) for ln in canonical["lines"]] == [
        ("24.00", "4.80", "3.83", "0.08875"), ("5.00", "1.50", "1.20", "0.08875")]
    assert (canonical["shipping_fee"], canonical["shipping_tax"]) == ("7.00", "0.62")


def test_shopify_line_tax_is_the_sum_of_its_jurisdictions():
    canonical, _, _ = priced("shopify", fixture("shopify_order_tax_exclusive"))
    assert [(ln["tax"], ln["tax_rate"]) for ln in canonical["lines"]] == [("9.18", "0.085"), ("2.30", "0.085")]
    assert canonical["shipping_tax"] == "0.85"


def test_shopify_tax_only_at_the_order_level_is_spread_over_the_lines_and_flagged():
    body = fixture("shopify_order_tax_exclusive")
    for item in body["line_items"]:
        item["tax_lines"] = []
    order = CHANNEL_FORMATS["shopify"].to_canonical(body, "m1")
    assert "tax_allocated:11.48" in order.flags
    assert sum(D(ln["tax"]) for ln in order.canonical["lines"]) == D("11.48")
    loaded = to_domain("O1", "shopify", SCHEMA.load(order.canonical))
    assert price_order(loaded, RoutingDecision(())).order.payable == D("157.33")


def test_a_total_the_order_does_not_add_up_to_is_an_amount_mismatch_naming_both_figures():
    body = fixture("woocommerce_order_tax_inclusive")
    body["total"] = "75.00"
    _, order, pricing = priced("woocommerce", body)
    [problem] = amount_problems(order, pricing.order.payable)
    assert (problem.field, problem.code) == ("stated_total", "amount_mismatch")
    assert "75.00" in problem.message and "70.00" in problem.message


def test_amazon_us_sales_tax_is_added_and_elsewhere_it_is_contained():
    data = fixture("amazon_mfn_unshipped")
    data["items"][0]["ItemTax"]["Amount"] = "2.10"
    data["items"][0]["PromotionDiscountTax"]["Amount"] = "0.10"
    data["items"][0]["ShippingTax"]["Amount"] = "0.60"
    data["order"]["OrderTotal"]["Amount"] = "81.57"  # 78.97 + 2.00 + 0.60
    us = amazon.map_order(data["order"], data["items"], "m1").canonical
    assert (us["prices_include_tax"], us["lines"][0]["tax"], us["shipping_tax"]) == (False, "2.00", "0.60")
    order = to_domain("O1", "amazon", SCHEMA.load(us))
    assert price_order(order, RoutingDecision(())).order.payable == D("81.57") == order.stated_total
    data["order"]["MarketplaceId"] = "A1PA6795UKMFR9"  # amazon.de: VAT inside the prices
    assert amazon.map_order(data["order"], data["items"], "m1").canonical["prices_include_tax"] is True


def test_taobao_states_no_total_when_a_closed_sub_order_was_left_out():
    canonical, order, _ = priced("taobao", fixture("taobao_trade_cod_partial_refund"))
    assert canonical["prices_include_tax"] is True and order.stated_total is None


def test_csv_rows_carry_tax_and_the_order_total():
    text = ("channel_order_id,placed_at,currency,country,sku,quantity,unit_price,line_tax,line_tax_rate,"
            "prices_include_tax,shipping_fee,shipping_tax,order_total\n"
            "T-1,2024-03-05T10:00:00+00:00,GBP,GB,SKU-A,2,12.00,4.00,0.2,true,6.00,1.00,36.00\n"
            "T-1,,,,SKU-B,1,6.00,1.00,0.2,,,,\n")
    [order], errors = parse_csv(text, merchant_id="m1")
    assert errors == []
    assert [(ln["tax"], ln["tax_rate"]) for ln in order["lines"]] == [("4.00", "0.2"), ("1.00", "0.2")]
    domain = to_domain("O1", "csv", SCHEMA.load(order))
    p = price_order(domain, RoutingDecision(()))
    assert (p.order.payable, p.order.tax, domain.stated_total) == (D("36.00"), D("6.00"), D("36.00"))


def _errors(canonical: dict) -> dict:
    with pytest.raises(ValidationError) as err:
        SCHEMA.load(canonical)
    return field_errors(err.value.messages)


def test_bad_tax_input_is_refused_naming_the_field():
    canonical = CHANNEL_FORMATS["woocommerce"].to_canonical(fixture("woocommerce_order_tax_inclusive"), "m1").canonical
    too_much = copy.deepcopy(canonical)
    too_much["lines"][1]["tax"] = "20.01"  # more than the 20.00 it is contained in
    assert "lines.1.tax" in _errors(too_much)
    finer = copy.deepcopy(canonical)
    finer["stated_total"] = "70.001"
    assert set(_errors(finer)) == {"stated_total"}
    rate = copy.deepcopy(canonical)
    rate["lines"][0]["tax_rate"] = "19"  # a percentage where a fraction goes
    assert "lines.0.tax_rate" in _errors(rate)
    no_fee = copy.deepcopy(canonical)
    no_fee["shipping_fee"] = None
    assert "shipping_tax" in _errors(no_fee)
    junk = fixture("woocommerce_order_tax_inclusive")
    junk["line_items"][0]["total_tax"] = "seven"
    with pytest.raises(PayloadError) as err:
        CHANNEL_FORMATS["woocommerce"].to_canonical(junk, "m1")
    assert err.value.field_path == "line_items.0.total_tax"
