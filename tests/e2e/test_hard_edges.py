"""Hard edges (issue 18): console sessions held server-side, CSRF on every form, security headers,
CSV cells a spreadsheet will not run, safe redirects, 503 when the database is down, JSON only in
UTF-8, Bearer as RFC 6750 spells it, and per-caller rate limits. Real HTTP on loopback."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
import socket
import time

import httpx
import mongoengine
import pytest

from documents import connection, reference
from documents.sessions import ConsoleSession
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer test-admin"}
OPERATOR = {"Authorization": "Bearer test-operator"}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _csrf(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found, page.text[:500]
    return found.group(1)


def console_login(api: str, token: str = "test-operator") -> httpx.Client:
    """A browser-like client signed in to the console with ``token``."""
    browser = httpx.Client(base_url=api, timeout=10)
    login = browser.get("/console/login")
    signed_in = browser.post("/console/login", data={"token": token, "csrf": _csrf(login), "next": "/console/orders"})
    assert signed_in.status_code == 302 and signed_in.headers["location"] == "/console/orders", signed_in.text
    return browser


def _signed_in(browser: httpx.Client) -> bool:
    answer = browser.get("/console/orders")
    assert answer.status_code in (200, 302), answer.status_code
    return answer.status_code == 200


def test_the_console_cookie_holds_no_token_and_is_useless_after_logout(api, db):
    # Given an operator signed in to the console
    browser = console_login(api, "test-operator")
    cookie = browser.cookies.get("router_console")
    # Then the cookie is an opaque random id: no token in it, plainly or encoded
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie), cookie
    padded = cookie + "=" * (-len(cookie) % 4)
    assert b"test-operator" not in base64.urlsafe_b64decode(padded)
    for name, value in browser.cookies.items():
        assert "test-operator" not in value, name
    # and the stored session holds no token either (only its hash), nor the cookie's id
    stored = list(ConsoleSession._get_collection().find())
    assert len(stored) == 1 and stored[0]["operator"] == "op"
    assert "test-operator" not in json.dumps(stored, default=str) and cookie not in json.dumps(stored, default=str)
    assert _signed_in(browser)
    # A copy of the cookie works like the original while the session lives
    thief = httpx.Client(base_url=api, timeout=10, cookies={"router_console": cookie})
    assert _signed_in(thief)
    # When the operator signs out
    page = browser.get("/console/orders")
    out = browser.post("/console/logout", data={"csrf": _csrf(page)})
    assert out.status_code == 302 and "/console/login" in out.headers["location"]
    # Then the copied cookie is useless: the session is gone server-side
    assert not _signed_in(thief)
    assert ConsoleSession._get_collection().count_documents({}) == 0
    # and a made-up or tampered cookie signs nobody in
    assert not _signed_in(httpx.Client(base_url=api, timeout=10, cookies={"router_console": cookie[:-1] + "A"}))


def test_a_console_session_ends_when_idle_and_at_its_absolute_end(api, db, settings_with):
    # idle end: a session unused for its idle time is gone (the TTL index removes it; reads ignore it first)
    settings_with(console_idle_minutes=1 / 60, console_max_hours=12)
    idle = console_login(api, "test-operator")
    eventually(lambda: not _signed_in(idle), timeout=10, what="the idle session ended")
    # absolute end: even a session in use ends this long after sign-in
    settings_with(console_idle_minutes=30, console_max_hours=1 / 3600)
    busy = console_login(api, "test-operator")
    eventually(lambda: not _signed_in(busy), timeout=10, what="the session at its absolute end")
    assert busy.cookies.get("router_console") is None  # and the browser was told to drop the cookie


def test_an_admin_lists_and_revokes_console_sessions(api, db):
    operator = console_login(api, "test-operator")
    admin = console_login(api, "test-admin")
    # The API lists live sessions to admins only, never their tokens
    assert httpx.get(f"{api}/v1/sessions", headers=OPERATOR, timeout=5).status_code == 403
    listed = httpx.get(f"{api}/v1/sessions", headers=ADMIN, timeout=5)
    assert listed.status_code == 200
    rows = {r["operator"]: r for r in listed.json()["sessions"]}
    assert set(rows) == {"op", "admin"} and rows["op"]["role"] == "operator"
    assert "test-operator" not in listed.text and operator.cookies.get("router_console") not in listed.text
    # An admin revokes the operator's session through the API: the operator is signed out at once
    revoked = httpx.delete(f"{api}/v1/sessions/{rows['op']['id']}", headers=ADMIN, timeout=5)
    assert revoked.status_code == 204
    assert not _signed_in(operator)
    assert httpx.delete(f"{api}/v1/sessions/{rows['op']['id']}", headers=ADMIN, timeout=5).status_code == 404
    # and through the console's sessions page, as an admin signed in there
    operator = console_login(api, "test-operator")
    page = admin.get("/console/sessions")
    assert page.status_code == 200 and ">op<" in page.text
    op_id = next(r["id"] for r in httpx.get(f"{api}/v1/sessions", headers=ADMIN, timeout=5).json()["sessions"]
                 if r["operator"] == "op")
    done = admin.post(f"/console/sessions/{op_id}/revoke", data={"csrf": _csrf(page)})
    assert done.status_code == 302
    assert not _signed_in(operator) and _signed_in(admin)
    # an operator may not see the page
    assert console_login(api, "test-operator").get("/console/sessions").status_code == 403


def test_every_form_needs_its_csrf_token_the_login_form_too(api, db):
    stranger = httpx.Client(base_url=api, timeout=10)
    # Login without the token, or with one made for another browser, is refused and signs nobody in
    refused = stranger.post("/console/login", data={"token": "test-operator"})
    assert refused.status_code == 400 and "router_console" not in refused.headers.get("set-cookie", "")
    other = httpx.Client(base_url=api, timeout=10)
    forged = _csrf(other.get("/console/login"))
    stranger.get("/console/login")
    refused = stranger.post("/console/login", data={"token": "test-operator", "csrf": forged})
    assert refused.status_code == 400 and "router_console" not in refused.headers.get("set-cookie", "")
    # A signed-in operator's form posts are refused without the session's token
    browser = console_login(api, "test-operator")
    body = {"sku": "SKU-A", "warehouse_id": "WH-EAST", "kind": "inbound", "quantity": "1", "reason": "found"}
    assert browser.post("/console/stock/adjust", data=body).status_code == 400
    assert browser.post("/console/stock/adjust", data={**body, "csrf": forged}).status_code == 400
    assert browser.post("/console/logout", data={}).status_code == 400
    assert _signed_in(browser)
    token = _csrf(browser.get("/console/stock"))
    assert browser.post("/console/stock/adjust", data={**body, "csrf": token}).status_code == 302


def test_console_pages_carry_the_security_headers(api, db):
    browser = console_login(api, "test-admin")
    anonymous = httpx.Client(base_url=api, timeout=10)
    pages = [anonymous.get("/console/login"), anonymous.get("/console/static/console.js")]
    pages += [browser.get(p) for p in ("/console/orders", "/console/stock", "/console/exceptions", "/console/reports",
                                       "/console/settings", "/console/sessions")]
    for page in pages:
        assert page.status_code == 200, page.url
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        if page.headers["content-type"].startswith("text/html"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), page.url  # no inline script
            assert not re.search(r"\son[a-z]+\s*=", page.text), page.url  # no inline event handlers


def test_csv_cells_that_start_a_formula_come_out_neutralised(api, seeded, db):
    body = seeded.order([("SKU-A", 1)], channel_order_id="-2")
    body["shipping_address"]["region"] = "=1+1"
    body["customer"]["id"] = "@SUM(A1:A9)"
    accepted = httpx.post(f"{api}/v1/channels/manual/orders", json=body, headers=OPERATOR, timeout=5)
    assert accepted.status_code == 202, accepted.text
    report = httpx.get(f"{api}/v1/reports/by-region", params={"format": "csv"}, headers=ADMIN, timeout=5)
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert [r["region"] for r in rows] == ["'=1+1"]
    browser = console_login(api, "test-admin")
    download = browser.get("/console/reports/by-region.csv")
    assert download.status_code == 200 and "'=1+1" in download.text and ",=1+1" not in download.text
    exported = list(csv.DictReader(io.StringIO(browser.get("/console/orders.csv").text)))
    assert exported[0]["channel_order_id"] == "'-2" and exported[0]["customer"] == "'@SUM(A1:A9)"
    for line in list(csv.reader(io.StringIO(report.text))) + list(csv.reader(io.StringIO(download.text))):
        assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in line), line


def test_cr_lf_in_next_redirects_safely_to_the_default_page(api, db):
    anonymous = httpx.Client(base_url=api, timeout=10)
    for target in ("/console/orders\r\nSet-Cookie: evil=1", "/console/stock\nX: y", "https://evil.example/",
                   "//evil.example/console", "/console/orders\x00"):
        switched = anonymous.get("/console/lang/zh", params={"next": target})
        assert switched.status_code == 302, (target, switched.status_code)
        assert switched.headers["location"] == "/console/orders" and "evil" not in switched.headers.get("set-cookie", "")
        assert anonymous.get("/console/login", params={"next": target}).status_code == 200
    login = anonymous.get("/console/login")
    signed_in = anonymous.post("/console/login", data={"token": "test-operator", "csrf": _csrf(login),
                                                      "next": "/console/orders\r\nSet-Cookie: evil=1"})
    assert signed_in.status_code == 302 and signed_in.headers["location"] == "/console/orders"
    assert anonymous.get("/console/lang/en", params={"next": "/console/stock?sku=A"}).headers["location"] == \
        "/console/stock?sku=A"  # a plain console path is kept
    # the forms' "back" address alike
    csrf = _csrf(anonymous.get("/console/orders"))
    for path in ("/console/orders/O-none/command/cancel", "/console/orders/bulk", "/console/fulfilments/F-none/retry"):
        back = anonymous.post(path, data={"csrf": csrf, "back": "/console/exceptions\r\nSet-Cookie: evil=1"})
        assert back.status_code == 302 and back.headers["location"] == "/console/orders", (path, back.status_code)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_database_outage_answers_503_with_retry_after(api, seeded, db, mongo_url):
    order = seeded.order([("SKU-A", 1)])
    event = {"event_id": "e-1", "fulfilment_id": "F-1", "type": "picked", "occurred_at": "2026-11-24T10:00:00+00:00"}
    payment = {"order_id": "O1", "transaction_id": "t-1", "type": "paid", "amount": "10.00", "currency": "USD"}
    # Given the database cannot be reached (the API's client now points at a port nobody listens on)
    mongoengine.disconnect()
    mongoengine.connect(db=db.name, host=f"mongodb://127.0.0.1:{_closed_port()}/", serverSelectionTimeoutMS=300,
                        connectTimeoutMS=300, tz_aware=True, uuidRepresentation="standard")
    try:
        # When channels, the payment service and warehouses push, every one is told to retry later
        for path, body, headers in (
                ("/v1/channels/manual/orders", order, OPERATOR),
                ("/v1/payments", payment, {"Authorization": "Bearer test-payments"}),
                ("/v1/wms/WH-EAST/events", event, {"Authorization": f"Bearer {seeded.TOKENS['WH-EAST']}"}),
                ("/v1/carriers/fastship/events", {"tracking_number": "1Z", "status": "delivered",
                                                  "occurred_at": "2026-11-24T10:00:00+00:00"},
                 {"Authorization": f"Bearer {seeded.TOKENS['fastship']}"})):
            answer = httpx.post(f"{api}{path}", json=body, headers=headers, timeout=10)
            assert answer.status_code == 503, (path, answer.status_code, answer.text)
            assert answer.json()["error"]["code"] == "database_unavailable"
            assert int(answer.headers["retry-after"]) > 0
        assert httpx.get(f"{api}/v1/orders", headers=ADMIN, timeout=10).status_code == 503
    finally:
        connection.connect(mongo_url, db.name)
    # Then the sender's retry, once the database is back, is accepted
    assert httpx.post(f"{api}/v1/channels/manual/orders", json=order, headers=OPERATOR, timeout=10).status_code == 202


def test_json_bodies_must_say_application_json_in_utf8(api, seeded, db):
    body = seeded.order([("SKU-A", 1)])
    raw = json.dumps(body).encode()
    url = f"{api}/v1/channels/manual/orders"
    for headers, content in (({"Content-Type": "text/plain"}, raw), ({}, raw),
                             ({"Content-Type": "application/x-www-form-urlencoded"}, raw),
                             ({"Content-Type": "application/json; charset=utf-16"}, raw)):
        refused = httpx.post(url, content=content, headers={**OPERATOR, **headers}, timeout=5)
        assert refused.status_code == 415, (headers, refused.status_code, refused.text)
        assert refused.json()["error"]["code"] == "unsupported_media_type"
    for content in (json.dumps(body).encode("utf-16"), json.dumps(body).encode("utf-16-le"), b"\xef\xbb\xbf" + raw):
        refused = httpx.post(url, content=content, headers={**OPERATOR, "Content-Type": "application/json"}, timeout=5)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "malformed_json", content[:8]
    refused = httpx.patch(f"{api}/v1/orders/O1/shipping-address", content=b"address=x", timeout=5,
                          headers={**OPERATOR, "Content-Type": "text/plain"})
    assert refused.status_code == 415
    # a command without a body needs no type; JSON in UTF-8 is taken
    assert httpx.post(f"{api}/v1/orders/O-none/cancel", headers=OPERATOR, timeout=5).status_code == 404
    ok = httpx.post(url, content=raw, headers={**OPERATOR, "Content-Type": "application/json; charset=UTF-8"},
                    timeout=5)
    assert ok.status_code == 202, ok.text
    # booleans are booleans and integers integers
    for change in ({"b2b": 0}, {"b2b": "true"}, {"lines": [{**body["lines"][0], "quantity": True}]},
                   {"lines": [{**body["lines"][0], "quantity": 1.5}]},
                   {"payment": {"method": "invoice", "terms_days": 1.5}}, {"payment": {"terms_days": "30"}}):
        refused = httpx.post(url, json={**body, "channel_order_id": "strict-1", **change}, headers=OPERATOR, timeout=5)
        assert refused.status_code == 422, (change, refused.status_code, refused.text)


def test_bearer_is_taken_only_as_rfc_6750_spells_it(api, db):
    def status(header: str) -> int:
        return httpx.get(f"{api}/v1/orders", headers={"Authorization": header}, timeout=5).status_code

    assert status("Bearer test-operator") == 200
    assert status("bearer test-operator") == 200 and status("BEARER test-operator") == 200  # RFC 7235: any case
    assert status("Bearer  test-operator") == 200  # 1*SP
    for tricked in ("Bearer\ttest-operator", "Bearer test- operator", "Bearer test-operator;",
                    "Bearer 'test-operator'", "Bearer test-operator,", "Bearertest-operator", "Bearer",
                    "Bearer =test-operator", "Basic test-operator", "Bearer test-operator test-operator"):
        assert status(tricked) == 401, tricked


def test_the_rate_limit_answers_429_and_lets_the_channel_through_after_retry_after(api, seeded, db, settings_with):
    for channel in ("shop-a", "shop-b"):
        reference.upsert("channels", channel, {"format": "canonical", "token": f"tok-{channel}"})
    settings_with(rate_limit_per_second=0.5, rate_limit_burst=2)

    def push(channel: str) -> httpx.Response:
        return httpx.post(f"{api}/v1/channels/{channel}/orders", json=seeded.order([("SKU-A", 1)]), timeout=5,
                          headers={"Authorization": f"Bearer tok-{channel}"})

    # Given a channel that sends faster than its limit
    assert [push("shop-a").status_code for _ in range(2)] == [202, 202]
    limited = push("shop-a")
    # Then it is told to slow down, and for how long
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limited"
    wait = int(limited.headers["retry-after"])
    assert 1 <= wait <= 2
    # while another channel is not starved by it
    assert push("shop-b").status_code == 202
    # nor is a stranger able to spend the channel's allowance
    stranger = httpx.post(f"{api}/v1/channels/shop-a/orders", json={}, timeout=5,
                          headers={"Authorization": "Bearer not-the-token"})
    assert stranger.status_code == 401
    # and after Retry-After the channel gets through again
    time.sleep(wait)  # the protocol under test: the sender waits what it was told
    assert push("shop-a").status_code == 202
