"""The console's buttons call the JSON API in-process, as the signed-in operator.

A sub-request through the app's own WSGI stack (not a loopback socket): the API's validation,
role checks, state rules and error mapping apply exactly as for any other client, and the
console needs no second copy of any command. The sub-request carries no token (the session does
not hold one): it names the operator the server-side session resolved in its WSGI environ
(``auth.CONSOLE_OPERATOR``), a key no HTTP client can set.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g

from adapters.http import auth


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    body: dict | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        error = (self.body or {}).get("error") or {}
        details = error.get("details") or {}
        extra = "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                          for k, v in details.items() if v and k not in ("current", "command", "allowed"))
        text = error.get("message") or f"HTTP {self.status}"
        return f"{text} ({extra})" if extra else text


def call(method: str, path: str, json: dict | None = None, raw: bool = False):
    """Call the API at ``path`` as the signed-in operator. Returns an :class:`ApiAnswer`, or the
    raw response (``raw=True``, e.g. for CSV)."""
    operator = g.get("operator")
    environ = {auth.CONSOLE_OPERATOR: (operator.name, operator.role)} if operator else {}
    with current_app.test_client() as client:  # werkzeug's WSGI client: an in-process sub-request
        response = client.open(path, method=method, json=json, environ_overrides=environ)
    if raw:
        return response
    return ApiAnswer(response.status_code, response.get_json(silent=True))
