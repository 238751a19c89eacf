"""The console's blueprint: pages under ``/console``, sign-in by API token, language, CSRF.

The operator signs in with an API token (``ROUTER_API_TOKENS``); the token is kept in Flask's
signed session cookie (HttpOnly, SameSite=Strict) and every button calls the JSON API with it,
so roles are enforced by the API itself. With no tokens configured nobody signs in: the login
page says how to configure one (the API refuses every call but ``/healthz`` alike). The session is signed with ``ROUTER_SECRET_KEY``, or with a
random key made at process start (sessions then end with the process, and do not carry across
several server processes: set the variable in production).
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from flask import abort, g, redirect, request, session, url_for
from flask_smorest import Blueprint

from adapters.console import labels
from adapters.http import auth
from config import get_settings

_PROCESS_SECRET = secrets.token_hex(32)
OPEN_ENDPOINTS = {"console.login", "console.static", "console.language"}


class ConsoleBlueprint(Blueprint):
    """A blueprint kept out of the OpenAPI document: the console is HTML, not API."""

    def register_views_in_doc(self, *args, **kwargs) -> None:
        return None


blp = ConsoleBlueprint("console", __name__, url_prefix="/console", description="Operations console (HTML)",
                       template_folder="templates", static_folder="static", static_url_path="/static")


@blp.record_once
def _configure(state) -> None:
    app = state.app
    app.secret_key = get_settings().secret_key or _PROCESS_SECRET
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="router_console")


@dataclass(frozen=True)
class Operator:
    name: str
    role: auth.Role
    token: str | None

    def may(self, role: auth.Role) -> bool:
        return self.role >= role


def operator_for(token: str | None) -> Operator | None:
    """The operator a token belongs to, or None. No token configured means nobody, never an
    anonymous admin."""
    found = auth.operator_tokens().get(token or "")
    return Operator(found[0], found[1], token) if found else None


def lang() -> str:
    chosen = session.get("lang")
    if chosen in labels.LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(list(labels.LANGUAGES))
    return best or labels.DEFAULT_LANGUAGE


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


@blp.before_request
def _guard():
    g.operator = operator_for(session.get("token"))
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if g.operator is None:
        session.pop("token", None)
        return redirect(url_for("console.login", next=request.full_path))
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not hmac.compare_digest(sent.encode(), csrf_token().encode()):
            abort(400, description=labels.text("csrf", lang()))
    return None


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
    """Only redirect within the console (no open redirects)."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return url_for("console.orders_page")


