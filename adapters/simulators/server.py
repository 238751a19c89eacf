"""A tiny threaded HTTP server that records every call and can be told to fail.

The base of the WMS, carrier and channel simulators. It binds 127.0.0.1 on an
ephemeral port by default, speaks HTTP/1.1 with keep-alive, and hands each request
to `SimulatorServer.handle` as plain data. Every request is recorded (`calls`) and
counted per idempotency key (`keys`) before failure injection is applied, so a test
sees retries as calls and effects as entries in the subclass's own store.
"""
from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

DROPPED = -1  # RecordedCall.status of a call whose connection was closed unanswered


@dataclass
class RecordedCall:
    """One request as received; `status` is None until answered, DROPPED if dropped."""

    method: str
    path: str
    idempotency_key: str | None
    body: Any
    headers: dict[str, str]
    at: datetime
    status: int | None = None
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """What a simulator's `handle` sees: header names lower-cased, body parsed JSON (a form body:
    a dict of its fields)."""

    method: str
    path: str
    segments: list[str]
    headers: dict[str, str]
    body: Any
    idempotency_key: str | None
    query: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


@dataclass
class Response:
    """What `handle` returns: a JSON-serialisable body, or bytes with a content type."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # more response headers (Retry-After, ...)


def error(status: int, code: str, message: str) -> Response:
    """A JSON error response in the router's own error shape."""
    return Response(status, {"error": {"code": code, "message": message, "details": {}}})


def bearer_ok(request: Request, token: str | None) -> bool:
    """True when no token is required, or the request carries `Bearer <token>`."""
    return token is None or request.headers.get("authorization") == f"Bearer {token}"


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll `predicate` until it returns something truthy, and return that.

    Raises TimeoutError when `timeout` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


@dataclass
class FaultPlan:
    """Failures to inject into the next calls; thread-safe, changeable at runtime."""

    fail_count: int = 0
    fail_status: int = 500
    rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    hang_count: int = 0
    hang_seconds: float = 0.0
    drop_count: int = 0
    drop_suffix: str = ""  # only calls whose path ends with it are dropped ("" = any)
    drop_method: str = ""  # and only calls with this method ("" = any)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def before(self) -> tuple[int | None, float]:
        """Consume the plan for one call: (status to fail with or None, seconds to hang)."""
        with self.lock:
            hang = 0.0
            if self.hang_count > 0:
                self.hang_count -= 1
                hang = self.hang_seconds
            if self.fail_count > 0:
                self.fail_count -= 1
                return self.fail_status, hang
            if self.rate and self.rng.random() < self.rate:
                return 500, hang
            return None, hang

    def take_drop(self, method: str = "", path: str = "") -> bool:
        """Consume one 'drop after success' if any is planned for ``method`` on ``path``."""
        with self.lock:
            if self.drop_count > 0 and path.endswith(self.drop_suffix) and self.drop_method in ("", method):
                self.drop_count -= 1
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OrderRouterSimulator/1"
    timeout = 30  # an idle keep-alive connection is closed after this many seconds
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def setup(self) -> None:
        super().setup()
        self.server.simulator._track_connection(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.simulator._track_connection(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.simulator._serve(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests and the demo would drown in access logs


class SimulatorServer:
    """Threaded HTTP server base: records calls, injects faults, runs as a context manager.

    Subclasses implement `handle(request) -> Response`; `self.lock` guards their state.
    `port=0` picks a free port at the first `start()`; a restart reuses it.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self.calls: list[RecordedCall] = []
        self.keys: dict[str, int] = {}
        self.faults = FaultPlan()
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321 (no trailing slash). Needs `start()`."""
        if not self.port:
            raise RuntimeError("simulator not started: no port yet")
        return f"http://{self.host}:{self.port}"

    def start(self) -> "SimulatorServer":
        """Bind and serve in a background thread; returns self."""
        if self._httpd is not None:
            return self
        self._stopping = threading.Event()
        httpd = ThreadingHTTPServer((self.host, self.port), _Handler)
        httpd.daemon_threads = True
        httpd.simulator = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake hanging requests and close open connections. Idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self.lock:
            open_connections = list(self._connections)
        for conn in open_connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "SimulatorServer":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # Failure injection, shared by every simulator.
    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next `n` calls with `status` (and no effect)."""
        with self.faults.lock:
            self.faults.fail_count, self.faults.fail_status = n, status

    def fail_rate(self, p: float, seed: int = 0) -> None:
        """Answer a fraction `p` of calls with 500, chosen by a random generator seeded with `seed`."""
        with self.faults.lock:
            self.faults.rate, self.faults.rng = p, random.Random(seed)

    def hang_next(self, n: int, seconds: float) -> None:
        """Make the next `n` calls wait `seconds` before answering (`stop()` cuts the wait)."""
        with self.faults.lock:
            self.faults.hang_count, self.faults.hang_seconds = n, seconds

    def drop_after_success_next(self, n: int, path_suffix: str = "", method: str = "") -> None:
        """For the next `n` successful calls (to paths ending with `path_suffix`, with `method`),
        perform the effect, then close without answering: the caller cannot know it landed."""
        with self.faults.lock:
            self.faults.drop_count, self.faults.drop_suffix, self.faults.drop_method = n, path_suffix, method

    def clear_faults(self) -> None:
        """Cancel every planned failure."""
        with self.faults.lock:
            self.faults.fail_count = self.faults.hang_count = self.faults.drop_count = 0
            self.faults.rate = 0.0

    def calls_to(self, method: str | None = None, contains: str = "") -> list[RecordedCall]:
        """Recorded calls filtered by method and by a substring of the path."""
        with self.lock:
            return [c for c in self.calls
                    if (method is None or c.method == method) and contains in c.path]

    def handle(self, request: Request) -> Response:
        """Answer one request; subclasses override. Exceptions become a 500."""
        return error(404, "not_found", request.path)

    def _track_connection(self, conn: socket.socket, add: bool) -> None:
        with self.lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = handler.path.partition("?")[0]
        key = headers.get("idempotency-key")
        form = headers.get("content-type", "").lower().startswith("application/x-www-form-urlencoded")
        try:  # a form body (TOP calls, the LWA token request) is read as a dict of its fields
            body, bad_json = (dict(parse_qsl(raw.decode(), keep_blank_values=True)) if form
                              else json.loads(raw) if raw else None), False
        except ValueError:
            body, bad_json = raw.decode("utf-8", "replace"), True
        query = dict(parse_qsl(handler.path.partition("?")[2], keep_blank_values=True))
        call = RecordedCall(handler.command, path, key, body, headers, datetime.now(timezone.utc), query=query)
        with self.lock:
            self.calls.append(call)
            if key is not None:
                self.keys[key] = self.keys.get(key, 0) + 1
        fail_status, hang = self.faults.before()
        if hang:
            self._stopping.wait(hang)
        if fail_status is not None:
            response = error(fail_status, "injected_failure", "failure injected by the simulator")
        elif bad_json:
            response = error(400, "bad_json", "request body is not JSON")
        else:
            segments = [unquote(s) for s in path.split("/") if s]
            try:
                response = self.handle(Request(handler.command, path, segments, headers, body, key, query, raw))
            except Exception as exc:  # a simulator bug must still answer, and visibly
                response = error(500, "simulator_error", repr(exc))
        if 200 <= response.status < 300 and self.faults.take_drop(handler.command, path):
            call.status = DROPPED
            handler.close_connection = True
            return
        call.status = response.status
        self._write(handler, response)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, response: Response) -> None:
        if isinstance(response.body, bytes):
            data = response.body
        else:
            data = b"" if response.body is None else json.dumps(response.body).encode()
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            handler.close_connection = True  # the client gave up (e.g. its timeout fired)
