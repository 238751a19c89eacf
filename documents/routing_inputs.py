"""The recorded inputs of routing decisions, kept out of the order document.

``router.routing.plan_fulfilments`` records in its explanation everything the decision depended
on, so that ``router.routing.replay`` can reach it again. Stored in the order, that record was
read and rewritten with every later change of the order: over 1,000 warehouses it was 166 KB of
a 175 KB order. Here it is written once, when the order is routed, and read only by a replay.
The order's explanation keeps ``inputs_ref``, the id of its record.

The network part (the merchants' warehouses and every carrier) repeats from order to order, so it
is stored once per distinct content. Both ids are digests of their content, so a second run of the
routing message writes nothing new. A decision's record carries ``expire_at`` (``keep_days`` after
it was made) and a TTL index removes it then; network records are small and kept.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import mongoengine as me

from documents import orders


class RoutingInputs(me.DynamicDocument):
    id = me.StringField(primary_key=True)  # "network:<digest>" or "decision:<order id>:<digest>"
    meta = {"collection": "routing_inputs", "indexes": [{"fields": ["expire_at"], "expireAfterSeconds": 0}]}


DOCUMENTS = (RoutingInputs,)


def collection():
    return RoutingInputs._get_collection()


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def detach(order_id: str, explanation: dict, now: datetime, keep_days: int = 0) -> dict:
    """``explanation`` with its ``inputs`` stored here (for ``keep_days``, 0: for good) and replaced
    by ``inputs_ref``; as it is when it holds no inputs."""
    explanation, upserts = detached(order_id, explanation, now, keep_days)
    orders.upsert_all(upserts)
    return explanation


def detached(order_id: str, explanation: dict, now: datetime, keep_days: int = 0) -> tuple[dict, list]:
    """``explanation`` with ``inputs_ref`` in place of its ``inputs``, and the upserts that store
    them, as ``(namespace, filter, update)``, to go first in the order's own round trip
    (``documents.orders.save_change(first=...)``; alone: ``documents.orders.upsert_all``). Both
    records are ``$setOnInsert`` upserts by ids that digest their content, so writing them again,
    or after a concurrent run wrote them, changes nothing. The network is written (a no-op once
    there) with every decision rather than remembered per process: a remembered record would be
    missing after its collection was dropped or restored."""
    if "inputs" not in explanation:
        return explanation, []
    inputs = dict(explanation["inputs"])
    network = inputs.pop("network")
    inputs["network_ref"] = network_ref = f"network:{_digest(network)}"
    ref = f"decision:{order_id}:{_digest(inputs)}"
    record = {"kind": "decision", "order_id": order_id, "inputs": inputs, "created_at": now}
    if keep_days > 0:
        record["expire_at"] = now + timedelta(days=keep_days)
    name = collection().full_name
    upserts = [(name, {"_id": network_ref}, {"$setOnInsert": {"kind": "network", "network": network,
                                                               "created_at": now}}),
               (name, {"_id": ref}, {"$setOnInsert": record})]
    return {**{k: v for k, v in explanation.items() if k != "inputs"}, "inputs_ref": ref}, upserts


def inputs_of(explanation: dict) -> dict | None:
    """The whole recorded inputs of a stored explanation (as ``record_inputs`` gave them), or
    None when none were recorded or their record is gone. Explanations stored before the inputs
    moved here hold them inline."""
    if "inputs" in explanation:
        return explanation["inputs"]
    ref = explanation.get("inputs_ref")
    decision = collection().find_one({"_id": ref}) if ref else None
    if decision is None:
        return None
    inputs = dict(decision["inputs"])
    network = collection().find_one({"_id": inputs.pop("network_ref", None)})
    if network is None:
        return None
    return {**inputs, "network": network["network"]}
