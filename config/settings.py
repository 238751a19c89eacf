"""Configuration from the environment (``ROUTER_*``), with laptop defaults.

Every ``ROUTER_*`` variable is read here and nowhere else. Nothing is read at import: each entry
point calls :func:`get_settings` (read once from the environment, then kept) or installs its own
with :func:`use` (the tests, the CLI after it started an embedded database).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from environs import Env
from marshmallow import ValidationError
from marshmallow.validate import OneOf, Range

QUEUE_TYPES = ("classic", "quorum")
# Where the reports may read (documents/connection.READ_PREFERENCES; docs/mongodb.md).
READ_PREFERENCES = ("primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest")
SMTP_TLS = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class Settings:
    amqp_url: str
    mongo_url: str | None  # None: start the embedded MongoDB-wire server
    mongo_db: str
    http_addr: str
    queue_prefix: str
    broker: str  # "rabbitmq" or "stub" (unit tests only)
    data_dir: str
    public_url: str  # where third parties call back (simulators in the demo)
    http_timeout: float
    outbound_attempts: int
    max_retries: int
    max_body_bytes: int
    log_level: str
    log_json: bool
    worker_processes: int
    worker_threads: int
    slow_command_ms: float  # database commands slower than this are logged (0: off)
    routing_inputs_days: int  # a routing decision's recorded inputs are kept this long (0: forever)
    mongo_reports_read_preference: str = "primary"  # the reports may read a secondary; nothing else does
    queue_type: str = "classic"  # "quorum": every queue is declared a quorum queue (a cluster of nodes)
    queue_delivery_limit: int = 20  # quorum queues: deliveries of a message before it is dead-lettered
    api_tokens: str = ""  # operators: ``name:role:token,...``; empty lets nobody in
    payments_token: str | None = None  # the payment service's bearer token
    party_secrets: str = ""  # signing secrets over the seed's: ``kind:id:secret,...``
    signature_window_seconds: float = 300.0  # a signed timestamp further than this from now is refused
    secret_key: str | None = None  # signs console sessions; None: a random key per process
    low_stock_webhook: str | None = None  # where low-stock alerts are posted
    worker_metrics: bool = False  # workers export Prometheus metrics
    worker_metrics_server: bool = True  # this worker group serves them (one group per host does)
    worker_metrics_addr: str = "127.0.0.1:9191"  # where that group serves them: loopback unless told otherwise
    console_idle_minutes: float = 30.0  # a console session unused this long ends
    console_max_hours: float = 12.0  # and every console session ends this long after sign-in
    rate_limit_per_second: float = 100.0  # intake and commands per caller identity and API process (0: off)
    rate_limit_burst: int = 500  # calls a caller may make at once before the rate applies
    webhook_backoff: str = "10,30,60,300,900,1800,3600"  # seconds before each retry of a webhook (the last repeats)
    webhook_give_up_seconds: float = 86400.0  # a webhook event still failing this long after its first try fails
    webhook_lease_seconds: float = 60.0  # an attempt whose worker died is tried again after this
    smtp_host: str | None = None  # customer e-mails go through this SMTP server; None: no e-mails
    smtp_port: int = 587
    smtp_from: str = "orders@localhost"  # the From: of customer e-mails
    smtp_tls: str = "starttls"  # "starttls", "ssl" (implicit TLS, port 465) or "none" (a relay on loopback)
    smtp_user: str | None = None  # log in with these when set
    smtp_password: str | None = None
    notify_backoff: str = "10,30,60,300,900,1800,3600"  # seconds before each retry of an e-mail (the last repeats)
    notify_give_up_seconds: float = 86400.0  # an e-mail still failing this long after its first try fails
    notify_lease_seconds: float = 60.0  # a send whose worker died is tried again after this

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def amqp_urls(self) -> tuple[str, ...]:
        """The RabbitMQ node URLs in ``amqp_url`` (one, or a cluster's nodes)."""
        return split_urls(self.amqp_url)


def split_urls(value: str) -> tuple[str, ...]:
    """Node URLs separated by commas, semicolons or whitespace; clients connect to the first that
    answers, in this order."""
    return tuple(url for url in re.split(r"[\s,;]+", value.strip()) if url)


def host_port(addr: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9191`` for IPv6) as ``(host, port)``; ValueError when it is not one.
    Port 0 asks the system for any free port."""
    host, sep, port = addr.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port, got {addr!r}")
    return host, int(port)


def _host_port(addr: str) -> None:
    try:
        host_port(addr)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def from_env() -> Settings:
    """Read every ``ROUTER_*`` variable (and a ``.env`` file in the working directory)."""
    env = Env()
    env.read_env(recurse=False)
    with env.prefixed("ROUTER_"):
        http_addr = env.str("HTTP_ADDR", "127.0.0.1:8080")
        return Settings(
            amqp_url=env.str("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"),
            mongo_url=env.str("MONGO_URL", None) or None,
            mongo_db=env.str("MONGO_DB", "orderrouter"),
            mongo_reports_read_preference=env.str("MONGO_REPORTS_READ_PREFERENCE", "primary",
                                                  validate=OneOf(READ_PREFERENCES)),
            http_addr=http_addr,
            queue_prefix=env.str("QUEUE_PREFIX", "router"),
            broker=env.str("BROKER", "rabbitmq"),
            data_dir=env.str("DATA_DIR", ".run"),
            public_url=env.str("PUBLIC_URL", f"http://{http_addr}"),
            http_timeout=env.float("HTTP_TIMEOUT", 5.0),
            outbound_attempts=env.int("OUTBOUND_ATTEMPTS", 3),
            max_retries=env.int("MAX_RETRIES", 10),
            max_body_bytes=env.int("MAX_BODY_BYTES", 1_048_576),
            log_level=env.str("LOG_LEVEL", "INFO"),
            log_json=env.bool("LOG_JSON", False),
            worker_processes=env.int("WORKER_PROCESSES", 2),
            worker_threads=env.int("WORKER_THREADS", 8),
            slow_command_ms=env.float("SLOW_COMMAND_MS", 1000.0),
            routing_inputs_days=env.int("ROUTING_INPUTS_DAYS", 180),
            queue_type=env.str("QUEUE_TYPE", "classic", validate=OneOf(QUEUE_TYPES)),
            queue_delivery_limit=env.int("QUEUE_DELIVERY_LIMIT", 20, validate=Range(min=1)),
            api_tokens=env.str("API_TOKENS", ""),
            payments_token=env.str("PAYMENTS_TOKEN", None) or None,
            party_secrets=env.str("PARTY_SECRETS", ""),
            signature_window_seconds=env.float("SIGNATURE_WINDOW_SECONDS", 300.0),
            secret_key=env.str("SECRET_KEY", None) or None,
            low_stock_webhook=env.str("LOW_STOCK_WEBHOOK", None) or None,
            worker_metrics=env.bool("WORKER_METRICS", False),
            worker_metrics_server=env.bool("WORKER_METRICS_SERVER", True),
            worker_metrics_addr=env.str("WORKER_METRICS_ADDR", "127.0.0.1:9191", validate=_host_port),
            console_idle_minutes=env.float("CONSOLE_IDLE_MINUTES", 30.0),
            console_max_hours=env.float("CONSOLE_MAX_HOURS", 12.0),
            rate_limit_per_second=env.float("RATE_LIMIT_PER_SECOND", 100.0),
            rate_limit_burst=env.int("RATE_LIMIT_BURST", 500),
            webhook_backoff=env.str("WEBHOOK_BACKOFF", "10,30,60,300,900,1800,3600"),
            webhook_give_up_seconds=env.float("WEBHOOK_GIVE_UP_SECONDS", 86400.0),
            webhook_lease_seconds=env.float("WEBHOOK_LEASE_SECONDS", 60.0),
            smtp_host=env.str("SMTP_HOST", None) or None,
            smtp_port=env.int("SMTP_PORT", 587, validate=Range(min=1, max=65535)),
            smtp_from=env.str("SMTP_FROM", "orders@localhost"),
            smtp_tls=env.str("SMTP_TLS", "starttls", validate=OneOf(SMTP_TLS)),
            smtp_user=env.str("SMTP_USER", None) or None,
            smtp_password=env.str("SMTP_PASSWORD", None) or None,
            notify_backoff=env.str("NOTIFY_BACKOFF", "10,30,60,300,900,1800,3600"),
            notify_give_up_seconds=env.float("NOTIFY_GIVE_UP_SECONDS", 86400.0),
            notify_lease_seconds=env.float("NOTIFY_LEASE_SECONDS", 60.0),
        )


_current: list[Settings] = []


def get_settings() -> Settings:
    """The settings in force: those given to :func:`use`, else read from the environment once."""
    if not _current:
        _current.append(from_env())
    return _current[0]


def use(settings: Settings | None) -> None:
    """Put ``settings`` in force (None: read the environment again on next use)."""
    _current.clear()
    if settings is not None:
        _current.append(settings)


def reload() -> Settings:
    """Read the environment again (after an entry point changed it) and put that in force."""
    use(from_env())
    return get_settings()
