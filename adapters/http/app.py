"""The Flask application: every blueprint, the error table, metrics, the OpenAPI document."""
from __future__ import annotations

from flask import Flask

from adapters import relay, wiring
from adapters.console import MODULES as CONSOLE
from adapters.customer import page as customer_page
from adapters.http import (after_sales, commands, customer, errors, inbound, openapi, ops, papers, queries,
                           rate_limit, routing, sessions, strict)
from adapters.http import risk as risk_rules
from adapters.http import webhooks as outbound_webhooks
from config import get_settings
from services import messages


def create_app(*, wire: bool = True, connect_db: bool = False) -> Flask:
    """Build the app. ``wire``: set up this process (adapters.wiring.setup) first, connecting the
    database with ``connect_db``; tests that wired the process themselves pass ``wire=False``."""
    if wire:
        wiring.setup(connect_db=connect_db, indexes=connect_db)
    app = Flask("orderrouter")
    app.config.update(
        API_TITLE="Order router", API_VERSION="v1", OPENAPI_VERSION="3.0.3", OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json", MAX_CONTENT_LENGTH=get_settings().max_body_bytes, JSON_SORT_KEYS=False,
    )
    api = openapi.create_api(app)  # the document at /openapi.json, public (adapters/http/openapi.py)
    for module in (inbound, queries, commands, after_sales, routing, papers, ops, sessions, customer, customer_page,
                   *CONSOLE):
        api.register_blueprint(module.blp)
    api.register_blueprint(outbound_webhooks.blp)  # outbound webhooks (issue 19): subscriptions, log, replay
    api.register_blueprint(risk_rules.blp)  # risk rules (issue 19): blacklists, velocity, thresholds
    ops.install(app)
    strict.install(app)
    rate_limit.install(app)
    errors.register(app)
    relay.start()  # webhooks answer once stored; their messages follow from the relay thread
    messages.install_publisher(relay.publish)
    return app
