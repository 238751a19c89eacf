"""Decimal <-> Decimal128 at the storage boundary, for the raw dicts the hot paths use."""
from __future__ import annotations

from decimal import Decimal

from bson.decimal128 import Decimal128


def to_bson(value):
    """Recursively turn Decimals into Decimal128 (and tuples into lists)."""
    if isinstance(value, Decimal):
        return Decimal128(value)
    if isinstance(value, dict):
        return {k: to_bson(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_bson(v) for v in value]
    return value


def from_bson(value):
    """Recursively turn Decimal128 back into Decimal."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, dict):
        return {k: from_bson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_bson(v) for v in value]
    return value
