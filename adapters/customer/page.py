"""The customer's page under ``/customer``: their orders and what they may do, in English or
Chinese, server-rendered, with no script at all.

The customer arrives by a link their shop (or one of the router's notices) gives them,
``/customer/?token=<customer token or order link>``: the token is checked, kept in a cookie of
its own (``router_customer``: HttpOnly, SameSite=Lax so the link from an e-mail works, path
``/customer``, ending when the token does) and the browser is sent on to a URL without it. Every
page then calls the JSON API (adapters/http/customer.py) in-process with that token as the bearer,
so the API's scoping, state rules and rate limits are the only ones. Every form carries a CSRF
token: the HMAC of the customer's token under their channel's secret. Every response carries the
console's security headers (a Content-Security-Policy without inline script, frame denial,
nosniff, no referrer) and ``Cache-Control: no-store``.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timezone

from flask import Response, current_app, redirect, render_template, request, url_for
from flask_smorest import Blueprint

from adapters.console import labels
from adapters.console.blueprint import SECURITY_HEADERS
from adapters.http import customer_auth
from adapters.http.errors import ApiError

COOKIE = "router_customer"
LANG_COOKIE = "router_lang"
PATH = "/customer"
PAPER_POLICY = "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
_SAFE_NEXT = re.compile(r"^/customer(?:[/?][\x21-\x7e]*)?$")
_ID = re.compile(r"^[\w\-:/#~.@]{1,120}$")
ADDRESS_FIELDS = ("name", "phone", "country", "region", "city", "district", "postcode")
CASE_TYPES = ("refund_only", "return_refund", "exchange")


class CustomerBlueprint(Blueprint):
    """HTML, not API: kept out of the OpenAPI document."""

    def register_views_in_doc(self, *args, **kwargs) -> None:
        return None


blp = CustomerBlueprint("customer_page", __name__, url_prefix=PATH, description="Customer page (HTML)",
                        template_folder="templates", static_folder="static", static_url_path="/static")


def lang() -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in labels.LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(labels.LANGUAGES)) or labels.DEFAULT_LANGUAGE


def _t(key: str) -> str:
    return labels.text(f"customer.{key}", lang())


def _status(kind: str, value) -> str:
    return labels.status_label(kind, value, lang())


@blp.context_processor
def _context() -> dict:
    return {"t": _t, "status": _status, "lang": lang(), "languages": labels.LANGUAGES}


@blp.after_request
def _headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def csrf_for(token: str, channel: str) -> str:
    secret = customer_auth.channel_secret(channel) or ""
    digest = hmac.new(secret.encode(), b"customer-csrf\x00" + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _message(key: str, status: int) -> Response:
    return Response(render_template("customer/message.html", message=key), status=status, mimetype="text/html")


def _signed_in():
    """``(token, claims)`` from the cookie, or a page saying why not."""
    token = request.cookies.get(COOKIE)
    try:
        return token, customer_auth.verify(token)
    except ApiError as exc:
        key = "sign_in" if not token else ("expired" if exc.code == "token_expired" else "bad_link")
        page = _message(key, 401)
        if token:
            page.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Lax", secure=request.is_secure)
        return None, page


def _api(method: str, path: str, token: str, json: dict | None = None):
    """Call the customer API in-process as this customer: ``(status, body)``."""
    with current_app.test_client() as client:
        response = client.open(path, method=method, json=json, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json(silent=True), response


def _failed(status: int) -> Response:
    return _message({401: "bad_link", 404: "not_found", 429: "busy"}.get(status, "unavailable"),
                    status if status in (401, 404, 429) else 503)


@blp.route("/", methods=["GET"])
def home():
    token = request.args.get("token")
    if token is not None:  # arriving by the shop's link: keep the token, drop it from the address
        try:
            claims = customer_auth.verify(token)
        except ApiError as exc:
            return _message("expired" if exc.code == "token_expired" else "bad_link", 401)
        target = url_for("customer_page.order_page", order_id=claims.order_id) if claims.order_id \
            else url_for("customer_page.home")
        response = redirect(target)
        left = max(1, claims.exp - int(datetime.now(timezone.utc).timestamp()))
        response.set_cookie(COOKIE, token, path=PATH, max_age=left, httponly=True, samesite="Lax",
                            secure=request.is_secure)
        return response
    token, claims = _signed_in()
    if token is None:
        return claims
    cursor = request.args.get("cursor") or ""
    query = f"?limit=50&cursor={cursor}" if re.fullmatch(r"[A-Za-z0-9_=-]{1,200}", cursor) else "?limit=50"
    status, body, _ = _api("GET", f"/v1/customer/orders{query}", token)
    if status != 200:
        return _failed(status)
    return render_template("customer/orders.html", orders=body["orders"], next_cursor=body.get("next_cursor"),
                           csrf=csrf_for(token, claims.channel))


@blp.route("/orders/<order_id>", methods=["GET"])
def order_page(order_id: str):
    token, claims = _signed_in()
    if token is None:
        return claims
    if not _ID.match(order_id):
        return _message("not_found", 404)
    status, body, _ = _api("GET", f"/v1/customer/orders/{order_id}", token)
    if status != 200:
        return _failed(status)
    result = request.args.get("result")
    return render_template("customer/order.html", order=body, csrf=csrf_for(token, claims.channel),
                           result=result if result in ("done", "refused", "invalid", "busy") else None,
                           case_types=[c for c in CASE_TYPES if f"after_sales.{c}" in body["allowed_commands"]],
                           address_fields=ADDRESS_FIELDS)


def _body(action: str) -> dict | None:
    form = request.form
    if action == "shipping-address":
        address = {k: form.get(k, "").strip() for k in ADDRESS_FIELDS}
        address["lines"] = [line for line in (form.get("street", "").strip(),) if line]
        return {"address": address}
    if action == "after-sales":
        return {"type": form.get("type", ""), "reason": form.get("reason", "").strip(),
                "amount": form.get("amount", "").strip() or "0"}
    return None


@blp.route("/orders/<order_id>/<any(cancel, 'confirm-receipt', 'shipping-address', 'after-sales'):action>",
           methods=["POST"])
def act(order_id: str, action: str):
    token, claims = _signed_in()
    if token is None:
        return claims
    if not hmac.compare_digest(request.form.get("csrf", ""), csrf_for(token, claims.channel)):
        return _message("form_expired", 400)
    if not _ID.match(order_id):
        return _message("not_found", 404)
    method = "PATCH" if action == "shipping-address" else "POST"
    status, _, _ = _api(method, f"/v1/customer/orders/{order_id}/{action}", token, _body(action))
    if status in (401, 404, 503):
        return _failed(status)
    result = "done" if status < 300 else {409: "refused", 429: "busy"}.get(status, "invalid")
    return redirect(url_for("customer_page.order_page", order_id=order_id, result=result), code=303)


@blp.route("/orders/<order_id>/papers/<number>", methods=["GET"])
def paper(order_id: str, number: str):
    token, claims = _signed_in()
    if token is None:
        return claims
    if not (_ID.match(order_id) and _ID.match(number)):
        return _message("not_found", 404)
    status, _, response = _api("GET", f"/v1/customer/orders/{order_id}/papers/{number}", token)
    if status != 200:
        return _failed(status)
    page = Response(response.get_data(), mimetype="text/html")
    page.headers["Content-Security-Policy"] = PAPER_POLICY  # the printable page styles itself inline
    return page


@blp.route("/lang/<code>", methods=["GET"])
def language(code: str):
    target = request.args.get("next") or ""
    response = redirect(target if _SAFE_NEXT.match(target) and "//" not in target and "\\" not in target
                        else url_for("customer_page.home"))
    if code in labels.LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, path=PATH, max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response


@blp.route("/sign-out", methods=["POST"])
def sign_out():
    token, claims = _signed_in()
    if token is not None and not hmac.compare_digest(request.form.get("csrf", ""), csrf_for(token, claims.channel)):
        return _message("form_expired", 400)
    response = _message("sign_in", 200)
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="Lax", secure=request.is_secure)
    return response
