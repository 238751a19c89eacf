"""One place that opens the database connection, for the API, workers, scheduler and tests."""
from __future__ import annotations

import threading

import mongoengine
from pymongo import ReadPreference, uri_parser
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, ConnectionFailure, ExecutionTimeout
from pymongo.read_preferences import _ServerMode

from documents import wire_quirks
from documents.slow_commands import SlowCommandLogger

# Short timeouts: fail fast, let Dramatiq retry the message. Writes are acknowledged by a majority
# of the replica set (what the server's default is since MongoDB 5.0 unless the set has an
# arbiter; said here so that no deployment gets less): an order answered 202, a stock hold or an
# inbox entry acknowledged with w:1 could be rolled back by a failover after the next step was
# sent. This option wins over a ``w=`` in the URL. Reads go to the primary (see :func:`connect`);
# only the reports may read elsewhere (:func:`for_reports`). docs/mongodb.md has the reasons.
CLIENT_OPTIONS = dict(serverSelectionTimeoutMS=5000, socketTimeoutMS=5000, connectTimeoutMS=3000,
                      uuidRepresentation="standard", tz_aware=True, w="majority")

# ROUTER_MONGO_REPORTS_READ_PREFERENCE's values (config.settings.READ_PREFERENCES) as pymongo's.
READ_PREFERENCES = {"primary": ReadPreference.PRIMARY, "primaryPreferred": ReadPreference.PRIMARY_PREFERRED,
                    "secondary": ReadPreference.SECONDARY, "secondaryPreferred": ReadPreference.SECONDARY_PREFERRED,
                    "nearest": ReadPreference.NEAREST}
_reports_read_preference: _ServerMode = ReadPreference.PRIMARY

# Operators' batch jobs (invariant check, list rebuild) and test harnesses read whole collections:
# nobody waits on them interactively, and one command of theirs may be long (on the embedded
# server even the first batch waits for every match to be decoded, 5.8 s for 5,000 orders:
# wire_quirks.Quirks.reads_every_match_before_limit).
BATCH_SOCKET_TIMEOUT_MS = 600_000

# The client of the default connection and its server's quirks, asked once per connection.
_quirks_of: tuple[object, wire_quirks.Quirks] | None = None
_quirks_lock = threading.Lock()


def connect(url: str, db: str, slow_command_ms: float = 0, socket_timeout_ms: int | None = None,
            reports_read_preference: str = "primary") -> Database:
    """Connect mongoengine's default alias to ``db`` at ``url`` and return the pymongo database.
    ``slow_command_ms`` > 0 logs the shape of every command slower than that (see
    documents/slow_commands.py); ``socket_timeout_ms`` replaces the short default (see
    ``BATCH_SOCKET_TIMEOUT_MS``); ``reports_read_preference`` (a key of :data:`READ_PREFERENCES`)
    is where :func:`for_reports` reads. Raises ValueError, connecting nothing, when ``url`` asks
    for a read preference other than primary (every read but the reports' decides something) or
    ``reports_read_preference`` is not one."""
    global _quirks_of, _reports_read_preference

    asked = uri_parser.parse_uri(url)["options"].get("readPreference", "primary")
    if asked != "primary":
        raise ValueError(f"ROUTER_MONGO_URL asks for readPreference={asked}: the router reads the primary "
                         "(reports may read elsewhere: ROUTER_MONGO_REPORTS_READ_PREFERENCE)")
    if reports_read_preference not in READ_PREFERENCES:
        raise ValueError(f"ROUTER_MONGO_REPORTS_READ_PREFERENCE must be one of {', '.join(READ_PREFERENCES)}, "
                         f"not {reports_read_preference!r}")
    listeners = [SlowCommandLogger(slow_command_ms)] if slow_command_ms > 0 else []
    options = {**CLIENT_OPTIONS, **({"socketTimeoutMS": socket_timeout_ms} if socket_timeout_ms else {})}
    mongoengine.disconnect()
    _quirks_of = None
    mongoengine.connect(db=db, host=url, event_listeners=listeners, **options)
    _reports_read_preference = READ_PREFERENCES[reports_read_preference]
    return mongoengine.get_db()


def for_reports(collection: Collection) -> Collection:
    """``collection`` as the reports read it (documents/reports.py): with the read preference
    :func:`connect` was given (primary unless told otherwise). Nothing that decides a change reads
    through it."""
    if _reports_read_preference == ReadPreference.PRIMARY:
        return collection
    return collection.with_options(read_preference=_reports_read_preference)


def database() -> Database:
    return mongoengine.get_db()


def quirks() -> wire_quirks.Quirks:
    """The quirks of the server the default connection talks to (``wire_quirks.MONGOD`` for a real
    mongod). Decided once per connection, by one ``buildInfo`` when first needed (connecting stays
    lazy: a worker boots while the database is down, as before), then kept with the client; a new
    client (a reconnect, by :func:`connect` or not) is asked again. Not per query."""
    global _quirks_of
    client = database().client
    known = _quirks_of
    if known is not None and known[0] is client:
        return known[1]
    with _quirks_lock:
        if _quirks_of is None or _quirks_of[0] is not client:
            _quirks_of = (client, wire_quirks.of_server(client.admin.command("buildInfo")))
        return _quirks_of[1]


# The database cannot be reached or did not answer in time (pymongo's ConnectionFailure covers
# AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError): the caller may try again later.
DATABASE_DOWN = (ConnectionFailure, ExecutionTimeout)

DUPLICATE_KEY = 11000  # the server's code for a write refused by a unique index


def only_duplicates(exc: BulkWriteError) -> bool:
    """Whether every write a bulk write refused was refused as a duplicate key (the record is
    there already: what an idempotent insert or upsert asks for)."""
    return all(e.get("code") == DUPLICATE_KEY for e in exc.details.get("writeErrors", []))


def drop_database(name: str) -> None:
    """Drop the database ``name`` on the connected server (a throwaway demo or bench run's own)."""
    mongoengine.get_db().client.drop_database(name)

