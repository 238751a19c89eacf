"""A slow database command is logged by its shape: the fields and operators of its filter, never a
value (the logging through a real connection is in tests/integration/test_slow_commands.py)."""
from __future__ import annotations

import pytest

from documents.slow_commands import shape

pytestmark = pytest.mark.unit


def test_shape_keeps_fields_and_operators_and_drops_values():
    assert shape({"customer.email": "wang@example.cn", "_id": {"$in": ["O1", "O2"]}, "n": 3}) == \
        {"customer.email": "str", "_id": {"$in": ["str", 2]}, "n": "int"}
