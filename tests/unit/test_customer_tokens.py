"""The customer token's format (adapters/customer/tokens.py) and what a customer may do
(router/customer.py): pure, no database."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.customer import tokens
from router.customer import customer_commands
from router.order_state import OrderState
from router.statuses import FulfilmentStatus, OrderStatus, PaymentStatus

pytestmark = pytest.mark.unit
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
AT = int(NOW.timestamp())
SECRETS = {"shop": "shop-secret", "kiosk": "kiosk-secret"}


def test_a_token_minted_by_hand_as_documented_is_read_back():
    # what a channel's backend does in any language: base64url JSON claims, HMAC-SHA256 of that text
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    payload = b64(json.dumps({"channel": "shop", "customer_id": "c-42", "exp": AT + 600}).encode())
    signed = b64(hmac.new(b"shop-secret", payload.encode(), hashlib.sha256).digest())
    claims = tokens.verify(f"{payload}.{signed}", SECRETS.get, NOW)
    assert (claims.channel, claims.customer_id, claims.order_id, claims.kind) == ("shop", "c-42", None, "customer")
    assert tokens.mint("shop-secret", "shop", customer_id="c-42", exp=AT + 600).split(".")[0] == \
        b64(json.dumps({"channel": "shop", "customer_id": "c-42", "exp": AT + 600}, separators=(",", ":")).encode())


def test_expired_wrong_channel_tampered_and_too_long_lived_tokens_are_refused():
    with pytest.raises(tokens.ExpiredToken):
        tokens.verify(tokens.mint("shop-secret", "shop", customer_id="c", exp=AT), SECRETS.get, NOW)
    with pytest.raises(tokens.BadToken):  # signed with the kiosk's secret, naming the shop
        tokens.verify(tokens.mint("kiosk-secret", "shop", customer_id="c", exp=AT + 60), SECRETS.get, NOW)
    with pytest.raises(tokens.BadToken):  # a channel nobody knows
        tokens.verify(tokens.mint("x", "elsewhere", customer_id="c", exp=AT + 60), SECRETS.get, NOW)
    good = tokens.mint("shop-secret", "shop", customer_id="c-1", exp=AT + 60)
    other = tokens.mint("other", "shop", customer_id="c-2", exp=AT + 60)
    with pytest.raises(tokens.BadToken):  # another customer's claims under this one's signature
        tokens.verify(f"{other.split('.')[0]}.{good.split('.')[1]}", SECRETS.get, NOW)
    with pytest.raises(tokens.BadToken):
        tokens.verify(tokens.mint("shop-secret", "shop", customer_id="c", exp=AT + 86400 + 1), SECRETS.get, NOW)
    link = tokens.mint("shop-secret", "shop", order_id="O1A2B3C4D", exp=AT + 30 * 86400)
    assert tokens.verify(link, SECRETS.get, NOW).kind == "order_link"


@given(st.text(max_size=300))
def test_junk_is_a_bad_token_and_never_anything_else(junk):
    with pytest.raises(tokens.BadToken):
        tokens.verify(junk, SECRETS.get, NOW)


@given(st.dictionaries(st.sampled_from(["channel", "customer_id", "order_id", "exp", "x"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=20), st.booleans(), st.lists(st.integers()))))
def test_odd_claims_correctly_signed_are_refused_or_read_never_raise_otherwise(claims):
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    token = f"{payload}.{tokens.signature('shop-secret', payload)}"
    try:
        read = tokens.verify(token, SECRETS.get, NOW)
    except tokens.BadToken:
        return
    assert read.channel == "shop" and (read.customer_id is None) != (read.order_id is None)


def test_a_customer_cancels_only_before_dispatch_and_never_approves_holds():
    waiting = OrderState("O1", status=OrderStatus.AWAITING_SHIPMENT, payment_status=PaymentStatus.PAID,
                         fulfilments={"O1-F1": FulfilmentStatus.RESERVED})
    assert "cancel" in customer_commands(waiting) and "change_address" in customer_commands(waiting)
    at_warehouse = OrderState("O1", status=OrderStatus.AWAITING_SHIPMENT, payment_status=PaymentStatus.PAID,
                              fulfilments={"O1-F1": FulfilmentStatus.ACCEPTED})
    assert "cancel" not in customer_commands(at_warehouse) and "change_address" in customer_commands(at_warehouse)
    held = OrderState("O1", status=OrderStatus.ON_HOLD)
    assert not {"approve_hold", "reject_hold"} & set(customer_commands(held))
