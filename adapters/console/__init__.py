"""The operations console: server-rendered pages (Jinja2) over the router's documents, whose
buttons call the JSON API as the signed-in operator. ``MODULES`` are the blueprint modules the
app registers (the console, and the reports API it draws from)."""
from __future__ import annotations

from adapters.console import orders, pages, session, webhooks  # noqa: F401  (their routes join the blueprint)
from adapters.console import formatting, intake  # noqa: F401  (template filters; phone orders and risk rules, issue 19)
from adapters.console import blueprint
from adapters.http import reports

MODULES = (reports, blueprint)
