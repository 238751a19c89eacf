"""Risk rules as data: blacklists, order velocity and abnormal-order thresholds per merchant.

A ``RiskRules`` is versioned configuration like the routing rules (``settings.risk_rules``, PUT
through ``/v1/risk/rules``). ``RiskRules.from_dict`` reads the plain-dict form and raises
``InvalidRiskRules`` naming the bad field; ``to_dict`` writes it back (Decimals as strings).

- ``blacklist``: ``customers``, ``phones`` and ``addresses``, each a list of entries
  ``{"value", "reason", "added_by", "added_at"}``. A customer matches by id; a phone by its digits
  (``+86 138-0000-0000``, ``8613800000000`` and ``13800000000`` are the same phone), the customer's or the
  address's; an address by its normalised street lines with, when the entry gives them, its
  postcode and country (``{"value": "1 Main St", "postcode": "10001", "country": "US"}``).
- ``velocity``: ``[{"key": "customer" | "phone" | "address", "max_orders": N, "window_minutes": M}]``:
  more than N orders of one customer, phone or address arriving within M minutes (this one
  included) is a reason to hold. The counts are an input (documents/risk.py counts them).
- ``merchants``: thresholds per merchant id, ``"*"`` for every merchant not named:
  ``max_line_quantity``, ``max_order_quantity`` (the merchant's units in the order),
  ``max_order_amount`` (the merchant's goods after line discounts). ``null``: no limit.

Each problem found names the rule that fired (``blacklist.phones[0]``, ``velocity[1]``,
``merchants.m1.max_line_quantity``) and the version of the rules.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from router.errors import RouterError

BLACKLIST_KINDS = ("customers", "phones", "addresses")
VELOCITY_KEYS = ("customer", "phone", "address")
THRESHOLDS = ("max_line_quantity", "max_order_quantity", "max_order_amount")
ANY_MERCHANT = "*"
MAX_ENTRIES = 5000
MAX_WINDOW_MINUTES = 60 * 24 * 90


class InvalidRiskRules(RouterError, ValueError):
    """A risk-rules document failed validation: ``field`` is a dotted path into it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class BlacklistEntry:
    value: str
    reason: str
    added_by: str = ""
    added_at: str = ""
    postcode: str = ""  # addresses only: narrows the match when given
    country: str = ""

    def to_dict(self) -> dict:
        out = {"value": self.value, "reason": self.reason, "added_by": self.added_by, "added_at": self.added_at}
        if self.postcode:
            out["postcode"] = self.postcode
        if self.country:
            out["country"] = self.country
        return out


@dataclass(frozen=True)
class VelocityRule:
    key: str
    max_orders: int
    window_minutes: int

    def to_dict(self) -> dict:
        return {"key": self.key, "max_orders": self.max_orders, "window_minutes": self.window_minutes}


@dataclass(frozen=True)
class Thresholds:
    max_line_quantity: int | None = None
    max_order_quantity: int | None = None
    max_order_amount: Decimal | None = None

    def to_dict(self) -> dict:
        return {"max_line_quantity": self.max_line_quantity, "max_order_quantity": self.max_order_quantity,
                "max_order_amount": None if self.max_order_amount is None else str(self.max_order_amount)}


@dataclass(frozen=True)
class RiskRules:
    version: str = "builtin"
    customers: tuple[BlacklistEntry, ...] = ()
    phones: tuple[BlacklistEntry, ...] = ()
    addresses: tuple[BlacklistEntry, ...] = ()
    velocity: tuple[VelocityRule, ...] = ()
    merchants: Mapping[str, Thresholds] = field(default_factory=dict)

    def thresholds(self, merchant_id: str) -> Thresholds | None:
        return self.merchants.get(merchant_id) or self.merchants.get(ANY_MERCHANT)

    def rule_of(self, merchant_id: str) -> str:
        return merchant_id if merchant_id in self.merchants else ANY_MERCHANT

    def to_dict(self) -> dict:
        return {"version": self.version,
                "blacklist": {kind: [e.to_dict() for e in getattr(self, kind)] for kind in BLACKLIST_KINDS},
                "velocity": [v.to_dict() for v in self.velocity],
                "merchants": {m: t.to_dict() for m, t in sorted(self.merchants.items())}}

    @classmethod
    def from_dict(cls, raw: Any) -> RiskRules:
        if not isinstance(raw, Mapping):
            raise InvalidRiskRules("", "must be an object")
        unknown = set(raw) - {"version", "blacklist", "velocity", "merchants"}
        if unknown:
            raise InvalidRiskRules(sorted(unknown)[0], "unknown field")
        version = raw.get("version")
        if not isinstance(version, str) or not re.fullmatch(r"[\w.\-:]{1,60}", version):
            raise InvalidRiskRules("version", "required: 1-60 letters, digits, . - _ :")
        blacklist = raw.get("blacklist") or {}
        if not isinstance(blacklist, Mapping):
            raise InvalidRiskRules("blacklist", "must be an object")
        for kind in blacklist:
            if kind not in BLACKLIST_KINDS:
                raise InvalidRiskRules(f"blacklist.{kind}", f"unknown list: one of {', '.join(BLACKLIST_KINDS)}")
        lists = {kind: _entries(blacklist.get(kind) or [], f"blacklist.{kind}", kind) for kind in BLACKLIST_KINDS}
        velocity = raw.get("velocity") or []
        if not isinstance(velocity, list) or len(velocity) > 20:
            raise InvalidRiskRules("velocity", "must be a list of at most 20 rules")
        merchants = raw.get("merchants") or {}
        if not isinstance(merchants, Mapping) or len(merchants) > 1000:
            raise InvalidRiskRules("merchants", "must be an object of merchant id to thresholds")
        for merchant in merchants:  # a key of the stored document: MongoDB takes no NUL, nor a leading $
            if not isinstance(merchant, str) or not 0 < len(merchant) <= 100 or not merchant.isprintable() \
                    or merchant.startswith("$"):
                raise InvalidRiskRules("merchants", "a merchant id is 1-100 printable characters, not starting with $")
        return cls(version=version, **lists,
                   velocity=tuple(_velocity(v, f"velocity[{i}]") for i, v in enumerate(velocity)),
                   merchants={str(m): _thresholds(t, f"merchants.{m}") for m, t in merchants.items()})


def _text(raw: Mapping, key: str, path: str, *, required: bool, limit: int = 300) -> str:
    value = raw.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        raise InvalidRiskRules(f"{path}.{key}", f"must be text of at most {limit} characters")
    if required and not value.strip():
        raise InvalidRiskRules(f"{path}.{key}", "required")
    return value.strip()


def _entries(raw: Any, path: str, kind: str) -> tuple[BlacklistEntry, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_ENTRIES:
        raise InvalidRiskRules(path, f"must be a list of at most {MAX_ENTRIES} entries")
    out = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        at = f"{path}[{i}]"
        if not isinstance(entry, Mapping):
            raise InvalidRiskRules(at, "must be an object with value and reason")
        allowed = {"value", "reason", "added_by", "added_at"} | ({"postcode", "country"} if kind == "addresses" else set())
        unknown = set(entry) - allowed
        if unknown:
            raise InvalidRiskRules(f"{at}.{sorted(unknown)[0]}", "unknown field")
        value = _text(entry, "value", at, required=True)
        if kind == "phones" and not phone_key(value):
            raise InvalidRiskRules(f"{at}.value", "a phone needs digits")
        key = blacklist_key(kind, value) + "|" + normal(str(entry.get("postcode") or ""))
        if key in seen:
            raise InvalidRiskRules(f"{at}.value", "listed twice")
        seen.add(key)
        out.append(BlacklistEntry(value=value, reason=_text(entry, "reason", at, required=True),
                                  added_by=_text(entry, "added_by", at, required=False, limit=100),
                                  added_at=_text(entry, "added_at", at, required=False, limit=40),
                                  postcode=_text(entry, "postcode", at, required=False, limit=20),
                                  country=_text(entry, "country", at, required=False, limit=2).upper()))
    return tuple(out)


def _positive_int(raw: Mapping, key: str, path: str, *, upper: int, optional: bool = False) -> int | None:
    value = raw.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
        raise InvalidRiskRules(f"{path}.{key}", f"must be a whole number from 1 to {upper}")
    return value


def _velocity(raw: Any, path: str) -> VelocityRule:
    if not isinstance(raw, Mapping):
        raise InvalidRiskRules(path, "must be an object with key, max_orders, window_minutes")
    unknown = set(raw) - {"key", "max_orders", "window_minutes"}
    if unknown:
        raise InvalidRiskRules(f"{path}.{sorted(unknown)[0]}", "unknown field")
    if raw.get("key") not in VELOCITY_KEYS:
        raise InvalidRiskRules(f"{path}.key", f"one of {', '.join(VELOCITY_KEYS)}")
    return VelocityRule(key=raw["key"], max_orders=_positive_int(raw, "max_orders", path, upper=100000) or 1,
                        window_minutes=_positive_int(raw, "window_minutes", path, upper=MAX_WINDOW_MINUTES) or 1)


def _thresholds(raw: Any, path: str) -> Thresholds:
    if not isinstance(raw, Mapping):
        raise InvalidRiskRules(path, "must be an object of thresholds")
    unknown = set(raw) - set(THRESHOLDS)
    if unknown:
        raise InvalidRiskRules(f"{path}.{sorted(unknown)[0]}", f"unknown field: one of {', '.join(THRESHOLDS)}")
    amount = raw.get("max_order_amount")
    if amount is not None:
        try:
            amount = Decimal(str(amount)) if isinstance(amount, (str, int)) and not isinstance(amount, bool) else None
        except InvalidOperation:
            amount = None
        if amount is None or not amount.is_finite() or amount <= 0 or amount > Decimal("1e12"):
            raise InvalidRiskRules(f"{path}.max_order_amount", "must be a positive amount (a string such as \"5000.00\")")
    return Thresholds(max_line_quantity=_positive_int(raw, "max_line_quantity", path, upper=10**7, optional=True),
                      max_order_quantity=_positive_int(raw, "max_order_quantity", path, upper=10**7, optional=True),
                      max_order_amount=amount)


# -- matching ------------------------------------------------------------------------------------

def normal(text: str) -> str:
    """Case, width, punctuation and spacing folded: ``1 Main St.`` equals ``1  main st``."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def phone_key(phone: str) -> str:
    return re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))


def same_phone(a: str, b: str) -> bool:
    """Two phone keys (digits) name the same phone: equal, or one is the other with a country
    prefix (``8613800000001`` and ``13800000001``), the shorter of at least 8 digits."""
    if not a or not b:
        return False
    short, long_ = sorted((a, b), key=len)
    return short == long_ or (len(short) >= 8 and long_.endswith(short) and len(long_) - len(short) <= 3)


def address_key(lines) -> str:
    return normal(" ".join(lines or ()))


def blacklist_key(kind: str, value: str) -> str:
    if kind == "phones":
        return phone_key(value)
    if kind == "customers":
        return value.strip()
    return normal(value)


@dataclass(frozen=True)
class VelocityCount:
    """How many other orders of the same customer, phone or address arrived within a rule's
    window (``rule`` is the index of the rule in ``RiskRules.velocity``)."""

    rule: int
    others: int
