"""Orders waiting for stock are woken as soon as stock of their SKU arrives: an inbound
adjustment, a stocktake that found more, or holds released by a cancellation or a re-route. Each
waiting order is sent a backorder retry (services/backorders.py), oldest placed first; they race
for the stock like any routing, and what is not placed waits for the next arrival or its timer."""
from __future__ import annotations

from collections.abc import Iterable

import structlog

from documents import orders
from services.messages import RetryBackorder, send

log = structlog.get_logger(__name__)
BATCH = 100  # orders woken per SKU and arrival; the others keep their timer


def stock_arrived(skus: Iterable[str]) -> int:
    """Send a backorder retry to every order waiting for one of ``skus``; returns how many."""
    woken: dict[str, None] = {}
    for sku in sorted(set(skus)):
        woken.update(dict.fromkeys(orders.waiting_for_stock(sku, BATCH)))
    for order_id in woken:
        send(RetryBackorder(order_id))
    if woken:
        log.info("backorders_woken", skus=sorted(set(skus)), orders=len(woken))
    return len(woken)
