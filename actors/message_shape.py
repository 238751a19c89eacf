"""Messages whose arguments do not fit their actor are refused before the actor runs.

Every message is produced by this code base, but a queue is an interface like any other: a bad
producer, a hand-edited replay or a message from an older release can carry junk. Such a message
fails at once (no retries: it would fail the same way every time) and becomes a dead letter whose
error says which argument is wrong; the actor never sees it and nothing is changed.
"""
from __future__ import annotations

import inspect
import json
import types
import typing

from dramatiq.errors import ActorNotFound
from dramatiq.middleware import Middleware

MAX_ID = 200  # characters in an id argument (order, fulfilment, inbox event, outbox entry)
MAX_PAYLOAD = 64 * 1024  # bytes of a dict argument, as JSON
MAX_DEPTH = 8


def shape_error(fn, args, kwargs) -> str | None:
    """Why ``args`` and ``kwargs`` do not fit ``fn``'s signature and annotations, or None."""
    if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
        return "args must be a list and kwargs an object"
    signature = inspect.signature(fn)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        return f"arguments do not match {fn.__name__}{signature}: {exc}"
    hints = typing.get_type_hints(fn)
    for name, value in bound.arguments.items():
        problem = _value_error(hints.get(name), value)
        if problem:
            return f"{name}: {problem}"
    return None


def _value_error(hint, value) -> str | None:
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else (hint,)
    if value is None:
        return None if type(None) in allowed else "must not be null"
    if str in allowed and isinstance(value, str):
        if not 0 < len(value) <= MAX_ID or value.startswith("$") or "\x00" in value:
            return f"must be an id of 1-{MAX_ID} characters, not starting with '$'"
        return None
    if bool in allowed and isinstance(value, bool):
        return None
    if dict in allowed and isinstance(value, dict):
        return _payload_error(value)
    expected = " or ".join(getattr(a, "__name__", str(a)) for a in allowed)
    return f"must be {expected}, not {type(value).__name__}"


def _payload_error(value: dict) -> str | None:
    def walk(v, depth: int) -> str | None:
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH}"
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str) or k.startswith("$"):
                    return f"key {k!r} is not allowed"
                if (problem := walk(item, depth + 1)):
                    return problem
        elif isinstance(v, list):
            for item in v:
                if (problem := walk(item, depth + 1)):
                    return problem
        return None

    if (problem := walk(value, 1)):
        return problem
    if len(json.dumps(value, default=str)) > MAX_PAYLOAD:
        return f"larger than {MAX_PAYLOAD} bytes"
    return None


class MessageShape(Middleware):
    """Fails a message whose arguments do not fit its actor before the actor runs (no retries);
    the dead-letter recorder then records it with the reason."""

    def before_process_message(self, broker, message):
        try:
            actor = broker.get_actor(message.actor_name)
        except ActorNotFound:
            return  # Dramatiq rejects it itself
        problem = shape_error(actor.fn, message.args, message.kwargs)
        if problem:
            message.options["traceback"] = f"invalid message for {message.actor_name}: {problem}"
            message.fail()
