"""Who the customer is: a token their channel signed (adapters/customer/tokens.py), presented as
``Authorization: Bearer <token>`` (the customer page sends it from its cookie, in-process).

A customer token lets its holder at the orders of that channel whose ``customer.id`` it names; an
order link at that one order. Any other order is 404, exactly as an order that does not exist,
never 403: a customer learns nothing about orders not theirs. A missing, malformed or wrongly
signed token, one naming a channel unknown or without a secret, and one living longer than its
kind may are 401 ``unauthorized``; an expired one 401 ``token_expired`` (mint a new one). Once
identified, the customer is counted against its rate limit (``customer:<channel>:<id>``, an order
link as ``order-link:<channel>:<order id>``), and their commands are on the order's timeline as
``customer:<channel>:<customer id>`` (``guest`` for an order without a customer id).
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import request

from adapters.customer import tokens
from adapters.http import auth, parties, rate_limit
from adapters.http.errors import ApiError
from documents import orders, reference

ENVIRON = "orderrouter.customer_claims"  # the request's verified claims (WSGI environ: per request)


def channel_secret(channel: str) -> str | None:
    """The channel's signing secret (``ROUTER_PARTY_SECRETS``, else the seed's), None if unknown."""
    record = reference.cached("channels", channel)
    return parties.secret_of("channels", channel, record) if record is not None else None


def verify(token: str | None, now: datetime | None = None) -> tokens.Claims:
    """The verified claims of ``token``; ApiError 401 otherwise."""
    if not token:
        raise ApiError(401, "unauthorized", "a customer token is required (Authorization: Bearer <token>)")
    try:
        return tokens.verify(token, channel_secret, now or datetime.now(timezone.utc))
    except tokens.ExpiredToken as exc:
        raise ApiError(401, "token_expired", "the customer token has expired: ask the shop for a new link") from exc
    except tokens.BadToken as exc:
        raise ApiError(401, "unauthorized", f"not a valid customer token: {exc}") from exc


def require_customer() -> tokens.Claims:
    """The calling customer's claims (verified once per request), charged to their rate limit."""
    claims = request.environ.get(ENVIRON)
    if claims is None:
        claims = verify(auth._bearer())  # noqa: SLF001  (the one RFC 6750 reading of the header)
        request.environ[ENVIRON] = claims
    rate_limit.charge(rate_identity(claims))
    return claims


def rate_identity(claims: tokens.Claims) -> str:
    if claims.customer_id is not None:
        return f"customer:{claims.channel}:{claims.customer_id}"
    return f"order-link:{claims.channel}:{claims.order_id}"


def owns(claims: tokens.Claims, doc: dict | None) -> bool:
    if doc is None or doc.get("channel") != claims.channel:
        return False
    if claims.order_id is not None:
        return doc["_id"] == claims.order_id
    return bool(claims.customer_id) and (doc.get("customer") or {}).get("id") == claims.customer_id


def scoped_order(claims: tokens.Claims, order_id: str) -> dict:
    """The whole order if the customer may see it; 404 as for no such order otherwise."""
    doc = orders.load(order_id)
    if not owns(claims, doc):
        raise ApiError(404, "not_found", f"unknown order {order_id!r}")
    assert doc is not None
    return doc


def actor(claims: tokens.Claims, doc: dict) -> str:
    """The timeline actor: ``customer:<channel>:<customer id>``."""
    customer_id = claims.customer_id or (doc.get("customer") or {}).get("id") or "guest"
    return f"customer:{claims.channel}:{customer_id}"
