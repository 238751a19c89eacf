"""Sign in, sign out, the language switch, and the admin's list of console sessions."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import flash, redirect, render_template, request, url_for

from adapters.console import api_client, labels, server_session
from adapters.console.blueprint import LANG_COOKIE, blp, csrf_ok, lang, operator_for, require, safe_next
from adapters.http import auth
from documents import sessions


@blp.route("/login", methods=["GET", "POST"])
def login():
    error, status = None, 200
    if request.method == "POST":
        token = request.form.get("token", "").strip()
        operator = operator_for(token)
        if not csrf_ok():
            error, status = labels.text("csrf", lang()), 400
        elif operator is not None:
            server_session.start(operator.name, operator.role.name.lower(), token)
            return redirect(safe_next(request.form.get("next")))
        else:
            error, status = labels.text("bad_token", lang()), 401
    if not auth.operator_tokens():
        error, status = labels.text("no_tokens", lang()), 401
    next_page = request.values.get("next", "")
    return render_template("login.html", error=error,
                           next=safe_next(next_page) if next_page else ""), status


@blp.route("/logout", methods=["POST"])
def logout():
    server_session.end()
    return redirect(url_for("console.login"))


@blp.route("/lang/<code>", methods=["GET"])
def language(code: str):
    response = redirect(safe_next(request.args.get("next")))
    if code in labels.LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, path="/console", max_age=365 * 86400, httponly=True, samesite="Lax",
                            secure=request.is_secure)
    return response


@blp.route("/", methods=["GET"])
def home():
    return redirect(url_for("console.orders_page"))


@blp.route("/sessions", methods=["GET"])
def sessions_page():
    """Console sessions now open (admins only): who, since when, last used, until when."""
    require(auth.Role.ADMIN)
    rows = sessions.live(datetime.now(timezone.utc))
    return render_template("sessions.html", rows=rows, current=server_session.key())


@blp.route("/sessions/<session_id>/revoke", methods=["POST"])
def revoke_session(session_id: str):
    require(auth.Role.ADMIN)
    answer = api_client.call("DELETE", f"/v1/sessions/{session_id}")
    flash(f"{session_id[:12]}: ✓" if answer.ok else f"{session_id[:12]}: {answer.message}", "ok" if answer.ok else "error")
    if session_id == server_session.key():  # revoked its own session: signed out
        return redirect(url_for("console.login"))
    return redirect(url_for("console.sessions_page"))

