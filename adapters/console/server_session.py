"""Console sessions kept server-side (documents/sessions.py): the cookie is a random id, nothing else.

Flask's ``session`` of a console request is a :class:`ConsoleSession`. Opening it reads nothing:
the console's guard calls :func:`load` first thing (API requests never carry the cookie, whose
path is ``/console``, and a database outage then surfaces inside the request, as a 503). Signing
in starts a new session (a new id: a session id planted before sign-in is never promoted) holding
the operator's name, role, the SHA-256 of their token and a CSRF token; every later request finds
the operator by that hash among the tokens configured now, so removing a token from
``ROUTER_API_TOKENS`` ends its sessions. A session ends ``ROUTER_CONSOLE_IDLE_MINUTES`` after its
last use and ``ROUTER_CONSOLE_MAX_HOURS`` after sign-in at the latest; signing out (or an admin
revoking it, ``DELETE /v1/sessions/{id}``) deletes it.

Before sign-in there is no session at all: the login form's CSRF token is a random nonce in a
cookie of its own (``router_login``) with the form carrying its HMAC under the app's secret key
(a double-submit that a cookie planted from a sibling domain cannot satisfy).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta, timezone

from flask import current_app, g, request, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from config import get_settings
from documents import sessions

COOKIE = "router_console"
LOGIN_COOKIE = "router_login"
COOKIE_PATH = "/console"
_SID = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
TOUCH_EVERY = timedelta(seconds=60)  # a used session's idle end is moved on at most this often


def key_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ConsoleSession(CallbackDict, SessionMixin):
    """One request's session: empty and unknown until :func:`load`."""

    def __init__(self, sid: str | None):
        def on_update(self_) -> None:
            self_.modified = True

        super().__init__({}, on_update)
        self.sid = sid if sid and _SID.match(sid) else None
        self.key: str | None = None  # the stored record's key, once loaded and live
        self.record: dict | None = None
        self.loaded = False
        self.modified = False
        self.started: str | None = None  # a new session id the response sets as the cookie
        self.ended = bool(sid) and self.sid is None  # the response clears the cookie


class ServerSessions(SessionInterface):
    """Flask's session interface over documents/sessions.py."""

    def open_session(self, app, request_) -> ConsoleSession:
        return ConsoleSession(request_.cookies.get(COOKIE))

    def save_session(self, app, session, response) -> None:
        if not isinstance(session, ConsoleSession):
            return
        if session.started:
            response.set_cookie(COOKIE, session.started, path=COOKIE_PATH, httponly=True, samesite="Strict",
                                secure=request.is_secure)
        elif session.ended:
            response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict",
                                   secure=request.is_secure)
        if session.key and session.modified:
            sessions.save_data(session.key, dict(session))
        nonce = g.get("new_login_nonce")
        if nonce:
            response.set_cookie(LOGIN_COOKIE, nonce, path=COOKIE_PATH, httponly=True, samesite="Strict",
                                secure=request.is_secure)


def current() -> ConsoleSession:
    """This request's session (the object behind Flask's ``session`` proxy)."""
    found = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(found, ConsoleSession):
        raise RuntimeError("the console needs ServerSessions as the app's session interface")
    return found


def key() -> str | None:
    """The stored key of this request's live session, or None."""
    return current().key


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _limits(record: dict, now: datetime) -> datetime:
    settings = get_settings()
    absolute = record["started_at"] + timedelta(hours=settings.console_max_hours)
    return min(now + timedelta(minutes=settings.console_idle_minutes), absolute)


def load(now: datetime | None = None) -> None:
    """Read the session the cookie names (once per request); an unknown or expired one is dropped."""
    session = current()
    if session.loaded:
        return
    session.loaded = True
    if session.sid is None:
        return
    now = now or _now()
    stored = key_of(session.sid)
    record = sessions.find_live(stored, now)
    if record is None or record["started_at"] + timedelta(hours=get_settings().console_max_hours) <= now:
        session.ended = True  # revoked, expired or never existed: the cookie goes
        return
    dict.update(session, record.get("data") or {})  # not a modification
    session.key, session.record = stored, record
    if now - record.get("last_seen_at", record["started_at"]) >= TOUCH_EVERY:
        sessions.touch(stored, now, _limits(record, now))


def start(operator: str, role: str, token: str, now: datetime | None = None) -> None:
    """Sign in: a new session (and id) for ``operator``; any session the request had ends."""
    session = current()
    now = now or _now()
    if session.key:
        sessions.delete(session.key)
    sid = secrets.token_urlsafe(32)
    data = {"csrf": secrets.token_urlsafe(32)}
    record: dict = {"operator": operator, "role": role, "token_sha256": key_of(token), "started_at": now,
                    "last_seen_at": now, "data": data}
    record["expire_at"] = _limits(record, now)
    sessions.insert(key_of(sid), record)
    dict.clear(session)
    dict.update(session, data)
    session.sid, session.key, session.record, session.started = sid, key_of(sid), record, sid
    session.ended, session.modified = False, False


def end() -> None:
    """Sign out: the record is deleted and the cookie cleared."""
    session = current()
    if session.key:
        sessions.delete(session.key)
    dict.clear(session)
    session.key = session.record = session.started = None
    session.ended, session.modified = True, False


def token_sha256() -> str | None:
    return (current().record or {}).get("token_sha256")


def csrf_token() -> str:
    """The token forms carry: the session's own once signed in, else the login nonce's HMAC."""
    session = current()
    if session.key:
        return session["csrf"]
    nonce = g.get("new_login_nonce") or _login_nonce()
    if nonce is None:
        nonce = g.new_login_nonce = secrets.token_urlsafe(32)
    return _sign(nonce)


def csrf_ok(sent: str | None) -> bool:
    session = current()
    if session.key:
        expected = session.get("csrf") or ""
    else:
        nonce = _login_nonce()
        if nonce is None:
            return False
        expected = _sign(nonce)
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


def _login_nonce() -> str | None:
    nonce = request.cookies.get(LOGIN_COOKIE)
    return nonce if nonce and _SID.match(nonce) else None


def _sign(nonce: str) -> str:
    key = current_app.secret_key
    key_bytes = key.encode() if isinstance(key, str) else bytes(key or b"")
    return hmac.new(key_bytes, nonce.encode(), hashlib.sha256).hexdigest()
