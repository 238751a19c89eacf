"""Console sessions, kept server-side: the browser's cookie holds only a random session id, and
its record here is keyed by that id's SHA-256 (a copy of this collection signs nobody in).

A record names the operator and the SHA-256 of the token they signed in with (never the token),
the session's own small data (its CSRF token, pending flash messages), when it started, when it
was last used and ``expire_at``: the earlier of its idle end and its absolute end, which the
console's session code moves on as the session is used. A TTL index removes a record once it
passes ``expire_at``; until the TTL monitor gets to it, reads already ignore it. Ending a session
(sign-out, an admin revoking it) deletes its record.
"""
from __future__ import annotations

from datetime import datetime

import mongoengine as me

from documents.codec import from_bson


class ConsoleSession(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # sha256 hex of the cookie's session id
    meta = {"collection": "console_sessions",
            "indexes": [{"fields": ["expire_at"], "expireAfterSeconds": 0}, {"fields": ["operator"]}]}


DOCUMENTS = (ConsoleSession,)


def _sessions():
    return ConsoleSession._get_collection()


def insert(key: str, record: dict) -> None:
    _sessions().insert_one({"_id": key, **record})


def find_live(key: str, now: datetime) -> dict | None:
    """The session under ``key`` if it has not expired at ``now``."""
    found = _sessions().find_one({"_id": key, "expire_at": {"$gt": now}})
    return from_bson(found) if found else None


def touch(key: str, now: datetime, expire_at: datetime) -> None:
    """The session was used at ``now``: its idle end moves on (never past its absolute end)."""
    _sessions().update_one({"_id": key}, {"$set": {"last_seen_at": now, "expire_at": expire_at}})


def save_data(key: str, data: dict) -> None:
    _sessions().update_one({"_id": key}, {"$set": {"data": data}})


def delete(key: str) -> bool:
    """End the session under ``key``; False when there was none."""
    return _sessions().delete_one({"_id": key}).deleted_count == 1


def live(now: datetime, limit: int = 500) -> list[dict]:
    """Sessions not expired at ``now``, most recently used first (never their data)."""
    cursor = _sessions().find({"expire_at": {"$gt": now}}, {"data": 0, "token_sha256": 0})
    return [from_bson(d) for d in cursor.sort("last_seen_at", -1).limit(limit)]
