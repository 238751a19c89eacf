"""A throwaway queue namespace (a test session, a demo or bench run) leaves nothing on the broker."""
from __future__ import annotations

import uuid

import pika
import pytest

from actors import queues
from config import get_settings

pytestmark = pytest.mark.integration


def _exists(channel_of, name: str) -> bool:
    channel = channel_of()
    try:
        channel.queue_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker as exc:
        assert exc.reply_code == 404
        return False


def test_deleting_a_prefix_removes_its_queues_and_their_delay_and_dead_letter_queues_only(broker):
    # Given the queues of a throwaway prefix (as Dramatiq declares them) and one of another prefix
    prefix, other = f"gone{uuid.uuid4().hex[:8]}", f"kept{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(get_settings().amqp_url))
    try:
        setup = connection.channel()
        names = [f"{q}{s}" for q in queues.names(prefix) for s in ("", ".DQ", ".XQ")]
        for name in names + [f"{other}.orders"]:
            setup.queue_declare(name, durable=True)

        # When the prefix's queues are deleted (twice: the second finds nothing and is no error)
        queues.delete_queues(prefix, get_settings().amqp_url)
        queues.delete_queues(prefix, get_settings().amqp_url)

        # Then all 15 are gone and the other prefix's queue stays
        assert [n for n in names if _exists(connection.channel, n)] == []
        assert _exists(connection.channel, f"{other}.orders")
    finally:
        connection.channel().queue_delete(f"{other}.orders")
        connection.close()
