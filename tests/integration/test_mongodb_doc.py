"""docs/mongodb.md stays true of the indexes: its table of indexes, collection by collection and key
by key (with unique and TTL), is what ``documents.indexes.ensure_indexes`` creates on a fresh
database, and every collection a document of ``documents/`` declares has its rows. A new index
without a row, a row for an index that is gone, or a new collection left out, fails here."""
from __future__ import annotations

import re
from pathlib import Path

import mongoengine as me
import pytest
from mongoengine.base import _document_registry

from documents import risk
from router.risk import VELOCITY_KEYS, RiskRules

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "mongodb.md"
HEADER = "| collection | index keys | options | used by |"
KEY = re.compile(r"^([\w.$]+): (1|-1)$")

Keys = tuple[tuple[str, int], ...]


def documented_indexes(text: str) -> dict[str, dict[Keys, frozenset[str]]]:
    """``{collection: {keys: options}}`` from the index table of docs/mongodb.md (the table under
    ``HEADER``: one index per row, keys in backticks as ``field: 1, other: -1``, options as words)."""
    lines = text.splitlines()
    assert HEADER in lines, f"docs/mongodb.md has no table headed {HEADER!r}"
    start = lines.index(HEADER) + 2  # past the header and its |---| line
    found: dict[str, dict[Keys, frozenset[str]]] = {}
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"docs/mongodb.md:{number}: expected 4 cells, got {len(cells)}: {line}"
        collection, keys_cell, options_cell, used_by = cells
        spec = re.fullmatch(r"`([^`]+)`", keys_cell)
        assert spec, f"docs/mongodb.md:{number}: index keys not in backticks: {keys_cell!r}"
        keys = []
        for part in spec.group(1).split(", "):
            key = KEY.match(part)
            assert key, f"docs/mongodb.md:{number}: not 'field: 1' or 'field: -1': {part!r}"
            keys.append((key.group(1), int(key.group(2))))
        assert used_by, f"docs/mongodb.md:{number}: say which queries use the index (or 'nothing today')"
        rows = found.setdefault(collection, {})
        assert tuple(keys) not in rows, f"docs/mongodb.md:{number}: {collection} {keys} listed twice"
        rows[tuple(keys)] = frozenset(options_cell.replace(",", " ").split())
    return found


def created_indexes(db, collections: set[str]) -> dict[str, dict[Keys, frozenset[str]]]:
    """``{collection: {keys: options}}`` as the server reports them; a collection that does not
    exist yet (nothing declared an index on it) has its ``_id`` index alone, as it will."""
    out: dict[str, dict[Keys, frozenset[str]]] = {}
    for name in collections:
        info = db[name].index_information() if name in db.list_collection_names() else {"_id_": {"key": [("_id", 1)]}}
        out[name] = {}
        for index in info.values():
            keys = tuple((field, int(direction)) for field, direction in index["key"])
            options = {"unique"} if index.get("unique") or keys == (("_id", 1),) else set()
            if "expireAfterSeconds" in index:
                options.add("ttl")
            out[name][keys] = frozenset(options)
    return out


def declared_collections() -> set[str]:
    """Every collection a mongoengine document of ``documents/`` declares (ensure_indexes imports
    them all)."""
    return {cls._get_collection_name() for cls in _document_registry.values()
            if issubclass(cls, me.Document) and cls.__module__.startswith("documents.")
            and not cls._meta.get("abstract")}


PER_RULE = "per-rule"  # an index made only while a rule that queries by it is in force


def test_the_index_table_of_docs_mongodb_md_is_what_ensure_indexes_creates(db):
    # Given every index made on a fresh database, as every entry point makes them (no risk rules:
    # none of the per-rule indexes)
    table = documented_indexes(DOC.read_text(encoding="utf-8"))
    documented = {name: {keys: options for keys, options in rows.items() if PER_RULE not in options}
                  for name, rows in table.items()}
    collections = declared_collections() | set(db.list_collection_names())
    created = created_indexes(db, collections)
    _same(documented, created)

    # When velocity rules on every key are in force, the per-rule rows are there too
    risk.ensure_order_indexes(RiskRules.from_dict({"version": "v1", "velocity": [
        {"key": key, "max_orders": 5, "window_minutes": 60} for key in VELOCITY_KEYS]}))
    _same({name: {keys: options - {PER_RULE} for keys, options in rows.items()} for name, rows in table.items()},
          created_indexes(db, collections))

    # And when the rules no longer use them, they are gone again
    risk.ensure_order_indexes(RiskRules.from_dict({"version": "v2"}))
    _same(documented, created_indexes(db, collections))


def _same(documented: dict, created: dict) -> None:
    """Every collection is documented, and nothing else is; per collection the same indexes, key by
    key, with the same options."""
    assert sorted(documented) == sorted(created), (
        f"collections without rows in docs/mongodb.md: {sorted(set(created) - set(documented))}; "
        f"rows for collections the code has not: {sorted(set(documented) - set(created))}")
    for name in sorted(created):
        missing = {keys: created[name][keys] for keys in created[name].keys() - documented[name].keys()}
        gone = {keys: documented[name][keys] for keys in documented[name].keys() - created[name].keys()}
        assert not missing and not gone, (
            f"{name}: indexes without a row in docs/mongodb.md: {missing}; rows for indexes not created: {gone}")
        for keys in created[name]:
            assert documented[name][keys] == created[name][keys], \
                f"{name} {keys}: options {sorted(created[name][keys])} created, {sorted(documented[name][keys])} documented"


def test_the_table_parser_reads_what_the_document_says():
    """The parser itself: a row's keys in order with their directions, its options, and the end of
    the table at the first line that is not a row."""
    text = "\n".join([
        "intro", HEADER, "|---|---|---|---|",
        "| orders | `_id: 1` | unique | `orders.load` |",
        "| orders | `status: 1, placed_at: -1, _id: -1` |  | `queries.list_rows` |",
        "| sessions | `expire_at: 1` | ttl | the TTL monitor |",
        "", "| not | `part: 1` | of | it |"])
    assert documented_indexes(text) == {
        "orders": {(("_id", 1),): frozenset({"unique"}),
                   (("status", 1), ("placed_at", -1), ("_id", -1)): frozenset()},
        "sessions": {(("expire_at", 1),): frozenset({"ttl"})}}
    with pytest.raises(AssertionError, match="not 'field: 1'"):
        documented_indexes("\n".join([HEADER, "|---|---|---|---|", "| orders | `placed_at desc` |  | x |"]))
