"""The customer token: a channel vouches for one of its customers, or the router for one order.

Format (two base64url segments without padding, joined by a dot)::

    base64url(JSON claims) "." base64url(HMAC-SHA256(channel secret, first segment as ASCII))

Claims, a JSON object:

- a **customer token** ``{"channel": "shop", "customer_id": "c-42", "exp": 1767225600}``: the
  channel's customer ``c-42`` may see and act on the orders of channel ``shop`` whose
  ``customer.id`` is ``c-42``;
- an **order link** ``{"channel": "shop", "order_id": "O1A2B3C", "exp": ...}``: whoever holds the
  link may see and act on that one order (the router puts it in its notices).

``exp`` is a Unix time in whole seconds; a token at or past it is expired, and one whose ``exp``
lies further ahead than its kind may live (:data:`MAX_LIFETIME`) is refused as well, so a token
is short-lived whoever minted it. The key is the channel's signing secret (``ROUTER_PARTY_SECRETS``
``channel:<id>:<secret>``, else the seed's ``secret``): the same one its webhooks are signed with,
held by the channel's backend. A channel without a secret cannot vouch for anyone.

Pure: no I/O. Minting in another language is five lines: JSON-encode the claims, base64url them
without ``=``, HMAC-SHA256 that text with the secret, base64url the 32 bytes without ``=``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

CUSTOMER, ORDER_LINK = "customer", "order_link"
MAX_LIFETIME = {CUSTOMER: 24 * 3600, ORDER_LINK: 90 * 86400}  # seconds from now an exp may lie
MAX_TOKEN_CHARS = 2048
_ID = re.compile(r"^[\w\-:/#~.@]{1,120}$")  # channel, customer and order ids as the API takes them
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


class BadToken(ValueError):
    """The token is malformed, unknown, wrongly signed or too long-lived (``code`` for the API)."""

    code = "bad_token"


class ExpiredToken(BadToken):
    code = "token_expired"


@dataclass(frozen=True)
class Claims:
    channel: str
    exp: int
    customer_id: str | None = None  # a customer token
    order_id: str | None = None  # an order link

    @property
    def kind(self) -> str:
        return CUSTOMER if self.customer_id is not None else ORDER_LINK


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _SEGMENT.match(text):
        raise BadToken("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadToken("not base64url") from exc


def signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest())


def mint(secret: str, channel: str, *, exp: int, customer_id: str | None = None,
         order_id: str | None = None) -> str:
    """A token for ``customer_id`` (or an order link for ``order_id``) of ``channel``."""
    if (customer_id is None) == (order_id is None):
        raise ValueError("name exactly one of customer_id and order_id")
    claims: dict = {"channel": channel}
    claims.update({"customer_id": customer_id} if customer_id is not None else {"order_id": order_id})
    claims["exp"] = int(exp)
    payload = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{signature(secret, payload)}"


def claims_of(token: str) -> Claims:
    """The claims a token states, unverified (the channel they name says whose secret to check)."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise BadToken("not a customer token")
    payload, signed = token.split(".")
    if not _SEGMENT.match(signed):
        raise BadToken("not a customer token")
    try:
        raw = json.loads(_unb64(payload).decode("utf-8"))
    except (UnicodeError, ValueError) as exc:
        raise BadToken("not a customer token") from exc
    if not isinstance(raw, dict) or set(raw) - {"channel", "customer_id", "order_id", "exp"}:
        raise BadToken("unexpected claims")
    channel, exp = raw.get("channel"), raw.get("exp")
    customer_id, order_id = raw.get("customer_id"), raw.get("order_id")
    if not isinstance(channel, str) or not _ID.match(channel):
        raise BadToken("channel must be a channel id")
    if type(exp) is not int:
        raise BadToken("exp must be a whole Unix time")
    if (customer_id is None) == (order_id is None):
        raise BadToken("name exactly one of customer_id and order_id")
    for value in (customer_id, order_id):
        if value is not None and (not isinstance(value, str) or not _ID.match(value)):
            raise BadToken("customer_id / order_id must be an id")
    return Claims(channel=channel, exp=exp, customer_id=customer_id, order_id=order_id)


def verify(token: str, secret_of: Callable[[str], str | None], now: datetime | None = None) -> Claims:
    """The token's claims once its signature checks out under the secret of the channel it names
    (``secret_of(channel)``, None when unknown or without one) and it is neither expired nor
    longer-lived than its kind may be. Raises :class:`BadToken` / :class:`ExpiredToken`."""
    claims = claims_of(token)
    secret = secret_of(claims.channel)
    payload, signed = token.split(".")
    if not secret or not hmac.compare_digest(signed.encode("ascii"), signature(secret, payload).encode("ascii")):
        raise BadToken("the signature does not match the channel's secret")  # unknown channel alike
    at = int((now or datetime.now(timezone.utc)).timestamp())
    if claims.exp <= at:
        raise ExpiredToken("the token has expired")
    if claims.exp - at > MAX_LIFETIME[claims.kind]:
        raise BadToken(f"a {claims.kind.replace('_', ' ')} may live at most {MAX_LIFETIME[claims.kind]} s")
    return claims
