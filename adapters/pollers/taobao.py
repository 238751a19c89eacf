"""Taobao orders and buyers' refunds, polled from TOP (Taobao pushes no orders over HTTP).

One poll walks windows of ``start_modified`` / ``end_modified`` (TOP takes at most a day per
call) from the stored watermark, less ``OVERLAP`` (a trade written late at TOP is not missed),
up to now. In each window:

- ``taobao.trades.sold.increment.get`` lists the trades modified in it, newest first, and is read
  from its last page to its first (TOP's own advice: a trade modified again while the pages are
  read leaves the window, and reading backwards then repeats a trade rather than skipping one);
  each trade not yet seen in this version (``tid@modified``, kept on the order) is read whole
  with ``taobao.trade.fullinfo.get``, mapped (adapters/channels/taobao.py) and accepted like any
  channel order: a new one is stored and routed, a known one updated (paid, closed);
- ``taobao.refunds.receive.get`` (``status`` ``SUCCESS``) lists the buyers' refunds that went
  through; each is kept on its order once by its ``refund_id`` and their sum is applied as the
  channel's refund (services.channel_updates: a refund the order owes is settled by it, more is
  recorded as a refund-only case by ``channel:<id>``, and the channel is never told back).

The watermark (``poller:<channel>`` in settings) moves to a window's end only once the whole
window was read, so a crash or a TOP error reads it again; overlapping windows and repeated
calls find every trade and refund already known and change nothing. A trade or refund that
cannot be mapped is logged and counted, and does not hold the others up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

import structlog

from adapters import intake
from adapters.channels import taobao
from adapters.channels.top import listed, top_time
from adapters.errors import PayloadError
from adapters.outbound import top
from adapters.outbound.policy import outbound_retry
from documents import orders, reference
from services import channel_updates

log = structlog.get_logger(__name__)
OVERLAP = timedelta(minutes=5)
FIRST_WINDOW = timedelta(days=1)
MAX_WINDOW = timedelta(days=1)  # TOP: end_modified - start_modified <= one day
MAX_WINDOWS = 14  # per poll; the next poll carries on from the watermark
PAGE_SIZE = 100  # TOP's largest


@dataclass
class PollResult:
    trades: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: int = 0
    pages: int = 0
    refunds: int = 0
    windows: int = 0
    watermark: datetime | None = None


@outbound_retry
def _call(channel: dict, method: str, params: dict) -> dict:
    return top.call(channel, method, params)


def poll(channel_id: str, now: datetime | None = None) -> PollResult:
    """One poll of channel ``channel_id`` (format taobao, with ``api_url``, ``app_key``,
    ``secret`` and ``api_token``, the session key). Raises LookupError for a channel that cannot
    be polled, OutboundError when TOP could not be read (the window is read again next time)."""
    channel = reference.get("channels", channel_id)
    if not channel or channel.get("format") != "taobao" or not channel.get("api_url"):
        raise LookupError(f"channel {channel_id!r} is not a taobao channel with an api_url to poll")
    state = reference.load_setting(f"poller:{channel_id}") or {}
    now = (now or datetime.now(timezone.utc)).replace(microsecond=0)
    watermark = datetime.fromisoformat(state["watermark"]) if state.get("watermark") else None
    result = PollResult(watermark=watermark)
    start = watermark - OVERLAP if watermark else now - FIRST_WINDOW
    while start < now and result.windows < MAX_WINDOWS:
        end = min(start + MAX_WINDOW, now)
        for trade in _listed(channel, "taobao.trades.sold.increment.get", "trades", "trade", start, end, result,
                             {"fields": taobao.INCREMENT_FIELDS}):
            _trade(channel, trade, result)
        for refund in _listed(channel, "taobao.refunds.receive.get", "refunds", "refund", start, end, result,
                              {"fields": taobao.REFUND_FIELDS, "status": taobao.REFUND_SUCCESS}):
            _refund(channel, refund, result, now)
        result.windows += 1
        result.watermark = end
        reference.upsert("settings", f"poller:{channel_id}",
                         {"value": {"watermark": end.isoformat(), "polled_at": now.isoformat()}})
        start = end
    return result


def _listed(channel: dict, method: str, plural: str, singular: str, start: datetime, end: datetime,
            result: PollResult, params: dict) -> Iterator[dict]:
    """Every item a paged TOP list holds for the window, read from the last page to the first."""
    def page(number: int) -> dict:
        result.pages += 1
        return _call(channel, method, {**params, "start_modified": top_time(start), "end_modified": top_time(end),
                                       "page_no": number, "page_size": PAGE_SIZE})

    first = page(1)
    try:
        pages = math.ceil(int(first.get("total_results") or 0) / PAGE_SIZE)
    except (TypeError, ValueError):
        pages = 1
    if pages <= 1:
        yield from listed(first, plural, singular)
        return
    for number in range(pages, 0, -1):  # page 1 again last: what moved into it meanwhile is read too
        yield from listed(page(number), plural, singular)


def _trade(channel: dict, summary: dict, result: PollResult) -> None:
    result.trades += 1
    tid, modified = str(summary.get("tid_str") or summary.get("tid") or ""), str(summary.get("modified") or "")
    known = orders.id_by_channel_order(channel["_id"], tid) if tid else None
    if known and modified and orders.has_seen_webhook(known, f"{tid}@{modified}"):
        result.duplicates += 1  # this version was taken already (an overlapping window)
        return
    try:
        answer = _call(channel, "taobao.trade.fullinfo.get", {"tid": tid, "fields": taobao.FULLINFO_FIELDS})
        raw = {"trade": answer.get("trade")}
        mapped = taobao.to_canonical(raw, channel.get("merchant_id"))
        accepted = intake.accept_channel_order(channel["_id"], mapped, taobao.dedupe_key({}, raw))
    except (PayloadError, top.TopCallError) as exc:
        if isinstance(exc, top.TopCallError) and exc.retryable:
            raise
        result.errors += 1
        log.warning("taobao_trade_skipped", tid=tid, error=str(exc))
        return
    result.accepted += not accepted.duplicate
    result.duplicates += accepted.duplicate


def _refund(channel: dict, raw: dict, result: PollResult, now: datetime) -> None:
    try:
        refund = taobao.refund_of(raw)
    except PayloadError as exc:
        result.errors += 1
        log.warning("taobao_refund_skipped", refund=raw.get("refund_id"), error=str(exc))
        return
    if refund.status != taobao.REFUND_SUCCESS:
        return
    order_id = orders.id_by_channel_order(channel["_id"], refund.tid)
    if order_id is None:  # a trade the router never took (from before it, or one it could not map)
        log.info("taobao_refund_for_unknown_trade", refund=refund.refund_id, tid=refund.tid)
        return
    kept = orders.record_channel_refund(order_id, refund.refund_id, format(refund.amount, "f"), refund.oid, now)
    total = sum((Decimal(r["amount"]) for r in kept), Decimal(0))
    channel_updates.apply_channel_update(channel["_id"], order_id, channel_updates.ChannelUpdate(
        channel_order_id=refund.tid, updated_at=None, native_status="", refunded=total))
    result.refunds += 1

