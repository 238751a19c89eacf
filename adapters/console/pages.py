"""Console pages for stock (levels, low-stock flags and alerts, adjustments), exceptions (dead
letters, failed dispatches, orders with open exception flags, held orders), reports (charts) and
settings."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlencode

from flask import abort, flash, redirect, render_template, request, url_for

from adapters.console import api_client, charts, labels
from adapters.console.blueprint import blp, lang, require
from adapters.console.orders import _flash_answer
from adapters.http import auth
from adapters.http.reports import ReportQuerySchema, report_range
from adapters.http.views import plain
from documents import alerts, dead_letters, orders, queries, reference, reports, stock
from documents.converters import order_state
from router import lifecycle
from router.errors import InvalidRoutingRules
from router.exceptions import EXCEPTION_FLAG, open_flags
from router.order_state import OrderCommand
from router.rules import DEFAULT_RULES, RoutingRules
from router.statuses import FulfilmentStatus, OrderStatus
from router.timers import Deadlines
from services import sweeps

SECRET_WORDS = ("secret", "token", "password", "key")
EXCEPTION_LIMIT = 100
REPORT_NAMES = ("orders-by-day", "orders-by-month", "by-channel", "by-region", "top-skus", "payment-to-shipment")


@blp.route("/stock", methods=["GET"])
def stock_page():
    sku = (request.args.get("sku") or "").strip() or None
    warehouse = (request.args.get("warehouse") or "").strip() or None
    only_low = request.args.get("low") == "1"
    rows = []
    for r in stock.levels(sku, warehouse, limit=2000):
        r["low"] = alerts.is_low(r)
        if r["low"] or not only_low:
            rows.append(plain(r))
    return render_template("stock.html", rows=rows, alerts=alerts.open_alerts(100), sku=sku or "",
                           warehouse=warehouse or "", only_low=only_low)


@blp.route("/stock/adjust", methods=["POST"])
def stock_adjust():
    require(auth.Role.OPERATOR)
    form = request.form
    try:
        quantity = int(form.get("quantity", ""))
    except ValueError:
        quantity = -1  # the API names the field
    body = {"sku": form.get("sku", ""), "warehouse_id": form.get("warehouse_id", ""), "kind": form.get("kind", ""),
            "quantity": quantity, "reason": form.get("reason", "")}
    answer = api_client.call("POST", "/v1/stock/adjustments", json=body)
    if answer.ok:  # the alert also fires from the API once wired in; checking twice is harmless
        sweeps.check_low_stock(body["sku"], body["warehouse_id"])
    _flash_answer(answer, f"{body['sku']}@{body['warehouse_id']}")
    return redirect(url_for("console.stock_page", sku=body["sku"]))


@blp.route("/exceptions", methods=["GET"])
def exceptions():
    failed = _orders_where({"fulfilments.status": FulfilmentStatus.DISPATCH_FAILED.value})
    # what the router flagged (carrier exceptions, stalls it timed, reused tracking numbers): the
    # same orders as GET /v1/orders?flag=exception, each open flag with the commands that fit it
    flagged_docs, _ = queries.list_orders({"flag": EXCEPTION_FLAG}, limit=EXCEPTION_LIMIT)
    held, _ = queries.list_orders({"status": OrderStatus.ON_HOLD.value}, limit=EXCEPTION_LIMIT)
    return render_template("exceptions.html", letters=plain(dead_letters.pending(EXCEPTION_LIMIT)),
                           failed=[plain(d) for d in failed], flagged=plain([_flagged(d) for d in flagged_docs]),
                           held=plain(held), FulfilmentStatus=FulfilmentStatus)


def _flagged(doc: dict) -> dict:
    """An order's open exception flags, each with its fulfilment and the commands that fit it:
    reship (its parcel is in a carrier exception), refund (paid: a refund-only case), resolve."""
    allowed = lifecycle.allowed_commands(order_state(doc))
    by_id = {f["id"]: f for f in doc.get("fulfilments", [])}
    rows = []
    for flag in open_flags(doc.get("exceptions")):
        f = by_id.get(flag.get("fulfilment_id") or "")
        rows.append({**flag, "fulfilment": f,
                     "reship": OrderCommand.RESHIP in allowed and f is not None and f["status"] == FulfilmentStatus.EXCEPTION})
    return {"order": doc, "flags": rows, "refund": "after_sales.refund_only" in allowed}


def _orders_where(filter_: dict) -> list[dict]:
    return [d for d in (orders.load(i) for i in orders.ids_in_state(filter_, EXCEPTION_LIMIT)) if d]


@blp.route("/dead-letters/<message_id>/replay", methods=["POST"])
def replay_letter(message_id: str):
    require(auth.Role.OPERATOR)
    _flash_answer(api_client.call("POST", f"/v1/dead-letters/{message_id}/replay"), message_id)
    return redirect(url_for("console.exceptions"))


@blp.route("/dead-letters/replay-all", methods=["POST"])
def replay_all_letters():
    require(auth.Role.ADMIN)
    _flash_answer(api_client.call("POST", "/v1/dead-letters/replay-all"), labels.text("replay_all", lang()))
    return redirect(url_for("console.exceptions"))


@blp.route("/reports", methods=["GET"])
def reports_page():
    args = {k: v for k, v in request.args.items() if k in ("from", "to", "currency") and v}
    errors = ReportQuerySchema().validate(args)
    loaded = ReportQuerySchema().load({} if errors else args)
    rng = report_range(loaded)
    figures = {"days": reports.orders_by_period(rng, "day"), "months": reports.orders_by_period(rng, "month"),
               "channels": reports.by_channel(rng), "regions": reports.by_region(rng),
               "skus": reports.top_skus(rng, 10), "ship": reports.payment_to_shipment(rng)}
    return render_template("reports.html", charts=_charts(figures, rng), figures=figures, errors=errors,
                           start=rng.start.date().isoformat(),
                           end=(rng.end - timedelta(microseconds=1)).date().isoformat(),
                           currency=rng.currency or "", currencies=reports.currencies(rng), names=REPORT_NAMES)


def _charts(f: dict, rng: reports.ReportRange) -> list:
    """(title, svg) pairs: counts across currencies may add up, money never does."""
    t = lambda key: labels.text(key, lang())  # noqa: E731
    out = []
    for rows, key_orders, key_revenue in ((f["days"], "orders_per_day", "revenue_per_day"),
                                          (f["months"], "orders_per_month", "revenue_per_month")):
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["period"]] = counts.get(r["period"], 0) + r["orders"]
        out.append(charts.columns(list(counts.items()), t(key_orders)))
        for i, cur in enumerate(sorted({r["currency"] for r in rows})):
            out.append(charts.columns([(r["period"], r["revenue"]) for r in rows if r["currency"] == cur],
                                      f"{t(key_revenue)} ({cur})", color=i + 1))
    per_channel: dict[str, int] = {}
    for r in f["channels"]:
        per_channel[r["channel"]] = per_channel.get(r["channel"], 0) + r["orders"]
    out.append(charts.bars(sorted(per_channel.items(), key=lambda x: -x[1]), t("by_channel"), 2))
    per_region: dict[str, int] = {}
    for r in f["regions"]:
        name = f"{r['country']}-{r['region']}" if r["region"] else r["country"]
        per_region[name] = per_region.get(name, 0) + r["orders"]
    out.append(charts.bars(sorted(per_region.items(), key=lambda x: -x[1])[:15], t("by_region"), 3))
    out.append(charts.bars([(r["sku"], r["units"]) for r in f["skus"]["best"]], t("best_sellers"), 1,
                           f" ({t('units')})"))
    out.append(charts.bars([(r["sku"], r["units"]) for r in f["skus"]["slow"]], t("slow_sellers"), 5,
                           f" ({t('units')})"))
    out.append(charts.bars([(r["channel"], r["average_hours"]) for r in f["ship"]["by_channel"]],
                           t("pay_to_ship"), 4, f" ({t('average_hours')})"))
    return out


@blp.route("/reports/<name>.csv", methods=["GET"])
def report_csv(name: str):
    if name not in REPORT_NAMES:
        abort(404)
    query = {k: v for k, v in request.args.items() if k in ("from", "to", "currency") and v}
    qs = urlencode({**query, "format": "csv"})
    response = api_client.call("GET", f"/v1/reports/{name}?{qs}", raw=True)
    return response.get_data(), response.status_code, {
        "Content-Type": response.headers.get("Content-Type", "text/plain"),
        "Content-Disposition": response.headers.get("Content-Disposition", "")}


@blp.route("/settings", methods=["GET"])
def settings_page(rules_text: str | None = None, rules_error: tuple[str, str] | None = None):
    current = reference.load_setting("routing_rules")
    if rules_text is None:
        rules_text = json.dumps(current or DEFAULT_RULES.to_dict(), indent=2, ensure_ascii=False, default=str)
    endpoints = {kind: [_masked(d) for d in reference.all_of(kind)] for kind in ("channels", "warehouses", "carriers")}
    defaults = {k: str(v) for k, v in vars(Deadlines()).items()}
    return render_template("settings.html", rules_text=rules_text, rules_error=rules_error, rules_stored=current,
                           deadlines=defaults, overrides=json.dumps(reference.load_setting("timeouts") or {},
                                                                    indent=2, ensure_ascii=False, default=str),
                           endpoints=endpoints)


@blp.route("/settings/routing-rules", methods=["POST"])
def save_routing_rules():
    """Validate here for a precise message, then store through the API (which versions them)."""
    require(auth.Role.ADMIN)
    text = request.form.get("rules", "")
    try:
        raw = json.loads(text)
        RoutingRules.from_dict(raw)
    except json.JSONDecodeError as exc:
        return settings_page(text, ("json", str(exc))), 422
    except InvalidRoutingRules as exc:
        return settings_page(text, (exc.field, exc.message)), 422
    answer = api_client.call("PUT", "/v1/routing/rules", json=raw)
    if not answer.ok:
        error = (answer.body or {}).get("error") or {}
        return settings_page(text, (error.get("code", "error"), answer.message)), answer.status
    flash(labels.text("saved", lang()), "ok")
    return redirect(url_for("console.settings_page"))


def _masked(doc: dict) -> dict:
    """A reference record with every secret replaced by whether it is set."""
    return {k: ("•••••• (set)" if v else "(not set)") if any(w in k.lower() for w in SECRET_WORDS) else v
            for k, v in plain(doc).items()}
