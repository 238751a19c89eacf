"""Replaying dead letters: the same actor, the same arguments, a fresh message."""
from __future__ import annotations

from documents import dead_letters
from services.messages import Replay, send


def replay(message_id: str | None = None) -> list[str]:
    """Replay one dead letter (or all pending when ``message_id`` is None); returns their ids.

    Raises KeyError for an unknown or already replayed id.
    """
    if message_id is None:
        letters = dead_letters.pending(10_000)
    else:
        letter = dead_letters.get(message_id)
        if letter is None or letter.get("replayed_at"):
            raise KeyError(f"no pending dead letter {message_id!r}")
        letters = [letter]
    done = []
    for letter in letters:
        if dead_letters.mark_replayed(letter["_id"]):
            send(Replay(letter["actor"], tuple(letter["args"]), dict(letter["kwargs"])))
            done.append(letter["_id"])
    return done
