"""The retry policy for every outbound call, defined once.

A call is retried in-process a few times with short exponential backoff when the far side is
unreachable, times out, or answers 5xx / 429; a 4xx is final. When the in-process attempts run
out the error propagates and the Dramatiq message is retried later with its own backoff.
"""
from __future__ import annotations

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from config import get_settings
from services.ports import OutboundError

__all__ = ["OutboundError", "outbound_retry", "http_client", "send"]


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, OutboundError) and exc.retryable


def _attempts_run_out(retry_state) -> bool:
    return stop_after_attempt(get_settings().outbound_attempts)(retry_state)


def outbound_retry(fn):
    """Decorate a call to a third party with the shared retry policy."""
    return retry(
        retry=retry_if_exception(_is_transient),
        stop=_attempts_run_out,  # read when called: nothing reads settings at import
        wait=wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.1),
        reraise=True,
    )(fn)


_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One pooled client per process, with timeouts always on."""
    global _client
    if _client is None:
        timeout = get_settings().http_timeout
        _client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 3.0)),
                               limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
    return _client


def send(party: str, method: str, url: str, *, json: dict | None = None, token: str | None = None,
         idempotency_key: str | None = None, content: bytes | None = None, headers: dict | None = None) -> dict:
    """One HTTP call, classified: returns the JSON body, or raises :class:`OutboundError`.
    ``content`` is a JSON body already encoded (when a signature covers its exact bytes)."""
    headers = dict(headers or {})
    if content is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        response = http_client().request(method, url, json=json, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise OutboundError(party, f"timeout: {exc}") from exc
    except httpx.TransportError as exc:
        raise OutboundError(party, f"transport: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise OutboundError(party, f"HTTP {response.status_code}", response.status_code)
    if response.status_code >= 400:
        raise OutboundError(party, f"HTTP {response.status_code}: {response.text[:200]}", response.status_code,
                            retryable=False)
    try:
        return response.json() if response.content else {}
    except ValueError as exc:
        raise OutboundError(party, "response is not JSON", response.status_code) from exc
