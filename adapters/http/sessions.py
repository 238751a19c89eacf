"""Console sessions (admins only): list who is signed in to the console, and revoke a session.

A session's ``id`` is the SHA-256 of the random id in its browser's cookie (documents/sessions.py):
it names the session without being able to sign anyone in. Revoking deletes it at once: the
browser's next console request is sent to the login page.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from flask import jsonify
from flask_smorest import Blueprint

from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.openapi import responds
from adapters.http.schemas import SessionsSchema
from adapters.http.views import plain
from documents import sessions

blp = Blueprint("sessions", __name__, description="Console sessions (admins)")
_SESSION_ID = re.compile(r"^[0-9a-f]{64}$")


@blp.route("/v1/sessions", methods=["GET"])
@blp.alt_response(200, schema=SessionsSchema, description="Live console sessions", success=True)
@responds(403)
def list_sessions():
    """Console sessions not yet expired, most recently used first."""
    auth.require_role(auth.Role.ADMIN)
    rows = sessions.live(datetime.now(timezone.utc))
    return jsonify({"sessions": [plain({"id": r["_id"], "operator": r.get("operator"), "role": r.get("role"),
                                        "started_at": r.get("started_at"), "last_seen_at": r.get("last_seen_at"),
                                        "expires_at": r.get("expire_at")}) for r in rows]})


@blp.route("/v1/sessions/<session_id>", methods=["DELETE"])
@blp.alt_response(204, description="Ended", success=True)
@responds(403)
def revoke_session(session_id: str):
    """End a console session now."""
    auth.require_role(auth.Role.ADMIN)
    if not _SESSION_ID.match(session_id) or not sessions.delete(session_id):
        raise ApiError(404, "not_found", "no such console session")
    return "", 204
