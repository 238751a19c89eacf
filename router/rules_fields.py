"""Reading typed fields out of a plain rules document, with errors that name the field.

Every reader takes the dotted ``path`` of the value it reads and raises
``InvalidRoutingRules(path, message)``; ``router.rules`` and ``router.freight`` build on them.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from router.errors import InvalidRoutingRules


def mapping(value: Any, path: str, allowed: Iterable[str]) -> Mapping[str, Any]:
    """``value`` as a mapping whose keys are all in ``allowed``."""
    if not isinstance(value, Mapping):
        raise InvalidRoutingRules(path or "<root>", f"expected a mapping, got {type(value).__name__}")
    allowed = tuple(allowed)
    for key in value:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise InvalidRoutingRules(where, f"unknown field; expected one of {', '.join(allowed)}")
    return value


def text(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidRoutingRules(path, f"expected a string, got {type(value).__name__}")
    if str(value) == "":
        raise InvalidRoutingRules(path, "must not be empty")
    return str(value)


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRoutingRules(path, f"expected true or false, got {value!r}")
    return value


def decimal(value: Any, path: str, *, minimum: Decimal | None = Decimal("0"), positive: bool = False) -> Decimal:
    """A money or quantity amount: a string like "8.00", an integer, or a YAML float."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise InvalidRoutingRules(path, f"expected a decimal amount, got {type(value).__name__}")
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise InvalidRoutingRules(path, f"not a decimal amount: {value!r}") from None
    if not amount.is_finite():
        raise InvalidRoutingRules(path, f"not a finite amount: {value!r}")
    if positive and amount <= 0:
        raise InvalidRoutingRules(path, f"must be greater than 0, got {value!r}")
    if minimum is not None and amount < minimum:
        raise InvalidRoutingRules(path, f"must be at least {minimum}, got {value!r}")
    return amount


def number(value: Any, path: str, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRoutingRules(path, f"expected a number, got {value!r}")
    if value < minimum:
        raise InvalidRoutingRules(path, f"must be at least {minimum}, got {value!r}")
    return float(value)


def integer(value: Any, path: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRoutingRules(path, f"expected an integer, got {value!r}")
    if value < minimum:
        raise InvalidRoutingRules(path, f"must be at least {minimum}, got {value!r}")
    return value


def choice(value: Any, path: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise InvalidRoutingRules(path, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


def text_list(value: Any, path: str, choices: Iterable[str] | None = None, *, unique: bool = True) -> tuple[str, ...]:
    """A list of strings (a lone string is a list of one), each in ``choices`` when given."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise InvalidRoutingRules(path, f"expected a list, got {type(value).__name__}")
    items = tuple(choice(v, f"{path}[{i}]", choices) if choices is not None else text(v, f"{path}[{i}]")
                  for i, v in enumerate(value))
    if unique and len(set(items)) != len(items):
        raise InvalidRoutingRules(path, "has duplicates")
    return items


def upper_list(value: Any, path: str) -> frozenset[str]:
    """Region codes, upper-cased: ``["cn-zj", "US"]`` -> ``{"CN-ZJ", "US"}``."""
    return frozenset(v.upper() for v in text_list(value, path, unique=False))


def dec_str(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)
