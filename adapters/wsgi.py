"""WSGI entry point for gunicorn: ``gunicorn adapters.wsgi:app``. Importing it is starting the
API process, so it wires the process here."""
from adapters.http.app import create_app
from adapters.logging import configure_logging

configure_logging()
app = create_app(connect_db=True)
