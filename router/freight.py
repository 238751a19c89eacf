"""Shipping templates: what a shipment costs the customer, and what a carrier charges for it.

A ``ShippingTemplate`` belongs to a warehouse, a merchant, or to nobody (the default); the
most specific one applies. By destination region it charges a first weight (grams) or first
piece fee plus a fee per additional unit started, waives that above a goods amount
(``free_above``), and adds a surcharge for remote regions (waived or not, remote stays remote).
Carrier rates use the same shape, keyed by carrier id, for choosing the cheapest carrier.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from router import rules_fields as f
from router.errors import InvalidRoutingRules
from router.geo import covers

BASES = ("weight", "piece")


@dataclass(frozen=True)
class FreightRate:
    """Fees for the destinations in ``regions`` (empty or ``"*"``: everywhere else)."""

    regions: frozenset[str] = frozenset()
    first_units: Decimal = Decimal("1")  # grams (weight basis) or pieces (piece basis)
    first_fee: Decimal = Decimal("0")
    additional_units: Decimal = Decimal("1")
    additional_fee: Decimal = Decimal("0")
    free_above: Decimal | None = None  # goods value at or above which the base fee is waived

    def specificity(self, destination: str) -> int:
        """2 for an exact region match, 1 for the country, 0 for a catch-all, -1 for no match."""
        if destination in self.regions:
            return 2
        if destination.split("-", 1)[0] in self.regions:
            return 1
        return 0 if covers(self.regions, destination) else -1


@dataclass(frozen=True)
class ShippingTemplate:
    id: str
    merchant_id: str | None = None
    warehouse_id: str | None = None
    basis: str = "weight"
    rates: tuple[FreightRate, ...] = ()
    remote_regions: frozenset[str] = frozenset()
    remote_surcharge: Decimal = Decimal("0")

    def rate_for(self, destination: str) -> FreightRate | None:
        """The most specific rate covering the destination region code, or None."""
        best, best_spec = None, -1
        for rate in self.rates:
            spec = rate.specificity(destination)
            if spec > best_spec:
                best, best_spec = rate, spec
        return best


@dataclass(frozen=True)
class FreightTable:
    """All shipping templates and carrier rates. Empty: freight is zero everywhere."""

    templates: tuple[ShippingTemplate, ...] = ()
    carrier_rates: Mapping[str, ShippingTemplate] = field(default_factory=dict)

    def template_for(self, warehouse_id: str, merchant_id: str) -> ShippingTemplate | None:
        """Warehouse template, else merchant template, else the default one, else None."""
        by_merchant = default = None
        for t in self.templates:
            if t.warehouse_id == warehouse_id:
                return t
            if t.warehouse_id is None and t.merchant_id == merchant_id and by_merchant is None:
                by_merchant = t
            if t.warehouse_id is None and t.merchant_id is None and default is None:
                default = t
        return by_merchant or default


def shipment_fee(template: ShippingTemplate | None, destination: str, weight_grams: int,
                 pieces: int, goods_value: Decimal) -> Decimal:
    """The fee for one shipment of ``pieces`` units weighing ``weight_grams`` to ``destination``.

    Returns Decimal("0") without a template or without a rate covering the destination.
    Additional units are counted started (1,001 g over a 1,000 g first weight is one more).
    """
    if template is None or pieces <= 0:
        return Decimal("0")
    rate = template.rate_for(destination)
    if rate is None:
        return Decimal("0")
    units = Decimal(weight_grams) if template.basis == "weight" else Decimal(pieces)
    fee = Decimal("0")
    if rate.free_above is None or goods_value < rate.free_above:
        fee = rate.first_fee
        extra = units - rate.first_units
        if extra > 0:
            steps = (extra / rate.additional_units).to_integral_value(rounding=ROUND_CEILING)
            fee += steps * rate.additional_fee
    if covers(template.remote_regions, destination) and template.remote_regions:
        fee += template.remote_surcharge
    return fee


# --- the plain-dict form (YAML / JSON), read with errors naming the field


def _rate_from_dict(raw, path: str) -> FreightRate:
    raw = f.mapping(raw, path, ("regions", "first_units", "first_fee", "additional_units",
                                "additional_fee", "free_above"))
    return FreightRate(
        regions=f.upper_list(raw.get("regions", ["*"]), f"{path}.regions"),
        first_units=f.decimal(raw.get("first_units", 1), f"{path}.first_units"),
        first_fee=f.decimal(raw.get("first_fee", 0), f"{path}.first_fee"),
        additional_units=f.decimal(raw.get("additional_units", 1), f"{path}.additional_units", positive=True),
        additional_fee=f.decimal(raw.get("additional_fee", 0), f"{path}.additional_fee"),
        free_above=(None if raw.get("free_above") is None
                    else f.decimal(raw["free_above"], f"{path}.free_above")))


def template_from_dict(raw, path: str, *, default_id: str | None = None) -> ShippingTemplate:
    """One shipping template (or carrier rate card) from its plain-dict form."""
    raw = f.mapping(raw, path, ("id", "merchant", "warehouse", "basis", "rates", "remote_regions",
                                "remote_surcharge"))
    if "id" not in raw and default_id is None:
        raise InvalidRoutingRules(f"{path}.id", "is required")
    rates = raw.get("rates")
    if not isinstance(rates, list) or not rates:
        raise InvalidRoutingRules(f"{path}.rates", "expected a non-empty list of rates")
    return ShippingTemplate(
        id=f.text(raw.get("id", default_id), f"{path}.id"),
        merchant_id=None if raw.get("merchant") is None else f.text(raw["merchant"], f"{path}.merchant"),
        warehouse_id=None if raw.get("warehouse") is None else f.text(raw["warehouse"], f"{path}.warehouse"),
        basis=f.choice(raw.get("basis", "weight"), f"{path}.basis", BASES),
        rates=tuple(_rate_from_dict(r, f"{path}.rates[{i}]") for i, r in enumerate(rates)),
        remote_regions=f.upper_list(raw.get("remote_regions", []), f"{path}.remote_regions"),
        remote_surcharge=f.decimal(raw.get("remote_surcharge", 0), f"{path}.remote_surcharge"))


def template_to_dict(t: ShippingTemplate) -> dict:
    out: dict = {"id": t.id, "basis": t.basis, "rates": [
        {"regions": sorted(r.regions), "first_units": str(r.first_units), "first_fee": str(r.first_fee),
         "additional_units": str(r.additional_units), "additional_fee": str(r.additional_fee),
         "free_above": f.dec_str(r.free_above)} for r in t.rates],
        "remote_regions": sorted(t.remote_regions), "remote_surcharge": str(t.remote_surcharge)}
    if t.merchant_id is not None:
        out["merchant"] = t.merchant_id
    if t.warehouse_id is not None:
        out["warehouse"] = t.warehouse_id
    return out


def freight_table_from_dict(templates, carrier_rates, path: str = "") -> FreightTable:
    """``shipping_templates`` (a list) and ``carrier_rates`` (carrier id -> rate card)."""
    pre = f"{path}." if path else ""
    if not isinstance(templates, list):
        raise InvalidRoutingRules(f"{pre}shipping_templates", "expected a list")
    parsed = tuple(template_from_dict(t, f"{pre}shipping_templates[{i}]") for i, t in enumerate(templates))
    seen: set[tuple] = set()
    for i, t in enumerate(parsed):
        owner = (t.warehouse_id, t.merchant_id if t.warehouse_id is None else None)
        if owner in seen:
            raise InvalidRoutingRules(f"{pre}shipping_templates[{i}]",
                                      f"a second template for the same owner {owner}")
        seen.add(owner)
    cards = f.mapping(carrier_rates, f"{pre}carrier_rates", carrier_rates if isinstance(carrier_rates, dict) else ())
    return FreightTable(templates=parsed, carrier_rates={
        str(cid): template_from_dict(card, f"{pre}carrier_rates.{cid}", default_id=str(cid))
        for cid, card in sorted(cards.items())})


def freight_table_to_dict(table: FreightTable) -> dict:
    return {"shipping_templates": [template_to_dict(t) for t in table.templates],
            "carrier_rates": {cid: template_to_dict(t) for cid, t in sorted(table.carrier_rates.items())}}
