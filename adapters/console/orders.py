"""Console pages for orders: the list (tabs, filters, search, pages, bulk actions, CSV) and one
order (everything about it, with the commands its state allows as buttons)."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

from flask import Response, abort, flash, redirect, render_template, request, url_for

from adapters.console import api_client, labels
from adapters.console.blueprint import blp, lang, require, safe_next
from adapters.console.labels import status_label
from adapters.http import auth, csv_cells
from adapters.http.views import plain, with_history_in_event_order
from documents import orders, queries, reports
from documents.converters import order_state
from router import lifecycle
from router.dates import query_time_problem
from router.order_state import OrderCommand
from router.statuses import FulfilmentStatus, OrderStatus

TEXT_FILTERS = ("channel", "merchant", "warehouse", "customer", "sku")
_ID = re.compile(r"^[\w\-:/#~.@]{1,120}$")
PAGE_SIZE = 50
EXPORT_LIMIT = 10_000
# command -> (method, API path template, needs a body)
ORDER_COMMANDS = {
    OrderCommand.CANCEL: ("POST", "/v1/orders/{id}/cancel"),
    OrderCommand.CONFIRM_RECEIPT: ("POST", "/v1/orders/{id}/confirm-receipt"),
    OrderCommand.APPROVE_HOLD: ("POST", "/v1/orders/{id}/approve-hold"),
    OrderCommand.REJECT_HOLD: ("POST", "/v1/orders/{id}/reject-hold"),
}


def parse_filters(args) -> tuple[dict, list[str]]:
    """Query-string values as the filter dict of ``documents.queries``; bad values are dropped
    and named in the returned problems."""
    filters: dict = {}
    problems = []
    for name in TEXT_FILTERS:
        value = (args.get(name) or "").strip()
        if value:
            (filters.__setitem__(name, value) if _ID.match(value) else problems.append(name))
    tab = args.get("status", "")
    if tab in {s.value for s in OrderStatus}:
        filters["status"] = tab
    elif tab.startswith("after_sales:") and tab.split(":", 1)[1] in reports.OPEN_AFTER_SALES:
        filters["after_sales_status"] = tab.split(":", 1)[1]
    for name, key, shift in (("from", "placed_from", 0), ("to", "placed_to", 1)):
        value = (args.get(name) or "").strip()
        if value:
            try:
                day = datetime.strptime(value, "%Y-%m-%d").date() + timedelta(days=shift)
                moment = datetime.combine(day, time(0), tzinfo=timezone.utc)
            except (ValueError, OverflowError):  # 9999-12-31 has no next day
                problems.append(name)
                continue
            if query_time_problem(moment):  # the list's windows step back from it (router/dates.py)
                problems.append(name)
            else:
                filters[key] = moment
    for name in ("min_amount", "max_amount"):
        value = (args.get(name) or "").strip()
        if value:
            try:
                filters[name] = Decimal(value)
            except InvalidOperation:
                problems.append(name)
    return filters, problems


@blp.route("/orders", methods=["GET"])
def orders_page():
    search = (request.args.get("q") or "").strip()
    if search and _ID.match(search) and orders.load_summary(search):
        return redirect(url_for("console.order_page", order_id=search))
    filters, problems = parse_filters(request.args)
    if search:
        filters["channel_order_id"] = search if _ID.match(search) else "\x00"
    counts = queries.tab_counts(filters, reports.OPEN_AFTER_SALES)
    try:
        rows, next_cursor = queries.list_rows(filters, limit=PAGE_SIZE, cursor=request.args.get("cursor") or None)
    except queries.BadCursor:
        rows, next_cursor = queries.list_rows(filters, limit=PAGE_SIZE)
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template("orders.html", orders=rows, next_cursor=next_cursor, counts=counts.by_status,
                           total=sum(counts.by_status.values()), after_sales=counts.by_after_sales,
                           counts_as_of=counts.as_of, counts_ttl=queries.COUNTS_TTL_S, args=args, problems=problems,
                           statuses=list(OrderStatus), tab=request.args.get("status", ""))


@blp.route("/orders.csv", methods=["GET"])
def orders_csv():
    filters, _ = parse_filters(request.args)
    return _csv_response(_export_rows(filters), "orders.csv")


def _export_rows(filters: dict, ids: list[str] | None = None) -> list[list]:
    header = ["order_id", "channel", "channel_order_id", "placed_at", "status", "payment_status",
              "shipment_status", "currency", "payable", "customer", "warehouses"]
    rows = [header]
    if ids is not None:
        docs = [d for d in (orders.load(i) for i in ids) if d]
    else:
        docs, cursor = [], None
        while len(docs) < EXPORT_LIMIT:
            page, cursor = queries.list_rows(filters, limit=500, cursor=cursor)
            docs += page
            if cursor is None:
                break
    for d in docs:
        rows.append([d["_id"], d.get("channel"), d.get("channel_order_id"), plain(d.get("placed_at")),
                     d.get("status"), d.get("payment_status"), d.get("shipment_status"), d.get("currency"),
                     plain(_payable(d)) or "", (d.get("customer") or {}).get("id", ""),
                     " ".join(d.get("warehouse_ids") or [])])
    return rows


def _payable(order: dict):
    """What the order is to be paid: a list row's ``payable``, else the order's amounts."""
    return order.get("payable") if order.get("payable") is not None else (order.get("amounts") or {}).get("payable")


def _csv_response(rows: list[list], filename: str) -> Response:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(csv_cells.row(r) for r in rows)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blp.route("/orders/bulk", methods=["POST"])
def orders_bulk():
    ids = [i for i in request.form.getlist("ids") if _ID.match(i)]
    action = request.form.get("action", "")
    back = safe_next(request.form.get("back"))
    if not ids:
        flash(labels.text("none_selected", lang()), "error")
        return redirect(back)
    if action == "export":
        return _csv_response(_export_rows({}, ids), "orders-selected.csv")
    require(auth.Role.OPERATOR)
    done, refused = 0, []
    for order_id in ids:
        if action == "retry_dispatch":
            doc = orders.load(order_id) or {}
            failed = [f["id"] for f in doc.get("fulfilments", []) if f["status"] == FulfilmentStatus.DISPATCH_FAILED]
            answers = [api_client.call("POST", f"/v1/fulfilments/{fid}/retry-dispatch") for fid in failed]
            if not failed:
                refused.append(f"{order_id}: no failed dispatch")
        elif action in (OrderCommand.APPROVE_HOLD, OrderCommand.CANCEL):
            method, path = ORDER_COMMANDS[OrderCommand(action)]
            answers = [api_client.call(method, path.format(id=order_id))]
        else:
            abort(400)
        done += sum(a.ok for a in answers)
        refused += [f"{order_id}: {a.message}" for a in answers if not a.ok]
    summary = f"{done} ✓" + (f" · {len(refused)} ✗ " + " | ".join(refused[:5]) if refused else "")
    flash(summary, "error" if refused else "ok")
    return redirect(back)


@blp.route("/orders/<order_id>", methods=["GET"])
def order_page(order_id: str):
    doc = orders.load(order_id)
    if doc is None:
        abort(404)
    state = order_state(doc)
    buttons = lifecycle.allowed_commands(state)
    decision = (doc.get("routing") or {}).get("decision") or {}
    return render_template("order.html", o=plain(with_history_in_event_order(doc)), buttons=buttons,
                           decision=decision,
                           decision_json=json.dumps(plain({k: v for k, v in decision.items() if k != "inputs"}),
                                                    indent=2, ensure_ascii=False),
                           FulfilmentStatus=FulfilmentStatus)


@blp.route("/orders/<order_id>/command/<command>", methods=["POST"])
def order_command(order_id: str, command: str):
    require(auth.Role.OPERATOR)
    if command in ORDER_COMMANDS:
        method, path = ORDER_COMMANDS[OrderCommand(command)]
        body = {"reason": request.form.get("reason", "")} if command == OrderCommand.REJECT_HOLD else None
        answer = api_client.call(method, path.format(id=order_id), json=body)
    elif command == OrderCommand.CHANGE_ADDRESS:
        address = {k: request.form.get(k, "").strip() for k in ("name", "phone", "country", "region", "city",
                                                                "postcode")}
        address["lines"] = [line for line in request.form.get("lines", "").splitlines() if line.strip()]
        answer = api_client.call("PATCH", f"/v1/orders/{order_id}/shipping-address",
                                 json={"address": {k: v for k, v in address.items() if v}})
    elif command.startswith("after_sales."):
        answer = api_client.call("POST", f"/v1/orders/{order_id}/after-sales",
                                 json={"type": command.split(".", 1)[1], "reason": request.form.get("reason", "")})
    elif command == OrderCommand.RESOLVE_EXCEPTION:
        fulfilment_id = request.form.get("fulfilment_id") or None
        answer = api_client.call("POST", f"/v1/orders/{order_id}/resolve-exception",
                                 json={"fulfilment_id": fulfilment_id} if fulfilment_id else {})
    elif command == OrderCommand.RESHIP:
        fulfilment_id = request.form.get("fulfilment_id") or _in_exception(order_id)
        answer = api_client.call("POST", f"/v1/orders/{order_id}/reship", json={"fulfilment_id": fulfilment_id or ""})
    else:
        abort(404)
    _flash_answer(answer, status_label("command", command, lang()))
    back = request.form.get("back")  # only a printable /console path (a CR/LF would be a 500)
    return redirect(safe_next(back) if back else url_for("console.order_page", order_id=order_id))


def _in_exception(order_id: str) -> str | None:
    """The first fulfilment of the order in a carrier exception (the order page's reship button)."""
    doc = orders.load(order_id, working=True) or {}
    return next((f["id"] for f in doc.get("fulfilments", []) if f["status"] == FulfilmentStatus.EXCEPTION), None)


@blp.route("/fulfilments/<fulfilment_id>/retry", methods=["POST"])
def retry_dispatch(fulfilment_id: str):
    require(auth.Role.OPERATOR)
    answer = api_client.call("POST", f"/v1/fulfilments/{fulfilment_id}/retry-dispatch")
    _flash_answer(answer, fulfilment_id)
    back = request.form.get("back")
    return redirect(safe_next(back) if back else url_for("console.exceptions"))


def _flash_answer(answer: api_client.ApiAnswer, what: str) -> None:
    if answer.ok:
        flash(f"{what}: ✓", "ok")
    else:
        flash(f"{what}: {answer.message}", "error")
