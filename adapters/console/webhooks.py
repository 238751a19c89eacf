"""Console page for outbound webhooks (admins): subscriptions (add, remove; the secret is shown
once, when made) and the delivery log with replay. Every change goes through the JSON API
(adapters/http/webhooks.py) as the signed-in operator."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for

from adapters.console import api_client
from adapters.console.blueprint import blp, lang, require
from adapters.console.orders import _flash_answer
from adapters.http import auth
from router.webhooks import TOPICS

WORDS = {  # this page's words (en, zh)
    "webhooks": ("Webhooks", "Webhook 推送"), "subscriptions": ("Subscriptions", "订阅"),
    "deliveries": ("Delivery log", "推送记录"), "url": ("URL", "地址"), "topics": ("Topics", "事件"),
    "subscribe": ("Subscribe", "添加订阅"), "remove": ("Remove", "删除"), "replay": ("Replay", "重新推送"),
    "secret_once": ("Signing secret (shown this once):", "签名密钥（仅显示一次）："),
    "status": ("Status", "状态"), "attempts": ("Attempts", "尝试次数"), "error": ("Last error", "最近错误"),
    "filter": ("Filter", "筛选"), "none": ("Nothing here.", "暂无记录。"),
}


def w(key: str) -> str:
    en, zh = WORDS.get(key, (key, key))
    return zh if lang() == "zh" else en


@blp.route("/webhooks", methods=["GET"])
def webhooks_page():
    require(auth.Role.ADMIN)
    subs = api_client.call("GET", "/v1/webhooks/subscriptions")
    query = {k: (request.args.get(k) or "").strip()[:120] for k in ("subscription_id", "order_id", "status")}
    wanted = {k: v for k, v in query.items() if v and v.isprintable()}
    log = api_client.call("GET", "/v1/webhooks/deliveries" + (f"?{urlencode(wanted)}" if wanted else ""))
    return render_template("webhooks.html", w=w, topics=TOPICS, query=query,
                           subscriptions=(subs.body or {}).get("subscriptions", []) if subs.ok else [],
                           deliveries=(log.body or {}).get("deliveries", []) if log.ok else [])


@blp.route("/webhooks/subscriptions", methods=["POST"])
def webhooks_subscribe():
    require(auth.Role.ADMIN)
    body = {"url": request.form.get("url", ""), "topics": request.form.getlist("topics")}
    answer = api_client.call("POST", "/v1/webhooks/subscriptions", json=body)
    _flash_answer(answer, body["url"][:200])
    if answer.ok:
        flash(f"{w('secret_once')} {(answer.body or {}).get('secret')}", "ok")
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
