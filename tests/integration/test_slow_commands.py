"""Slow database commands are logged by shape through a real connection: the command, the
collection and the filter's fields, never a value."""
from __future__ import annotations

import uuid

import pytest
from structlog.testing import capture_logs

from documents import connection

pytestmark = pytest.mark.integration


def test_a_command_over_the_threshold_is_logged_by_shape(mongo_url):
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        db = connection.connect(mongo_url, name, slow_command_ms=0.001)  # every command is "slow"
        db.people.insert_one({"_id": "p1", "email": "wang@example.cn"})
        with capture_logs() as logs:
            assert db.people.find_one({"email": "wang@example.cn"})["_id"] == "p1"
        slow = [e for e in logs if e["event"] == "slow_db_command"]
        assert [(e["command"], e["collection"]) for e in slow] == [("find", "people")]
        assert slow[0]["shape"] == "{'email': 'str'}" and slow[0]["ms"] >= 0
        assert "wang@example.cn" not in str(logs)
        db = connection.connect(mongo_url, name)  # threshold 0: nothing is logged
        with capture_logs() as logs:
            db.people.find_one({"email": "wang@example.cn"})
        assert logs == []
    finally:
        connection.database().client.drop_database(name)
