"""Outbound webhooks to subscribers: one signed POST per event (``router.webhooks`` says how it
is signed), with the shared retry policy for the attempts of one delivery; the delivery's own
backoff over a day is services/webhooks.py's."""
from __future__ import annotations

import time

from adapters.outbound.policy import OutboundError, outbound_retry, send
from router.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, TOPIC_HEADER, signature_header


class SignedWebhooks:
    """``ports.WebhookClient``: POSTs the body as is, signed over ``<t>.<body>`` with the
    subscription's secret (signed again, with a fresh time, on every attempt)."""

    @outbound_retry
    def post(self, url: str, secret: str, event_id: str, topic: str, body: bytes) -> int:
        answered: dict[str, int] = {}
        headers = {SIGNATURE_HEADER: signature_header(secret, int(time.time()), body), EVENT_ID_HEADER: event_id,
                   TOPIC_HEADER: topic, "User-Agent": "orderrouter-webhooks/1"}
        try:
            send("webhook", "POST", url, content=body, headers=headers, idempotency_key=event_id,
                 on_response=lambda r: answered.__setitem__("status", r.status_code))
        except OutboundError:
            if 200 <= answered.get("status", 0) < 300:  # a 2xx whose body is not JSON: delivered all the same
                return answered["status"]
            raise
        return answered.get("status", 200)
