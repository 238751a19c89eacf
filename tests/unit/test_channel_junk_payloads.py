"""Any junk a channel sends gives a PayloadError or a valid canonical order, never another exception."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adapters.channels import CHANNEL_FORMATS
from adapters.channels.csv_import import parse_csv
from adapters.errors import PayloadError
from adapters.schemas import CanonicalOrderSchema
from tests.unit.junk import junk, paths, replaced

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"
JUNK = junk("", "-1", "1e999", "NaN", "2024-13-40", "0", "１２", "abc")
CASES = [(p.name.split("_")[0], p.stem) for p in sorted(FIXTURES.glob("*.json"))]
CSV_HEADER = "channel_order_id,placed_at,currency,country,sku,quantity,unit_price"  # the required columns




def assert_payload_error_or_valid(fmt: str, payload) -> None:
    try:
        order = CHANNEL_FORMATS[fmt].to_canonical(payload, "m-junk")
    except PayloadError as exc:
        assert exc.field_path and exc.message
        return
    CanonicalOrderSchema().load(order.canonical)


@pytest.mark.parametrize("fmt", sorted(CHANNEL_FORMATS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(junk=JUNK)
def test_whole_payload_junk(fmt, junk):
    assert_payload_error_or_valid(fmt, junk)


@pytest.mark.parametrize("fmt, name", CASES)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_one_field_of_a_real_payload_replaced_with_junk(fmt, name, data):
    payload = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    path = data.draw(st.sampled_from(list(paths(payload))))
    assert_payload_error_or_valid(fmt, replaced(payload, path, data.draw(JUNK)))


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_csv_junk_never_raises(text):
    orders, errors = parse_csv(CSV_HEADER + "\n" + text, "m")
    for order in orders:
        CanonicalOrderSchema().load(order)
    assert_rows_accounted_for(orders, errors)
    assert all(e.row >= 2 for e in errors)  # the header is good: only data rows are refused


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_csv_without_header_never_raises(text):
    orders, errors = parse_csv(text)
    assert_rows_accounted_for(orders, errors)
    if not all(column in text.lower() for column in CSV_HEADER.split(",")):  # the header cannot have them all
        assert orders == [] and errors and all(e.row == 1 for e in errors)


def assert_rows_accounted_for(orders, errors) -> None:
    """Every problem is a RowError saying what is wrong, and no order is both imported and refused."""
    assert all(isinstance(e.row, int) and e.row >= 1 and e.message for e in errors)
    imported = {order["channel_order_id"] for order in orders}
    assert all(imported) and len(imported) == len(orders)
    assert not imported & {e.channel_order_id for e in errors}


@pytest.mark.parametrize("fmt", sorted(CHANNEL_FORMATS))
@given(
    headers=st.dictionaries(st.text(max_size=20), st.text(max_size=40) | st.none(), max_size=3),
    body=st.binary(max_size=50),
)
@settings(max_examples=30, deadline=None)
def test_signature_and_dedupe_junk_raise_only_bad_signature(fmt, headers, body):
    from adapters.errors import BadSignature

    with pytest.raises(BadSignature):
        CHANNEL_FORMATS[fmt].verify(headers, body, "secret")
    key = CHANNEL_FORMATS[fmt].dedupe_key(headers, None)
    assert key is None or (isinstance(key, str) and key)
