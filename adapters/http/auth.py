"""Who is calling: channels, warehouses and carriers by their own secret or token, the payment
service by its token, operators by API tokens carrying a role. One place decides, every view asks.
Nothing but ``/healthz`` is open: with no tokens configured, every other call is refused.

Tokens come as ``Authorization: Bearer <token>`` exactly as RFC 6750 spells it: the scheme in
any case (RFC 7235), one or more spaces, then the token's own characters (b64token); padding,
tabs or anything else around or inside the token is no token. A caller once identified is counted
against its rate limit (adapters/http/rate_limit.py). The console's in-process calls name their
operator in the WSGI environ (``CONSOLE_OPERATOR``), which no HTTP client can set."""
from __future__ import annotations

import functools
import hmac
import re
from enum import IntEnum

from flask import request

from adapters.http import rate_limit
from adapters.http.errors import ApiError
from config import get_settings
from documents import reference

CONSOLE_OPERATOR = "orderrouter.console_operator"  # environ key: (name, Role) of the console's operator
_BEARER = re.compile(r"(?i:bearer) +([A-Za-z0-9\-._~+/]+=*)")  # RFC 6750 section 2.1


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


def _bearer() -> str | None:
    found = _BEARER.fullmatch(request.headers.get("Authorization", ""))
    return found.group(1) if found else None


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def require_party(kind: str, party_id: str) -> dict:
    """A warehouse or carrier calling about itself: its token must match. Returns its record."""
    record = reference.cached(kind, party_id)
    if record is None or not _same(_bearer(), record.get("token")):  # unknown and wrong look alike
        raise ApiError(401, "unauthorized", f"bad or missing token for {kind[:-1]} {party_id!r}")
    rate_limit.charge(f"{kind}:{party_id}")
    return record


def operator_tokens() -> dict[str, tuple[str, Role]]:
    """``ROUTER_API_TOKENS`` = ``name:role:token,...`` (role viewer, operator or admin)."""
    raw = get_settings().api_tokens
    if _tokens_cache.get("raw") != raw:
        tokens = {}
        for item in filter(None, (i.strip() for i in raw.split(","))):
            name, role, token = item.split(":", 2)
            tokens[token] = (name, Role[role.upper()])
        _tokens_cache.update(raw=raw, tokens=tokens)
    return _tokens_cache["tokens"]


_tokens_cache: dict = {}


def require_role(role: Role) -> str:
    """The calling operator's name, if their token carries at least ``role``."""
    console = request.environ.get(CONSOLE_OPERATOR)  # the console's in-process call, as its operator
    presented = _bearer() or ""
    found = console or next((who for token, who in operator_tokens().items() if _same(presented, token)), None)
    if found is None:
        if not operator_tokens():
            raise ApiError(401, "unauthorized", "a valid operator token is required, and none is configured: "
                           "set ROUTER_API_TOKENS=name:role:token (role viewer, operator or admin)")
        raise ApiError(401, "unauthorized", "a valid operator token is required")
    name, has = found
    if has < role:
        raise ApiError(403, "forbidden", f"role {has.name.lower()} may not do this (needs {role.name.lower()})")
    rate_limit.charge(f"operator:{name}")
    return name


def require_payments() -> str:
    """Payment notices come from the payment service (``ROUTER_PAYMENTS_TOKEN``) or an admin
    recording an offline payment (a B2B wire transfer). Returns who."""
    if _same(_bearer(), get_settings().payments_token):
        rate_limit.charge("payment")
        return "payment"
    return f"operator:{require_role(Role.ADMIN)}"


def require_channel(config: dict) -> str:
    """A canonical-format channel push: the channel's own token, or an operator's (staff typing in
    a phone order). Returns who."""
    if config.get("token") and _same(_bearer(), config["token"]):
        rate_limit.charge(f"channel:{config['_id']}")
        return f"channel:{config['_id']}"
    return f"operator:{require_role(Role.OPERATOR)}"


def checked_first(check):
    """Run ``check`` (an auth function) before the view's body is parsed and validated, so an
    unauthenticated caller learns nothing about the schema. Keeps the view's OpenAPI data."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            check()
            return view(*args, **kwargs)
        return wrapper
    return decorate


def role(needed: Role):
    return checked_first(lambda: require_role(needed))
