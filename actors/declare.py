"""Declaring actors without a broker: ``@actor(queue=...)`` records the function and its options,
and :func:`bind_all` (called by the composition root, never at import) declares every recorded
actor on the broker it is given. Until then nothing connects and nothing is registered.

A declared actor is sent like a Dramatiq actor (``process_order.send(order_id)``), so an order can
be followed through the code by searching for the function's name.
"""
from __future__ import annotations

from typing import Any, Callable

import dramatiq

from actors import queues

_declared: list[LazyActor] = []


class LazyActor:
    """A Dramatiq actor declared now and bound to a broker later (see :func:`bind_all`)."""

    def __init__(self, fn: Callable[..., Any], queue: str, options: dict[str, Any]):
        self.fn = fn
        self.actor_name = fn.__name__
        self.queue_kind = queue
        self.options = options
        self.bound: dramatiq.Actor | None = None
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def bind(self, broker: dramatiq.Broker, prefix: str) -> dramatiq.Actor:
        unknown = set(self.options) - set(broker.actor_options)
        if unknown:
            raise ValueError(f"{self.actor_name}: options {sorted(unknown)} are not known to the broker's middleware")
        if self.actor_name in broker.actors:  # bound again to the same broker (a second set-up)
            self.bound = broker.actors[self.actor_name]
        else:
            self.bound = dramatiq.Actor(self.fn, broker=broker, actor_name=self.actor_name,
                                        queue_name=queues.name(prefix, self.queue_kind), priority=0,
                                        options=self.options)
        return self.bound

    def _actor(self) -> dramatiq.Actor:
        if self.bound is None:
            raise RuntimeError(f"actor {self.actor_name} is not bound to a broker: the entry point must call "
                               "adapters.wiring.setup() first")
        return self.bound

    @property
    def queue_name(self) -> str:
        return self._actor().queue_name

    def send(self, *args, **kwargs) -> dramatiq.Message:
        return self._actor().send(*args, **kwargs)

    def send_with_options(self, **options) -> dramatiq.Message:
        return self._actor().send_with_options(**options)

    def message(self, *args, **kwargs) -> dramatiq.Message:
        return self._actor().message(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyActor({self.actor_name}, queue={self.queue_kind})"


def actor(*, queue: str, **options: Any) -> Callable[[Callable[..., Any]], LazyActor]:
    """Declare the decorated function an actor on ``queue`` (a kind from actors/queues.py) with
    Dramatiq ``options`` (time_limit, max_retries, ...)."""
    if queue not in queues.KINDS:
        raise ValueError(f"unknown queue kind {queue!r}")

    def decorate(fn: Callable[..., Any]) -> LazyActor:
        declared = LazyActor(fn, queue, options)
        _declared.append(declared)
        return declared
    return decorate


def declared() -> list[LazyActor]:
    """Every actor declared so far (importing ``actors`` declares them all)."""
    return list(_declared)


def bind_all(broker: dramatiq.Broker, prefix: str) -> list[LazyActor]:
    """Declare every recorded actor on ``broker``, on queues carrying ``prefix``."""
    for declared in _declared:
        declared.bind(broker, prefix)
    return list(_declared)
