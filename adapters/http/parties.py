"""Warehouses and carriers calling in, each authenticated the way its platform does it.

A party whose format is signed (a warehouse's ``wms_format`` ``qimen`` or ``shiphero``, a
carrier's ``tracking_format`` ``aftership``, ``easypost`` or ``17track``: each format's
``verify``) is authenticated by that signature alone, never by a bearer token, which the real
platforms cannot send. Its secret is the party's entry in ``ROUTER_PARTY_SECRETS``
(``kind:id:secret,...``, kind ``warehouse``, ``carrier`` or ``channel``), else the seed's
``secret``; without one every call is refused. Where the format signs a timestamp (Qimen's
``timestamp``), a call signed further than ``ROUTER_SIGNATURE_WINDOW_SECONDS`` from now (default
300) is refused, so a captured request cannot be replayed later. The router's own ``generic``
format keeps the party's bearer ``token`` (adapters/http/auth.py). An unknown party, a wrong or
missing signature and a stale timestamp are all 401, checked before the body is read, and
change nothing. A party once identified is counted against its rate limit.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from flask import request

from adapters.http import auth, rate_limit
from adapters.http.errors import ApiError
from config import get_settings
from documents import reference

KINDS = {"warehouse": "warehouses", "carrier": "carriers", "channel": "channels"}
_cache: dict = {}


def environment_secrets() -> dict[tuple[str, str], str]:
    """``ROUTER_PARTY_SECRETS`` as ``{(kind, id): secret}`` (kind plural, as reference data names
    it). An entry is ``kind:id:secret``; the secret may hold ``:`` but not ``,``. An entry of
    another shape or kind is ignored."""
    raw = get_settings().party_secrets
    if _cache.get("raw") != raw:
        secrets = {}
        for item in filter(None, (i.strip() for i in raw.split(","))):
            kind, _, rest = item.partition(":")
            party_id, _, secret = rest.partition(":")
            if kind.strip().lower() in KINDS and party_id.strip() and secret.strip():
                secrets[(KINDS[kind.strip().lower()], party_id.strip())] = secret.strip()
        _cache.update(raw=raw, secrets=secrets)
    return _cache["secrets"]


def secret_of(kind: str, party_id: str, record: dict) -> str | None:
    """The party's signing secret: from the environment, else its seeded ``secret``."""
    return environment_secrets().get((kind, party_id)) or record.get("secret") or None


def authenticate(kind: str, party_id: str, format_of: Callable[[dict], Callable | None],
                 now: datetime) -> dict:
    """The calling warehouse or carrier (``kind`` ``warehouses`` or ``carriers``), authenticated by
    its format's signature (``format_of(record)`` gives the format's ``verify``, None for a
    bearer-token format) or by its bearer token. Returns its record; raises ApiError 401."""
    record = reference.cached(kind, party_id)
    verify = format_of(record) if record is not None else None
    if verify is None:  # unknown, or the router's generic format: the party's bearer token
        return auth.require_party(kind, party_id)
    secret = secret_of(kind, party_id, record)
    if not secret:
        raise ApiError(401, "unauthorized", f"{kind[:-1]} {party_id!r} signs its calls and has no signing "
                       f"secret configured (seed `secret` or ROUTER_PARTY_SECRETS)")
    signed_at = verify(request.headers, request.get_data(cache=True), secret, request.args.to_dict())
    if signed_at is not None:
        fresh(signed_at, now)
    rate_limit.charge(f"{kind}:{party_id}")
    return record


def fresh(signed_at: datetime, now: datetime) -> None:
    """Refuse (401 ``stale_request``) a call whose signed time is further than the window from now,
    either way (a clock ahead by more than the window is as suspect as a replay)."""
    window = get_settings().signature_window_seconds
    off = (now - signed_at).total_seconds()
    if abs(off) > window:
        raise ApiError(401, "stale_request", f"signed at {signed_at.isoformat()}, {abs(off):.0f} s "
                       f"{'ago' if off > 0 else 'ahead'}: outside the {window:.0f} s window",
                       {"timestamp": [f"must be within {window:.0f} s of now"]})
