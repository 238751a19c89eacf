"""Console page for outbound webhooks (admins): subscriptions (add, remove; the secret is shown
once, when made) and the delivery log with replay. Every change goes through the JSON API
(adapters/http/webhooks.py) as the signed-in operator."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for

from adapters.console import api_client, labels
from adapters.console.blueprint import blp, lang, require
from adapters.console.orders import _flash_answer
from adapters.http import auth
from router.webhooks import TOPICS

@blp.route("/webhooks", methods=["GET"])
def webhooks_page():
    require(auth.Role.ADMIN)
    subs = api_client.call("GET", "/v1/webhooks/subscriptions")
    query = {k: (request.args.get(k) or "").strip()[:120] for k in ("subscription_id", "order_id", "status")}
    wanted = {k: v for k, v in query.items() if v and v.isprintable()}
    log = api_client.call("GET", "/v1/webhooks/deliveries" + (f"?{urlencode(wanted)}" if wanted else ""))
    return render_template("webhooks.html", topics=TOPICS, query=query,
                           subscriptions=(subs.body or {}).get("subscriptions", []) if subs.ok else [],
                           deliveries=(log.body or {}).get("deliveries", []) if log.ok else [])


@blp.route("/webhooks/subscriptions", methods=["POST"])
def webhooks_subscribe():
    require(auth.Role.ADMIN)
    body = {"url": request.form.get("url", ""), "topics": request.form.getlist("topics")}
    answer = api_client.call("POST", "/v1/webhooks/subscriptions", json=body)
    _flash_answer(answer, body["url"][:200])
    if answer.ok:
        flash(f"{labels.text('webhooks.secret_once', lang())} {(answer.body or {}).get('secret')}", "ok")
    return redirect(url_for("console.webhooks_page"))


@blp.route("/webhooks/subscriptions/<subscription_id>/delete", methods=["POST"])
def webhooks_unsubscribe(subscription_id: str):
    require(auth.Role.ADMIN)
    _flash_answer(api_client.call("DELETE", f"/v1/webhooks/subscriptions/{subscription_id}"), subscription_id)
    return redirect(url_for("console.webhooks_page"))


@blp.route("/webhooks/deliveries/<delivery_id>/replay", methods=["POST"])
def webhooks_replay(delivery_id: str):
    require(auth.Role.ADMIN)
    _flash_answer(api_client.call("POST", f"/v1/webhooks/deliveries/{delivery_id}/replay"), delivery_id)
    return redirect(url_for("console.webhooks_page"))
