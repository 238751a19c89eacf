"""Taobao Open Platform (TOP) calls, as TOP documents them: the signed system parameters, the
answer's envelope, and the errors. Pure: no I/O (the client is adapters/outbound/top.py, the
simulator adapters/simulators/top.py).

A call is ``POST {gateway}/router/rest`` with the system parameters ``method``, ``app_key``,
``session`` (the seller's session key), ``timestamp`` (GMT+8, ``yyyy-MM-dd HH:mm:ss``; TOP
refuses one more than 10 minutes off), ``v`` ``2.0``, ``format`` ``json``, ``sign_method`` and
``sign``, beside the API's own parameters. ``sign`` is computed over every parameter but
``sign`` itself (and empty ones), sorted by name and joined as ``name`` + ``value``:

- ``md5``: upper hex MD5 of secret + that + secret;
- ``hmac``: upper hex HMAC-MD5 of that, keyed by the app secret;
- ``hmac-sha256``: upper hex HMAC-SHA256 of that, keyed by the app secret.

An answer is ``{"<method with . as _ and the taobao_ prefix dropped>_response": {...}}``
(``trades_sold_increment_get_response``), or ``{"error_response": {"code", "msg", "sub_code",
"sub_msg"}}`` (with HTTP 200): :class:`TopError`.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Mapping

from adapters.errors import BadSignature
from adapters.native import CHINA_TIME

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # GMT+8
VERSION = "2.0"
MAX_CLOCK_SKEW_SECONDS = 600  # TOP's documented tolerance for ``timestamp``
SYSTEM_PARAMETERS = ("method", "app_key", "session", "timestamp", "v", "format", "sign_method", "sign")

# TOP's platform error codes (the ones this router meets or its simulator answers)
APP_CALL_LIMITED = 7
SERVICE_UNAVAILABLE = 10
REMOTE_SERVICE_ERROR = 15
INVALID_METHOD = 22
MISSING_SIGNATURE = 24
INVALID_SIGNATURE = 25
MISSING_SESSION = 26
INVALID_SESSION = 27
MISSING_APP_KEY = 28
INVALID_APP_KEY = 29
MISSING_TIMESTAMP = 30
INVALID_TIMESTAMP = 31
INVALID_VERSION = 33
MISSING_REQUIRED_ARGUMENTS = 40
INVALID_ARGUMENTS = 41
RETRYABLE_CODES = frozenset({APP_CALL_LIMITED, SERVICE_UNAVAILABLE})


class TopError(Exception):
    """An ``error_response``: TOP's ``code`` and ``msg``, and the API's ``sub_code`` / ``sub_msg``."""

    def __init__(self, code: int, msg: str, sub_code: str = "", sub_msg: str = ""):
        super().__init__(f"TOP error {code} {msg}" + (f" ({sub_code}: {sub_msg})" if sub_code or sub_msg else ""))
        self.code, self.msg, self.sub_code, self.sub_msg = code, msg, sub_code, sub_msg

    @property
    def retryable(self) -> bool:
        """Worth trying again later: the call limit, the service down, or an ``isp.`` (platform-side)
        sub-error; a wrong sign, session, argument or state is not."""
        return self.code in RETRYABLE_CODES or self.sub_code.startswith("isp.")

    def body(self) -> dict:
        """The ``error_response`` as TOP answers it."""
        error: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.sub_code:
            error["sub_code"] = self.sub_code
        if self.sub_msg:
            error["sub_msg"] = self.sub_msg
        return {"error_response": error}


def top_time(moment: datetime) -> str:
    """A time as TOP writes it: China time, ``yyyy-MM-dd HH:mm:ss``."""
    return moment.astimezone(CHINA_TIME).strftime(TIMESTAMP_FORMAT)


def parse_time(text: Any) -> datetime:
    """A TOP time (``yyyy-MM-dd HH:mm:ss``, GMT+8) as an aware datetime; raises ValueError."""
    return datetime.strptime(str(text).strip(), TIMESTAMP_FORMAT).replace(tzinfo=CHINA_TIME)


def sign(params: Mapping[str, Any], secret: str, method: str | None = None, body: bytes = b"") -> str:
    """TOP's ``sign`` of ``params`` (see the module doc), with ``body`` after them when the request
    signs its body too (Qimen does). ``method`` defaults to the parameters' own ``sign_method``,
    else ``md5``; an unknown one raises BadSignature."""
    method = (method or params.get("sign_method") or "md5").lower()
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if k != "sign" and k and v not in (None, ""))
    key, message = secret.encode(), text.encode() + body
    if method == "md5":
        return hashlib.md5(key + message + key).hexdigest().upper()
    if method == "hmac":
        return hmac.new(key, message, hashlib.md5).hexdigest().upper()
    if method == "hmac-sha256":
        return hmac.new(key, message, hashlib.sha256).hexdigest().upper()
    raise BadSignature(f"sign_method {method!r} is not one of {', '.join(SIGN_METHODS)}")


def system_parameters(method: str, app_key: str, session: str | None, now: datetime,
                      sign_method: str = "md5") -> dict[str, str]:
    """The system parameters of a call, before ``sign``."""
    params = {"method": method, "app_key": app_key, "timestamp": top_time(now), "v": VERSION, "format": "json",
              "sign_method": sign_method}
    if session:
        params["session"] = session
    return params


def signed(system: dict[str, str], business: Mapping[str, Any], secret: str) -> dict[str, str]:
    """``system`` with its ``sign`` over ``system`` and ``business`` together (what TOP checks)."""
    values = {k: _text(v) for k, v in business.items() if v is not None}
    return {**system, "sign": sign({**values, **system}, secret)}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form(business: Mapping[str, Any]) -> dict[str, str]:
    """The API's own parameters as the form body sends them (booleans as ``true`` / ``false``)."""
    return {k: _text(v) for k, v in business.items() if v is not None}


def response_key(method: str) -> str:
    """``taobao.trades.sold.increment.get`` -> ``trades_sold_increment_get_response``."""
    name = method[len("taobao."):] if method.startswith("taobao.") else method
    return name.replace(".", "_") + "_response"


def unwrap(method: str, body: Any) -> dict:
    """The answer to ``method``: its ``<name>_response`` object. Raises TopError for an
    ``error_response``, and for an answer without either (code 15, as a remote error)."""
    if isinstance(body, dict) and isinstance(body.get("error_response"), dict):
        error = body["error_response"]
        try:
            code = int(error.get("code"))
        except (TypeError, ValueError):
            code = REMOTE_SERVICE_ERROR
        raise TopError(code, str(error.get("msg") or ""), str(error.get("sub_code") or ""),
                       str(error.get("sub_msg") or ""))
    answer = body.get(response_key(method)) if isinstance(body, dict) else None
    if not isinstance(answer, dict):
        raise TopError(REMOTE_SERVICE_ERROR, "Remote service error", "isp.bad-response",
                       f"no {response_key(method)} in the answer")
    return answer


def listed(answer: dict, plural: str, singular: str) -> list[dict]:
    """A TOP list: ``{"trades": {"trade": [...]}}`` (one element may come bare, an empty list
    may be absent)."""
    outer = answer.get(plural)
    inner = outer.get(singular) if isinstance(outer, dict) else outer
    if isinstance(inner, dict):
        return [inner]
    return [x for x in inner if isinstance(x, dict)] if isinstance(inner, list) else []


def check_request(params: Mapping[str, str], *, app_key: str, secret: str, session: str | None,
                  now: datetime) -> None:
    """What TOP checks of a call before it runs the API, in its order: app key, sign, version,
    session and timestamp. Raises TopError with TOP's code."""
    if not params.get("app_key"):
        raise TopError(MISSING_APP_KEY, "Missing App Key")
    if params["app_key"] != app_key:
        raise TopError(INVALID_APP_KEY, "Invalid App Key")
    _check_sign(params, secret)
    if params.get("v") != VERSION:
        raise TopError(INVALID_VERSION, "Invalid Version")
    if session is not None:
        if not params.get("session"):
            raise TopError(MISSING_SESSION, "Missing Session")
        if params["session"] != session:
            raise TopError(INVALID_SESSION, "Invalid Session", "invalid-sessionkey", "session key is not valid")
    _check_timestamp(params, now)


def _check_sign(params: Mapping[str, str], secret: str) -> None:
    if not params.get("sign"):
        raise TopError(MISSING_SIGNATURE, "Missing Signature")
    try:
        expected = sign(params, secret)
    except BadSignature:
        raise TopError(INVALID_SIGNATURE, "Invalid Signature", "isv.invalid-sign-method",
                       f"sign_method {params.get('sign_method')!r}") from None
    if not hmac.compare_digest(expected.encode(), str(params["sign"]).upper().encode("utf-8", "replace")):
        raise TopError(INVALID_SIGNATURE, "Invalid Signature")


def _check_timestamp(params: Mapping[str, str], now: datetime) -> None:
    if not params.get("timestamp"):
        raise TopError(MISSING_TIMESTAMP, "Missing Timestamp")
    try:
        stamped = parse_time(params["timestamp"])
    except ValueError:
        raise TopError(INVALID_TIMESTAMP, "Invalid Timestamp", "isv.invalid-timestamp",
                       "timestamp is not yyyy-MM-dd HH:mm:ss") from None
    if abs((now - stamped).total_seconds()) > MAX_CLOCK_SKEW_SECONDS:
        raise TopError(INVALID_TIMESTAMP, "Invalid Timestamp", "isv.invalid-timestamp",
                       "timestamp is more than 10 minutes from the server's time")
