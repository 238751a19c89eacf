"""Template filters for the console (issue 19, item 5): amounts with their currency's places
(``0.00 USD``, ``1200 JPY``, never a bare ``0``) and times with their zone (stored in UTC, shown
as ``2024-06-01 12:00 UTC``)."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from adapters.console.blueprint import blp
from router.money import currency_quantum


@blp.app_template_filter("amount")
def amount(value, currency: str = "") -> str:
    """``value`` (Decimal, Decimal128, str or number) to the currency's minor unit; "" for none,
    the value as it is when it is not a number."""
    if value is None or value == "":
        return ""
    raw = value.to_decimal() if hasattr(value, "to_decimal") else value
    try:
        number = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    return str(number.quantize(currency_quantum(currency or "")))


@blp.app_template_filter("when")
def when(value, seconds: bool = False) -> str:
    """A stored time (naive means UTC, as MongoDB gives it back) with its zone: ``UTC``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    at = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")
