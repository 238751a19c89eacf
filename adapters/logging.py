"""Structured logs (structlog), with personal data and secrets masked before anything is written.

Masking comes last, after an exception is formatted: the traceback's text (exception messages
included) is masked like any other value, so a personal detail or a token inside an exception
never reaches a log in clear. Values under personal or secret keys are replaced whole; in free
text, e-mail addresses, phone numbers, ``Bearer <token>``, ``token=`` / ``sign=`` style query
parameters, the value after a personal or secret key (``'name': '...'`` in a dict's repr, as a
database error quoting a document prints it) and every token the settings know (operator tokens,
the payment service's, the secret key) are. A name or street in prose, with no key before it, is
not recognisable as such: code logs personal data under its keys, never inside a message.
pymongo's command log stays off (it would write whole documents). The standard library's records (Flask, gunicorn's error log, Dramatiq) get the
same masking through :class:`MaskingFormatter` on the handlers in place; gunicorn's access log
leaves query strings out altogether (adapters/cli.py ``ACCESS_LOG_FORMAT``).
"""
from __future__ import annotations

import logging
import re
from typing import TextIO

import structlog

from config import Settings, get_settings

PERSONAL_KEYS = {"name", "phone", "email", "address", "lines", "shipping_address", "customer", "receiver_name",
                 "receiver_mobile", "receiver_address", "first_name", "last_name", "address1", "address2"}
SECRET_KEYS = {"token", "secret", "password", "authorization", "wms_token", "api_token", "cookie", "csrf"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<![\w+\-])\+?\d[\d\s\-()]{7,}\d(?![\w\-])")  # not inside an id (O2612041A2B...)
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s,;\"']+")
_SECRET_PARAM = re.compile(r"(?i)\b(access_token|api_token|token|secret|password|sign|signature|app_key|csrf)"
                           r"(=|%3D)([^&\s\"',;]+)")
# a personal or secret key with its value inside text (a dict's repr, JSON, key=value): the value goes
_KEYED = re.compile(r"""(?i)(?<![\w])(['"]?)(""" + "|".join(sorted(PERSONAL_KEYS | SECRET_KEYS, key=len, reverse=True))
                    + r""")\1(\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\[[^\]]*\]|[^\s,;&{}\[\]'"][^\s,;&}\]]*)""")
LOGGERS_MASKED = ("", "gunicorn.error")  # the root logger's handlers, and gunicorn's error log
_known: dict = {}


def _known_secrets(settings: Settings) -> tuple[str, ...]:
    """The secrets the settings hold (operator tokens, payments token, secret key), longest first."""
    if _known.get("settings") is not settings:
        found = {item.strip().split(":", 2)[2] for item in settings.api_tokens.split(",") if item.count(":") >= 2}
        found |= {settings.payments_token or "", settings.secret_key or ""}
        _known.update(settings=settings, secrets=tuple(sorted((s for s in found if len(s) >= 4), key=len,
                                                              reverse=True)))
    return _known["secrets"]


def mask_text(text: str) -> str:
    """Free text with secrets, e-mail addresses and phone numbers masked."""
    for secret in _known_secrets(get_settings()):
        if secret in text:
            text = text.replace(secret, "***")
    text = _CREDENTIAL.sub(r"\1\2***", text)
    text = _SECRET_PARAM.sub(r"\1\2***", text)
    text = _KEYED.sub(r"\1\2\1\3'***'", text)
    return _PHONE.sub("***", _EMAIL.sub("***@***", text))


def mask(value):
    """Mask personal data and secrets in a log event's values, recursively."""
    if isinstance(value, dict):
        return {k: ("***" if k.lower() in SECRET_KEYS or k.lower() in PERSONAL_KEYS and not isinstance(v, dict)
                    else mask(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def _mask_processor(_logger, _method, event_dict):
    return {k: (v if k in ("timestamp", "level") else mask(v)) for k, v in event_dict.items()}


class MaskingFormatter(logging.Formatter):
    """Wraps a handler's formatter: the message, exception and stack text are masked before it
    lays the record out (its own prefix, a time stamp say, is left alone)."""

    def __init__(self, inner: logging.Formatter | None = None):
        super().__init__()
        self.inner = inner or logging.Formatter("%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        masked = logging.makeLogRecord(record.__dict__)
        masked.msg, masked.args = mask_text(record.getMessage()), None
        if record.exc_info:
            masked.exc_text = mask_text(self.inner.formatException(record.exc_info))
        elif record.exc_text:
            masked.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            masked.stack_info = mask_text(record.stack_info)
        return self.inner.format(masked)


def mask_handlers(*names: str) -> None:
    """Put :class:`MaskingFormatter` around the formatters of these loggers' handlers (once)."""
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler.formatter, MaskingFormatter):
                handler.setFormatter(MaskingFormatter(handler.formatter))


def configure_logging(stream: TextIO | None = None) -> None:
    """Logs of this process: stdlib records to ``stream`` (default stderr) unless the server set
    up handlers already (gunicorn, Dramatiq), structlog events to ``stream`` (default stdout);
    everything masked."""
    settings = get_settings()
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=stream)
    # pymongo's command log (DEBUG) would write whole documents, customers and tokens included
    for noisy in ("httpx", "httpcore", "pika", "pymongo", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    mask_handlers(*LOGGERS_MASKED)
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), structlog.processors.format_exc_info,
                    _mask_processor,
                    structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer(
                        colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
