"""CSV order import: one row per order line, rows of one order share ``channel_order_id``.

In: the CSV text (UTF-8, a header row; comma or semicolon separated). Out: ``(orders,
errors)``, where each order is a canonical dict that loads with CanonicalOrderSchema and
each error a :class:`RowError`. Nothing is raised for bad data: a bad row rejects its own
order (every row of it, so no order is imported with lines missing) and no other.

Columns (case-insensitive; ``*`` required): ``channel_order_id*``, ``placed_at*`` (ISO
8601), ``currency*``, ``country*``, ``sku*``, ``quantity*``, ``unit_price*``, and
optionally ``merchant_id``, ``line_discount``, ``line_name``, ``line_merchant_id``,
``customer_id``, ``customer_name``, ``customer_email``, ``customer_phone``, ``ship_name``,
``ship_phone``, ``region``, ``city``, ``district``, ``postcode``, ``address1``,
``address2``, ``shipping_fee``, ``shipping_method`` (standard / express),
``payment_method`` (online / cod / terms), ``payment_status`` (unpaid / paid),
``po_number``, ``terms_days``, ``order_discount``, ``discount_code``, ``notes``, ``b2b``, and for
tax ``line_tax`` (the line's tax after its discount), ``line_tax_rate`` (0.2 for 20%),
``prices_include_tax`` (true: prices and shipping fee hold their tax), ``shipping_tax`` and
``order_total`` (what the customer pays, checked against the router's payable at routing).
Order-level columns are read from an order's first row; later rows may leave them empty.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal

from marshmallow import ValidationError

from adapters.channels.channel_order import money, with_tax
from adapters.errors import PayloadError
from adapters.native import Native
from adapters.schemas import CanonicalOrderSchema, field_errors
from router.statuses import PaymentMethod, PaymentStatus, ShippingMethod

REQUIRED = ("channel_order_id", "placed_at", "currency", "country", "sku", "quantity", "unit_price")
_CHOICES = {
    "shipping_method": ShippingMethod,
    "payment_method": PaymentMethod,
    "payment_status": PaymentStatus,
}


@dataclass(frozen=True)
class RowError:
    """A problem with one CSV row: ``row`` is the file line number (header = 1), ``field`` the column."""

    row: int
    field: str
    message: str
    channel_order_id: str = ""


def parse_csv(
    text: str, merchant_id: str | None = None, naive_zone: tzinfo | None = None
) -> tuple[list[dict], list[RowError]]:
    """Parse an order CSV; see the module docstring. ``merchant_id`` applies where the
    ``merchant_id`` column is empty; ``naive_zone`` is given to times without a zone
    (None: such times are errors)."""
    text = text.lstrip("\ufeff")
    first = text.split("\n", 1)[0]
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=";" if first.count(";") > first.count(",") else ","
    )
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        return [], [RowError(1, "", f"unreadable header: {exc}")]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return [], [RowError(1, c, "missing column") for c in missing]
    groups: dict[str, list[tuple[int, dict]]] = {}
    errors: list[RowError] = []
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, "", f"unreadable row: {exc}"))
            continue
        if not any(c.strip() for c in cells):
            continue
        row = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
        key = row["channel_order_id"]
        if not key:
            errors.append(RowError(reader.line_num, "channel_order_id", "is required"))
            continue
        groups.setdefault(key, []).append((reader.line_num, row))
    orders = []
    for key, rows in groups.items():
        try:
            orders.append(_order(rows, merchant_id, naive_zone))
        except _RowFailure as failure:
            errors.append(RowError(failure.row, failure.field, failure.message, key))
    return orders, errors


class _RowFailure(Exception):
    def __init__(self, row: int, field: str, message: str):
        super().__init__(message)
        self.row, self.field, self.message = row, field, message


def _order(rows: list[tuple[int, dict]], merchant_id: str | None, naive_zone: tzinfo | None) -> dict:
    first_no, first = rows[0]
    lines = [_line(no, row) for no, row in rows]
    try:
        head = _head(first, merchant_id, naive_zone)
    except PayloadError as exc:
        raise _RowFailure(first_no, exc.field_path, exc.message) from None
    order = {**head, "lines": lines}
    try:
        CanonicalOrderSchema().load(order)
    except ValidationError as exc:
        path, messages = next(iter(field_errors(exc.messages).items()))
        parts = path.split(".")
        row_no = (
            rows[int(parts[1])][0]
            if parts[0] == "lines" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(rows)
            else first_no
        )
        raise _RowFailure(row_no, path, "; ".join(messages)) from None
    return order


def _line(no: int, row: dict) -> dict:
    cells = Native(row)
    try:
        line = {
            "sku": cells.req("sku").text(),
            "quantity": cells.req("quantity").integer(),
            "unit_price": money(cells.req("unit_price").money()),
            "discount": money(cells.get("line_discount").money(Decimal("0"))),
            "name": cells.get("line_name").text(),
        }
        with_tax(line, cells.get("line_tax").money(Decimal("0")), cells.get("line_tax_rate").money())
    except PayloadError as exc:
        raise _RowFailure(no, exc.field_path, exc.message) from None
    if cells.get("line_merchant_id").present:
        line["merchant_id"] = cells.get("line_merchant_id").text()
    return line


def _head(row: dict, merchant_id: str | None, naive_zone: tzinfo | None) -> dict:
    cells = Native(row)
    for column, choices in _CHOICES.items():
        value = cells.get(column).text().lower()
        if value and value not in {c.value for c in choices}:
            raise PayloadError(column, f"must be one of {sorted(c.value for c in choices)}")
    head = {
        "channel_order_id": cells.req("channel_order_id").text(),
        "currency": cells.req("currency").text().upper(),
        "customer": {k: cells.get(f"customer_{k}").text() for k in ("id", "name", "email", "phone")},
        "shipping_address": {
            "name": cells.get("ship_name").text(),
            "phone": cells.get("ship_phone").text(),
            "country": cells.req("country").text().upper(),
            **{k: cells.get(k).text() for k in ("region", "city", "district", "postcode")},
            "lines": [cells.get(k).text() for k in ("address1", "address2") if cells.get(k).present],
        },
        "discounts": [
            {"code": cells.get("discount_code").text(), "amount": money(cells.get("order_discount").money())}
        ]
        if cells.get("order_discount").present
        else [],
        "shipping_fee": money(fee) if (fee := cells.get("shipping_fee").money()) is not None else None,
        "shipping_method": cells.get("shipping_method").text().lower() or ShippingMethod.STANDARD.value,
        "payment": {
            "method": cells.get("payment_method").text().lower() or PaymentMethod.ONLINE.value,
            "status": cells.get("payment_status").text().lower() or PaymentStatus.UNPAID.value,
            "po_number": cells.get("po_number").text(),
            "terms_days": cells.get("terms_days").integer(),
        },
        "placed_at": cells.req("placed_at").when(naive_zone).isoformat(),
        "notes": cells.get("notes").text(),
        "b2b": cells.get("b2b").flag() or cells.get("po_number").present,
        "prices_include_tax": cells.get("prices_include_tax").flag(),
        "shipping_tax": money(cells.get("shipping_tax").money(Decimal("0"))),
    }
    if cells.get("order_total").present:
        head["stated_total"] = money(cells.get("order_total").money())
    chosen = cells.get("merchant_id").text() or merchant_id
    if chosen:
        head["merchant_id"] = chosen
    return head
