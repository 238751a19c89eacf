"""Who is calling: channels, warehouses and carriers by their own secret or token, operators by
API tokens carrying a role. One place decides, every view asks."""
from __future__ import annotations

import hmac
import os
from enum import IntEnum

from flask import request

from adapters.http.errors import ApiError
from documents import reference


class Role(IntEnum):
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


def require_party(kind: str, party_id: str) -> dict:
    """A warehouse or carrier calling about itself: its token must match. Returns its record."""
    record = reference.cached(kind, party_id)
    if record is None:
        raise ApiError(404, "not_found", f"unknown {kind[:-1]} {party_id!r}")
    token = record.get("token")
    if token and not _same(_bearer(), token):
        raise ApiError(401, "unauthorized", f"bad or missing token for {kind[:-1]} {party_id!r}")
    return record


def operator_tokens() -> dict[str, tuple[str, Role]]:
    """``ROUTER_API_TOKENS`` = ``name:role:token,...``; empty means open (a laptop default)."""
    tokens = {}
    for item in filter(None, os.environ.get("ROUTER_API_TOKENS", "").split(",")):
        name, role, token = item.split(":", 2)
        tokens[token] = (name, Role[role.upper()])
    return tokens


def require_role(role: Role) -> str:
    """The calling operator's name, if their token carries at least ``role``."""
    tokens = operator_tokens()
    if not tokens:
        return "anonymous"
    found = tokens.get(_bearer() or "")
    if found is None:
        raise ApiError(401, "unauthorized", "a valid operator token is required")
    name, has = found
    if has < role:
        raise ApiError(403, "forbidden", f"role {has.name.lower()} may not do this (needs {role.name.lower()})")
    return name


def require_payments() -> None:
    """Payment notices carry the payment service's token (``ROUTER_PAYMENTS_TOKEN``) when set."""
    token = os.environ.get("ROUTER_PAYMENTS_TOKEN")
    if token and not _same(_bearer(), token):
        raise ApiError(401, "unauthorized", "bad or missing payment service token")
