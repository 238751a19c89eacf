"""Dramatiq actors: the message entry points, each a few lines around one service call.

Importing this package declares the actors and connects nothing: the composition root
(adapters/wiring.py) builds the broker and binds them (actors.declare.bind_all).
"""
from actors import channel_sync, dispatch, events, routing, sweeps, webhooks  # noqa: F401  (declares every actor)
