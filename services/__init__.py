"""The use cases, shared by the HTTP app, the CLI and the actors: load, decide (ask ``router/``),
persist with one guarded update (``documents/``), ask for the next step (``services.messages``).

Services import neither the actors nor the adapters: the next steps go through the sender and the
outbound parties through the clients that the composition root installs (adapters/wiring.py).
"""
