"""A Taobao order end to end through a simulated TOP gateway that checks every call as TOP does
(app key, sign over the sorted parameters, session, timestamp within 10 minutes): polled
(``taobao.trades.sold.increment.get`` then ``taobao.trade.fullinfo.get``), routed, shipped,
tracked, and ``taobao.logistics.offline.send`` received once per parcel, correctly signed; a
buyer's refund read from ``taobao.refunds.receive.get`` and applied once; overlapping polls and
a retried consignment have the effect of one. Taobao pushes nothing: its webhook path says so."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from adapters.channels import top as top_protocol
from adapters.pollers.taobao import poll
from adapters.seed import load_world
from adapters.simulators import tracking_push
from adapters.simulators.top import TopSimulator
from documents import inbox, orders, reference
from documents.order_shape import stored_shape_errors
from documents.orders import OrderDocument
from services.ports import OutboundError
from tests import factories
from tests.helpers import eventually, get_order, http, order_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("conserved")]
FIXTURES = Path(__file__).parent.parent / "fixtures"
APP = {"app_key": "23456789", "secret": "top-app-secret-0123456789", "api_token": "6102a1b2c3d4e5f6-session"}
TID = "3581234567890123456"
TEA, CUP = "3581234567890123457", "3581234567890123458"


@pytest.fixture
def top(api):
    """A simulated TOP gateway for the app and the seller the channel is configured with."""
    with TopSimulator(app_key=APP["app_key"], secret=APP["secret"], session=APP["api_token"]) as sim:
        yield sim


def _world(wms, carrier, top, sign_method: str = "hmac-sha256", stock: dict | None = None, **channel) -> dict:
    world = factories.world(wms.url, carrier.url, stock)
    world["channels"].append({"id": "taobao", "format": "taobao", "merchant_id": "m1", "api_url": top.url,
                              "sign_method": sign_method, **APP, **channel})
    for c in world["carriers"]:
        c["tracking_format"] = "aftership"
    world["carriers"][0]["taobao_code"] = "SF"  # fastship is SF Express on Taobao; slowpost goes by its id
    return world


def _trade(tid: str = TID) -> dict:
    """The documented paid trade, for SKUs the world stocks."""
    trade = json.loads((FIXTURES / "channels" / "taobao_trade_paid.json").read_text(encoding="utf-8"))
    trade = trade["trade_fullinfo_get_response"]["trade"]
    trade.update(tid=int(tid), tid_str=tid)
    for sub, sku in zip(trade["orders"]["order"], ("SKU-A", "SKU-C"), strict=True):
        sub["outer_sku_id"] = sku
    return trade


def _order_id(api: str) -> str:
    rows = http.get(f"{api}/v1/orders", params={"channel": "taobao"}, timeout=5).json()["orders"]
    assert len(rows) == 1, rows
    return rows[0]["order_id"]


def _dispatched(api: str, order_id: str) -> dict:
    return eventually(lambda: (o := get_order(api, order_id))["fulfilments"]
                      and all(f["status"] == "dispatched" for f in o["fulfilments"]) and o, what="dispatched")


def _delivered(api: str, order: dict) -> dict:
    for f in order["fulfilments"]:
        event = copy.deepcopy(json.loads((FIXTURES / "tracking" / "aftership_in_transit.json").read_text()))
        event["msg"]["tracking_number"] = f["tracking_number"]
        event["msg"]["tag"], event["msg"]["subtag"] = "Delivered", "Delivered_001"
        event["event_id"] = f"as-{f['id']}"
        raw = tracking_push.encode(event)
        r = httpx.post(f"{api}/v1/carriers/{f['carrier_id']}/events", content=raw, timeout=5,
                       headers={"Content-Type": "application/json",
                                **tracking_push.signature_headers("aftership", raw, factories.SECRETS[f["carrier_id"]])})
        assert r.status_code == 202, r.text
    return order_in(api, order["order_id"], shipment_status="delivered")


def _signed_as_top_documents(call) -> dict:
    """The call's parameters (query and form body), after checking its sign as TOP computes it."""
    params = {**call.query, **call.body}
    assert params["sign"] == top_protocol.sign(params, APP["secret"], params["sign_method"])
    assert (params["app_key"], params["session"], params["v"], params["format"]) == (
        APP["app_key"], APP["api_token"], "2.0", "json")
    assert "Authorization" not in {k.title() for k in call.headers}  # TOP takes no bearer token
    return params


def _stored_as_declared(order_id: str) -> dict:
    """The stored order, checked against its declared shape (documents/order_shape.py)."""
    raw = orders.collection().find_one({"_id": order_id})
    assert stored_shape_errors(OrderDocument, raw) == []
    return raw


def _calls(top, method: str) -> list:
    return [c for c in top.calls_to("POST", "/router/rest") if {**c.query, **(c.body or {})}.get("method") == method]


def test_a_polled_taobao_trade_is_routed_shipped_tracked_and_consigned_once(api, worker, wms, carrier, top):
    # the tea only in the east, the cups only in the west: two parcels, each consigned with its sub-order
    load_world(_world(wms, carrier, top, stock={"SKU-A": {"WH-EAST": 10}, "SKU-C": {"WH-WEST": 8}}))
    top.add_trade(_trade(), modified=datetime.now(timezone.utc) - timedelta(minutes=2))

    first = poll("taobao")
    assert (first.trades, first.accepted, first.errors) == (1, 1, 0)
    again = poll("taobao")  # the next window overlaps the last: the same version is known, not read again
    assert (again.trades, again.accepted, again.duplicates) == (1, 0, 1)
    assert len(_calls(top, "taobao.trade.fullinfo.get")) == 1
    for call in top.calls_to("POST", "/router/rest"):
        params = _signed_as_top_documents(call)
        assert params["sign_method"] == "hmac-sha256"
        if params["method"] == "taobao.trades.sold.increment.get":
            start, end = (top_protocol.parse_time(params[k]) for k in ("start_modified", "end_modified"))
            assert timedelta(0) < end - start <= timedelta(days=1)
    assert top.refusals == []

    order_id = _order_id(api)
    order = _dispatched(api, order_id)
    assert order["channel_order_id"] == TID and order["raw"]["trade"]["tid_str"] == TID
    assert order["address"]["region"] == "浙江省" and order["address"]["region_code"] == "CN-ZJ"

    # The warehouse ships every parcel (one shipped event repeated); the carrier delivers them
    for f in order["fulfilments"]:
        wms.progress(f["id"])
    order = order_in(api, order_id, status="shipped")
    wms.send_event(order["fulfilments"][0]["id"], "shipped")
    order = _delivered(api, order)

    # TOP received one signed offline.send per parcel, with its waybill and the carrier's Taobao code
    eventually(lambda: all(e["state"] == "sent" for e in get_order(api, order_id)["outbox"]), what="outbox sent")
    sent = _calls(top, "taobao.logistics.offline.send")
    consigned = top.consigned(TID)
    assert len(sent) == len(consigned) == len(order["fulfilments"]) == 2
    skus_of = {TEA: "SKU-A", CUP: "SKU-C"}
    for f in order["fulfilments"]:
        params = next(_signed_as_top_documents(c) for c in sent if c.body["out_sid"] == f["tracking_number"])
        assert params["tid"] == TID
        assert params["company_code"] == {"fastship": "SF", "slowpost": "slowpost"}[f["carrier_id"]]
        assert params["is_split"] == "1"  # a split shipment names its sub-orders
        assert sorted(skus_of[o] for o in params["sub_tid"].split(",")) == sorted(l["sku"] for l in f["lines"])
    assert top.trades[TID]["status"] == "WAIT_BUYER_CONFIRM_GOODS"

    # TOP's own record of the consignment comes back as a newer version of the trade: taken, nothing doubled
    later = poll("taobao")
    assert (later.accepted, later.errors) == (0, 0)
    order = get_order(api, order_id)
    assert order["shipment_status"] == "delivered" and order["native_status"] == "WAIT_BUYER_CONFIRM_GOODS"
    assert len(top.consigned(TID)) == len(order["fulfilments"]) and top.refusals == []


def test_a_consignment_whose_answer_was_lost_is_not_sent_twice(api, worker, wms, carrier, top):
    load_world(_world(wms, carrier, top, sign_method="md5"))
    top.add_trade(_trade())
    assert poll("taobao").accepted == 1
    order_id = _order_id(api)
    order = _dispatched(api, order_id)

    # TOP consigns the first parcel, and the answer never reaches the router
    top.drop_after_success_next(1, "/router/rest", "POST")
    for f in order["fulfilments"]:
        wms.progress(f["id"])
    order = order_in(api, order_id, status="shipped")
    eventually(lambda: all(e["state"] == "sent" for e in get_order(api, order_id)["outbox"]), what="outbox sent")

    # its retry was refused as consigned already, and the trade read back showed our waybill: sent, once
    assert len(top.consigned(TID)) == len(order["fulfilments"])
    assert sorted(c["out_sid"] for c in top.consigned(TID)) == sorted(f["tracking_number"] for f in order["fulfilments"])
    assert len(_calls(top, "taobao.logistics.offline.send")) == len(order["fulfilments"]) + 1
    assert (taobao_call := _calls(top, "taobao.trade.fullinfo.get")[-1]) and _signed_as_top_documents(taobao_call)
    assert all(_signed_as_top_documents(c)["sign_method"] == "md5" for c in top.calls_to("POST", "/router/rest"))


def test_a_buyers_refund_is_read_from_top_and_applied_once_never_echoed(api, worker, wms, carrier, top):
    load_world(_world(wms, carrier, top))
    top.add_trade(_trade())
    assert poll("taobao").accepted == 1
    order_id = _order_id(api)
    order = _dispatched(api, order_id)
    for f in order["fulfilments"]:
        wms.progress(f["id"])
    order_in(api, order_id, status="shipped")

    # The buyer asks for 50.00 back on the cups, the seller agrees on Taobao: the refund went through
    top.buyer_refund(TID, CUP, "50.00")
    top.buyer_refund(TID, TEA, "10.00", status="WAIT_SELLER_AGREE")  # asked, not agreed: nothing yet
    assert poll("taobao").refunds == 1
    order = get_order(api, order_id)
    assert [(c["type"], c["amount"], c["status"]) for c in order["after_sales"]] == [
        ("refund_only", "50.00", "succeeded")]
    assert order["payment_status"] == "partially_refunded" and order["refunded_amount"] == "50.00"
    assert all(e["kind"] != "refunded" or e["state"] == "unsupported" for e in order["outbox"])

    # Polled again (overlapping windows) and again: still one refund
    assert poll("taobao").refunds == 1
    poll("taobao")
    order = get_order(api, order_id)
    assert len(order["after_sales"]) == 1 and order["refunded_amount"] == "50.00"

    # TOP holds a newer version of the trade, still paid: that is the money taken already, not more
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)
    top.trades[TID]["modified"] = top_protocol.top_time(later)
    assert poll("taobao", now=later + timedelta(seconds=1)).trades == 1
    order = get_order(api, order_id)
    assert len(order["after_sales"]) == 1 and order["payment_status"] == "partially_refunded"
    assert order["native_status"] == top.trades[TID]["status"]  # the version was taken
    # no second payment asked for: none applied, none refused
    assert [p for p in orders.load(order_id).get("payments", []) if p["type"] == "paid"] == []
    assert inbox.load(f"payment:taobao:{TID}:paid") is None

    # A second refund on the tea goes through: recorded beside the first
    top.buyer_refund(TID, TEA, "20.00")
    poll("taobao")
    order = get_order(api, order_id)
    assert sorted(c["amount"] for c in order["after_sales"]) == ["20.00", "50.00"]
    assert order["refunded_amount"] == "70.00"
    stored = _stored_as_declared(order_id)
    assert sorted(r["amount"] for r in stored["channel_refunds"]) == ["20.00", "50.00"]
    assert {r["sub_order"] for r in stored["channel_refunds"]} == {TEA, CUP}
    assert {m for m, _ in top.refusals} == set() and not _calls(top, "taobao.refund.agree")


def test_a_refund_or_cancel_made_in_the_router_is_recorded_as_unsupported(api, worker, wms, carrier, top):
    load_world(_world(wms, carrier, top))
    top.add_trade(_trade())
    assert poll("taobao").accepted == 1
    order_id = _order_id(api)
    _dispatched(api, order_id)

    r = http.post(f"{api}/v1/orders/{order_id}/cancel", timeout=5)
    assert r.status_code == 200, r.text
    order = eventually(lambda: (o := get_order(api, order_id))["status"] == "cancelled"
                       and any(e["kind"] == "cancelled" for e in o["outbox"]) and o, what="cancel notice written")
    states = {e["kind"]: (e["state"], e.get("reason", "")) for e in order["outbox"]}
    assert states["cancelled"][0] == "unsupported" and "paid trade" in states["cancelled"][1]
    assert _calls(top, "taobao.logistics.offline.send") == [] and top.refusals == []
    _stored_as_declared(order_id)


def test_taobao_pushes_nothing_and_a_badly_signed_or_stale_poll_is_refused_by_top(api, worker, wms, carrier, top):
    load_world(_world(wms, carrier, top, sign_method="hmac"))
    top.add_trade(_trade())

    # The webhook path says how Taobao orders come
    raw = json.dumps({"trade": _trade()}, ensure_ascii=False).encode()
    r = http.post(f"{api}/v1/channels/taobao/orders", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 409 and "orderrouter poll taobao" in r.json()["error"]["message"]

    # A wrong app secret: TOP refuses the sign, nothing is stored, the window stays unread
    reference.upsert("channels", "taobao", {"secret": "not-the-app-secret"})
    with pytest.raises(OutboundError, match="Invalid Signature"):
        poll("taobao")
    assert top.refusals == [("taobao.trades.sold.increment.get", top_protocol.INVALID_SIGNATURE)]
    assert reference.load_setting("poller:taobao") is None

    # Our clock 11 minutes behind TOP's: TOP refuses the timestamp
    reference.upsert("channels", "taobao", {"secret": APP["secret"]})
    top.clock = lambda: datetime.now(timezone.utc) + timedelta(minutes=11)
    with pytest.raises(OutboundError, match="Invalid Timestamp"):
        poll("taobao")
    assert top.refusals[-1] == ("taobao.trades.sold.increment.get", top_protocol.INVALID_TIMESTAMP)
    assert http.get(f"{api}/v1/orders", params={"channel": "taobao"}, timeout=5).json()["orders"] == []

    # Signed right, in time: taken
    top.clock = lambda: datetime.now(timezone.utc)
    assert poll("taobao").accepted == 1
