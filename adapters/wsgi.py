"""WSGI entry point for gunicorn: ``gunicorn adapters.wsgi:app``."""
from adapters.logging import configure_logging
from adapters.settings import get_settings
from documents.connection import connect, ensure_indexes

configure_logging()
_settings = get_settings()
if not _settings.mongo_url:
    raise RuntimeError("ROUTER_MONGO_URL must be set for the API (orderrouter up sets it)")
connect(_settings.mongo_url, _settings.mongo_db)
ensure_indexes()

from adapters.http.app import create_app  # noqa: E402

app = create_app()
