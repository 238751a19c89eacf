"""Reading a native payload (a channel's, a carrier's, a warehouse's) field by field.

:class:`Native` wraps a value together with its dotted path in the sender's own format
(``"line_items.2.quantity"``), so every mapper can read junk safely: each accessor either
returns a clean Python value or raises :class:`~adapters.errors.PayloadError` naming the
path. No KeyError, TypeError or decimal error escapes. Also here: the HMAC check the
webhook formats share.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from adapters.errors import BadSignature, PayloadError
from router.dates import event_time_problem, representable

CHINA_TIME = timezone(timedelta(hours=8), "Asia/Shanghai")  # no DST since 1991: a fixed offset is exact
_TRUE = {"true", "1", "y", "yes"}
_FALSE = {"false", "0", "n", "no", ""}


@dataclass(frozen=True)
class Native:
    """A value at ``path`` in a native payload; ``Native(payload)`` is the root."""

    value: Any
    path: str = ""

    def fail(self, message: str) -> PayloadError:
        return PayloadError(self.path or "payload", message)

    def _at(self, key: Any) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    @property
    def present(self) -> bool:
        blank = isinstance(self.value, str) and not self.value.strip()  # "\r" is no id, nor a name
        return self.value is not None and not blank and self.value != [] and self.value != {}

    def mapping(self) -> dict:
        """The value as a dict; raises PayloadError when it is not an object."""
        if not isinstance(self.value, dict):
            raise self.fail("must be an object")
        return self.value

    def get(self, key: str) -> Native:
        """The child ``key`` (value None when absent); raises when this is not an object."""
        return Native(self.mapping().get(key), self._at(key))

    def req(self, key: str) -> Native:
        """The child ``key``; raises PayloadError when it is absent, null or empty."""
        child = self.get(key)
        if not child.present:
            raise child.fail("is required")
        return child

    def first(self, *keys: str) -> Native:
        """The first present child among ``keys``, else the (absent) first one."""
        children = [self.get(k) for k in keys]
        return next((c for c in children if c.present), children[0])

    def dig(self, *keys: str) -> Native:
        """Follow ``keys`` through nested objects; an absent or null level gives an absent value."""
        node = self
        for key in keys:
            if node.value is None:
                return Native(None, node._at(key))
            node = node.get(key)
        return node

    def items(self, singular: str | None = None) -> list[Native]:
        """The value as a list of children (absent: empty).

        ``singular`` accepts the XML-to-JSON shape ``{"orderLine": [...]}`` or
        ``{"orderLine": {...}}`` (one element, not a list) as well.
        """
        node = self
        if singular and isinstance(self.value, dict):
            node = self.get(singular)
            if isinstance(node.value, dict):
                return [node]
        if node.value is None:
            return []
        if not isinstance(node.value, list):
            raise node.fail("must be a list")
        return [Native(v, node._at(i)) for i, v in enumerate(node.value)]

    def text(self, default: str = "") -> str:
        """A string (numbers are accepted and written out); absent gives ``default``."""
        v = self.value
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise self.fail("must be a string")
        return str(v).strip()

    def money(self, default: Decimal | None = None, negative: bool = False) -> Decimal | None:
        """An exact Decimal from a string or number (floats via their shortest repr).

        Absent or empty gives ``default``; NaN, infinity and (unless ``negative``) values
        below zero raise PayloadError.
        """
        v = self.value
        if v is None or v == "":
            return default
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise self.fail("must be a decimal amount")
        try:
            amount = Decimal(repr(v) if isinstance(v, float) else str(v).strip())
        except (InvalidOperation, ValueError):
            raise self.fail("must be a decimal amount") from None
        if not amount.is_finite() or abs(amount) > Decimal("1e12"):
            raise self.fail("must be a finite decimal amount")
        if amount < 0 and not negative:
            raise self.fail("must not be negative")
        return amount

    def integer(self, default: int | None = None) -> int | None:
        """An int from an int, an integral float or a digit string; absent gives ``default``."""
        v = self.value
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            raise self.fail("must be an integer")
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return int(v)
        if isinstance(v, str) and v.strip().lstrip("-").isdigit() and len(v.strip()) < 16:
            return int(v.strip())
        if isinstance(v, int) and abs(v) < 10**15:
            return v
        raise self.fail("must be an integer")

    def flag(self) -> bool:
        """A boolean from true/false, 1/0, "Y"/"N" and the like; absent is False."""
        v = self.value
        if v is None or isinstance(v, bool):
            return bool(v)
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
            return v.strip().lower() in _TRUE
        raise self.fail("must be a boolean")

    def when(self, naive_zone: tzinfo | None = None) -> datetime | None:
        """An aware datetime from ISO 8601 text; absent gives None.

        A time without a zone gets ``naive_zone`` (e.g. UTC for WooCommerce's ``*_gmt``,
        China time for Taobao); without one it raises PayloadError.
        """
        if self.value is None or self.value == "":
            return None
        text = self.text()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail("must be an ISO 8601 date and time") from None
        if moment.tzinfo is None:
            if naive_zone is None:
                raise self.fail("must have a time zone")
            moment = moment.replace(tzinfo=naive_zone)
        if not representable(moment):  # stored as UTC: 9999-12-31T23:00-05:00 has none
            raise self.fail("is out of range")
        return moment


def occurred(candidates: list[Native], received_at: datetime | None, path_node: Native) -> datetime:
    """The first candidate that is an aware time; a candidate without a zone is skipped.

    Falls back to ``received_at``; raises PayloadError on ``path_node`` when there is none.
    """
    for node in candidates:
        if not node.present:
            continue
        text = node.text()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise node.fail("must be an ISO 8601 date and time") from None
        if moment.tzinfo is not None:
            problem = event_time_problem(moment, datetime.now(timezone.utc))
            if problem:  # a year 9999 scan is junk, and 9999-12-31T23:00-05:00 cannot even be stored
                raise node.fail(problem)
            return moment
    if received_at is not None:
        return received_at
    raise path_node.fail("is required (a time with a zone)")


def header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    """A header's value by case-insensitive name (plain dicts and werkzeug headers alike)."""
    if headers is None:
        return None
    try:
        pairs = headers.items()
    except AttributeError:
        return None
    wanted = name.lower()
    for key, value in pairs:
        if isinstance(key, str) and key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def verify_hmac(
    headers: Mapping[str, str], name: str, raw_body: bytes, secret: str | bytes, encoding: str = "base64"
) -> None:
    """Check header ``name`` against HMAC-SHA256(secret, raw_body), in constant time.

    ``encoding`` is ``"base64"`` or ``"hex"`` (compared case-insensitively). Raises
    BadSignature when the header is missing, the secret is empty or the digest differs.
    """
    given = header(headers, name)
    if not given:
        raise BadSignature(f"missing {name} header")
    if not secret:
        raise BadSignature("no signing secret configured")
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    body = raw_body.encode() if isinstance(raw_body, str) else bytes(raw_body)
    digest = hmac.new(key, body, hashlib.sha256).digest()
    if encoding == "hex":
        expected, given = digest.hex().encode(), given.strip().lower().encode("utf-8", "replace")
    else:
        expected, given = base64.b64encode(digest), given.strip().encode("utf-8", "replace")
    if not hmac.compare_digest(expected, given):
        raise BadSignature(f"{name} does not match the body")
