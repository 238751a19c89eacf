"""The outbox relay: notices to channels were written into the order (``outbox``) by the same
guarded update as the change they report; this actor delivers each once and marks it sent. The
reconciler re-sends entries still pending after a minute, so none is lost."""
from __future__ import annotations

from datetime import datetime, timezone

from documents import orders, reference
from services.messages import SyncChannel, send
from services.ports import OutboundError, outbound


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


def sync_channel(order_id: str, entry_id: str) -> None:
    doc = orders.load(order_id, working=True)
    if doc is None:
        return
    entry = next((e for e in doc.get("outbox", []) if e["id"] == entry_id), None)
    if entry is None or entry["state"] != "pending":
        return
    channel = reference.cached("channels", doc["channel"])
    assert channel is not None, "the order came in through it"
    if outbound().channel.needs_raw(channel, entry["kind"]):
        doc = orders.load(order_id)  # the channel's own item ids are in the raw order
        assert doc is not None, "read just above"
    try:
        outbound().channel.notify(channel, entry, doc)
        outcome = {"state": "sent", "sent_at": datetime.now(timezone.utc)}
    except OutboundError as exc:
        if exc.retryable:
            raise
        outcome = {"state": "failed", "error": str(exc)}

    def decide(current):
        outbox = [{**e, **outcome} if e["id"] == entry_id and e["state"] == "pending" else e
                  for e in current.get("outbox", [])]
        return {"outbox": outbox}, [], None

    orders.update_with(order_id, decide)
