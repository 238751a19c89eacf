"""The routing-rules example handed to examples/seed.yaml parses and routes."""
from __future__ import annotations

import pytest
import yaml

from router.routing import plan_fulfilments, replay
from router.rules import RoutingRules
from routing_factories import line, network, order, stock, wh

pytestmark = pytest.mark.unit

EXAMPLE = """
version: "2024-06-01.1"
carrier_preference: [rank, cost]
distances:                       # km between region codes, read both ways; unknown pairs: unknown_km
  unknown_km: 3000
  table:
    CN-ZJ: {CN-SH: 170, CN-JS: 280, CN-GD: 1200, CN-BJ: 1250}
    CN-GD: {CN-SH: 1400, CN-BJ: 2100}
shipping_templates:              # warehouse template > merchant template > default (no owner)
  - id: default
    basis: weight                # grams; or: piece
    rates:
      - {regions: ["*"], first_units: 1000, first_fee: "20.00", additional_units: 1000, additional_fee: "8.00"}
      - {regions: [CN], first_units: 1000, first_fee: "8.00", additional_units: 1000, additional_fee: "2.00",
         free_above: "99.00"}
    remote_regions: [CN-XZ, CN-XJ]
    remote_surcharge: "15.00"
  - id: tea-by-piece
    merchant: tea
    basis: piece
    rates:
      - {regions: ["*"], first_units: 1, first_fee: "6.00", additional_units: 1, additional_fee: "1.00"}
carrier_rates:                   # what carriers charge us; used when carrier_preference has cost
  sf:  {rates: [{first_units: 1000, first_fee: "12.00", additional_units: 1000, additional_fee: "2.00"}]}
  zto: {rates: [{first_units: 1000, first_fee: "6.00", additional_units: 1000, additional_fee: "1.00"}]}
strategies:                      # first matching strategy per merchant sub-order wins
  - name: big-b2b-review
    when: {b2b: true, min_order_value: "50000"}
    action: hold
    hold_reason: "B2B order over 50,000: credit review"
  - name: express-one-parcel
    when: {shipping_methods: [express]}
    filters: [serves_region, product_type, capacity]
    scoring: {tie_breakers: [distance, rank]}
    split: {allow: false}
    fallback: next_strategy      # no single warehouse has it all: use the next strategy
  - name: marketplace
    when: {channels: [tmall, taobao, amazon]}
    scoring:
      mode: weighted
      weights: {distance: 1.0, freight: 1.0, rank: 0.5, stock: 0.2}
      distance: region_table
    split: {allow: true, allow_line_split: false, max_fulfilments: 3, min_shipment_value: "20.00"}
    fallback: backorder
  - name: default
    scoring: {tie_breakers: [rank, distance, freight]}
    split: {max_fulfilments: 2}
    fallback: backorder
"""


def test_the_seed_example_parses_round_trips_and_routes():
    rules = RoutingRules.from_dict(yaml.safe_load(EXAMPLE))
    assert [s.name for s in rules.strategies] == ["big-b2b-review", "express-one-parcel", "marketplace", "default"]
    assert RoutingRules.from_dict(rules.to_dict()) == rules
    o = order(line(1, "A", 1, "30.00"), line(2, "B", 1, "25.00"), channel="tmall", region="ZJ")
    d = plan_fulfilments(o, stock(("A", "SH", 1), ("B", "GD", 1)), network(wh("SH", region="SH"), wh("GD", region="GD")),
                         rules)
    assert [f.warehouse_id for f in d.fulfilments] == ["SH", "GD"]
    assert d.explanation["merchants"][0]["attempts"][0]["strategy"] == "marketplace"
    assert replay(d.explanation) == d
