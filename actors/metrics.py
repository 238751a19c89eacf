"""The workers' Prometheus metrics server, on ``ROUTER_WORKER_METRICS_ADDR`` (``127.0.0.1:9191``).

Dramatiq's Prometheus middleware forks a process that serves the metrics every worker process of
the host writes to its multiprocess directory (``dramatiq_prom_db``); its own server binds
``0.0.0.0:9191``, reachable from anywhere, unauthenticated and fixed. The router's fork serves
the same page on the configured address instead: loopback unless told otherwise (publish it
through a reverse proxy or a Prometheus agent on the host), any port, so a second router on the
host takes another (``ROUTER_WORKER_METRICS_ADDR=127.0.0.1:9192``). An address already taken is
logged (``worker_metrics_address_in_use``) and the workers go on working without it: a clash
never stops a router.
"""
from __future__ import annotations

import errno
import socket
from http.server import HTTPServer

import structlog

from config import get_settings
from config.settings import host_port

log = structlog.get_logger(__name__)


def bind(addr: str) -> HTTPServer | None:
    """The metrics server bound to ``addr`` (``host:port``), or None when the address is taken."""
    # Dramatiq's Prometheus module reads its directory from the environment when imported: only in
    # the process that serves the metrics, after the worker's entry point set it.
    from dramatiq.middleware.prometheus import _metrics_handler

    host, port = host_port(addr)
    server_class = type("MetricsServer", (HTTPServer,), {"address_family": _family(host)})
    try:
        server = server_class((host, port), _metrics_handler)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.error("worker_metrics_address_in_use", addr=addr,
                  hint="another process serves this address: give this router its own "
                       "ROUTER_WORKER_METRICS_ADDR; the workers carry on without metrics")
        return None
    bound_host, bound_port = server.server_address[:2]
    log.info("worker_metrics_listening", addr=f"{bound_host}:{bound_port}")
    return server


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve() -> int:
    """The fork Dramatiq runs beside the worker processes (its ``forks``): serve until stopped."""
    server = bind(get_settings().worker_metrics_addr)
    if server is None:
        return 1
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
