"""Errors raised at the edges, where native payloads come in (mapped to HTTP in adapters/http/errors.py)."""
from __future__ import annotations


class BadSignature(Exception):
    """A webhook's signature header is missing or does not match its body (HTTP 401)."""


class PayloadError(ValueError):
    """A native payload cannot be mapped (HTTP 422).

    ``field_path`` names the field in the sender's own format, dotted with list indices
    (``"line_items.2.quantity"``); ``message`` says what is wrong with it.
    """

    def __init__(self, field_path: str, message: str):
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path
        self.message = message
