"""Replaying dead letters: the same actor, the same arguments, a fresh message."""
from __future__ import annotations

from documents import dead_letters
from services.messages import Replay, send


def replay(message_id: str | None = None) -> list[str]:
    """Replay one dead letter (or all pending when ``message_id`` is None); returns their ids.

    Raises KeyError for an unknown or already replayed id.
    """
    letters = dead_letters.pending(10_000) if message_id is None else [dead_letters.get(message_id)]
    if message_id is not None and (letters[0] is None or letters[0].get("replayed_at")):
        raise KeyError(f"no pending dead letter {message_id!r}")
    done = []
    for letter in letters:
        if dead_letters.mark_replayed(letter["_id"]):
            send(Replay(letter["actor"], tuple(letter["args"]), dict(letter["kwargs"])))
            done.append(letter["_id"])
    return done
