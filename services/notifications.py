"""Customer e-mail notifications: a second consumer of the orders' timelines (beside the webhook
relay, services/webhooks.py) that records one e-mail per notification and sends each through
the SMTP port, at least once, with its id as the Message-ID.

Where they come from: every change of an order appends its timeline entries in the same guarded
update, and the timeline is append-only. The sweep (:func:`sweep`, sent by the scheduler) looks at
orders updated since its watermark (less ``SLACK``), and for each whose version moved past its
cursor turns the entries after the cursor into notifications (``router.notifications.kinds_of``),
keyed by ``router.notifications.notification_id`` so doing it twice inserts once, then moves the
order's cursor. A worker killed anywhere in between leaves the cursor behind and the next sweep
does it again. No e-mail at all while ``ROUTER_SMTP_HOST`` is unset; none for an order without a
customer e-mail, a channel that notifies its own customers (``notifies_customers``), or a
merchant that turned e-mail or that kind off (``notifications.email``): those are counted.

Sending (:func:`send_notification`, the ``send_notification`` actor): claim the notification with
a lease, hand it to the mailer, mark it sent. A failure is retried on ``ROUTER_NOTIFY_BACKOFF``
until ``ROUTER_NOTIFY_GIVE_UP_SECONDS`` after the first attempt (a 5xx at once: failed); a send
whose worker died is due again when its lease (``ROUTER_NOTIFY_LEASE_SECONDS``) runs out, and
the sweep sends it again.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import structlog

from config import get_settings
from documents import notifications as store
from documents import reference
from router import notifications as rules
from router.webhooks import parse_schedule, retry_at
from services import timeline_feed
from services.messages import SendNotification, send
from services.ports import OutboundError, mailer, order_links

log = structlog.get_logger(__name__)
SLACK = timedelta(seconds=60)  # an update stamped before the last sweep may land after it
BATCH = 500


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _merchant_of(doc: dict, channel: dict | None) -> dict | None:
    merchant_id = (channel or {}).get("merchant_id") or next(iter(doc.get("merchant_ids") or []), None)
    return reference.cached("merchants", merchant_id) if merchant_id else None


def _parcels(doc: dict, fulfilment_ids: list[str]) -> list[dict]:
    parcels = []
    for f in doc.get("fulfilments") or []:
        if f.get("id") in fulfilment_ids and f.get("tracking_number"):
            carrier = reference.cached("carriers", f["carrier_id"]) if f.get("carrier_id") else None
            parcels.append({"number": f["tracking_number"], "carrier": (carrier or {}).get("name") or f.get("carrier_id"),
                            "link": rules.tracking_link((carrier or {}).get("tracking_url"), f["tracking_number"])})
    return parcels


def notices_of(doc: dict, seen: int, started: datetime, now: datetime, skipped: Counter) -> list[dict]:
    """The notifications of the order's timeline entries from ``seen`` on (those before
    ``started`` notify nobody), each with its e-mail rendered; what is not sent is counted in
    ``skipped`` by reason."""
    channel = reference.cached("channels", doc.get("channel") or "")
    merchant = _merchant_of(doc, channel)
    customer = doc.get("customer") or {}
    language = rules.language_of(customer.get("locale"), channel, merchant)
    link: list[str | None] = []  # minted once, when the first e-mail needs it
    rows = []
    timeline = doc.get("timeline") or []
    for index in range(seen, len(timeline)):
        entry = timeline[index]
        if entry.get("at") is not None and entry["at"] < started:
            continue
        for kind, extra in rules.kinds_of(entry):
            why = rules.wanted(kind, merchant, channel) or (None if customer.get("email") else "no_email")
            if why:
                skipped[why] += 1
                continue
            if not link:
                link.append(order_links().order_link(doc.get("channel") or "", doc["_id"]))
            facts = {"ref": doc.get("channel_order_id") or doc["_id"], "name": customer.get("name"),
                     "amount": extra.get("amount"), "currency": (doc.get("amounts") or {}).get("currency"),
                     "parcels": _parcels(doc, extra.get("fulfilment_ids") or []), "order_link": link[0]}
            subject, body = rules.render(kind, language, facts)
            rows.append({"_id": rules.notification_id(doc["_id"], index, kind), "order_id": doc["_id"], "kind": kind,
                         "index": index, "language": language, "to": customer["email"], "subject": subject,
                         "body": body, "status": rules.PENDING, "attempts": 0, "next_at": now, "created_at": now,
                         "occurred_at": entry.get("at"), "log": []})
    return rows


def fan_out(now: datetime, started: datetime, since: datetime) -> Counter:
    """Record the notifications of orders changed since ``since`` (``timeline_feed.walk``).
    Returns counts."""
    counts: Counter = Counter()

    def visit(order_id: str, cursor: dict) -> None:
        doc = store.order_for_notices(order_id)
        if doc is not None:
            counts["recorded"] += len(store.add(notices_of(doc, cursor.get("seen", 0), started, now, counts)))
            store.advance_cursor(order_id, len(doc.get("timeline") or []), doc.get("version", 0))

    timeline_feed.walk(store, since, now, visit)
    return counts


def sweep(now: datetime | None = None) -> dict:
    """The periodic run: record new notifications, and send every one due (new, retrying, or
    whose attempt's worker died). Returns counts (``recorded``, ``sent_for``, and the reasons
    notifications were not made: ``no_email``, ``channel_notifies``, ``merchant_off``, ``kind_off``)."""
    now = now or _now()
    if not get_settings().smtp_host:
        store.reset_watermark()  # e-mail off: turned on later, it starts from then
        return {}
    mark = store.watermark()
    if mark is None:
        store.set_watermark(now)
        mark = store.watermark() or (now, now)
    counts = fan_out(now, mark[1], mark[0] - SLACK)
    due = store.due(now, BATCH)
    for notification_id in due:
        send(SendNotification(notification_id))
    counts["sent_for"] = len(due)
    if any(v for k, v in counts.items() if k not in ("recorded", "sent_for")):
        log.info("notifications_skipped", **{k: v for k, v in counts.items() if k not in ("recorded", "sent_for")})
    return dict(counts)


def send_notification(notification_id: str) -> bool:
    """Send one notification if it is due and this run wins its claim. Returns True once sent."""
    note = store.get(notification_id)
    if note is None or note["status"] != rules.PENDING:
        return False
    settings = get_settings()
    now = _now()
    if not store.claim(notification_id, note["attempts"], now, now + timedelta(seconds=settings.notify_lease_seconds)):
        return False  # not due, or another run has it
    attempt = note["attempts"] + 1
    try:
        mailer().send(note["to"], note["subject"], note["body"], notification_id)
    except OutboundError as exc:
        done = _now()
        again = retry_at(attempt, note.get("first_attempt_at") or now, done, parse_schedule(settings.notify_backoff),
                         settings.notify_give_up_seconds) if exc.retryable else None
        store.mark_failed_attempt(notification_id, attempt, {"at": done, "attempt": attempt, "status": exc.status,
                                                             "error": str(exc)[:300]}, again)
        log.info("notification_failed" if again is None else "notification_retrying", notification_id=notification_id,
                 attempt=attempt, error=str(exc)[:200], retry_at=again)
        return False
    done = _now()
    store.mark_sent(notification_id, done, {"at": done, "attempt": attempt, "status": 250})
    log.info("notification_sent", notification_id=notification_id, kind=note.get("kind"), attempt=attempt)
    return True


def of_order(order_id: str) -> list[dict]:
    """An order's notifications (the e-mails' bodies left out)."""
    return store.of_order(order_id)
