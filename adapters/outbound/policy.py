"""The retry policy for every outbound call, defined once.

A call is retried in-process a few times with short exponential backoff when the far side is
unreachable, times out, or answers 5xx / 429; a 4xx is final. A 429 (or 503) with ``Retry-After``
is :class:`RateLimited`: the next attempt waits at least that long, and a wait longer than
``MAX_RETRY_AFTER`` seconds is not waited for in-process (the error propagates at once). When the
in-process attempts run out the error propagates and the Dramatiq message is retried later with
its own backoff.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from config import get_settings
from services.ports import OutboundError

__all__ = ["OutboundError", "RateLimited", "outbound_retry", "http_client", "send", "retry_after_seconds"]

MAX_RETRY_AFTER = 10.0  # seconds: a longer Retry-After is left to the message's own retry


class RateLimited(OutboundError):
    """The far side said "too many requests" (429, or 503) and when to come back: ``retry_after``
    seconds (None when it did not say)."""

    def __init__(self, party: str, message: str, status: int, retry_after: float | None):
        super().__init__(party, message, status)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header's delay in seconds (Shopify sends ``2.0``); None when absent or
    not a number (an HTTP date is not honoured: none of our parties sends one)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return max(0.0, seconds) if seconds is not None and seconds == seconds else None  # NaN is no delay


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, OutboundError) and exc.retryable


def _told_to_wait(retry_state) -> float:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    return (exc.retry_after or 0.0) if isinstance(exc, RateLimited) else 0.0


def _attempts_run_out(retry_state) -> bool:
    return stop_after_attempt(get_settings().outbound_attempts)(retry_state) or \
        _told_to_wait(retry_state) > MAX_RETRY_AFTER


_backoff = wait_exponential(multiplier=0.2, max=2.0) + wait_random(0, 0.1)


def _wait(retry_state) -> float:
    return max(_backoff(retry_state), _told_to_wait(retry_state))


def outbound_retry(fn):
    """Decorate a call to a third party with the shared retry policy."""
    return retry(
        retry=retry_if_exception(_is_transient),
        stop=_attempts_run_out,  # read when called: nothing reads settings at import
        wait=_wait,
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


def send(party: str, method: str, url: str, *, json: Any = None, token: str | None = None,
         idempotency_key: str | None = None, content: bytes | None = None, headers: dict | None = None,
         auth: httpx.Auth | tuple[str, str] | None = None, params: dict | None = None,
         on_response: Callable[[httpx.Response], None] | None = None) -> Any:
    """One HTTP call, classified: returns the JSON body, or raises :class:`OutboundError`
    (:class:`RateLimited` for a 429, or a 503 with ``Retry-After``).
    ``content`` is a JSON body already encoded (when a signature covers its exact bytes); ``auth``
    is httpx's (``(user, password)`` for HTTP Basic); ``params`` the query string;
    ``on_response`` sees every answer before it is classified (a rate-limit header, say)."""
    headers = dict(headers or {})
    if content is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        response = http_client().request(method, url, json=json, content=content, headers=headers, auth=auth,
                                         params=params)
    except httpx.TimeoutException as exc:
        raise OutboundError(party, f"timeout: {exc}") from exc
    except httpx.TransportError as exc:
        raise OutboundError(party, f"transport: {exc}") from exc
    if on_response is not None:
        on_response(response)
    waited = retry_after_seconds(response.headers.get("Retry-After"))
    if response.status_code == 429 or (response.status_code == 503 and waited is not None):
        raise RateLimited(party, f"HTTP {response.status_code}: rate limited"
                          + (f", retry after {waited:g} s" if waited is not None else ""),
                          response.status_code, waited)
    if response.status_code >= 500:
        raise OutboundError(party, f"HTTP {response.status_code}", response.status_code)
    if response.status_code >= 400:
        raise OutboundError(party, f"HTTP {response.status_code}: {response.text[:200]}", response.status_code,
                            retryable=False)
    try:
        return response.json() if response.content else {}
    except ValueError as exc:
        raise OutboundError(party, "response is not JSON", response.status_code) from exc
