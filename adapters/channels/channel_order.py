"""What every channel format produces (:class:`ChannelOrder`) and the pieces they share.

Kept apart from ``adapters/channels/__init__.py`` so the format modules can import it
without importing the registry that imports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_UP, Decimal, localcontext
from typing import Any, Callable, Mapping

from marshmallow import ValidationError

from adapters.errors import PayloadError
from adapters.schemas import CanonicalOrderSchema, field_errors
from router.statuses import ShippingMethod

_EXPRESS_WORDS = re.compile(
    r"express|expedited|priority|overnight|next[\s_-]?day|same[\s_-]?day|"
    r"second[\s_-]?day|2[\s_-]?day|urgent|加急|特快|次日|当日",
    re.I,
)
_ID_JUNK = re.compile(r"[^\w\-:/#]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


@dataclass
class ChannelOrder:
    """A channel's order, mapped.

    ``canonical`` loads with :class:`~adapters.schemas.CanonicalOrderSchema`; ``raw`` is
    the native payload as received (kept on the order); ``native_status`` the channel's
    own status word; ``flags`` things a human may want to see (``"unknown_status:xyz"``,
    ``"refund_requested:oid"``); ``updated_at`` the channel's last-modified time, for
    dropping stale updates; ``cancelled`` true when the channel says the order is off;
    ``route`` false for orders recorded but fulfilled elsewhere (Amazon AFN);
    ``ship_by`` the channel's latest ship date when it has one; ``refunded`` the total the
    channel says it refunded (None when the format does not say).
    """

    canonical: dict
    raw: dict
    native_status: str
    flags: list[str] = field(default_factory=list)
    updated_at: datetime | None = None
    cancelled: bool = False
    route: bool = True
    ship_by: datetime | None = None
    refunded: Decimal | None = None  # money the channel says it paid back on the order, in all


@dataclass(frozen=True)
class ChannelFormat:
    """One inbound channel format, as the HTTP layer uses it.

    ``verify(headers, raw_body, secret)`` raises BadSignature; ``dedupe_key(headers,
    payload)`` gives the delivery's idempotency key or None; ``to_canonical(payload,
    merchant_id)`` gives a ChannelOrder or raises PayloadError. ``polled``, when set, says why
    the platform pushes no orders (they are polled): its webhook path answers that instead.
    """

    name: str
    verify: Callable[[Mapping[str, str], bytes, str | bytes], None]
    dedupe_key: Callable[[Mapping[str, str], Any], str | None]
    to_canonical: Callable[[dict, str], ChannelOrder]
    polled: str = ""


def money(amount: Decimal) -> str:
    """A Decimal as the canonical money string (plain notation, never ``1E+2``)."""
    return format(amount, "f")


def shipping_method(*texts: str) -> str:
    """``express`` when any carrier / service name says so, else ``standard``."""
    hit = any(_EXPRESS_WORDS.search(t or "") for t in texts)
    return (ShippingMethod.EXPRESS if hit else ShippingMethod.STANDARD).value


def order_id(raw: str, path: str) -> str:
    """A channel order id as canonical wants it (``[\\w\\-:/#]{1,100}``); raises PayloadError."""
    if not raw or _ID_JUNK.search(raw) or len(raw) > 100:
        raise PayloadError(path, "must be 1-100 letters, digits, _ - : / #")
    return raw


_SCHEMA = CanonicalOrderSchema()  # schemas are reusable and thread-safe once built


def checked(canonical: dict) -> dict:
    """Return ``canonical`` once it loads; otherwise raise PayloadError on its first bad field.

    Mappers check native fields themselves first, so this is the backstop; its path is the
    canonical one, prefixed ``canonical.``, since no native field maps one to one. A None
    ``merchant_id`` (channel without one configured) is left out rather than sent as null.
    """
    if canonical.get("merchant_id") is None:
        canonical.pop("merchant_id", None)
    try:
        _SCHEMA.load(canonical)
    except ValidationError as exc:
        path, messages = next(iter(field_errors(exc.messages).items()))
        raise PayloadError(f"canonical.{path}", "; ".join(messages)) from None
    return canonical


def clip(text: str, limit: int) -> str:
    """Text cut to a canonical length limit (names and address lines run long on some channels)."""
    return text[:limit]


def unit_price(line_total: Decimal, quantity: int) -> tuple[Decimal, Decimal]:
    """Split a line total into ``(unit_price, rounding_discount)`` with nothing lost.

    When ``line_total / quantity`` terminates it is returned exactly (``10.05 / 2 = 5.025``)
    with no rounding discount. When it does not (``10.00 / 3``), the unit price is rounded
    UP to the cent and the excess (``3.34 * 3 - 10.00 = 0.02``) is returned as a discount
    to add to the line, so that unit price * quantity - discount equals the channel's line
    total exactly.
    """
    with localcontext() as ctx:
        ctx.prec = 60
        quotient = line_total / quantity
        if quotient * quantity == line_total and quotient == quotient.quantize(Decimal("1e-12")):
            return quotient, Decimal("0")
        unit = quotient.quantize(Decimal("0.01"), rounding=ROUND_UP)
        return unit, unit * quantity - line_total


def with_tax(line: dict, tax: Decimal, rate: Decimal | None = None) -> dict:
    """``line`` with its ``tax`` and ``tax_rate`` when there are any (a line without either is
    left as it was: canonical's defaults are no tax and no stated rate)."""
    if tax:
        line["tax"] = money(tax)
    if rate is not None:
        line["tax_rate"] = money(rate)
    return line


def person_name(first: str, last: str) -> str:
    """A full name from its parts: family name first, unspaced, for Chinese, Japanese and Korean."""
    if _CJK.search(first + last):
        return f"{last}{first}"
    return f"{first} {last}".strip()
