"""Dramatiq actors: thin, idempotent steps. Importing this package sets up the broker and
declares every actor (``dramatiq actors`` runs them)."""
from actors.broker import broker  # noqa: F401  (must come first: actors bind to it)
from actors import routing, dispatch, events, rerouting, channel_sync, timers, sweeps  # noqa: F401,E402
