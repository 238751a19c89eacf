"""Console: staff enter phone and manual orders (issue 19, item 4), and the risk rules page.

The order form posts a canonical order through the JSON API in-process (api_client) on the
``manual`` channel, so it is validated by the same schema (adapters/schemas.CanonicalOrderSchema)
and refused with the same errors as any client's push; the form shows them beside what was typed.
A SKU search (``/console/skus/search``: JSON for static/intake.js, or the page itself with ``q``
when script is off) gives each SKU's price and available stock. The risk page shows the rules in
force and stores changes through ``PUT /v1/risk/rules`` (versioned there).
"""
from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone

from flask import flash, jsonify, redirect, render_template, request, url_for

from adapters.console import api_client, labels
from adapters.console.blueprint import blp, lang, require
from adapters.http import auth
from documents import reference, stock
from router.risk import BLACKLIST_KINDS
from router.statuses import PaymentMethod, ShippingMethod

CHANNEL = "manual"
LINE_ROWS = 5
SEARCH_LIMIT = 20


# -- SKU search -------------------------------------------------------------------------------------

def search_skus(q: str, limit: int = SEARCH_LIMIT) -> list[dict]:
    """SKUs whose code or name contains ``q`` (case folded), with list price and the units
    available across warehouses."""
    q = q.strip().casefold()[:100]
    if not q:
        return []
    found = sorted((s for s in reference.load_network().skus.values()
                    if q in s.sku.casefold() or q in s.name.casefold()), key=lambda s: s.sku)[:limit]
    available = stock.available_by_sku([s.sku for s in found])
    return [{"sku": s.sku, "name": s.name, "merchant_id": s.merchant_id, "price": f"{s.price:.2f}",
             "available": available.get(s.sku, 0)} for s in found]


@blp.route("/skus/search", methods=["GET"])
def sku_search():
    require(auth.Role.OPERATOR)
    return jsonify({"skus": search_skus(request.args.get("q", ""))})


# -- the order form -------------------------------------------------------------------------------

def _blank_form() -> dict:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return {"channel_order_id": f"PHONE-{stamp}-{secrets.token_hex(3)}", "currency": "USD", "country": "",
            "payment_method": PaymentMethod.ONLINE.value, "shipping_method": ShippingMethod.STANDARD.value}


@blp.route("/orders/new", methods=["GET"])
def new_order_page(form: dict | None = None, errors: dict | None = None, message: str = ""):
    require(auth.Role.OPERATOR)
    q = (request.args.get("q") or "").strip()
    return render_template("order_new.html", form=form or _blank_form(), errors=errors or {}, message=message,
                           rows=range(LINE_ROWS), q=q, results=search_skus(q) if q else [],
                           payment_methods=[m.value for m in PaymentMethod],
                           shipping_methods=[m.value for m in ShippingMethod])


def _money_or_raw(text: str):
    return text.strip()  # the schema reads money as a decimal string and names what is wrong


def _int_or_raw(text: str):
    try:
        return int(text.strip())
    except ValueError:
        return text  # not a number: the schema says "Not a valid integer." under its field


def order_body(form) -> dict:
    """The canonical order a filled-in form stands for. SKUs known to the catalogue get their
    merchant and, when no price was typed, their list price; nothing else is decided here."""
    codes = [form.get(f"sku_{i}", "").strip() for i in range(LINE_ROWS)]
    catalogue = reference.load_network().skus
    lines = []
    for i, code in enumerate(codes):
        if not code:
            continue
        known = catalogue.get(code)
        price = form.get(f"price_{i}", "").strip() or (f"{known.price:.2f}" if known else "")
        line = {"sku": code, "quantity": _int_or_raw(form.get(f"qty_{i}", "1") or "1"),
                "unit_price": _money_or_raw(price), "name": known.name if known else ""}
        if known:
            line["merchant_id"] = known.merchant_id
        if form.get(f"discount_{i}", "").strip():
            line["discount"] = _money_or_raw(form.get(f"discount_{i}", ""))
        lines.append(line)
    street = [x for x in (form.get("line1", "").strip(), form.get("line2", "").strip()) if x]
    body = {
        "channel_order_id": form.get("channel_order_id", "").strip(),
        "currency": form.get("currency", "").strip().upper(),
        "customer": {"id": form.get("customer_id", "").strip(), "name": form.get("customer_name", "").strip(),
                     "phone": form.get("customer_phone", "").strip(), "email": form.get("customer_email", "").strip()},
        "shipping_address": {"name": form.get("address_name", "").strip() or form.get("customer_name", "").strip(),
                             "phone": form.get("address_phone", "").strip() or form.get("customer_phone", "").strip(),
                             "country": form.get("country", "").strip().upper(), "region": form.get("region", "").strip(),
                             "city": form.get("city", "").strip(), "district": form.get("district", "").strip(),
                             "postcode": form.get("postcode", "").strip(), "lines": street},
        "lines": lines,
        "payment": {"method": form.get("payment_method", PaymentMethod.ONLINE.value),
                    "status": "paid" if form.get("paid") else "unpaid"},
        "shipping_method": form.get("shipping_method", ShippingMethod.STANDARD.value),
        "placed_at": datetime.now(timezone.utc).isoformat(),
        "notes": form.get("notes", "").strip(),
    }
    if form.get("discount", "").strip():
        body["discounts"] = [{"code": form.get("discount_code", "").strip() or "phone",
                              "amount": _money_or_raw(form.get("discount", ""))}]
    return body


@blp.route("/orders/new", methods=["POST"])
def new_order_submit():
    require(auth.Role.OPERATOR)
    form = {k: v for k, v in request.form.items() if k != "csrf"}
    answer = api_client.call("POST", f"/v1/channels/{CHANNEL}/orders", json=order_body(request.form))
    if answer.ok:
        order_id = (answer.body or {}).get("order_id", "")
        flash(f"{order_id}: ✓", "ok")
        return redirect(url_for("console.order_page", order_id=order_id))
    error = (answer.body or {}).get("error") or {}
    return new_order_page(form, _flat(error.get("details") or {}), error.get("message") or answer.message), \
        answer.status


def _flat(details, prefix: str = "") -> dict[str, str]:
    """The API's error details (nested by field, as marshmallow gives them) as dotted paths."""
    out: dict[str, str] = {}
    if isinstance(details, dict):
        for k, v in details.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(details, list) and details and all(isinstance(x, str) for x in details):
        out[prefix] = " ".join(details)
    elif isinstance(details, list):
        for i, v in enumerate(details):
            out.update(_flat(v, f"{prefix}.{i}"))
    else:
        out[prefix] = str(details)
    return out


# -- risk rules -----------------------------------------------------------------------------------

@blp.route("/risk", methods=["GET"])
def risk_page(text: str | None = None, error: str = ""):
    require(auth.Role.OPERATOR)
    answer = api_client.call("GET", "/v1/risk/rules")
    body = answer.body or {}
    rules = body.get("rules") or {}
    if text is None:
        text = json.dumps(rules, indent=2, ensure_ascii=False)
    return render_template("risk.html", rules=rules, builtin=body.get("builtin", True), text=text, error=error,
                           history=body.get("history") or [], kinds=BLACKLIST_KINDS)


def _next_version(current: str) -> str:
    return f"console-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}"


def _put(rules: dict):
    answer = api_client.call("PUT", "/v1/risk/rules", json=rules)
    if answer.ok:
        flash(f"{labels.text('risk.title', lang())} {(answer.body or {}).get('version')}: ✓", "ok")
        return redirect(url_for("console.risk_page"))
    return risk_page(json.dumps(rules, indent=2, ensure_ascii=False), answer.message), answer.status


@blp.route("/risk/rules", methods=["POST"])
def risk_save():
    require(auth.Role.ADMIN)
    text = request.form.get("rules", "")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return risk_page(text, f"json: {exc}"), 422
    if not isinstance(raw, dict):
        return risk_page(text, "json: must be an object"), 422
    current = (api_client.call("GET", "/v1/risk/rules").body or {}).get("rules") or {}
    if raw.get("version") == current.get("version"):
        raw["version"] = _next_version(current.get("version", ""))
    return _put(raw)


@blp.route("/risk/blacklist", methods=["POST"])
def risk_blacklist_add():
    """One entry added to a blacklist: the rules in force plus it, as a new version (the API
    stamps who added it and when)."""
    require(auth.Role.ADMIN)
    kind = request.form.get("kind", "")
    current = (api_client.call("GET", "/v1/risk/rules").body or {}).get("rules") or {}
    rules = {**current, "version": _next_version(current.get("version", ""))}
    blacklist = {k: list(v) for k, v in (rules.get("blacklist") or {}).items()}
    entry = {"value": request.form.get("value", ""), "reason": request.form.get("reason", "")}
    if kind == "addresses" and request.form.get("postcode", "").strip():
        entry["postcode"] = request.form.get("postcode", "").strip()
    blacklist.setdefault(kind, []).append(entry)
    rules["blacklist"] = blacklist
    return _put(rules)


@blp.route("/risk/blacklist/<kind>/<int:index>/delete", methods=["POST"])
def risk_blacklist_remove(kind: str, index: int):
    require(auth.Role.ADMIN)
    current = (api_client.call("GET", "/v1/risk/rules").body or {}).get("rules") or {}
    rules = {**current, "version": _next_version(current.get("version", ""))}
    blacklist = {k: list(v) for k, v in (rules.get("blacklist") or {}).items()}
    if kind in blacklist and 0 <= index < len(blacklist[kind]):
        blacklist[kind].pop(index)
    rules["blacklist"] = blacklist
    return _put(rules)
