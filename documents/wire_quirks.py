"""What the embedded MongoDB-wire server (SecantusDB, started by ``documents/embedded.py``) does
differently from a real ``mongod``, and what the code does about each: the one place that knows.

Which server a connection talks to is decided once per connection by ``documents.connection.quirks``
(:func:`of_server` on the server's ``buildInfo``, which names a ``secantusVersion`` on SecantusDB
only). A real mongod gets :data:`MONGOD`, all flags off, and with them the plain queries.

The quirks are of two kinds:

- **switched**: the query sent depends on the flag, so the workaround is only ever sent to the
  embedded server (:attr:`Quirks.gte_drops_bound`);
- **known, not switched**: the shape the code uses to avoid the quirk is the right one on mongod
  too (each flag says why and where), so nothing depends on the flag in production. They are
  listed so that the conformance tests keep checking that the quirk is still there and that the
  shape gives MongoDB's documented result.

Every flag has its pair of tests in ``tests/integration/test_wire_conformance.py``: the flag
matches what the connected server does (a strict xfail or an assertion that the quirk reproduces:
the suite fails the day SecantusDB changes, and the workaround can go), and the workaround gives
MongoDB's documented result. Measured on SecantusDB 0.7.0b3.

Server settings for the embedded server alone (no retryable writes, no oplog) are in
``documents/embedded.py``: they are chosen where that server is started, not detected.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Quirks:
    """The quirks of one server; every flag False is a real mongod (:data:`MONGOD`)."""

    # -- switched: production sends another query when the flag is on ------------------------

    gte_drops_bound: bool = False
    """``$gte`` on a descending field of a compound index that follows another field drops the
    rows at exactly the bound: ``{status: s, placed_at: {$gte: t}}`` on
    ``(status, placed_at -1, _id -1)`` misses the rows placed at ``t`` (and ``$gte: t, $lte: t``
    finds nothing). Protects the order list's windows and its ``placed_from`` filter
    (``documents/queries.window_query``): on this server the lower bound is sent as ``$gt``
    1 ms earlier (:func:`lower_bound`), which is the same set of dates (BSON dates hold
    milliseconds)."""

    index_needs_every_field: bool = False
    """An index is used only when it holds every field the filter names: ``{routing.state: r,
    updated_at: {$lt: t}}`` is one range of the ``(routing.state, updated_at)`` index, but one
    more condition (``resent_at``, or ``status`` beside ``fulfilments.status``) and the server
    reads the whole collection (measured on 5,000 orders: 1.2 s against 0.06 s, every few seconds
    for each sweep, scaling with every order ever stored). Protects the sweeps' queries
    (``documents/orders``: the reconciler's stalled orders, the order-merge holds, the orders
    waiting for stock): on this server they ask the indexed part alone and check the rest on what
    comes back (:func:`matches`); mongod gets the whole filter."""
    # -- known, not switched: the shapes that avoid them are right on mongod too --------------

    array_paths_unresolved_in_expressions: bool = False
    """An array path inside an aggregation expression (``{$min: "$fulfilments.shipped_at"}``)
    resolves to nothing instead of the array of the elements' values. Protects the payment to
    shipment report (``documents/reports.payment_to_shipment``), which ``$unwind``s the arrays
    and groups with ``$min``: MongoDB's documented pipeline for the same result on any server."""

    top_level_operator_scans: bool = False
    """A top-level ``$or`` / ``$and`` is answered by a collection scan, even when every clause has
    an index (measured on 5,000 orders: 81 ms against 6 ms). The code says the same without a
    top-level operator, as plainly on mongod: "unset or older" is one predicate,
    ``{f: {$not: {$gte: t}}}`` (the reconciler's queries, channel intake's state update); a lookup
    by either of two fields is two indexed lookups, the first one winning
    (``documents/orders.parcel_owners``); the list's keyset cursor is one index range,
    ``placed_at <= p``, with the ties at ``p`` dropped by the caller (``documents/queries``)."""

    reads_every_match_before_limit: bool = False
    """A query reads and decodes every document its index range holds before applying the limit
    (or a projection), and before its first batch; mongod stops at the limit. The code keeps each
    read bounded instead (list windows in ``documents/queries``, slices and batches of a few
    hundred, ``BATCH_SOCKET_TIMEOUT_MS`` for whole-collection jobs): on mongod that bounds the
    in-memory sorts of filters no index orders, and the time of any one command."""

    hint_walks_whole_index: bool = False
    """A ``hint`` makes the server walk and decode the whole hinted index (and sort the matches
    itself), whatever the filter. The code sends no hints: mongod's planner picks the same index
    from the filter, and a hint would pin a plan to an index name."""


MONGOD = Quirks()
"""A real mongod: the plain queries."""

SECANTUS = Quirks(gte_drops_bound=True, index_needs_every_field=True, array_paths_unresolved_in_expressions=True,
                  top_level_operator_scans=True, reads_every_match_before_limit=True,
                  hint_walks_whole_index=True)
"""SecantusDB (0.7.0b3, the version ``pyproject.toml``'s ``embedded`` extra asks for)."""


def of_server(build_info: Mapping) -> Quirks:
    """The quirks of the server whose ``buildInfo`` reply this is: SecantusDB adds a
    ``secantusVersion`` (it reports a mongod ``version`` too), mongod has no such field."""
    return SECANTUS if "secantusVersion" in build_info else MONGOD


def just_before(at: datetime) -> datetime:
    """The instant 1 ms before ``at`` as stored (BSON dates hold milliseconds), so that
    ``{$gt: just_before(t)}`` matches the same stored dates as ``{$gte: t}``."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000) - timedelta(milliseconds=1)


def lower_bound(at: datetime, quirks: Quirks) -> dict:
    """"At or after ``at``" as a range operator for ``quirks``' server: ``{"$gte": at}``, or
    ``{"$gt": just_before(at)}`` where :attr:`Quirks.gte_drops_bound`."""
    return {"$gt": just_before(at)} if quirks.gte_drops_bound else {"$gte": at}


def matches(doc: Mapping, filter_: Mapping) -> bool:
    """Whether ``doc`` (as read, dates timezone-aware) matches ``filter_`` as MongoDB would, for the
    few shapes the narrowed sweep queries check here (:attr:`Quirks.index_needs_every_field`): a
    field (dotted paths reach into arrays, any element matching) equal to a value (None: null or
    missing) or given ``$lt``, ``$lte``, ``$gt``, ``$gte``, ``$ne``, ``$in``, ``$exists``, ``$not``
    of those, or ``$elemMatch`` of such a filter. Anything else raises ValueError (say it on the
    server instead)."""
    return all(_field_matches(_values(doc, path), condition) for path, condition in filter_.items())


_RANGE = {"$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b, "$gt": lambda a, b: a > b,
          "$gte": lambda a, b: a >= b}


def _values(doc, path: str) -> list:
    """The values ``path`` reaches in ``doc``: through arrays, one per element, ``_MISSING`` where a
    document lacks the field; an array reached at the end gives its elements and itself."""
    current = [doc]
    for part in path.split("."):
        reached: list = []
        for value in current:
            if isinstance(value, list):
                reached.extend(v.get(part, _MISSING) for v in value if isinstance(v, Mapping))
            else:
                reached.append(value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING)
        current = reached
    out = []
    for value in current:
        out.extend([*value, value] if isinstance(value, list) else [value])
    return out


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _field_matches(values: list, condition) -> bool:
    if isinstance(condition, Mapping) and condition and all(k.startswith("$") for k in condition):
        return all(_operator(values, op, arg) for op, arg in condition.items())
    return any(_equal(v, condition) for v in values)


def _operator(values: list, op: str, arg) -> bool:
    if op in _RANGE:
        bound = _ms(arg)
        return any(v is not _MISSING and v is not None and _comparable(v, bound) and _RANGE[op](_ms(v), bound)
                   for v in values)
    if op == "$ne":
        return not any(_equal(v, arg) for v in values)
    if op == "$in":
        return any(_equal(v, a) for v in values for a in arg)
    if op == "$exists":
        return any(v is not _MISSING for v in values) == bool(arg)
    if op == "$not":
        return not _field_matches(values, arg)
    if op == "$elemMatch":
        return any(isinstance(v, Mapping) and matches(v, arg) for v in values)
    raise ValueError(f"{op} is not checked here: ask the server")


def _equal(value, expected) -> bool:
    if expected is None:
        return value is None or value is _MISSING
    return value is not _MISSING and value == expected


def _comparable(value, bound) -> bool:
    return isinstance(value, datetime) == isinstance(bound, datetime) and not isinstance(value, (list, Mapping))


def _ms(value):
    """A date as the server holds it (milliseconds); anything else as it is."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000) if isinstance(value, datetime) else value
