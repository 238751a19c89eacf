"""Customer e-mail notifications end to end (issue 19, item 2): orders moved through their life
by the real pieces (API, Dramatiq worker, simulated WMS and carrier), the notification sweep sent
as the scheduler sends it, and a real SMTP server (aiosmtpd) on a private 127.0.0.1 port that
records each transaction it completed. Each notification must arrive once (by Message-ID, the
notification's id), in the customer's language, the shipped one with the carrier's tracking link;
through an SMTP server refusing with 4xx for a while, and a worker process SIGKILLed mid-send."""
from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

import config
from actors import queues
from actors.notifications import sweep_notifications
from adapters.customer import tokens
from documents import notifications as store
from documents import orders, reference
from router import notifications as kinds
from tests.helpers import eventually, get_order, http, order_in, ticking

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
TRACKING_URL = "https://track.example/fastship/{tracking_number}"
CHANNEL_SECRET = "manual-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """An SMTP server's DATA handler: records every transaction it completes (answered 250);
    answers ``451`` to the next ``refuse`` ones; with ``stall`` set, holds the next DATA unanswered
    (``stalled`` is set) until ``release`` is set, then answers 451 (never completed, not recorded)."""

    def __init__(self):
        self.received: list[dict] = []
        self.refuse = 0
        self.refused = 0
        self.stall = False
        self.stalled, self.release = threading.Event(), threading.Event()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        with self.lock:
            stall, self.stall = self.stall, False
            refuse = self.refuse > 0
            if refuse:
                self.refuse -= 1
                self.refused += 1
        if stall:
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 transaction abandoned"
        if refuse:
            return "451 4.7.1 try again later"
        mail = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.lock:
            self.received.append({"message_id": mail["Message-ID"].strip("<>").split("@")[0], "to": mail["To"],
                                  "rcpt": list(envelope.rcpt_tos), "subject": str(mail["Subject"]),
                                  "body": mail.get_content()})
        return "250 OK"

    def of(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.received if m["to"] == address]

    def ids(self) -> Counter:
        with self.lock:
            return Counter(m["message_id"] for m in self.received)


@pytest.fixture
def mailbox():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    box.release.set()
    controller.stop()


@pytest.fixture
def mail_on(mailbox, settings_with):
    settings_with(smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_tls="none", smtp_from="orders@shop.example",
                  notify_backoff="0.2,0.5", notify_lease_seconds=2.0)
    return mailbox


@pytest.fixture
def scheduler(broker):
    """What ``orderrouter scheduler`` does for notifications, every 0.3 s: send the sweep."""
    with ticking(sweep_notifications.send):
        yield


@pytest.fixture
def tracked(seeded):
    """The seeded world, its carrier with a tracking page, its channel with a signing secret."""
    reference.upsert("carriers", "fastship", {"name": "FastShip", "tracking_url": TRACKING_URL})
    reference.upsert("channels", "manual", {"secret": CHANNEL_SECRET})
    reference.network_cache.clear()
    return seeded


def sweeping() -> None:
    """Wait for the first sweep with e-mail on: what happens from then on is notified."""
    eventually(store.watermark, timeout=60, what="the first notification sweep")


def place(api, seeded, lines=(("SKU-A", 1),), channel="manual", **customer) -> str:
    body = seeded.order(lines)
    body["customer"] = {**body["customer"], **customer}
    placed = http.post(f"{api}/v1/channels/{channel}/orders", json=body, timeout=5)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    payable = eventually(lambda: (o := get_order(api, order_id))["routing"]["state"] == "routed" and o,
                         what=f"{order_id} routed")["amounts"]["payable"]
    paid = http.post(f"{api}/v1/payments", json={"order_id": order_id, "transaction_id": f"tx-{order_id}",
                                                  "type": "paid", "amount": payable}, timeout=5)
    assert paid.status_code == 202, paid.text
    return order_id


def ship(api, wms, carrier, order_id) -> str:
    fulfilment = eventually(lambda: (o := get_order(api, order_id))["fulfilments"][0]["status"] == "dispatched"
                            and o["fulfilments"][0], what=f"{order_id} dispatched")
    wms.progress(fulfilment["id"])
    order_in(api, order_id, status="shipped")
    eventually(lambda: fulfilment["tracking_number"] in carrier.trackers, what="tracker registered")
    return fulfilment["tracking_number"]


def sent_once(mailbox: Mailbox, order_id: str, expected_kinds: list[str]) -> dict[str, dict]:
    """Wait until every notification of the order is sent; each arrived exactly once. Returns the
    e-mails by kind."""
    notes = eventually(lambda: (n := store.of_order(order_id)) and len(n) == len(expected_kinds)
                       and all(x["status"] == kinds.SENT for x in n) and n, timeout=45,
                       what=f"{expected_kinds} sent for {order_id}")
    assert sorted(n["kind"] for n in notes) == sorted(expected_kinds)
    ids = mailbox.ids()
    assert {n["_id"]: ids[n["_id"]] for n in notes} == {n["_id"]: 1 for n in notes}
    by_id = {m["message_id"]: m for m in mailbox.received}
    return {n["kind"]: by_id[n["_id"]] for n in notes}


def test_each_notification_arrives_once_in_the_customers_language_through_smtp_refusals(
        api, worker, tracked, wms, carrier, mail_on, scheduler, settings_with):
    mailbox = mail_on
    settings_with(outbound_attempts=1)  # each refusal fails an attempt: retried on the notification's backoff
    mailbox.refuse = 4
    sweeping()

    # Given a Chinese-speaking customer and an English-speaking one
    zh = place(api, tracked, email="li@example.cn", name="李雷", locale="zh-CN")
    en = place(api, tracked, email="ada@example.com", name="Ada")

    # When both orders ship and are delivered, the English one with a delivery exception on the
    # way and a refund afterwards
    zh_number, en_number = ship(api, wms, carrier, zh), ship(api, wms, carrier, en)
    carrier.send_event(en_number, "exception", description="address unclear")
    eventually(lambda: any(e["event"] == "exception.flagged" for e in orders.load(en)["timeline"]),
               what="exception flagged")
    for order_id, number in ((zh, zh_number), (en, en_number)):
        carrier.track(number)
        order_in(api, order_id, shipment_status="delivered")
    case = http.post(f"{api}/v1/orders/{en}/after-sales", json={"type": "refund_only", "amount": "4.50",
                                                                   "reason": "scratched"}, timeout=5)
    assert case.status_code == 201, case.text
    case_id = case.json()["case_id"]
    assert http.post(f"{api}/v1/after-sales/{case_id}/approve", timeout=5).status_code == 200
    assert http.post(f"{api}/v1/after-sales/{case_id}/refund", timeout=5).status_code == 200

    # Then each notification arrived exactly once, in the customer's language
    zh_mail = sent_once(mailbox, zh, [kinds.CONFIRMED, kinds.SHIPPED, kinds.DELIVERED])
    en_mail = sent_once(mailbox, en, [kinds.CONFIRMED, kinds.SHIPPED, kinds.EXCEPTION, kinds.DELIVERED,
                                      kinds.REFUNDED])
    zh_ref, en_ref = get_order(api, zh)["channel_order_id"], get_order(api, en)["channel_order_id"]
    assert zh_mail[kinds.CONFIRMED]["subject"] == f"您的订单 {zh_ref} 已确认"
    assert zh_mail[kinds.SHIPPED]["subject"] == f"您的订单 {zh_ref} 已发货"
    assert f"运单号 {zh_number} (FastShip)：https://track.example/fastship/{zh_number}" in zh_mail[kinds.SHIPPED]["body"]
    assert en_mail[kinds.CONFIRMED]["subject"] == f"Your order {en_ref} is confirmed"
    assert f"Tracking number {en_number} (FastShip): https://track.example/fastship/{en_number}" in \
        en_mail[kinds.SHIPPED]["body"]
    assert "4.50 USD" in en_mail[kinds.REFUNDED]["body"]
    link = re.search(r"See your order: (\S+)", en_mail[kinds.CONFIRMED]["body"]).group(1)
    assert link.startswith(f"{config.get_settings().public_url.rstrip('/')}/customer/?token=")
    claims = tokens.verify(link.split("token=", 1)[1], {"manual": CHANNEL_SECRET}.get)
    assert (claims.channel, claims.order_id) == ("manual", en)  # the customer's signed link to this order
    assert {m["rcpt"][0] for m in zh_mail.values()} == {"li@example.cn"}
    assert {m["rcpt"][0] for m in en_mail.values()} == {"ada@example.com"}

    # And the refusals were retried: one notification's log holds the 451 before it went
    assert mailbox.refused == 4
    retried = [n for n in store.of_order(zh) + store.of_order(en) if n["attempts"] >= 2]
    assert retried and all(any(a.get("status") == 451 for a in n["log"]) for n in retried)

    # And the operator sees them on the order, through the API: kind, language, status, attempts
    listed = http.get(f"{api}/v1/orders/{zh}/notifications", timeout=5)
    assert listed.status_code == 200, listed.text
    assert sorted((n["kind"], n["language"], n["status"], n["to"]) for n in listed.json()["notifications"]) == sorted(
        (k, "zh", kinds.SENT, "li@example.cn") for k in (kinds.CONFIRMED, kinds.SHIPPED, kinds.DELIVERED))
    assert {n["id"] for n in listed.json()["notifications"]} == {n["_id"] for n in store.of_order(zh)}
    assert http.get(f"{api}/v1/orders/O-NONE/notifications", timeout=5).status_code == 404

    # And a sweep fanning the orders out again (cursors lost) records and sends nothing new
    store._cursors().delete_many({"_id": {"$in": [zh, en]}})
    from services import notifications

    assert notifications.sweep().get("recorded", 0) == 0
    assert sum(mailbox.ids().values()) == 8


def test_switched_off_merchant_kind_channel_and_customers_without_email_get_no_mail(
        api, worker, tracked, wms, carrier, mail_on, scheduler):
    mailbox = mail_on
    # Given m1 e-mails all but confirmations, m2 e-mails nothing, and a channel sends its own
    reference.upsert("merchants", "m1", {"notifications": {"email": {"enabled": True, "events": [
        kinds.SHIPPED, kinds.DELIVERED, kinds.REFUNDED, kinds.EXCEPTION]}}})
    reference.upsert("merchants", "m2", {"notifications": {"email": {"enabled": False}}})
    reference.upsert("channels", "app", {"format": "canonical", "notifies_customers": True})
    sweeping()

    # When orders of each kind are paid and shipped
    merchant_off = place(api, tracked, [("SKU-M2", 1)], email="m2@example.com")
    channel_own = place(api, tracked, channel="app", email="app@example.com")
    no_email = place(api, tracked, email="")
    kind_off = place(api, tracked, email="kind@example.com")
    for order_id in (merchant_off, channel_own, no_email):
        ship(api, wms, carrier, order_id)
    ship(api, wms, carrier, kind_off)  # the last change: once its e-mail is sent, the others were looked at

    # Then only the shipment of the order whose merchant wants shipments is e-mailed
    mails = sent_once(mailbox, kind_off, [kinds.SHIPPED])
    assert mails[kinds.SHIPPED]["rcpt"] == ["kind@example.com"]
    for order_id in (merchant_off, channel_own, no_email):
        assert store.cursors([order_id])[order_id]["seen"] == len(orders.load(order_id)["timeline"])
        assert store.of_order(order_id) == []
    assert [m["rcpt"] for m in mailbox.received] == [["kind@example.com"]]


def _worker_process(db, mongo_url, mailbox, log_path: Path) -> subprocess.Popen:
    """``dramatiq adapters.worker`` as ``orderrouter up`` runs it, in a session of its own (killed
    as a whole), e-mailing the test's SMTP server."""
    settings = config.get_settings()
    env = {**os.environ, "ROUTER_MONGO_URL": mongo_url, "ROUTER_MONGO_DB": db.name,
           "ROUTER_QUEUE_PREFIX": settings.queue_prefix, "ROUTER_AMQP_URL": settings.amqp_url,
           "ROUTER_WORKER_METRICS": "0", "PYTHONPATH": str(ROOT), "ROUTER_SMTP_HOST": "127.0.0.1",
           "ROUTER_SMTP_PORT": str(mailbox.port), "ROUTER_SMTP_TLS": "none", "ROUTER_NOTIFY_LEASE_SECONDS": "2",
           "ROUTER_NOTIFY_BACKOFF": "0.2", "ROUTER_HTTP_TIMEOUT": "30"}
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "dramatiq", "adapters.worker", "--processes", "1",
                                 "--threads", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(timeout=30)


def test_a_worker_killed_mid_send_leaves_one_email_per_notification_after_restart(
        api, broker, db, mongo_url, tracked, mail_on, scheduler, tmp_path):
    mailbox = mail_on
    for queue in queues.names(config.get_settings().queue_prefix):  # nothing left from earlier tests
        broker.declare_queue(queue)
        broker.flush(queue)
    mailbox.stall = True  # the first e-mail's DATA is held unanswered
    first = _worker_process(db, mongo_url, mailbox, tmp_path / "worker.log")
    second = None
    try:
        sweeping()
        # Given an order confirmed while the SMTP server holds the e-mail's DATA
        order_id = place(api, tracked, email="li@example.cn", locale="zh")
        assert mailbox.stalled.wait(timeout=60), (tmp_path / "worker.log").read_text(errors="replace")[-3000:]

        # When the worker process is killed mid-send, the server never completes that transaction
        _stop(first, signal.SIGKILL)
        mailbox.release.set()
        assert mailbox.received == []

        # Then a new worker sends it once its lease ran out: exactly one e-mail, in Chinese
        second = _worker_process(db, mongo_url, mailbox, tmp_path / "worker.log")
        mails = sent_once(mailbox, order_id, [kinds.CONFIRMED])
        assert mails[kinds.CONFIRMED]["subject"].endswith("已确认")
        note = store.of_order(order_id)[0]
        assert note["attempts"] == 2 and note["language"] == "zh"
    finally:
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second, signal.SIGTERM)
