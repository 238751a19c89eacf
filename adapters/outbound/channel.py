"""Telling a channel what happened to its order: shipped (with carrier and tracking number),
cancelled. Each call carries an idempotency key (outbox entry id), so a retried notice has one
effect at the channel. Only channels with an ``api_url`` are notified."""
from __future__ import annotations

from adapters.channels import shopify, taobao, woocommerce
from adapters.outbound.policy import outbound_retry, send


class ChannelClient:
    @outbound_retry
    def notify(self, channel: dict, entry: dict, order: dict) -> None:
        """Deliver one outbox ``entry`` (kind ``shipped`` or ``cancelled``) for ``order``."""
        base = channel["api_url"].rstrip("/")
        fmt = channel.get("format") or "canonical"
        oid = order["channel_order_id"]
        party, token, key = f"channel:{channel['_id']}", channel.get("api_token"), entry["id"]
        if entry["kind"] == "shipped":
            tracking, carrier = entry["tracking_number"], entry.get("carrier_id") or ""
            if fmt == "shopify":
                send(party, "POST", f"{base}/admin/api/2024-07/orders/{oid}/fulfillments.json",
                     json=shopify.fulfillment_request(oid, tracking, carrier), token=token, idempotency_key=key)
            elif fmt == "woocommerce":
                send(party, "POST", f"{base}/wp-json/wc/v3/orders/{oid}/notes",
                     json=woocommerce.shipped_note(tracking, carrier), token=token, idempotency_key=key)
                if entry.get("order_shipped"):
                    send(party, "PUT", f"{base}/wp-json/wc/v3/orders/{oid}", json=woocommerce.status_update("completed"),
                         token=token, idempotency_key=f"{key}:status")
            elif fmt == "taobao":
                send(party, "POST", f"{base}/router/rest", json=taobao.offline_consignment(oid, carrier, tracking),
                     token=token, idempotency_key=key)
            else:
                send(party, "POST", f"{base}/orders/{oid}/fulfilments", token=token, idempotency_key=key,
                     json={"fulfilment_id": entry["fulfilment_id"], "carrier": carrier, "tracking_number": tracking})
        elif entry["kind"] == "cancelled":
            if fmt == "shopify":
                send(party, "POST", f"{base}/admin/api/2024-07/orders/{oid}/cancel.json", json={}, token=token,
                     idempotency_key=key)
            elif fmt == "woocommerce":
                send(party, "PUT", f"{base}/wp-json/wc/v3/orders/{oid}", json=woocommerce.status_update("cancelled"),
                     token=token, idempotency_key=key)
            else:
                send(party, "POST", f"{base}/orders/{oid}/cancel", json={}, token=token, idempotency_key=key)
