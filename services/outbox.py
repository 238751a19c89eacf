"""Notices to channels, written into the order (``outbox``) by the same guarded update as the
change they report, and their relay asked for once that update landed (services/channel_sync.py
delivers them). Apart from the relay so that what writes a notice (commands, events, refunds)
does not import what confirms one."""
from __future__ import annotations

from documents import reference
from services.messages import SyncChannel, send
from services.ports import outbound


def outbox_entry(doc: dict, kind: str, key: str, origin: str = "", cause: str | None = None, **data) -> list[dict]:
    """The order's outbox with a ``kind`` notice added, unless the channel has no API, already has
    that notice, or is where the change came from (``origin`` ``channel:<id>``: no echo). A notice
    the channel's API cannot take is recorded as ``unsupported``, with why, and never sent."""
    outbox = list(doc.get("outbox", []))
    channel = reference.cached("channels", doc["channel"])
    if not channel or not channel.get("api_url") or origin == f"channel:{doc['channel']}":
        return outbox
    entry_id = f"{key}:{kind}"
    if any(e["id"] == entry_id for e in outbox):
        return outbox
    why = outbound().channel.unsupported(channel, kind)
    state = {"state": "unsupported", "reason": why} if why else {"state": "pending"}
    return outbox + [{"id": entry_id, "kind": kind, **state, "cause": cause, **data}]


def send_pending(doc: dict | None, cause: str | None = None) -> None:
    """Relay the pending notices (only those written by ``cause``, the event that wrote them,
    when given: other pending ones are already on their way, or the reconciler's)."""
    if doc is None:
        return
    for entry in doc.get("outbox", []):
        if entry["state"] == "pending" and (cause is None or entry.get("cause") == cause):
            send(SyncChannel(doc["_id"], entry["id"]))
