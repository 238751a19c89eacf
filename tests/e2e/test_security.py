"""Locked doors: nothing but /healthz without a token; roles checked on every command and query;
parties scoped to their own fulfilments and parcels; personal data never in clear in the logs."""
from __future__ import annotations

import json
import logging

import httpx
import pytest

from tests.helpers import eventually, get_order, http

pytestmark = pytest.mark.e2e
VIEWER = {"Authorization": "Bearer test-viewer"}
OPERATOR = {"Authorization": "Bearer test-operator"}
ADMIN = {"Authorization": "Bearer test-admin"}


def test_nothing_but_healthz_and_the_openapi_document_answers_without_a_token(api, seeded):
    assert httpx.get(f"{api}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{api}/openapi.json", timeout=5).json()["openapi"].startswith("3.")  # the API's shape only
    for method, path in [("GET", "/v1/orders"), ("GET", "/v1/orders/O1"), ("GET", "/v1/stock"),
                         ("GET", "/metrics"), ("GET", "/v1/dead-letters"),
                         ("GET", "/v1/reports/by-channel"), ("POST", "/v1/orders/O1/cancel"),
                         ("POST", "/v1/payments"), ("POST", "/v1/channels/manual/orders"),
                         ("POST", "/v1/wms/WH-EAST/events"), ("POST", "/v1/carriers/fastship/events"),
                         ("PUT", "/v1/routing/rules"), ("POST", "/v1/stock/adjustments")]:
        response = httpx.request(method, f"{api}{path}", json={}, timeout=5)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "unauthorized"


def test_with_no_operator_token_configured_nobody_gets_into_the_console_or_the_api(api, db, settings_with):
    # Given a router started with ROUTER_API_TOKENS empty (docker compose used to default to that)
    settings_with(api_tokens="")
    with httpx.Client(base_url=api, timeout=5) as browser:
        # When someone opens the console, they are sent to the login page, which says how to get in
        first = browser.get("/console/orders")
        assert first.status_code == 302 and "/console/login" in first.headers["location"]
        login = browser.get("/console/login")
        assert login.status_code == 401 and "ROUTER_API_TOKENS" in login.text
        # and no token, however made up, signs anyone in
        attempt = browser.post("/console/login", data={"token": "anything", "next": "/console/orders"})
        assert attempt.status_code == 401 and "router_console" not in attempt.headers.get("set-cookie", "")
        assert browser.get("/console/orders").status_code == 302
    # Then the API refuses every call but /healthz, and says what is missing
    for headers in ({}, {"Authorization": "Bearer anything"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        refused = httpx.get(f"{api}/v1/orders", headers=headers, timeout=5)
        assert refused.status_code == 401 and "none is configured" in refused.json()["error"]["message"]
    assert httpx.get(f"{api}/healthz", timeout=5).status_code == 200


def test_docker_compose_refuses_to_start_without_operator_tokens():
    import yaml
    from pathlib import Path

    compose = yaml.safe_load((Path(__file__).parents[2] / "docker-compose.yml").read_text())
    value = compose["x-router"]["environment"]["ROUTER_API_TOKENS"]
    assert value.startswith("${ROUTER_API_TOKENS:?"), value  # compose's "required, else fail with this message"


def test_each_role_may_do_its_own_and_no_more(api, worker, seeded):
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]),
                         headers=OPERATOR).json()["order_id"]
    eventually(lambda: get_order(api, order_id)["routing"]["state"] == "routed", what="routed")
    adjustment = {"sku": "SKU-A", "warehouse_id": "WH-EAST", "kind": "inbound", "quantity": 1, "reason": "found"}
    # viewers read, and only read
    assert httpx.get(f"{api}/v1/orders/{order_id}", headers=VIEWER, timeout=5).status_code == 200
    assert httpx.post(f"{api}/v1/orders/{order_id}/cancel", headers=VIEWER, timeout=5).status_code == 403
    assert httpx.post(f"{api}/v1/stock/adjustments", json=adjustment, headers=VIEWER, timeout=5).status_code == 403
    assert httpx.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)]), headers=VIEWER,
                      timeout=5).status_code == 403
    # operators run commands, but do not edit rules or replay every dead letter
    assert httpx.post(f"{api}/v1/stock/adjustments", json=adjustment, headers=OPERATOR, timeout=5).status_code == 201
    rules = {"version": "sec-1", "strategies": [{"name": "default"}]}
    assert httpx.put(f"{api}/v1/routing/rules", json=rules, headers=OPERATOR, timeout=5).status_code == 403
    assert httpx.post(f"{api}/v1/dead-letters/replay-all", headers=OPERATOR, timeout=5).status_code == 403
    assert httpx.post(f"{api}/v1/orders/{order_id}/cancel", headers=OPERATOR, timeout=5).status_code == 200
    # admins do all of it; every operator command is on the timeline with who did it
    assert httpx.put(f"{api}/v1/routing/rules", json=rules, headers=ADMIN, timeout=5).status_code == 200
    actors = [e["actor"] for e in get_order(api, order_id)["timeline"]]
    assert "operator:op" in actors


def test_a_party_reports_only_on_its_own_fulfilments_and_parcels(api, worker, seeded):
    order_id = http.post(f"{api}/v1/channels/manual/orders", json=seeded.order([("SKU-A", 1)], payment_method="cod"),
                         ).json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and o["fulfilments"][0]["status"] == "dispatched" and o, what="dispatched")
    f = order["fulfilments"][0]
    assert f["warehouse_id"] == "WH-EAST"
    event = {"event_id": "x1", "fulfilment_id": f["id"], "type": "picked", "occurred_at": "2026-11-24T10:00:00+00:00"}
    other = httpx.post(f"{api}/v1/wms/WH-WEST/events", json=event, timeout=5,
                       headers={"Authorization": f"Bearer {seeded.TOKENS['WH-WEST']}"})
    assert other.status_code == 404  # WH-WEST may not speak for WH-EAST's fulfilment
    forged = httpx.post(f"{api}/v1/wms/WH-EAST/events", json=event, timeout=5,
                        headers={"Authorization": f"Bearer {seeded.TOKENS['WH-WEST']}"})
    assert forged.status_code == 401
    scan = {"tracking_number": f["tracking_number"], "status": "delivered", "occurred_at": "2026-11-24T10:00:00+00:00"}
    wrong_carrier = "slowpost" if f["carrier_id"] == "fastship" else "fastship"
    refused = httpx.post(f"{api}/v1/carriers/{wrong_carrier}/events", json=scan, timeout=5,
                         headers={"Authorization": f"Bearer {seeded.TOKENS[wrong_carrier]}"})
    assert refused.status_code == 404
    assert get_order(api, order_id)["fulfilments"][0]["status"] == "dispatched"  # nothing changed


def test_logs_carry_no_personal_data_in_clear(caplog):
    from adapters.logging import mask

    event = {"order_id": "O1", "customer": {"name": "王芳", "email": "wang@example.cn", "phone": "+86 138 0013 8000"},
             "shipping_address": {"name": "王芳", "lines": ["1 Main St"], "country": "CN"},
             "note": "call 13800138000 or mail wang@example.cn", "token": "s3cret"}
    masked = json.dumps(mask(event), ensure_ascii=False)
    for secret in ("王芳", "wang@example.cn", "13800138000", "1 Main St", "s3cret", "0013"):
        assert secret not in masked
    assert '"order_id": "O1"' in masked
    from adapters.logging import configure_logging

    configure_logging()
    import structlog

    with caplog.at_level(logging.INFO):
        structlog.get_logger("test").info("order_received", customer={"email": "wang@example.cn"},
                                          phone="13800138000")
    assert "wang@example.cn" not in caplog.text and "13800138000" not in caplog.text
