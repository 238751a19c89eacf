"""Strict input at the door of the JSON API: a body sent to ``/v1/`` is JSON in UTF-8 and says so.

A POST, PUT, PATCH or DELETE with a body must carry ``Content-Type: application/json`` (a
``charset`` parameter, if any, ``utf-8``), and the body must be UTF-8 without a byte order mark:
anything else (text/plain, a form, no type at all, another charset) is 415, and declared JSON that
is not UTF-8 (UTF-16 say) is 400 like any malformed JSON, before any view reads it: a body is
never guessed at. A command without a body needs no type. The signed platform webhooks
(Shopify, WooCommerce, Taobao, Qimen) send application/json too. Every answer also says
``X-Content-Type-Options: nosniff``.
"""
from __future__ import annotations

import codecs

from flask import request

from adapters.http.errors import ApiError

JSON_API = "/v1/"
WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}
UTF8 = {"utf-8", "utf8"}


def check_json_body() -> None:
    if request.method not in WITH_BODY or not request.path.startswith(JSON_API):
        return
    body = request.get_data(cache=True)
    if not body:
        return
    if request.mimetype != "application/json":
        shown = request.mimetype or "none"
        raise ApiError(415, "unsupported_media_type", f"the body must be application/json (got {shown[:80]})")
    charset = request.mimetype_params.get("charset")
    if charset is not None and charset.lower() not in UTF8:
        raise ApiError(415, "unsupported_media_type", "JSON bodies are UTF-8 only")
    try:
        if body.startswith(codecs.BOM_UTF8) or b"\x00" in body:  # no JSON text in UTF-8 holds a raw NUL:
            raise UnicodeError("byte order mark or NUL")  # UTF-16 or UTF-32, which json.loads would guess
        body.decode("utf-8")
    except UnicodeError as exc:  # declared JSON that is not UTF-8 (UTF-16 too): malformed, as any bad JSON
        raise ApiError(400, "malformed_json", "the body is not UTF-8 (without a byte order mark)") from exc


def install(app) -> None:
    app.before_request(check_json_body)

    @app.after_request
    def _nosniff(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
