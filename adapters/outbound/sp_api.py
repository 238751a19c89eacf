"""Calls to Amazon's Selling Partner API for one channel, authorised and paced as Amazon documents.

Authorisation: Login with Amazon. The channel's refresh token is exchanged for an access token
(``POST {lwa_token_url}``, form ``grant_type=refresh_token``, ``refresh_token``, ``client_id``,
``client_secret``; the answer's ``access_token`` and ``expires_in``), kept in the process per
channel until shortly before it expires (``REFRESH_MARGIN``, at most a tenth of its life), and sent
as ``x-amz-access-token`` on every call (never ``Authorization``). A call refused 403
``Unauthorized`` (the token expired early or was revoked) exchanges once more and is tried again.
Seed keys: ``api_url`` (the SP-API endpoint, ``https://sellingpartnerapi-na.amazon.com``),
``lwa_client_id``, ``lwa_client_secret``, ``lwa_refresh_token``, ``lwa_token_url`` (default
``https://api.amazon.com/auth/o2/token``).

Rate limits: each operation's documented rate and burst (``RATES``: getOrders 0.0167/s burst 20,
getOrderItems 0.5/s burst 30, confirmShipment 2/s burst 10) is a token bucket per channel and
operation in the process, whose rate follows the ``x-amzn-RateLimit-Limit`` header Amazon sends
(the rate it grants this seller); a call waits for its token (a tenth longer, ``SLACK``: Amazon
counts on its own clock). After a 429 the bucket's burst is one (Amazon states its rate, never
its burst). A 429 waits ``Retry-After`` when
given, else the time one request takes at that rate, and is tried again (``RATE_LIMIT_TRIES``
times); a wait longer than ``MAX_WAIT`` seconds is not made in the process: the call fails
retryable and is tried again later (the next poll, the outbox's retry).

Raised: OutboundError (retryable for timeouts, transport errors, 5xx, 429s past the tries).
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from adapters.outbound.policy import OutboundError, http_client

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"
REFRESH_MARGIN = 60.0  # seconds before expiry a cached access token is exchanged again
RATES: dict[str, tuple[float, int]] = {  # documented (requests per second, burst), Orders API v0
    "getOrders": (0.0167, 20),
    "getOrderItems": (0.5, 30),
    "confirmShipment": (2.0, 10),
}
DEFAULT_RATE = (0.5, 10)
MAX_WAIT = 60.0  # seconds waited in the process for one request's turn
SLACK = 1.1  # a turn is waited a tenth longer: Amazon's bucket is measured on its clock, not ours
RATE_LIMIT_TRIES = 6
RATE_HEADER = "x-amzn-RateLimit-Limit"
USER_AGENT = "orderrouter/1 (Language=Python)"


def party(channel: dict) -> str:
    return f"channel:{channel['_id']}"


# --- Login with Amazon --------------------------------------------------------------------------


@dataclass
class _Token:
    value: str
    good_until: float  # time.monotonic()


_tokens: dict[tuple, _Token] = {}
_tokens_lock = threading.Lock()


def _credentials(channel: dict) -> tuple[str, str, str, str]:
    missing = [k for k in ("lwa_client_id", "lwa_client_secret", "lwa_refresh_token") if not channel.get(k)]
    if missing:
        raise OutboundError(party(channel), f"SP-API calls need the channel's {', '.join(missing)} "
                            "(Login with Amazon)", retryable=False)
    return (channel.get("lwa_token_url") or LWA_TOKEN_URL, channel["lwa_client_id"], channel["lwa_client_secret"],
            channel["lwa_refresh_token"])


def _cache_key(channel: dict, credentials: tuple[str, str, str, str]) -> tuple:
    # per channel, and per credentials (a seed change takes effect at once); no secret kept in the key
    return channel["_id"], hashlib.sha256("\n".join(credentials).encode()).hexdigest()


def access_token(channel: dict, *, renew: bool = False) -> str:
    """The channel's SP-API access token, from the cache unless ``renew`` or about to expire."""
    credentials = _credentials(channel)
    key = _cache_key(channel, credentials)
    with _tokens_lock:
        cached = _tokens.get(key)
        if cached and not renew and time.monotonic() < cached.good_until:
            return cached.value
    token = _exchange(channel, credentials)
    with _tokens_lock:
        _tokens[key] = token
    return token.value




def _exchange(channel: dict, credentials: tuple[str, str, str, str]) -> _Token:
    url, client_id, client_secret, refresh_token = credentials
    who = party(channel)
    started = time.monotonic()
    try:
        response = http_client().post(url, data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                                 "client_id": client_id, "client_secret": client_secret},
                                      headers={"User-Agent": USER_AGENT})
    except httpx.TimeoutException as exc:
        raise OutboundError(who, f"LWA token: timeout: {exc}") from exc
    except httpx.TransportError as exc:
        raise OutboundError(who, f"LWA token: transport: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise OutboundError(who, f"LWA token: HTTP {response.status_code}", response.status_code)
    body = _json(response)
    if response.status_code >= 400:  # invalid_grant, invalid_client...: the credentials are wrong
        raise OutboundError(who, f"LWA token refused: HTTP {response.status_code} {body.get('error', '')}: "
                            f"{body.get('error_description', '')}".rstrip(": "), response.status_code,
                            retryable=False)
    try:
        value, lifetime = str(body["access_token"]), float(body["expires_in"])
    except (KeyError, TypeError, ValueError) as exc:
        raise OutboundError(who, "LWA token: answer without access_token / expires_in", response.status_code) from exc
    margin = min(REFRESH_MARGIN, lifetime / 10)
    return _Token(value, started + lifetime - margin)


# --- rate limits ----------------------------------------------------------------------------------


class Bucket:
    """A token bucket: ``rate`` requests a second, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.at = float(burst), clock()
        self.lock = threading.Lock()

    def _fill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now

    def reserve(self) -> float:
        """Take one request's token; returns how long to wait before making it (0: at once). The
        token is taken when the request goes out, so the next turn counts from then."""
        with self.lock:
            self._fill()
            wait = 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate * SLACK
            self.tokens = min(float(self.burst), self.tokens + wait * self.rate) - 1
            self.at += wait
            return wait

    def give_back(self) -> None:
        """A reserved request was not made after all."""
        with self.lock:
            self.tokens = min(float(self.burst), self.tokens + 1)

    def refuse(self) -> None:
        """The far side said 429: its bucket is empty, and its burst smaller than we thought (it
        says only its rate): from now on one request a turn."""
        with self.lock:
            self._fill()
            self.tokens, self.burst = min(self.tokens, 0.0), 1

    def granted(self, rate: float) -> None:
        """The rate the far side says it grants (``x-amzn-RateLimit-Limit``)."""
        if rate > 0 and rate == rate:  # NaN is no rate
            with self.lock:
                self._fill()
                self.rate = rate


_buckets: dict[tuple[str, str], Bucket] = {}
_buckets_lock = threading.Lock()


def bucket(channel_id: str, operation: str) -> Bucket:
    with _buckets_lock:
        found = _buckets.get((channel_id, operation))
        if found is None:
            found = _buckets[(channel_id, operation)] = Bucket(*RATES.get(operation, DEFAULT_RATE))
        return found


def _wait(who: str, seconds: float, what: str, pace: Bucket | None = None) -> None:
    if seconds > MAX_WAIT:
        if pace is not None:
            pace.give_back()  # the request is not made now
        raise OutboundError(who, f"{what}: rate limited, next turn in {seconds:.0f} s (tried again later)", 429)
    if seconds > 0:
        time.sleep(seconds)


def forget() -> None:
    """Drop every cached access token and rate learned (a test starting afresh)."""
    with _tokens_lock:
        _tokens.clear()
    with _buckets_lock:
        _buckets.clear()


# --- calls --------------------------------------------------------------------------------------


def call(channel: dict, operation: str, method: str, path: str, *, params: dict | None = None,
         json: Any = None) -> dict:
    """One SP-API ``operation`` (``getOrders``...): ``method`` ``{api_url}{path}``; returns the JSON
    answer ({} for none). Raises OutboundError."""
    who = party(channel)
    if not channel.get("api_url"):
        raise OutboundError(who, "SP-API calls need the channel's api_url", retryable=False)
    url = f"{channel['api_url'].rstrip('/')}{path}"
    pace = bucket(channel["_id"], operation)
    renewed = False
    for _ in range(RATE_LIMIT_TRIES):
        _wait(who, pace.reserve(), operation, pace)
        token = access_token(channel)
        try:
            response = http_client().request(method, url, params=params, json=json, headers={
                "x-amz-access-token": token, "User-Agent": USER_AGENT, "Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise OutboundError(who, f"{operation}: timeout: {exc}") from exc
        except httpx.TransportError as exc:
            raise OutboundError(who, f"{operation}: transport: {exc}") from exc
        granted = _number(response.headers.get(RATE_HEADER))
        if granted is not None:
            pace.granted(granted)
        if response.status_code == 403 and not renewed and _unauthorized(response):
            access_token(channel, renew=True)  # expired before we thought, or revoked: once more
            renewed = True
            continue
        if response.status_code == 429:  # Amazon's bucket is empty: wait as told, else the next turn
            pace.refuse()
            told = _number(response.headers.get("Retry-After"))
            if told is not None:
                _wait(who, told, operation)
            continue
        return _classified(who, operation, response)
    raise OutboundError(who, f"{operation}: still rate limited after {RATE_LIMIT_TRIES} tries", 429)


def _classified(who: str, operation: str, response: httpx.Response) -> dict:
    if response.status_code >= 500:
        raise OutboundError(who, f"{operation}: HTTP {response.status_code}", response.status_code)
    if response.status_code >= 400:
        raise OutboundError(who, f"{operation}: HTTP {response.status_code}: {response.text[:300]}",
                            response.status_code, retryable=False)
    return _json(response) if response.content else {}


def _unauthorized(response: httpx.Response) -> bool:
    errors = _json(response).get("errors")
    return isinstance(errors, list) and any(isinstance(e, dict) and e.get("code") == "Unauthorized" for e in errors)


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value == value and value >= 0 else None
