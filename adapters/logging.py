"""Structured logs (structlog), with personal data masked before anything is written."""
from __future__ import annotations

import logging
import re

import structlog

from config import get_settings

PERSONAL_KEYS = {"name", "phone", "email", "address", "lines", "shipping_address", "customer", "receiver_name",
                 "receiver_mobile", "receiver_address", "first_name", "last_name", "address1", "address2"}
SECRET_KEYS = {"token", "secret", "password", "authorization", "wms_token", "api_token"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\d[\d\s\-()]{7,}\d")


def mask(value):
    """Mask personal data and secrets in a log event's values, recursively."""
    if isinstance(value, dict):
        return {k: ("***" if k.lower() in SECRET_KEYS or k.lower() in PERSONAL_KEYS and not isinstance(v, dict)
                    else mask(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return _PHONE.sub("***", _EMAIL.sub("***@***", value))
    return value


def _mask_processor(_logger, _method, event_dict):
    return {k: (v if k in ("event", "timestamp", "level") else mask(v)) for k, v in event_dict.items()}


def configure_logging() -> None:
    settings = get_settings()
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(message)s")
    for noisy in ("httpx", "httpcore", "pika", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), _mask_processor,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer() if settings.log_json else structlog.dev.ConsoleRenderer(
                        colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
