"""The low-stock webhook: each alert POSTed as JSON with its id as ``Idempotency-Key``."""
from __future__ import annotations

from adapters.outbound.policy import http_client


class WebhookAlertClient:
    """Posts to ``url`` (``ROUTER_LOW_STOCK_WEBHOOK``); with no url nothing is posted and alerts are
    only recorded (``enabled`` False)."""

    def __init__(self, url: str | None):
        self.url = url

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def post_low_stock(self, alert: dict) -> None:
        """POST ``alert``. Raises httpx errors on failure (the sweep retries it)."""
        body = {"type": "low_stock", "alert_id": alert["_id"], "sku": alert["sku"],
                "warehouse_id": alert["warehouse_id"], "available": alert["available"],
                "threshold": alert["threshold"], "on_hand": alert["on_hand"], "reserved": alert["reserved"],
                "raised_at": alert["raised_at"].isoformat()}
        response = http_client().post(self.url, json=body, headers={"Idempotency-Key": alert["_id"]})
        response.raise_for_status()
