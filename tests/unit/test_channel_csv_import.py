"""CSV order import: several rows per order, per-row errors that reject only their own order."""

from pathlib import Path

import pytest

from adapters.channels.csv_import import RowError, parse_csv
from adapters.schemas import CanonicalOrderSchema

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures" / "channels"


def parsed():
    return parse_csv((FIXTURES / "orders.csv").read_text(encoding="utf-8"))


def test_good_orders_load_and_bad_rows_reject_only_their_own_order():
    orders, errors = parsed()
    assert [o["channel_order_id"] for o in orders] == ["PHONE-1001", "B2B-2001"]
    for order in orders:
        CanonicalOrderSchema().load(order)
    assert errors == [
        RowError(4, "quantity", "must be an integer", "PHONE-1002"),
        RowError(7, "unit_price", "must be a decimal amount", "EMAIL-3001"),
    ]


def test_an_order_spanning_two_rows_has_both_lines_and_the_first_rows_header():
    phone = parsed()[0][0]
    assert [
        (line["sku"], line["quantity"], line["unit_price"], line["discount"]) for line in phone["lines"]
    ] == [("TEA-LONGJING-250G", 2, "198.00", "10.00"), ("CUP-GLASS-350", 1, "99.00", "0")]
    assert phone["shipping_address"] == {
        "name": "王小明",
        "phone": "13800138000",
        "country": "CN",
        "region": "ZJ",
        "city": "杭州市",
        "district": "西湖区",
        "postcode": "310012",
        "lines": ["文三路 138 号", "5 楼"],
    }
    assert (
        phone["payment"]["method"] == "cod"
        and phone["merchant_id"] == "m-tea"
        and phone["notes"] == "电话订单"
    )


def test_b2b_row_with_po_number_terms_and_an_order_discount():
    b2b = parsed()[0][1]
    assert b2b["b2b"] is True
    assert b2b["payment"] == {"method": "terms", "status": "unpaid", "po_number": "PO-7781", "terms_days": 30}
    assert b2b["discounts"] == [{"code": "WHOLESALE", "amount": "37.00"}]
    assert b2b["shipping_fee"] == "25.00" and b2b["shipping_method"] == "express"
    assert b2b["shipping_address"]["name"] == "Northwind Traders, Goods In"


def test_missing_columns_are_reported_against_the_header():
    orders, errors = parse_csv("channel_order_id,sku\nA,B\n")
    assert orders == [] and {e.field for e in errors} == {
        "placed_at",
        "currency",
        "country",
        "quantity",
        "unit_price",
    }
    assert all(e.row == 1 for e in errors)


def test_semicolon_files_bom_and_default_merchant():
    text = (
        "\ufeffchannel_order_id;placed_at;currency;country;sku;quantity;unit_price\n"
        "X-1;2024-03-05T10:00:00Z;EUR;DE;SKU-1;1;9,99\n"
        "X-2;2024-03-05T10:00:00Z;EUR;DE;SKU-1;1;9.99\n"
    )
    orders, errors = parse_csv(text, merchant_id="m-default")
    assert [o["channel_order_id"] for o in orders] == ["X-2"] and orders[0]["merchant_id"] == "m-default"
    assert errors == [RowError(2, "unit_price", "must be a decimal amount", "X-1")]


def test_schema_errors_point_at_the_row_of_the_line():
    text = (
        "channel_order_id,placed_at,currency,country,sku,quantity,unit_price\n"
        "Y-1,2024-03-05T10:00:00Z,EUR,DE,SKU-1,1,1.00\n"
        "Y-1,,,,SKU-2,0,1.00\n"
    )
    orders, errors = parse_csv(text, merchant_id="m")
    assert orders == [] and errors[0].row == 3 and errors[0].field == "lines.1.quantity"


def test_time_without_zone_is_an_error_unless_a_zone_is_given():
    text = (
        "channel_order_id,placed_at,currency,country,sku,quantity,unit_price\n"
        "Z-1,2024-03-05 10:00:00,CNY,CN,SKU-1,1,1.00\n"
    )
    assert parse_csv(text, merchant_id="m")[1][0].field == "placed_at"
    from adapters.native import CHINA_TIME

    orders, errors = parse_csv(text, merchant_id="m", naive_zone=CHINA_TIME)
    assert errors == [] and orders[0]["placed_at"] == "2024-03-05T10:00:00+08:00"
