"""Reports API: orders and revenue per day / month, by channel, by region, best and slow sellers,
average time from payment to shipment. JSON by default, CSV with ``?format=csv``.

``from`` and ``to`` are dates (``to`` inclusive: the whole day) or ISO 8601 times with a zone
(``to`` exclusive); the default range is the last 30 days. ``currency`` keeps one currency;
without it every money figure is still per currency (never summed across currencies).
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta, timezone

from flask import Response, jsonify
from flask_smorest import Blueprint
from marshmallow import RAISE
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from adapters.http import auth, csv_cells
from adapters.http.schemas import ReportSchema
from documents import reports
from router.dates import query_time_problem

blp = Blueprint("reports", __name__, description="Reports over orders (aggregation pipelines)")
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366


class DayOrTime(fields.Field):
    """A date (``2024-05-01``) or an aware ISO 8601 time; loads as ``(datetime, was_a_date)``."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = str(value).strip()
        try:
            if len(text) == 10:
                return _queryable(datetime.combine(date.fromisoformat(text), time(0), tzinfo=timezone.utc)), True
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError("expected a date (YYYY-MM-DD) or an ISO 8601 time with a zone") from exc
        if moment.tzinfo is None:
            raise ValidationError("a time needs a zone (e.g. Z or +08:00)")
        return _queryable(moment), False


def _queryable(moment: datetime) -> datetime:
    """A range end far from the ends of what a datetime holds (router/dates.py): "to" steps a day on."""
    problem = query_time_problem(moment)
    if problem:
        raise ValidationError(problem)
    return moment


_DAY_OR_TIME = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}


class ReportQuerySchema(Schema):
    start = DayOrTime(data_key="from", metadata={**_DAY_OR_TIME, "description": (
        "a date (YYYY-MM-DD) or an ISO 8601 time with a zone, from 1900 to 9000; default 30 days before to")})
    end = DayOrTime(data_key="to", metadata={**_DAY_OR_TIME, "description": (
        "a date (inclusive: the whole day) or an ISO 8601 time with a zone (exclusive), from 1900 to 9000, "
        f"after from and at most {MAX_DAYS} days from it; default the end of today (UTC)")})
    currency = fields.String(validate=validate.Regexp(r"^[A-Z]{3}$", error="a 3-letter ISO 4217 code"))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=200))

    @validates_schema
    def _range(self, data, **kwargs):
        rng = report_range(data)
        if rng.end <= rng.start:
            raise ValidationError("must be after from", "to")
        if rng.end - rng.start > timedelta(days=MAX_DAYS):
            raise ValidationError(f"a range may span at most {MAX_DAYS} days", "to")


def report_answers(view):
    """A report's answers in the OpenAPI document: JSON, or CSV with ``format=csv``."""
    view = blp.alt_response(200, schema=ReportSchema, description="The report", success=True)(view)
    return blp.alt_response(200, schema={"type": "string"}, content_type="text/csv", success=True,
                            description="The report as CSV (format=csv)")(view)


def report_range(args: dict, now: datetime | None = None) -> reports.ReportRange:
    """The ``[start, end)`` range of validated query values (dates and times as loaded above)."""
    now = now or datetime.now(timezone.utc)
    end, end_is_date = args.get("end") or (None, False)
    if end is None:
        end = datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=timezone.utc)
    elif end_is_date:
        end += timedelta(days=1)  # a date as "to" means through the end of that day
    start = (args.get("start") or (end - timedelta(days=DEFAULT_DAYS), False))[0]
    return reports.ReportRange(start=start, end=end, currency=args.get("currency"))


def _answer(name: str, args: dict, body: dict, rows: list[dict], columns: list[str]):
    rng = report_range(args)
    if args["format"] == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(csv_cells.row(r.get(c, "") for c in columns) for r in rows)
        filename = f"{name}_{rng.start.date()}_{(rng.end - timedelta(microseconds=1)).date()}.csv"
        return Response(out.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return jsonify({"report": name, "from": rng.start.isoformat(), "to": rng.end.isoformat(),
                    "currency": rng.currency, **body})


def _viewer_range(args: dict) -> reports.ReportRange:
    auth.require_role(auth.Role.VIEWER)
    return report_range(args)


@blp.route("/v1/reports/orders-by-day", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(ReportQuerySchema, location="query", unknown=RAISE)
@report_answers
def orders_by_day(args: dict):
    """Orders and revenue per UTC day and currency."""
    rows = reports.orders_by_period(_viewer_range(args), "day")
    return _answer("orders-by-day", args, {"rows": rows}, rows, ["period", "currency", "orders", "revenue"])


@blp.route("/v1/reports/orders-by-month", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(ReportQuerySchema, location="query", unknown=RAISE)
@report_answers
def orders_by_month(args: dict):
    """Orders and revenue per UTC month and currency."""
    rows = reports.orders_by_period(_viewer_range(args), "month")
    return _answer("orders-by-month", args, {"rows": rows}, rows, ["period", "currency", "orders", "revenue"])


@blp.route("/v1/reports/by-channel", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(ReportQuerySchema, location="query", unknown=RAISE)
@report_answers
def by_channel(args: dict):
    """Orders and revenue per channel and currency."""
    rows = reports.by_channel(_viewer_range(args))
    return _answer("by-channel", args, {"rows": rows}, rows, ["channel", "currency", "orders", "revenue"])


@blp.route("/v1/reports/by-region", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(ReportQuerySchema, location="query", unknown=RAISE)
@report_answers
def by_region(args: dict):
    """Orders and revenue per shipping country / region and currency."""
    rows = reports.by_region(_viewer_range(args))
    return _answer("by-region", args, {"rows": rows}, rows, ["country", "region", "currency", "orders", "revenue"])


@blp.route("/v1/reports/top-skus", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(ReportQuerySchema, location="query", unknown=RAISE)
@report_answers
def top_skus(args: dict):
    """Best sellers (most units) and slow sellers (fewest units, unsold catalogue SKUs included)."""
    found = reports.top_skus(_viewer_range(args), args["limit"])
    rows = [{"list": kind, "rank": i, "sku": r["sku"], "units": r["units"], "lines": r["lines"],
             "revenue": " ".join(f"{c} {v}" for c, v in r["revenue"].items())}
            for kind in ("best", "slow") for i, r in enumerate(found[kind], 1)]
    return _answer("top-skus", args, found, rows, ["list", "rank", "sku", "units", "lines", "revenue"])


@blp.route("/v1/reports/payment-to-shipment", methods=["GET"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(ReportQuerySchema, location="query", unknown=RAISE)
@report_answers
def payment_to_shipment(args: dict):
    """Average time from the first payment to the first shipment, overall and per channel."""
    found = reports.payment_to_shipment(_viewer_range(args))
    rows = [{"channel": "*", **found["overall"]}] + found["by_channel"]
    return _answer("payment-to-shipment", args, found, rows,
                   ["channel", "orders", "average_seconds", "average_hours"])
