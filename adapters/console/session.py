"""Sign in, sign out, and the language switch."""
from __future__ import annotations

from flask import redirect, render_template, request, session, url_for

from adapters.console import labels
from adapters.console.blueprint import blp, lang, operator_for, safe_next
from adapters.http import auth


@blp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        token = request.form.get("token", "").strip()
        operator = operator_for(token)
        if operator is not None and token:
            session.clear()
            session["token"] = token
            session["lang"] = request.form.get("lang") or lang()
            return redirect(safe_next(request.form.get("next")))
        error = labels.text("bad_token", lang())
    if not auth.operator_tokens():
        error = labels.text("no_tokens", lang())
    return render_template("login.html", error=error, next=request.args.get("next", "")), 401 if error else 200


@blp.route("/logout", methods=["POST"])
def logout():
    chosen = session.get("lang")
    session.clear()
    if chosen:
        session["lang"] = chosen
    return redirect(url_for("console.login"))


@blp.route("/lang/<code>", methods=["GET"])
def language(code: str):
    if code in labels.LANGUAGES:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


@blp.route("/", methods=["GET"])
def home():
    return redirect(url_for("console.orders_page"))
