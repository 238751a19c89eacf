"""Calls to the Taobao Open Platform for one channel, signed as TOP documents
(adapters/channels/top.py): ``POST {api_url}/router/rest`` with the system parameters and their
``sign`` in the query string and the API's own parameters as the form body.

The channel's seed keys: ``api_url`` (the gateway, ``https://eco.taobao.com``), ``app_key``,
``secret`` (the app secret), ``api_token`` (the seller's session key) and ``sign_method``
(``md5``, the default, ``hmac`` or ``hmac-sha256``).

An answer is unwrapped to its ``<name>_response``. An ``error_response`` raises
:class:`TopCallError` (an OutboundError carrying TOP's error), retryable for TOP's call limit
(code 7), service unavailable (10) and platform-side (``isp.``) errors; a timeout, a transport
error, a 5xx or a 429 are retryable too; a wrong sign, session or argument is final.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx

from adapters.channels import top
from adapters.channels.top import TopError
from adapters.outbound.policy import OutboundError, http_client

PATH = "/router/rest"


class TopCallError(OutboundError):
    """TOP answered ``error_response``: ``error`` is it."""

    def __init__(self, party: str, error: TopError):
        super().__init__(party, str(error), retryable=error.retryable)
        self.error = error


def party(channel: dict) -> str:
    return f"channel:{channel['_id']}"


def call(channel: dict, method: str, business: dict[str, Any], now: datetime | None = None) -> dict:
    """One TOP call of ``method`` with the API parameters ``business``; returns its answer
    (``<name>_response``). Raises OutboundError (TopCallError for TOP's own error)."""
    who = party(channel)
    missing = [k for k in ("api_url", "app_key", "secret", "api_token") if not channel.get(k)]
    if missing:
        raise OutboundError(who, f"TOP calls need the channel's {', '.join(missing)}", retryable=False)
    system = top.system_parameters(method, channel["app_key"], channel["api_token"],
                                   now or datetime.now(timezone.utc), channel.get("sign_method") or "md5")
    query = top.signed(system, business, channel["secret"])
    try:
        response = http_client().post(f"{channel['api_url'].rstrip('/')}{PATH}", params=query,
                                      data=top.form(business))
    except httpx.TimeoutException as exc:
        raise OutboundError(who, f"timeout: {exc}") from exc
    except httpx.TransportError as exc:
        raise OutboundError(who, f"transport: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise OutboundError(who, f"HTTP {response.status_code}", response.status_code)
    if response.status_code >= 400:
        raise OutboundError(who, f"HTTP {response.status_code}: {response.text[:200]}", response.status_code,
                            retryable=False)
    try:
        body = response.json()
    except ValueError as exc:
        raise OutboundError(who, "TOP answer is not JSON", response.status_code) from exc
    try:
        return top.unwrap(method, body)
    except TopError as exc:
        raise TopCallError(who, exc) from exc
