"""CSV cells a spreadsheet will not run: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return (a formula to Excel, LibreOffice and Google Sheets: ``=HYPERLINK(...)``,
``@SUM(...)``, ``-2+3`` and DDE payloads alike) gets a leading apostrophe, which shows it as text
(OWASP's advice for CSV injection). Numbers stay numbers. Every CSV the router writes (the reports
API, the console's downloads) goes through :func:`cell`."""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """``value`` as written to a CSV cell: text with a formula start is quoted with ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def row(values) -> list:
    return [cell(v) for v in values]
