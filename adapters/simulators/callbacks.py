"""Posts a simulated third party's events to the router, in order, from a few threads.

A chain is the list of events of one delivery order or one parcel. Its next event is
scheduled only when the previous one was delivered, so events of a chain arrive in
order, `delay` seconds apart, while many chains progress at once on a small worker
pool (a time-ordered queue plus `workers` threads, never a thread per chain). A failed
post is retried with exponential backoff; after `max_attempts` the rest of the chain
is abandoned and recorded in `undelivered`, as a real sender would give up.
"""
from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Mapping
from typing import Any, Callable

import httpx

from adapters.simulators.server import SimulatorServer

# Party id -> token or secret: a mapping, or a callable giving the current one (read at each use).
Parties = Mapping[str, str | None] | Callable[[], Mapping[str, str | None]]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


@dataclass
class Callback:
    """One event to post. The same object twice in a chain is a duplicate delivery:
    `occurred_at` is stamped once, at its first attempt, if the body lacks it."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None  # the body already encoded (signed): posted as is, not stamped
    kind: str = ""  # what the event is, for the sender's own bookkeeping
    # With `content`: signs each attempt afresh, as a platform that signs a timestamp does (Qimen):
    # content -> (url, headers) to post it with; None posts `url` and `headers` as they are.
    sign: Callable[[bytes], tuple[str, dict[str, str]]] | None = None


@dataclass
class SentCallback:
    """Outcome of one callback: the URL and headers last posted, last HTTP status (None: no
    answer) and attempts made."""

    url: str
    body: dict[str, Any]
    status: int | None
    attempts: int
    headers: dict[str, str] = field(default_factory=dict)  # as posted (signature headers included)


@dataclass
class _Chain:
    steps: list[Callback]
    on_step: Callable[[Callback], bool] | None
    index: int = 0
    attempt: int = 0


class CallbackScheduler:
    """Delivers chains of callbacks; see the module docstring.

    `on_step(callback) -> bool`, if given to `submit`, runs before each step's first
    attempt (under no lock of ours); returning False ends the chain there.
    """

    def __init__(self, delay: float = 0.05, workers: int = 4, max_attempts: int = 4,
                 backoff: float = 0.05, timeout: float = 5.0,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.delay, self.workers, self.max_attempts = delay, workers, max_attempts
        self.backoff, self.clock = backoff, clock
        self.sent: list[SentCallback] = []
        self.undelivered: list[SentCallback] = []
        self.timeout = timeout
        self._client: httpx.Client | None = None
        self._heap: list[tuple[float, int, _Chain]] = []
        self._order = itertools.count()  # tie-breaker: equal due times keep submit order
        self._active = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the worker threads (idempotent)."""
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            self._client = httpx.Client(timeout=self.timeout)
            self._threads = [threading.Thread(target=self._work, daemon=True,
                                              name=f"simulator-callbacks-{i}")
                             for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the workers and close the HTTP client; callbacks not yet posted are dropped."""
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._active = 0
            self._cond.notify_all()
            threads, self._threads = self._threads, []
            client, self._client = self._client, None
        for thread in threads:
            thread.join(timeout=self.timeout + 1)
        if client is not None:
            client.close()

    def submit(self, steps: list[Callback], on_step: Callable[[Callback], bool] | None = None) -> None:
        """Queue a chain; its first step is posted as soon as a worker is free.

        Raises RuntimeError when the scheduler is not running.
        """
        if not steps:
            return
        with self._cond:
            if self._stopping or not self._threads:
                raise RuntimeError("callback scheduler is not running")
            self._active += 1
            self._push(time.monotonic(), _Chain(steps, on_step))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every submitted chain is finished; False if `timeout` passed first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _push(self, due: float, chain: _Chain) -> None:
        if self._stopping:
            return
        heapq.heappush(self._heap, (due, next(self._order), chain))
        self._cond.notify()

    def _next_due(self) -> _Chain | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    return heapq.heappop(self._heap)[2]
                wait = self._heap[0][0] - now if self._heap else 0.5
                self._cond.wait(min(wait, 0.5))
            return None

    def _work(self) -> None:
        while (chain := self._next_due()) is not None:
            self._step(chain)

    def _step(self, chain: _Chain) -> None:
        step = chain.steps[chain.index]
        if chain.attempt == 0:
            if chain.on_step is not None and not chain.on_step(step):
                return self._finish()
            if step.content is None:
                step.body.setdefault("occurred_at", self.clock().isoformat())
        chain.attempt += 1
        client = self._client
        if client is None:
            return  # stopped meanwhile
        url, headers = step.url, step.headers
        if step.content is not None and step.sign is not None:
            url, headers = step.sign(step.content)
        try:
            if step.content is not None:
                status = client.post(url, content=step.content,
                                     headers={"Content-Type": "application/json", **headers}).status_code
            else:
                status = client.post(url, json=step.body, headers=headers).status_code
        except httpx.HTTPError:
            status = None
        outcome = SentCallback(url, step.body, status, chain.attempt, headers)
        if status is not None and 200 <= status < 300:
            self.sent.append(outcome)
            chain.index, chain.attempt = chain.index + 1, 0
            if chain.index == len(chain.steps):
                return self._finish()
            with self._cond:
                self._push(time.monotonic() + self.delay, chain)
        elif chain.attempt >= self.max_attempts:
            self.undelivered.append(outcome)
            self._finish()
        else:
            with self._cond:
                self._push(time.monotonic() + self.backoff * 2 ** (chain.attempt - 1), chain)

    def _finish(self) -> None:
        with self._cond:
            self._active = max(0, self._active - 1)
            self._cond.notify_all()


class CallingParty(SimulatorServer):
    """A simulated third party that calls the router back (a WMS, carriers): bearer tokens per
    party (used both ways), signing secrets per party for the formats that sign their calls
    instead (default: the party's token), optional automatic progress, seeded duplicates, a
    callback pool."""

    def __init__(self, callback_url: str | None = None, tokens: Parties | None = None,
                 auto_progress: bool = False, step_delay: float = 0.05, duplicate_rate: float = 0.0,
                 seed: int = 0, host: str = "127.0.0.1", port: int = 0, callback_workers: int = 4,
                 callback_attempts: int = 4, *, secrets: Parties | None = None) -> None:
        super().__init__(host, port)
        if auto_progress and not callback_url:
            raise ValueError("auto_progress needs a callback_url")
        self.callback_url = callback_url.rstrip("/") if callback_url else None
        self.tokens = tokens or {}
        self.secrets = secrets or {}
        self.auto_progress = auto_progress
        self.duplicate_rate = duplicate_rate
        self.callbacks = CallbackScheduler(step_delay, callback_workers, callback_attempts)
        self._rng = random.Random(seed)
        self._numbers = itertools.count(1)

    @property
    def tokens(self) -> Mapping[str, str | None]:
        """Each party's bearer token, read when needed: a callable given for ``tokens`` is asked
        every time (``orderrouter up`` passes one reading the reference data, so a party seeded
        after the simulators started is known to them)."""
        return self._tokens() if callable(self._tokens) else self._tokens

    @tokens.setter
    def tokens(self, value: Parties) -> None:
        self._tokens = value if callable(value) else dict(value)

    @property
    def secrets(self) -> Mapping[str, str | None]:
        """Each party's signing secret, read when needed like :attr:`tokens`."""
        return self._secrets() if callable(self._secrets) else self._secrets

    @secrets.setter
    def secrets(self, value: Parties) -> None:
        self._secrets = value if callable(value) else dict(value)

    def secret_of(self, party_id: str) -> str:
        """What `party_id` signs its calls with: its secret, else its token ("" when neither)."""
        return self.secrets.get(party_id) or self.tokens.get(party_id) or ""

    def start(self):
        """Start serving and the callback workers; returns self."""
        self.callbacks.start()
        return super().start()

    def stop(self) -> None:
        """Stop serving and drop callbacks not yet posted."""
        super().stop()
        self.callbacks.stop()
