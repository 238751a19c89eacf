"""Amazon SP-API orders poller: pages of getOrders by ``LastUpdatedAfter``, each order's
getOrderItems, mapped and accepted like any channel order.

Windows overlap (the next poll starts ``OVERLAP`` before the newest ``LastUpdateDate`` seen), so
an order updated while a page was being read is not missed; the dedupe key
``<AmazonOrderId>@<LastUpdateDate>`` makes the overlap harmless. The watermark is stored only after
a whole window was accepted, so a crash re-reads the window instead of skipping it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx
import structlog

from adapters import intake
from adapters.channels import amazon
from adapters.errors import PayloadError
from adapters.outbound.policy import OutboundError, outbound_retry, send
from documents import reference

log = structlog.get_logger(__name__)
OVERLAP = timedelta(minutes=5)
FIRST_WINDOW = timedelta(days=1)
MAX_PAGES = 100  # per poll; the next poll carries on from the watermark


@dataclass
class PollResult:
    orders: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    pages: int = 0
    watermark: datetime | None = None


@outbound_retry
def _get(url: str, token: str | None, params: dict) -> dict:
    return send("channel:amazon", "GET", str(httpx.URL(url, params=params)), token=token)


def poll(channel_id: str, now: datetime | None = None) -> PollResult:
    """One poll of channel ``channel_id`` (format amazon, with ``api_url`` / ``api_token``)."""
    channel = reference.get("channels", channel_id)
    if not channel or not channel.get("api_url"):
        raise LookupError(f"channel {channel_id!r} has no api_url to poll")
    state = reference.load_setting(f"poller:{channel_id}") or {}
    now = now or datetime.now(timezone.utc)
    since = datetime.fromisoformat(state["watermark"]) - OVERLAP if state.get("watermark") else now - FIRST_WINDOW
    base, token = channel["api_url"].rstrip("/"), channel.get("api_token")
    result = PollResult(watermark=datetime.fromisoformat(state["watermark"]) if state.get("watermark") else None)
    params = {"LastUpdatedAfter": since.isoformat().replace("+00:00", "Z"),
              "MarketplaceIds": channel.get("marketplace_id") or "ATVPDKIKX0DER"}
    for _ in range(MAX_PAGES):
        page = _get(f"{base}/orders/v0/orders", token, params)["payload"]
        result.pages += 1
        for order in page.get("Orders", []):
            result.orders += 1
            _accept(channel, base, token, order, result)
        token_next = page.get("NextToken")
        if not token_next:
            break
        params = {"NextToken": token_next}
    if result.watermark:
        reference.upsert("settings", f"poller:{channel_id}",
                         {"value": {"watermark": result.watermark.isoformat(), "polled_at": now.isoformat()}})
    return result


def _accept(channel: dict, base: str, token: str | None, order: dict, result: PollResult) -> None:
    try:
        items = _get(f"{base}/orders/v0/orders/{order['AmazonOrderId']}/orderItems", token, {})["payload"]["OrderItems"]
        mapped = amazon.map_order(order, items, channel.get("merchant_id"))
        accepted = intake.accept_channel_order(channel["_id"], mapped,
                                               amazon.dedupe_key({}, {"order": order}))
    except (PayloadError, OutboundError, KeyError) as exc:
        result.errors += 1
        log.warning("amazon_order_skipped", order=order.get("AmazonOrderId"), error=str(exc))
        return
    result.accepted += not accepted.duplicate
    result.duplicates += accepted.duplicate
    updated = order.get("LastUpdateDate")
    if updated:
        seen = datetime.fromisoformat(updated.replace("Z", "+00:00"))
        if result.watermark is None or seen > result.watermark:
            result.watermark = seen
