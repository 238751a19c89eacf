"""The Flask application: every blueprint, the error table, metrics, the OpenAPI document."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from adapters.settings import get_settings


def create_app() -> Flask:
    """Build the app. The caller has connected the database and imported the actors."""
    import actors  # noqa: F401  (declares actors on the broker so the API can publish to them)
    from adapters.http import after_sales, commands, errors, inbound, ops, papers, queries, routing

    app = Flask("orderrouter")
    app.config.update(
        API_TITLE="Order router", API_VERSION="v1", OPENAPI_VERSION="3.0.3", OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json", MAX_CONTENT_LENGTH=get_settings().max_body_bytes, JSON_SORT_KEYS=False,
    )
    api = Api(app)
    from adapters.console import MODULES as CONSOLE

    for module in (inbound, queries, commands, after_sales, routing, papers, ops, *CONSOLE):
        api.register_blueprint(module.blp)
    ops.install(app)
    errors.register(app)
    from adapters import relay

    relay.start()  # webhooks answer once stored; their messages follow from the relay thread
    return app
