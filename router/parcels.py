"""The parcel a carrier is asked to carry for one fulfilment: its weight from the catalogue, by the
same unit weights freight was priced with (``router/sourcing.py``: a SKU's ``weight_grams``, 500 g
for a SKU the catalogue does not know), and its dimensions when the catalogue knows them (one
unit of a SKU with ``dimensions_mm``; how a warehouse packs several units is its own business)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from router.model import Sku
from router.sourcing import DEFAULT_WEIGHT_GRAMS


@dataclass(frozen=True)
class Parcel:
    weight_grams: int
    dimensions_mm: tuple[int, int, int] | None = None  # length, width, height

    def to_dict(self) -> dict:
        """The parcel as a carrier booking carries it (``length_mm`` ... only when known)."""
        out: dict = {"weight_grams": self.weight_grams}
        if self.dimensions_mm:
            out.update(zip(("length_mm", "width_mm", "height_mm"), self.dimensions_mm, strict=True))
        return out


def unit_weight(sku: Sku | None) -> int:
    """Grams per unit as freight counts them."""
    return sku.weight_grams if sku else DEFAULT_WEIGHT_GRAMS


def parcel_for(quantities: Iterable[tuple[str, int]], skus: Mapping[str, Sku]) -> Parcel:
    """The parcel holding ``quantities`` (``(sku, units)`` pairs, e.g. a fulfilment's lines)."""
    units = [(code, q) for code, q in quantities if q > 0]
    weight = sum(q * unit_weight(skus.get(code)) for code, q in units)
    only = skus.get(units[0][0]) if len(units) == 1 and units[0][1] == 1 else None
    return Parcel(weight, only.dimensions_mm if only else None)
