"""Warehouses and carriers that speak a platform's own format are let in by that platform's
signature alone, as the real platforms send them (no bearer token): a Qimen gateway's ``sign``
over the query string and body, a ShipHero HMAC, AfterShip, EasyPost and 17TRACK webhook
signatures. A wrong signature, a bearer token instead of a signature, a stale Qimen timestamp and
a party reporting on another's fulfilment or parcel are refused and change nothing; a redelivery
is a duplicate. An AfterShip event without checkpoints takes its webhook's ``ts`` and is listed
in the parcel's history where it happened, not where it arrived."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from adapters.seed import load_world
from adapters.simulators import tracking_push
from adapters.wms_formats import qimen
from router.statuses import WmsEventType
from tests import factories
from tests.helpers import eventually, get_order, http, order_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]

FIXTURES = Path(__file__).parent.parent / "fixtures"
JSON = {"Content-Type": "application/json"}
TOKENS, SECRETS = factories.TOKENS, factories.SECRETS


def _dispatched(api: str) -> tuple[str, dict]:
    """A paid order for one SKU-A, routed to WH-EAST and dispatched: (order id, its fulfilment)."""
    created = http.post(f"{api}/v1/channels/manual/orders", json=factories.order([("SKU-A", 1)], paid=True))
    assert created.status_code == 202, created.text
    order_id = created.json()["order_id"]
    order = eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                       and o["fulfilments"][0]["status"] == "dispatched" and o, what="dispatched")
    f = order["fulfilments"][0]
    assert f["warehouse_id"] == "WH-EAST"
    return order_id, f


def _fulfilment(api: str, order_id: str) -> dict:
    return get_order(api, order_id)["fulfilments"][0]


def _refused(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    if code:
        assert response.json()["error"]["code"] == code, response.text


# --- Qimen -----------------------------------------------------------------------------------

def _qimen_confirm(f: dict, out_biz_code: str = "OB-1") -> bytes:
    fixture = json.loads((FIXTURES / "wms" / "qimen_confirm_final.json").read_text(encoding="utf-8"))
    request = fixture.get("request", fixture)
    head = request["deliveryOrder"]
    head.update(deliveryOrderCode=f["id"], warehouseCode=f["warehouse_id"], outBizCode=out_biz_code,
                logisticsCode=f["carrier_id"], expressCode=f["tracking_number"])
    request.pop("packages", None)
    request["orderLines"] = {"orderLine": [{"orderLineNo": "1", "itemCode": "SKU-A", "actualQty": "1"}]}
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()


def _qimen_post(api: str, warehouse: str, raw: bytes, secret: str, at: datetime | None = None,
                customer: str | None = None, **headers) -> httpx.Response:
    params = qimen.request_params("deliveryorder.confirm", customer or warehouse, secret, raw,
                                  at or datetime.now(timezone.utc))
    return httpx.post(f"{api}/v1/wms/{warehouse}/events", params=params, content=raw, headers={**JSON, **headers},
                      timeout=5)


def test_qimen_callbacks_are_let_in_by_their_sign_alone(api, worker, wms, carrier):
    world = factories.speaks_qimen(factories.speaks_qimen(factories.world(wms.url, carrier.url), "WH-EAST"),
                                   "WH-WEST")
    load_world(world)
    order_id, f = _dispatched(api)

    # The simulated Qimen gateway reports progress signed, without a bearer token
    wms.progress(f["id"], steps=(WmsEventType.ACCEPTED,))
    eventually(lambda: _fulfilment(api, order_id)["status"] == "accepted", what="accepted")
    posted = [s for s in wms.callbacks.sent if "/v1/wms/" in s.url]
    assert posted and all("sign=" in s.url and "authorization" not in {k.lower() for k in s.headers}
                          for s in posted)

    raw = _qimen_confirm(f)
    secret = TOKENS["WH-EAST"]  # the Qimen app secret (one, both ways)
    # Refused, and nothing changes: a wrong sign, a bearer token instead of a sign, a sign made
    # eleven minutes ago (replayed), a body changed after signing, another warehouse's confirmation
    _refused(_qimen_post(api, "WH-EAST", raw, "not-the-app-secret"), 401, "bad_signature")
    _refused(httpx.post(f"{api}/v1/wms/WH-EAST/events", content=raw, timeout=5,
                        headers={**JSON, "Authorization": f"Bearer {TOKENS['WH-EAST']}"}), 401, "bad_signature")
    _refused(_qimen_post(api, "WH-EAST", raw, secret, at=datetime.now(timezone.utc) - timedelta(minutes=11)),
             401, "stale_request")
    _refused(_qimen_post(api, "WH-EAST", raw, secret, at=datetime.now(timezone.utc) + timedelta(minutes=11)),
             401, "stale_request")
    signed = qimen.request_params("deliveryorder.confirm", "WH-EAST", secret, raw, datetime.now(timezone.utc))
    _refused(httpx.post(f"{api}/v1/wms/WH-EAST/events", params=signed, content=raw.replace(b'"1"', b'"2"'),
                        headers=JSON, timeout=5), 401, "bad_signature")
    _refused(_qimen_post(api, "WH-WEST", raw, TOKENS["WH-WEST"]), 404, "not_found")  # WH-EAST's fulfilment
    assert _fulfilment(api, order_id)["status"] == "accepted"
    assert not any(t.get("raw_type") == "DELIVERED" for t in _fulfilment(api, order_id)["tracking"])

    # Signed with the app secret and fresh: accepted, with no bearer token
    first = _qimen_post(api, "WH-EAST", raw, secret)
    assert first.status_code == 202, first.text
    order_in(api, order_id, status="shipped")
    # The gateway's redelivery (signed anew, same outBizCode) is a duplicate
    again = _qimen_post(api, "WH-EAST", raw, secret, at=datetime.now(timezone.utc) - timedelta(minutes=4))
    assert again.status_code == 200 and again.json()["duplicate"] is True
    shipped = [t for t in _fulfilment(api, order_id)["tracking"] if t.get("event_id") == "OB-1"]
    assert len(shipped) == 1


def test_qimen_sign_methods_are_all_accepted(api, worker, wms, carrier):
    load_world(factories.speaks_qimen(factories.world(wms.url, carrier.url), "WH-EAST"))
    order_id, f = _dispatched(api)
    secret, raw = TOKENS["WH-EAST"], _qimen_confirm(f, "OB-HMAC")
    params = qimen.request_params("deliveryorder.confirm", "WH-EAST", secret, raw, datetime.now(timezone.utc),
                                  sign_method="hmac-sha256")
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign")  # as the Qimen SDK does
    assert params["sign"] == hmac.new(secret.encode(), text.encode() + raw, hashlib.sha256).hexdigest().upper()
    accepted = httpx.post(f"{api}/v1/wms/WH-EAST/events", params=params, content=raw, headers=JSON, timeout=5)
    assert accepted.status_code == 202, accepted.text
    order_in(api, order_id, status="shipped")


# --- ShipHero --------------------------------------------------------------------------------

def _shiphero_update(f: dict) -> bytes:
    body = json.loads((FIXTURES / "wms" / "shiphero_shipment_update.json").read_text(encoding="utf-8"))
    body["fulfillment"].update(order_number=f["id"], partner_order_id=f["id"], tracking_number=f["tracking_number"],
                               shipping_carrier=f["carrier_id"], shipment_id=990001,
                               line_items=[{"sku": "SKU-A", "quantity": 1, "partner_line_item_id": "1"}])
    return json.dumps(body).encode()


def _shiphero_signed(raw: bytes, secret: str) -> dict:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
    return {**JSON, "X-Shiphero-Hmac-Sha256": base64.b64encode(digest).decode()}


def test_shiphero_webhook_is_let_in_by_its_hmac_alone(api, worker, wms, carrier):
    world = factories.world(wms.url, carrier.url)
    load_world(world)
    order_id, f = _dispatched(api)  # pushed while WH-EAST still spoke the generic protocol
    for w in world["warehouses"]:  # ...then both moved to ShipHero (its GraphQL outbound: test_outbound_platforms)
        w["wms_format"] = "shiphero"
    load_world(world)

    raw = _shiphero_update(f)
    url = f"{api}/v1/wms/WH-EAST/events"
    _refused(httpx.post(url, content=raw, headers=_shiphero_signed(raw, "not-the-secret"), timeout=5),
             401, "bad_signature")
    _refused(httpx.post(url, content=raw, headers={**JSON, "Authorization": f"Bearer {TOKENS['WH-EAST']}"},
                        timeout=5), 401, "bad_signature")
    _refused(httpx.post(f"{api}/v1/wms/WH-WEST/events", content=raw, headers=_shiphero_signed(raw, SECRETS["WH-WEST"]),
                        timeout=5), 404, "not_found")
    assert _fulfilment(api, order_id)["status"] == "dispatched"

    number = wms.shiphero_shipment(f["id"])  # the simulated ShipHero, signed, no bearer token
    assert number == f["tracking_number"]
    order_in(api, order_id, status="shipped")
    sent = next(s for s in wms.callbacks.sent if s.body.get("webhook_type") == "Shipment Update")
    assert "authorization" not in {k.lower() for k in sent.headers}
    again = httpx.post(url, content=json.dumps(sent.body, separators=(",", ":")).encode(),
                       headers={**JSON, **sent.headers}, timeout=5)
    assert again.status_code == 200 and again.json()["duplicate"] is True


# --- Tracking platforms ----------------------------------------------------------------------

def _speaking(fmt: str, wms, carrier) -> dict:
    world = factories.world(wms.url, carrier.url)
    for c in world["carriers"]:
        c["tracking_format"] = fmt
        carrier.formats[c["id"]] = fmt
    load_world(world)
    return world


def _shipped(api: str, wms, carrier) -> tuple[str, dict]:
    order_id, f = _dispatched(api)
    wms.progress(f["id"])
    order_in(api, order_id, status="shipped")
    eventually(lambda: f["tracking_number"] in carrier.trackers, what="tracker registered")
    return order_id, _fulfilment(api, order_id)


@pytest.mark.parametrize("fmt", tracking_push.FORMATS)
def test_a_tracking_platform_is_let_in_by_its_signature_alone(fmt, api, worker, wms, carrier):
    _speaking(fmt, wms, carrier)
    order_id, f = _shipped(api, wms, carrier)
    number, own = f["tracking_number"], f["carrier_id"]
    other = "slowpost" if own == "fastship" else "fastship"
    raw = tracking_push.encode(tracking_push.webhook(fmt, number, "delivered", datetime.now(timezone.utc)))

    # Refused, and nothing changes: a wrong secret, a bearer token instead of a signature, the other
    # carrier (correctly signed with its own secret) reporting on this parcel
    def post(carrier_id: str, headers: dict) -> httpx.Response:
        return httpx.post(f"{api}/v1/carriers/{carrier_id}/events", content=raw, headers={**JSON, **headers},
                          timeout=5)

    _refused(post(own, tracking_push.signature_headers(fmt, raw, "not-the-secret")), 401, "bad_signature")
    _refused(post(own, {"Authorization": f"Bearer {TOKENS[own]}"}), 401, "bad_signature")
    _refused(post(other, tracking_push.signature_headers(fmt, raw, SECRETS[other])), 404, "not_found")
    assert _fulfilment(api, order_id)["status"] == "shipped"
    assert not any(t["event"] == "delivered" for t in _fulfilment(api, order_id)["tracking"])

    # The platform's own webhooks, signed its way and with no bearer token, take the parcel to delivered
    carrier.track(number)
    order_in(api, order_id, shipment_status="delivered")
    posted = [s for s in carrier.callbacks.sent if "/v1/carriers/" in s.url]
    assert len(posted) == 4
    assert all("authorization" not in {k.lower() for k in s.headers} and s.headers for s in posted)

    # A redelivery of the delivered webhook is a duplicate and delivers nothing twice
    last = posted[-1]
    again = httpx.post(last.url, content=tracking_push.encode(last.body), headers={**JSON, **last.headers}, timeout=5)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert [t["event"] for t in _fulfilment(api, order_id)["tracking"]].count("delivered") == 1


def test_a_signing_secret_from_the_environment_overrides_the_seed(api, worker, wms, carrier, settings_with):
    world = _speaking("easypost", wms, carrier)
    for c in world["carriers"]:
        c["secret"] = "stale-seeded-secret"
    load_world(world)
    order_id, f = _shipped(api, wms, carrier)
    own = f["carrier_id"]
    settings_with(party_secrets=f"carrier:{own}:{SECRETS[own]},warehouse:WH-EAST:x")
    carrier.track(f["tracking_number"])  # signed with SECRETS, which only the environment holds
    order_in(api, order_id, shipment_status="delivered")


def test_an_aftership_event_without_checkpoints_is_placed_by_its_ts(api, worker, wms, carrier):
    _speaking("aftership", wms, carrier)
    order_id, f = _shipped(api, wms, carrier)
    number = f["tracking_number"]
    scanned = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)

    # Out for delivery at +2 h arrives first; then the in-transit webhook of +1 h, which carries no
    # checkpoint (AfterShip sends such updates): only its ``ts`` says when it happened
    carrier.send_event(number, "out_for_delivery", at=scanned + timedelta(hours=2))
    eventually(lambda: _fulfilment(api, order_id)["status"] == "out_for_delivery", what="out for delivery")

    def without_checkpoints(body: dict) -> None:
        body["msg"]["checkpoints"] = []
        body["msg"].pop("updated_at")
        body["ts"] = int((scanned + timedelta(hours=1)).timestamp())

    carrier.send_event(number, "in_transit", edit=without_checkpoints)
    history = eventually(lambda: (t := _fulfilment(api, order_id)["tracking"])
                         and any(e["event"] == "in_transit" for e in t) and t, what="late event recorded")
    late = next(e for e in history if e["event"] == "in_transit")
    assert datetime.fromisoformat(late["occurred_at"]) == scanned + timedelta(hours=1)
    events = [e["event"] for e in history]
    assert events.index("in_transit") < events.index("out_for_delivery")  # where it happened
    assert _fulfilment(api, order_id)["status"] == "out_for_delivery"  # and it moved nothing back


def test_a_late_scan_from_a_platform_is_listed_where_it_happened(api, worker, wms, carrier):
    _speaking("easypost", wms, carrier)
    order_id, f = _shipped(api, wms, carrier)
    carrier.out_of_order = True  # a late in_transit scan arrives after delivered
    carrier.track(f["tracking_number"])
    order_in(api, order_id, shipment_status="delivered")
    scans = eventually(lambda: len(t := [e for e in _fulfilment(api, order_id)["tracking"] if "raw_status" in e]) == 5
                       and t, what="every carrier scan recorded, the late one too")
    times = [datetime.fromisoformat(e["occurred_at"]) for e in scans]
    assert times == sorted(times)
    assert scans[-1]["event"] == "delivered"
    assert [e["event"] for e in scans].count("in_transit") == 2
