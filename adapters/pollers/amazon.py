"""Amazon SP-API orders poller: pages of getOrders by ``LastUpdatedAfter`` (each page's
``NextToken`` read until there is none), each order's getOrderItems (paged the same way), mapped
and accepted like any channel order. Every call is authorised and paced as Amazon documents
(adapters/outbound/sp_api.py: Login with Amazon access tokens in ``x-amz-access-token``, renewed
when they expire; each operation's rate, with backoff on 429).

Windows overlap (the next poll starts ``OVERLAP`` before the newest ``LastUpdateDate`` seen), so
an order updated while a page was being read is not missed; the dedupe key
``<AmazonOrderId>@<LastUpdateDate>`` makes the overlap harmless. The watermark is stored only after
a whole window was accepted, so a crash re-reads the window instead of skipping it; so does an
SP-API call that still fails after its retries (a rate limit not lifted, Amazon down): the poll
stops there, keeping what it accepted, and the next one reads the window again. An order that
cannot be mapped (a pending order without prices) or whose items Amazon refuses is logged,
counted and skipped: its next update brings it back.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog

from adapters import intake
from adapters.channels import amazon
from adapters.errors import PayloadError
from adapters.outbound import sp_api
from adapters.outbound.policy import OutboundError, outbound_retry
from documents import reference

log = structlog.get_logger(__name__)
OVERLAP = timedelta(minutes=5)
FIRST_WINDOW = timedelta(days=1)
MAX_PAGES = 100  # per poll; the next poll carries on from the watermark
ORDERS = "/orders/v0/orders"


@dataclass
class PollResult:
    orders: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    pages: int = 0
    watermark: datetime | None = None


@outbound_retry
def _get(channel: dict, operation: str, path: str, params: dict) -> dict:
    return sp_api.call(channel, operation, "GET", path, params=params)


def poll(channel_id: str, now: datetime | None = None) -> PollResult:
    """One poll of channel ``channel_id`` (format amazon, with ``api_url`` and its Login with
    Amazon keys). Raises LookupError for a channel that cannot be polled, OutboundError when
    SP-API could not be read (the window is read again next time)."""
    channel = reference.get("channels", channel_id)
    if not channel or not channel.get("api_url"):
        raise LookupError(f"channel {channel_id!r} has no api_url to poll")
    state = reference.load_setting(f"poller:{channel_id}") or {}
    now = now or datetime.now(timezone.utc)
    since = datetime.fromisoformat(state["watermark"]) - OVERLAP if state.get("watermark") else now - FIRST_WINDOW
    result = PollResult(watermark=datetime.fromisoformat(state["watermark"]) if state.get("watermark") else None)
    marketplace = channel.get("marketplace_id") or "ATVPDKIKX0DER"
    params = {"LastUpdatedAfter": since.isoformat().replace("+00:00", "Z"), "MarketplaceIds": marketplace}
    for _ in range(MAX_PAGES):
        page = _get(channel, "getOrders", ORDERS, params)["payload"]
        result.pages += 1
        for order in page.get("Orders", []):
            result.orders += 1
            _accept(channel, order, result)
        token_next = page.get("NextToken")
        if not token_next:
            break
        params = {"NextToken": token_next, "MarketplaceIds": marketplace}
    if result.watermark:
        reference.upsert("settings", f"poller:{channel_id}",
                         {"value": {"watermark": result.watermark.isoformat(), "polled_at": now.isoformat()}})
    return result


def _items(channel: dict, order_id: str) -> list[dict]:
    path, params, items = f"{ORDERS}/{order_id}/orderItems", {}, []
    for _ in range(MAX_PAGES):
        page = _get(channel, "getOrderItems", path, params)["payload"]
        items.extend(page.get("OrderItems", []))
        if not page.get("NextToken"):
            return items
        params = {"NextToken": page["NextToken"]}
    raise OutboundError(sp_api.party(channel), f"getOrderItems {order_id}: more than {MAX_PAGES} pages")


def _accept(channel: dict, order: dict, result: PollResult) -> None:
    try:
        items = _items(channel, order["AmazonOrderId"])
        mapped = amazon.map_order(order, items, channel.get("merchant_id"))
        accepted = intake.accept_channel_order(channel["_id"], mapped, amazon.dedupe_key({}, {"order": order}))
    except OutboundError as exc:
        if exc.retryable:
            raise  # Amazon could not answer now: this window is read again next poll, nothing skipped
        result.errors += 1
        log.warning("amazon_order_skipped", order=order.get("AmazonOrderId"), error=str(exc))
        return
    except (PayloadError, KeyError) as exc:
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
