"""Junk for the format mappers: JSON-ish values with a format's own tricky words, every path into a
real payload, and a payload with one field replaced (shared by the channel, WMS and tracking tests)."""
from __future__ import annotations

import copy

from hypothesis import strategies as st


def junk(*words: str):
    """Scalars, nested lists and dicts, and the given ``words`` (dates, numbers, status words)."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | st.sampled_from(list(words)),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )


def paths(value, prefix=()):
    """Every path into a JSON value (dict keys and list indices), the root first."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from paths(child, prefix + (key,))


def replaced(value, path, junk_value):
    """``value`` with the node at ``path`` replaced by ``junk_value`` (the root for an empty path)."""
    if not path:
        return junk_value
    out = copy.deepcopy(value)
    node = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = junk_value
    return out
