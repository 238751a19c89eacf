"""Places: region codes, who serves where, and how far a warehouse is from a destination.

Region codes are ``"CN"`` (a whole country) or ``"CN-ZJ"`` (country, dash, ISO 3166-2
subdivision), the style of ``Warehouse.serves_regions`` and ``Carrier.regions``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from router.model import Address, Warehouse

EARTH_RADIUS_KM = 6371.0088

# Stand-ins when coordinates are missing: same region, same country, abroad.
SAME_REGION_KM = 50.0
SAME_COUNTRY_KM = 800.0
ABROAD_KM = 8000.0


def region_key(country: str, region: str = "") -> str:
    """``("CN", "ZJ")`` or ``("CN", "CN-ZJ")`` -> ``"CN-ZJ"``; ``("CN", "")`` -> ``"CN"``."""
    country = country.upper()
    region = region.upper()
    if not region:
        return country
    if region.startswith(country + "-"):
        return region
    return f"{country}-{region}"


def destination_key(address: Address) -> str:
    """The region code of a shipping address (``"CN-ZJ"``, or ``"CN"`` without a region): its
    subdivision code when known, else its region as written (an address stored before codes were
    kept beside the written names carries the code there)."""
    return region_key(address.country, address.region_code or address.region)


def warehouse_key(warehouse: Warehouse) -> str:
    """The region code a warehouse stands in."""
    return region_key(warehouse.country, warehouse.region)


def covers(regions: Iterable[str], destination: str) -> bool:
    """True when ``regions`` (empty: everywhere) contain the destination or its country.

    ``destination`` is a region code; ``"*"`` in ``regions`` also matches everything.
    """
    if not isinstance(regions, (frozenset, set)):
        regions = frozenset(regions)
    if not regions or "*" in regions:
        return True
    country = destination.split("-", 1)[0]
    return destination in regions or country in regions


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in kilometres between two points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def coarse_km(origin: str, destination: str) -> float:
    """A stand-in distance between two region codes: same region, same country, abroad."""
    if origin == destination:
        return SAME_REGION_KM
    if origin.split("-", 1)[0] == destination.split("-", 1)[0]:
        return SAME_COUNTRY_KM
    return ABROAD_KM


def distance_km(warehouse: Warehouse, address: Address) -> float:
    """Great-circle distance when both ends have coordinates, else ``coarse_km`` of the regions."""
    if None not in (warehouse.lat, warehouse.lon, address.lat, address.lon):
        return great_circle_km(warehouse.lat, warehouse.lon, address.lat, address.lon)  # type: ignore[arg-type]
    return coarse_km(warehouse_key(warehouse), destination_key(address))


def table_km(table: Mapping[str, Mapping[str, float]], origin: str, destination: str,
             unknown_km: float) -> float:
    """Distance from a region table ``{origin: {destination: km}}``, read in both directions.

    Falls back from the region codes to their countries, then to ``unknown_km``.
    """
    o_country, d_country = origin.split("-", 1)[0], destination.split("-", 1)[0]
    for a, b in ((origin, destination), (origin, d_country), (o_country, destination),
                 (o_country, d_country)):
        row = table.get(a)
        if row is not None and b in row:
            return float(row[b])
        row = table.get(b)
        if row is not None and a in row:
            return float(row[a])
    if origin == destination:
        return 0.0
    return float(unknown_km)
