"""The simulated TOP gateway and SP-API refuse what the real platforms refuse, in the platforms'
own shapes, and the router's clients (adapters/outbound/top.py, sp_api.py) speak them: TOP's sign,
session and timestamp; Login with Amazon's token exchange, cached until shortly before expiry and
renewed; x-amz-access-token on every call; 429 with x-amzn-RateLimit-Limit."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest
from click.testing import CliRunner

import config
from adapters.channels import top as top_protocol
from adapters.cli import main
from adapters.outbound import sp_api, top
from adapters.seed import load_world
from adapters.simulators.amazon import AmazonSimulator
from adapters.simulators.top import TopSimulator
from documents import orders
from documents.connection import connect
from services.ports import OutboundError

pytestmark = pytest.mark.integration
APP = {"app_key": "23456789", "secret": "app-secret", "api_token": "seller-session"}


@pytest.fixture
def gateway():
    with TopSimulator(app_key=APP["app_key"], secret=APP["secret"], session=APP["api_token"]) as sim:
        yield sim


@pytest.fixture
def amazon():
    sp_api.forget()
    with AmazonSimulator() as sim:
        yield sim
    sp_api.forget()


def _channel(sim, **more) -> dict:
    return {"_id": "tb", "format": "taobao", "api_url": sim.url, **APP, **more}


def _raw_top(sim, params: dict) -> dict:
    return httpx.post(f"{sim.url}/router/rest", data=params, timeout=5).json()


def test_top_refuses_a_call_not_signed_as_documented_in_its_error_shape(gateway):
    now = datetime.now(timezone.utc)
    system = top_protocol.system_parameters("taobao.trade.fullinfo.get", APP["app_key"], APP["api_token"], now)
    business = {"tid": "1", "fields": "tid"}
    good = {**top_protocol.signed(system, business, APP["secret"]), **business}
    assert _raw_top(gateway, good)["error_response"]["sub_code"] == "isv.trade-not-exist"  # past the checks
    bearer_only = httpx.post(f"{gateway.url}/router/rest", data=business, timeout=5,
                             headers={"Authorization": f"Bearer {APP['api_token']}"}).json()
    assert bearer_only["error_response"]["code"] == top_protocol.MISSING_APP_KEY
    assert _raw_top(gateway, {**good, "sign": good["sign"].lower()[::-1]})["error_response"] == {
        "code": 25, "msg": "Invalid Signature"}
    assert _raw_top(gateway, {**good, "method": "taobao.trade.close"})["error_response"]["code"] == 25  # signed over
    closed = {**system, "method": "taobao.trade.close"}
    assert _raw_top(gateway, {**top_protocol.signed(closed, business, APP["secret"]), **business})[
        "error_response"]["code"] == top_protocol.INVALID_METHOD
    stale = {**system, "timestamp": top_protocol.top_time(now - timedelta(minutes=11))}
    assert _raw_top(gateway, {**top_protocol.signed(stale, business, APP["secret"]), **business})[
        "error_response"]["code"] == top_protocol.INVALID_TIMESTAMP
    assert [code for _, code in gateway.refusals] == [15, 28, 25, 25, 22, 31]


def test_top_lists_trades_newest_first_in_pages_and_refuses_a_window_over_a_day(gateway):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for n in range(5):
        gateway.add_trade({"tid": 100 + n, "tid_str": str(100 + n), "status": "WAIT_SELLER_SEND_GOODS",
                           "orders": {"order": [{"oid": 1000 + n}]}}, modified=now - timedelta(minutes=10 - n))
    channel = _channel(gateway, sign_method="hmac-sha256")
    window = {"fields": "tid,modified", "start_modified": top_protocol.top_time(now - timedelta(hours=1)),
              "end_modified": top_protocol.top_time(now)}
    first = top.call(channel, "taobao.trades.sold.increment.get", {**window, "page_size": 2})
    assert first["total_results"] == 5
    assert [t["tid"] for t in top_protocol.listed(first, "trades", "trade")] == [104, 103]
    last = top.call(channel, "taobao.trades.sold.increment.get", {**window, "page_size": 2, "page_no": 3,
                                                                 "use_has_next": True})
    assert top_protocol.listed(last, "trades", "trade") == [{"tid": 100, "modified": top_protocol.top_time(
        now - timedelta(minutes=10))}] and last["has_next"] is False
    with pytest.raises(top.TopCallError) as refused:
        top.call(channel, "taobao.trades.sold.increment.get",
                 {**window, "start_modified": top_protocol.top_time(now - timedelta(days=2))})
    assert refused.value.error.code == top_protocol.INVALID_ARGUMENTS and not refused.value.retryable
    with pytest.raises(top.TopCallError) as wrong:
        top.call({**channel, "api_token": "someone-else"}, "taobao.trade.fullinfo.get", {"tid": "100", "fields": "tid"})
    assert wrong.value.error.code == top_protocol.INVALID_SESSION
    with pytest.raises(OutboundError) as unconfigured:
        top.call({**channel, "app_key": None}, "taobao.trade.fullinfo.get", {"tid": "100"})
    assert not unconfigured.value.retryable and "app_key" in str(unconfigured.value)


def test_lwa_refuses_wrong_credentials_and_sp_api_refuses_calls_without_a_live_token(amazon):
    token_url = f"{amazon.url}/auth/o2/token"
    wrong_client = httpx.post(token_url, timeout=5, data={"grant_type": "refresh_token", "client_id": amazon.client_id,
                                                          "client_secret": "nope", "refresh_token": amazon.refresh_token})
    assert wrong_client.status_code == 401 and wrong_client.json()["error"] == "invalid_client"
    channel = {"_id": "az", "api_url": amazon.url, **amazon.lwa_settings()}
    with pytest.raises(OutboundError) as refused:
        sp_api.access_token({**channel, "lwa_refresh_token": "Atzr|revoked"})
    assert not refused.value.retryable and "invalid_grant" in str(refused.value)

    orders = f"{amazon.url}/orders/v0/orders"
    query = {"MarketplaceIds": "ATVPDKIKX0DER", "LastUpdatedAfter": "2024-01-01T00:00:00Z"}
    bearer = httpx.get(orders, params=query, headers={"Authorization": "Bearer Atza|whatever"}, timeout=5)
    assert bearer.status_code == 403 and bearer.json()["errors"][0]["code"] == "Unauthorized"
    token = sp_api.access_token(channel)
    assert sp_api.access_token(channel) == token and amazon.token_calls == 3  # two refused, then one for both
    fine = httpx.get(orders, params=query, headers={"x-amz-access-token": token}, timeout=5)
    assert fine.status_code == 200 and fine.headers["x-amzn-RateLimit-Limit"] == "0.0167"
    amazon.expire_tokens()
    expired = httpx.get(orders, params=query, headers={"x-amz-access-token": token}, timeout=5)
    assert expired.status_code == 403 and expired.json() == {"errors": [{
        "code": "Unauthorized", "message": "Access to requested resource is denied.",
        "details": "The access token you provided has expired."}]}


def test_sp_api_answers_429_beyond_the_rate_and_the_client_waits_its_turn(amazon):
    amazon.rates["getOrders"] = (5.0, 1)
    channel = {"_id": "az", "api_url": amazon.url, **amazon.lwa_settings()}
    token = sp_api.access_token(channel)
    query = {"MarketplaceIds": "ATVPDKIKX0DER", "LastUpdatedAfter": "2024-01-01T00:00:00Z"}
    answers = [httpx.get(f"{amazon.url}/orders/v0/orders", params=query, headers={"x-amz-access-token": token},
                         timeout=5) for _ in range(3)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].json()["errors"][0]["code"] == "QuotaExceeded"
    assert limited[0].headers["x-amzn-RateLimit-Limit"] == "5"
    before = amazon.throttled["getOrders"]
    for _ in range(4):  # the client learns 5/s from the header and waits for each turn
        assert "Orders" in sp_api.call(channel, "getOrders", "GET", "/orders/v0/orders", params=query)["payload"]
    assert amazon.throttled["getOrders"] - before <= 2  # the first, before it knew; then paced (jitter aside)
    assert sp_api.bucket("az", "getOrders").rate == 5.0


def test_a_cached_token_is_renewed_shortly_before_it_expires_without_being_refused(amazon, monkeypatch):
    class Clock:  # the client's clock only: the simulator keeps real time
        now = 5000.0

        @classmethod
        def monotonic(cls):
            return cls.now

        @staticmethod
        def sleep(seconds):
            Clock.now += seconds

    monkeypatch.setattr(sp_api, "time", Clock)
    channel = {"_id": "az", "api_url": amazon.url, **amazon.lwa_settings()}
    query = {"MarketplaceIds": "ATVPDKIKX0DER", "LastUpdatedAfter": "2024-01-01T00:00:00Z"}
    sp_api.call(channel, "getOrders", "GET", "/orders/v0/orders", params=query)
    Clock.now += 3600 - 61  # a minute and a second before expiry: still the cached token
    sp_api.call(channel, "getOrders", "GET", "/orders/v0/orders", params=query)
    assert amazon.token_calls == 1
    Clock.now += 2  # within the last minute: exchanged again before use
    sp_api.call(channel, "getOrders", "GET", "/orders/v0/orders", params=query)
    assert amazon.token_calls == 2 and amazon.refused_tokens == 0
    sp_api.call({**channel, "_id": "another"}, "getOrders", "GET", "/orders/v0/orders", params=query)
    assert amazon.token_calls == 3  # each channel its own token


def test_orderrouter_poll_taobao_takes_a_trade_once_across_overlapping_windows(worker, seeded, db, mongo_url,
                                                                             gateway, monkeypatch):
    trade = {"tid": 7001, "tid_str": "7001", "status": "WAIT_SELLER_SEND_GOODS", "type": "fixed",
             "created": "2024-03-05 20:15:30", "pay_time": "2024-03-05 20:16:01", "payment": "20.00",
             "post_fee": "0.00", "receiver_name": "张三", "receiver_state": "浙江省", "receiver_city": "杭州市",
             "receiver_address": "文三路 138 号", "orders": {"order": [
                 {"oid": 70011, "outer_sku_id": "SKU-A", "price": "10.00", "num": 2, "divide_order_fee": "20.00",
                  "status": "WAIT_SELLER_SEND_GOODS", "refund_status": "NO_REFUND"}]}}
    gateway.add_trade(trade)
    load_world({"channels": [{"id": "taobao", "format": "taobao", "merchant_id": "m1", "api_url": gateway.url,
                              **APP}]})
    monkeypatch.setenv("ROUTER_MONGO_URL", mongo_url)
    monkeypatch.setenv("ROUTER_MONGO_DB", db.name)
    config.use(None)
    try:
        first = CliRunner().invoke(main, ["poll", "taobao"])
        assert first.exit_code == 0, first.output
        assert "1 trades seen, 1 new, 0 known, 0 refunds, 0 errors" in first.output
        again = CliRunner().invoke(main, ["poll", "taobao"])
        assert "1 trades seen, 0 new, 1 known" in again.output, again.output
    finally:
        config.use(None)
    connect(mongo_url, db.name)
    assert [d["channel_order_id"] for d in orders.collection().find({"channel": "taobao"})] == ["7001"]
    assert gateway.refusals == []
