"""The console's small fixes (issue 19, item 5): amounts with their currency's places, times with
their zone, and a label (not a raw key) for every after-sales button and every word a page asks for."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from bson import Decimal128

from adapters.console import labels
from adapters.console.formatting import amount, when
from router.order_state import AfterSalesType, OrderCommand
from router.risk import BLACKLIST_KINDS, VELOCITY_KEYS
from router.statuses import PaymentMethod, ShippingMethod

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value, currency, shown", [
    (Decimal("0"), "USD", "0.00"), ("0", "EUR", "0.00"), (Decimal128("12.5"), "USD", "12.50"), (7, "CNY", "7.00"),
    ("1200", "JPY", "1200"), (Decimal("1.5"), "KWD", "1.500"), (None, "USD", ""), ("n/a", "USD", "n/a"),
])
def test_amounts_carry_the_currencys_places(value, currency, shown):
    assert amount(value, currency) == shown


def test_times_show_their_zone():
    assert when(datetime(2024, 6, 1, 12, 0)) == "2024-06-01 12:00 UTC"  # naive from MongoDB: UTC
    assert when(datetime(2024, 6, 1, 20, 0, tzinfo=timezone(timedelta(hours=8)))) == "2024-06-01 12:00 UTC"
    assert when("2024-06-01T12:00:05+00:00", True) == "2024-06-01 12:00:05 UTC"
    assert when(None) == ""


@pytest.mark.parametrize("lang", list(labels.LANGUAGES))
def test_every_after_sales_button_has_a_label(lang):
    for kind in AfterSalesType:
        key = f"after_sales.{kind}"
        assert labels.status_label("command", key, lang) not in ("", key)
    for command in (OrderCommand.CANCEL, OrderCommand.CHANGE_ADDRESS, OrderCommand.CONFIRM_RECEIPT,
                    OrderCommand.APPROVE_HOLD, OrderCommand.REJECT_HOLD, OrderCommand.RESHIP):
        assert labels.status_label("command", command, lang) != str(command)


TEMPLATES = Path(labels.__file__).parent / "templates"


def test_every_word_a_console_template_asks_for_is_in_the_labels():
    """The pages take their words from adapters/console/labels.py only (the webhooks, risk and
    order entry pages had tables of their own); a key missing there would show as the raw key."""
    asked = {(page.name, key) for page in TEMPLATES.glob("*.html")
             for key in re.findall(r"\bt\('([\w.]+)'\)", page.read_text())}
    assert asked and not [(page, key) for page, key in sorted(asked) if key not in labels.TEXT]


@pytest.mark.parametrize("lang", list(labels.LANGUAGES))
def test_the_words_the_risk_and_order_entry_pages_compose_have_labels(lang):
    for kind in BLACKLIST_KINDS:  # t('risk.' + kind)
        assert labels.text(f"risk.{kind}", lang) != f"risk.{kind}"
    for key in VELOCITY_KEYS:  # t('risk.per.' + key): "address" once showed as "addresss"
        assert labels.text(f"risk.per.{key}", lang) != f"risk.per.{key}"
    for method in PaymentMethod:
        assert labels.status_label("payment_method", method.value, lang) != method.value
    for method in ShippingMethod:
        assert labels.status_label("shipping_method", method.value, lang) != method.value
