"""The worker entry point: ``dramatiq adapters.worker`` (``orderrouter worker`` runs it). Importing
this module is what starting a worker process means, so it wires the process here; each worker
process connects MongoDB when it boots (actors.broker.DatabaseConnect)."""
from adapters.logging import configure_logging
from adapters.wiring import setup

configure_logging()
broker = setup(inline_dispatch=True).broker
