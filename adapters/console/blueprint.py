"""The console's blueprint: pages under ``/console``, sign-in by API token, language, CSRF,
security headers.

The operator signs in with an API token (``ROUTER_API_TOKENS``) once: the token goes no further
than that login request. The session lives server-side (adapters/console/server_session.py,
documents/sessions.py) and the cookie holds only its random id (HttpOnly, SameSite=Strict, path
``/console``). Every button calls the JSON API in-process as the operator the session names
(adapters/console/api_client.py), so roles are enforced by the API itself. With no tokens
configured nobody signs in: the login page says how to configure one (the API refuses every call
but ``/healthz`` alike). Every form carries a CSRF token, the login form too; every console
response carries a Content-Security-Policy without inline script, frame denial, nosniff and a
referrer policy.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from flask import abort, g, redirect, request, url_for
from flask_smorest import Blueprint

from adapters.console import labels, server_session
from adapters.http import auth
from config import get_settings

_PROCESS_SECRET = secrets.token_hex(32)
OPEN_ENDPOINTS = {"console.login", "console.static", "console.language"}
LANG_COOKIE = "router_lang"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_SAFE_NEXT = re.compile(r"^/console(?:[/?][\x21-\x7e]*)?$")  # printable ASCII, no space or control


class ConsoleBlueprint(Blueprint):
    """A blueprint kept out of the OpenAPI document: the console is HTML, not API."""

    def register_views_in_doc(self, *args, **kwargs) -> None:
        return None


blp = ConsoleBlueprint("console", __name__, url_prefix="/console", description="Operations console (HTML)",
                       template_folder="templates", static_folder="static", static_url_path="/static")


@blp.record_once
def _configure(state) -> None:
    app = state.app
    app.secret_key = get_settings().secret_key or _PROCESS_SECRET  # signs the login form's CSRF nonce
    app.session_interface = server_session.ServerSessions()


@dataclass(frozen=True)
class Operator:
    name: str
    role: auth.Role

    def may(self, role: auth.Role) -> bool:
        return self.role >= role


def operator_for(token: str | None) -> Operator | None:
    """The operator a token belongs to, or None. No token configured means nobody, never an
    anonymous admin."""
    found = next((who for known, who in auth.operator_tokens().items()
                  if token and hmac.compare_digest(known.encode(), token.encode())), None)
    return Operator(found[0], found[1]) if found else None


def operator_by_hash(token_sha256: str | None) -> Operator | None:
    """The operator whose configured token has this SHA-256 (a session's), or None."""
    if not token_sha256:
        return None
    for known, (name, role) in auth.operator_tokens().items():
        if hmac.compare_digest(hashlib.sha256(known.encode()).hexdigest(), token_sha256):
            return Operator(name, role)
    return None


def lang() -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in labels.LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(list(labels.LANGUAGES))
    return best or labels.DEFAULT_LANGUAGE


def csrf_token() -> str:
    return server_session.csrf_token()


def csrf_ok() -> bool:
    return server_session.csrf_ok(request.form.get("csrf"))


@blp.before_request
def _guard():
    if request.endpoint == "console.static":
        return None
    server_session.load()
    g.operator = operator_by_hash(server_session.token_sha256())
    if g.operator is None and server_session.key():  # its token is no longer configured
        server_session.end()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.operator is None:
        return redirect(url_for("console.login", next=safe_next(request.full_path)))
    if request.method == "POST" and not csrf_ok():
        abort(400, description=labels.text("csrf", lang()))
    return None


@blp.after_request
def _headers(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "console.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@blp.app_template_global()
def t(key: str) -> str:
    return labels.text(key, lang())


@blp.app_template_global()
def status(kind: str, value) -> str:
    return labels.status_label(kind, value, lang())


@blp.context_processor
def _context() -> dict:
    return {"lang": lang(), "languages": labels.LANGUAGES, "operator": g.get("operator"), "csrf": csrf_token,
            "Role": auth.Role, "after_sales_tab": labels.AFTER_SALES_TAB[1 if lang() == "zh" else 0]}


def require(role: auth.Role) -> Operator:
    """The signed-in operator if they hold ``role``; 403 otherwise."""
    operator = g.get("operator")
    if operator is None or not operator.may(role):
        abort(403, description=labels.text("admin_only", lang()))
    return operator


def safe_next(target: str | None) -> str:
    """Only redirect within the console (no open redirects, no header injection): a path under
    ``/console`` of printable ASCII; anything else, a CR or LF included, goes to the order list."""
    if target and _SAFE_NEXT.match(target) and "//" not in target and "\\" not in target:
        return target
    return url_for("console.orders_page")
