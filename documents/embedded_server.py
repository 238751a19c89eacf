"""The embedded server's entry point: SecantusDB's own (``secantusd-py``), with one fix to how it
finds the documents a write touches.

SecantusDB 0.7.0b3 finds the documents of an update or delete whose filter is ``_id`` alone with a
point lookup, but a filter with ``_id`` and anything more (every guarded change here: an order at
a ``version``, a fulfilment's ``$elemMatch``, a stock level's hold) first goes through each of its
index pickers, reading the collection's index definitions from storage several times over, before
one clause ends on ``_id``: ``python bench/dbops.py [--unpatched]`` measured a version-guarded
order update at 2.95 ms of server CPU unpatched and 1.90 patched, a positional one 2.35 and 1.95,
against 1.85-1.95 for the same update by ``_id`` alone. :func:`patch` makes the write path look ``_id`` up first when it
is a plain point lookup (an equality or ``$in``); the candidates are matched against the whole
filter by the caller, as after any index lookup, so what is written is unchanged. Applied to the
release it was written against only: any other runs as it comes. Reads are left alone. A real
``mongod`` caches its plans and needs none of this.

A second fix keeps the catalog in memory, as ``mongod`` does: SecantusDB reads a database's
profiling level, a collection's options and its index definitions from storage (and decodes
them) for every command and every written document; py-spy on the server during
``bench/e2e.py`` put 30 % of its CPU there. :class:`_Catalog` caches those reads and forgets all of
them after any change to the catalog (index, collection or database created, dropped, renamed or
altered, options or profiling set), under a generation count so that a read racing a change is
not kept. An index's multikey flag, which ordinary writes set, is still read from storage.

A third copies documents faster: every update deep-copies the stored document before changing it,
and a projection the documents it returns, with ``copy.deepcopy``, whose bookkeeping for shared
and recursive objects decoded BSON never has (145 against 29 us for a 2 KB order).
:func:`plain_copy` copies dicts and lists itself, keeps immutable scalars and hands anything else
to ``copy.deepcopy``.

A stop is bounded: asked to stop (SIGTERM, or ``orderrouter up``'s death through
``adapters/lifeline.py``), the server arms ``alarm(STOP_LIMIT_S)`` first, so that a graceful stop
that hangs (seen once under a loaded test run: the server still up 45 s after its parent was
killed) is ended by the kernel's default SIGALRM action, which needs nothing of the interpreter.

Run as ``python -m documents.embedded_server <secantusd-py arguments>`` (``documents.embedded``).
"""
from __future__ import annotations

import copy
import datetime
import decimal
import functools
import signal
import sys
import threading
import types
from importlib import metadata

import bson

PATCHED_RELEASE = "0.7.0b3"


def patch() -> bool:
    """Put the ``_id``-first lookup in force for the write path; False (nothing done) on another
    release of SecantusDB."""
    if metadata.version("secantusdb") != PATCHED_RELEASE:
        return False
    from secantus import storage

    original = storage.Storage._candidates_iter

    def candidates(self, db, coll, filter):
        if filter and len(filter) > 1 and "_id" in filter and not any(str(k).startswith("$") for k in filter) \
                and storage._id_point_lookup_keys(filter["_id"]) is not None and not self._is_timeseries(db, coll):
            return original(self, db, coll, {"_id": filter["_id"]})
        return original(self, db, coll, filter)

    storage.Storage._candidates_iter = candidates
    _Catalog().install(storage.Storage)
    from secantus import projection, update

    for module in (update, projection):  # their only use of the copy module is deepcopy
        module.copy = types.SimpleNamespace(deepcopy=plain_copy)
    return True


_SCALARS = frozenset({str, int, float, bool, type(None), bytes, datetime.datetime, decimal.Decimal,
                      bson.ObjectId, bson.Decimal128, bson.Int64, bson.Timestamp})


def plain_copy(value, memo=None):
    """``copy.deepcopy`` for what BSON decodes into: dicts and lists copied, immutable scalars
    kept, anything else (a subclass, a Binary, a Regex) deep-copied as before."""
    kind = type(value)
    if kind is dict:
        return {k: plain_copy(v) for k, v in value.items()}
    if kind is list:
        return [plain_copy(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value, memo)


class _Catalog:
    """The catalog reads a command makes, cached; every catalog change clears the cache."""

    READS = ("get_profile", "get_collection_options", "_index_options_map", "_all_indexes", "_partial_filters")
    CHANGES = ("set_profile", "_write_coll_options", "set_collection_options", "create_collection", "drop_collection",
               "drop_database", "rename_collection", "record_collmod", "create_index", "drop_index",
               "set_index_expiry", "set_index_options", "drop_all_indexes", "_recover_pending_drops_locked",
               "import_oplog_segment")

    def __init__(self):
        self.lock, self.generation, self.kept = threading.Lock(), 0, {}

    def install(self, cls) -> None:
        uncached_options = cls._index_options_map
        for name in self.READS:
            setattr(cls, name, self._cached(name, getattr(cls, name)))
        for name in self.CHANGES:
            setattr(cls, name, self._changing(getattr(cls, name)))

        def index_is_multikey(storage, db, coll, name):  # written by ordinary writes: never cached
            if name == "_id_":
                return False
            with storage._lock:
                return bool((uncached_options(storage, db, coll).get(name) or {}).get("multikey"))

        cls.index_is_multikey = index_is_multikey

    def _cached(self, name, read):
        handed_out = copy.deepcopy if not name.startswith("_") else (lambda found: found)  # commands
        # may change what they are given; the storage's own callers only read it

        @functools.wraps(read)
        def cached(storage, *args):
            key = (id(storage), name, *args)
            with self.lock:
                generation, found = self.generation, self.kept.get(key, self)
            if found is self:
                found = read(storage, *args)
                with self.lock:
                    if self.generation == generation:  # no change began or ended meanwhile
                        self.kept[key] = found
            return handed_out(found)
        return cached

    def _changing(self, change):
        @functools.wraps(change)
        def changing(storage, *args, **kwargs):
            self._forget()
            try:
                return change(storage, *args, **kwargs)
            finally:
                self._forget()
        return changing

    def _forget(self) -> None:
        with self.lock:
            self.generation += 1
            self.kept.clear()


STOP_LIMIT_S = 20


def bound_the_stop() -> None:
    """Make the server's stop arm ``alarm(STOP_LIMIT_S)`` before it begins (this process's SIGALRM
    is left at its default action, which ends it)."""
    from secantus.server import SecantusDBServer

    graceful = SecantusDBServer.stop

    def stop(self) -> None:
        signal.alarm(STOP_LIMIT_S)
        graceful(self)

    SecantusDBServer.stop = stop


def main() -> int:
    from secantus.cli import main as server_main

    bound_the_stop()
    if not patch():
        print(f"secantusdb is not {PATCHED_RELEASE}: running without the _id-first write lookup", file=sys.stderr)
    sys.argv[0] = "secantusd-py"
    return server_main()


if __name__ == "__main__":
    sys.exit(main())
