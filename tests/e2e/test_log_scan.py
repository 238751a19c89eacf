"""No log carries personal data or a secret in clear (issue 18, item 4).

One run drives every log path with a known customer (name, e-mail, phone, street) and known
tokens, then greps every log for them: the API as production runs it (gunicorn with the access
log ``orderrouter serve`` configures, ``adapters.wsgi``), a Dramatiq worker process
(``adapters.worker``) routing, dispatching and tracking the order through simulated warehouses
and carriers, the console (sign-in, a search for the e-mail address), query strings carrying the
e-mail and a token, a wrong bearer token, the in-process werkzeug server the tests use, and an
unhandled exception whose message holds all of it (Flask's error log, structlog's exception
rendering and a warning with a traceback), formatted through the same ``configure_logging``.
"""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

import config
from actors.queues import delete_queues
from adapters.cli import gunicorn_argv
from adapters.seed import load_world
from adapters.simulators.carrier import CarrierSimulator
from adapters.simulators.wms import WmsSimulator
from tests import factories
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
NAME, EMAIL, PHONE, STREET = "Wilhelmina Quaxley", "wilhelmina.quaxley@example.org", "+44 7700 900123", "17 Quaxley Lane"
OPERATOR_TOKEN, ADMIN_TOKEN, PAYMENTS_TOKEN = "op-Zq81kPx3", "adm-Wr5t2Lm9", "pay-Hy7d4Nc6"
SECRETS = (NAME, "Quaxley", EMAIL, "wilhelmina.quaxley", PHONE, "7700 900123", "7700900123", STREET,
           OPERATOR_TOKEN, ADMIN_TOKEN, PAYMENTS_TOKEN, factories.TOKENS["WH-EAST"], factories.TOKENS["fastship"])

# An unhandled error in a request, as the API logs it (adapters/http/errors.py), after the process
# configured its logs as every entry point does: a real database error quoting the document it
# could not write (pymongo's BulkWriteError prints it whole); then the same through structlog, and
# a warning with a traceback whose message holds an e-mail address, a phone number and tokens.
EXCEPTION_SCRIPT = f"""
import os
import pymongo
import structlog
from adapters.logging import configure_logging
configure_logging()
from adapters.http.app import create_app
app = create_app(wire=True)
document = {{"customer": {{"name": "{NAME}", "email": "{EMAIL}", "phone": "{PHONE}"}},
            "shipping_address": {{"name": "{NAME}", "phone": "{PHONE}", "lines": ["{STREET}"]}},
            "token": "{OPERATOR_TOKEN}"}}

@app.route("/boom")
def boom():
    client = pymongo.MongoClient(os.environ["ROUTER_MONGO_URL"])
    client[os.environ["ROUTER_MONGO_DB"]]["log_scan"].insert_many([{{"_id": 1, **document}}, {{"_id": 1, **document}}])

assert app.test_client().get("/boom").status_code == 500
log = structlog.get_logger("scan")
try:
    boom()
except pymongo.errors.BulkWriteError:
    log.exception("failed", customer=document["customer"], note="call {PHONE}")
try:
    raise ConnectionError("mail {EMAIL} or call {PHONE}; Authorization: Bearer {OPERATOR_TOKEN}; "
                          "GET /v1/orders?token={ADMIN_TOKEN}&sign={PAYMENTS_TOKEN}")
except ConnectionError:
    log.warning("publish_failed", exc_info=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(argv: list[str], env: dict, out: Path) -> subprocess.Popen:
    log = out.open("wb")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_no_log_carries_personal_data_or_tokens_in_clear(db, mongo_url, broker, api, tmp_path, caplog):
    settings = config.get_settings()
    port, prefix = _free_port(), f"logscan{uuid.uuid4().hex[:8]}"
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ROUTER_MONGO_URL": mongo_url, "ROUTER_MONGO_DB": db.name, "ROUTER_QUEUE_PREFIX": prefix,
           "ROUTER_AMQP_URL": settings.amqp_url, "ROUTER_HTTP_ADDR": f"127.0.0.1:{port}", "ROUTER_PUBLIC_URL": base,
           "ROUTER_API_TOKENS": f"op:operator:{OPERATOR_TOKEN},admin:admin:{ADMIN_TOKEN}",
           "ROUTER_PAYMENTS_TOKEN": PAYMENTS_TOKEN, "ROUTER_LOG_LEVEL": "DEBUG", "PYTHONPATH": str(ROOT)}
    wms = WmsSimulator(callback_url=base, tokens=factories.TOKENS, auto_progress=True, step_delay=0.05).start()
    carrier = CarrierSimulator(callback_url=base, tokens=factories.TOKENS, auto_progress=True, step_delay=0.05).start()
    load_world(factories.world(wms.url, carrier.url))
    logs = {"api": tmp_path / "api.log", "worker": tmp_path / "worker.log", "exception": tmp_path / "exception.log"}
    processes = [
        _start(gunicorn_argv(f"127.0.0.1:{port}", 4), {**env, "ROUTER_LOG_JSON": "1"}, logs["api"]),
        _start([sys.executable, "-m", "dramatiq", "adapters.worker", "--processes", "1", "--threads", "2"], env,
               logs["worker"]),
    ]
    operator, admin = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            eventually(lambda: _up(client), timeout=60, what="the API under gunicorn")
            # An order from a known customer, paid, routed, dispatched, shipped and delivered
            order = factories.order([("SKU-A", 1)], paid=True)
            order["customer"].update(name=NAME, email=EMAIL, phone=PHONE)
            order["shipping_address"].update(name=NAME, phone=PHONE, lines=[STREET])
            accepted = client.post("/v1/channels/manual/orders", json=order, headers=operator)
            assert accepted.status_code == 202, accepted.text
            order_id = accepted.json()["order_id"]
            eventually(lambda: client.get(f"/v1/orders/{order_id}", headers=admin).json()["shipment_status"]
                       == "delivered", timeout=90, what="the order delivered")
            # Query strings carrying the e-mail address and tokens; a wrong bearer token
            client.get("/v1/orders", params={"customer": EMAIL, "token": ADMIN_TOKEN}, headers=admin)
            client.get("/v1/orders", params={"access_token": OPERATOR_TOKEN})
            client.get("/v1/orders", headers={"Authorization": f"Bearer {PAYMENTS_TOKEN}x"})
            client.post("/v1/payments", json={"order_id": order_id, "transaction_id": "t-1", "type": "paid",
                                              "amount": "20.00", "currency": "USD"},
                        headers={"Authorization": f"Bearer {PAYMENTS_TOKEN}"})
            # The console: sign in, search for the customer, sign out
            login = client.get("/console/login", params={"next": f"/console/orders?q={EMAIL}"})
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
            assert client.post("/console/login", data={"token": OPERATOR_TOKEN, "csrf": csrf}).status_code == 302
            assert client.get("/console/orders", params={"q": EMAIL}).status_code == 200
            assert client.get("/console/orders", params={"customer": PHONE}).status_code == 200
            page = client.get(f"/console/orders/{order_id}")
            assert page.status_code == 200 and NAME in page.text  # the operator sees it; the logs must not
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            client.post("/console/logout", data={"csrf": csrf})
        # The tests' own server (werkzeug) logs requests too
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            httpx.get(f"{api}/v1/orders", params={"customer": EMAIL, "token": ADMIN_TOKEN}, timeout=5)
            httpx.get(f"{api}/console/orders", params={"q": EMAIL, "phone": PHONE}, timeout=5)
        # An unhandled exception, formatted after masking
        script = subprocess.run([sys.executable, "-c", EXCEPTION_SCRIPT], cwd=ROOT, env=env, capture_output=True,
                                timeout=60)
        logs["exception"].write_bytes(script.stdout + script.stderr)
        assert script.returncode == 0, logs["exception"].read_text()
    finally:
        for process in processes:
            _stop(process)
        wms.stop()
        carrier.stop()
        delete_queues(prefix, settings.amqp_url)
    texts = {name: path.read_text(errors="replace") for name, path in logs.items()}
    texts["werkzeug"] = "\n".join(r.getMessage() for r in caplog.records if r.name == "werkzeug")
    # Every log path was driven (a scan of empty logs would prove nothing)
    assert '"GET /console/orders HTTP/1.1" 200' in texts["api"], texts["api"][-3000:]
    assert '"POST /v1/channels/manual/orders HTTP/1.1" 202' in texts["api"]
    assert order_id in texts["worker"], texts["worker"][-3000:]
    assert "unhandled error" in texts["exception"] and "BulkWriteError" in texts["exception"]
    assert "publish_failed" in texts["exception"] and "Traceback" in texts["exception"]
    assert "GET /console/orders" in texts["werkzeug"]
    # and none of them holds a personal detail or a token in clear
    found = {(name, secret) for name, text in texts.items() for secret in SECRETS if secret in text}
    assert not found, found


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False
