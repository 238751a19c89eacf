"""The ``woocommerce`` channel format: REST API v3 order notes, status updates and refunds.

Authentication as the WooCommerce REST API documents it, with the channel's ``consumer_key`` and
``consumer_secret`` (an API key of the shop): over https, HTTP Basic with the key as user name and
the secret as password; over plain http (where WooCommerce refuses Basic), OAuth 1.0a "one-legged":
``oauth_consumer_key``, ``oauth_timestamp``, ``oauth_nonce``, ``oauth_signature_method``
(``HMAC-SHA256``) and ``oauth_signature`` in the query string, the signature being the base64
HMAC-SHA256, keyed by the consumer secret followed by ``&``, of ``METHOD&<encoded URL without
query>&<encoded sorted parameters>`` (every key and value RFC 3986 encoded, each ``key=value``
encoded again and joined by ``%26``: WooCommerce's own check in
``WC_REST_Authentication::check_oauth_signature``). Every attempt is signed anew (WooCommerce
refuses a nonce it has seen and a timestamp older than 15 minutes).

WooCommerce takes no idempotency key, so a shipment note whose tracking number is already in one
of the order's notes, and a refund whose ``meta_data`` already holds ``_orderrouter_notice`` = the
outbox entry id, are not posted again (an answer lost after the write landed).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlsplit

from adapters.channels import woocommerce
from adapters.outbound.channel import ChannelCall, ChannelProvider, refund_reason
from adapters.outbound.policy import OutboundError, send

API = "/wp-json/wc/v3"
MARKER = "_orderrouter_notice"  # refund meta_data key: the outbox entry the refund was made for
SIGNATURE_METHOD = "HMAC-SHA256"


def _rfc3986(text: str) -> str:
    return quote(text, safe="~")


def oauth_signature(method: str, url: str, params: dict[str, str], consumer_secret: str) -> str:
    """WooCommerce's OAuth 1.0a signature of a request to ``url`` (its query string, if any, is
    part of ``params``) with ``params`` (every parameter but ``oauth_signature``)."""
    parts = urlsplit(url)
    base_uri = _rfc3986(f"{parts.scheme}://{parts.netloc}{parts.path}")
    pairs = dict(parse_qsl(parts.query, keep_blank_values=True)) | params
    normalised = [(_rfc3986(k), _rfc3986(v)) for k, v in sorted(pairs.items())]
    query = "%26".join(_rfc3986(f"{k}={v}") for k, v in normalised)
    string_to_sign = f"{method.upper()}&{base_uri}&{query}"
    algorithm = hashlib.sha256 if params.get("oauth_signature_method", SIGNATURE_METHOD) == "HMAC-SHA256" \
        else hashlib.sha1
    digest = hmac.new(f"{consumer_secret}&".encode(), string_to_sign.encode(), algorithm).digest()
    return base64.b64encode(digest).decode()


def oauth_params(method: str, url: str, consumer_key: str, consumer_secret: str,
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The OAuth query parameters for one request, signed."""
    params = {"oauth_consumer_key": consumer_key,
              "oauth_timestamp": str(int(time.time()) if timestamp is None else timestamp),
              "oauth_nonce": nonce or secrets.token_hex(16),
              "oauth_signature_method": SIGNATURE_METHOD}
    return params | {"oauth_signature": oauth_signature(method, url, params, consumer_secret)}


def authentication(method: str, url: str, channel: dict) -> dict[str, Any]:
    """The ``send`` keyword arguments that authenticate one request to ``channel``: Basic over
    https, signed OAuth parameters over http. Raises a non-retryable OutboundError without keys."""
    key, secret = channel.get("consumer_key"), channel.get("consumer_secret")
    if not key or not secret:
        raise OutboundError(f"channel:{channel['_id']}", "WooCommerce needs consumer_key and consumer_secret",
                            retryable=False)
    if urlsplit(url).scheme == "https":
        return {"auth": (key, secret)}
    return {"params": oauth_params(method, url, key, secret)}


class WooCommerceCall(ChannelCall):
    def send(self, method: str, path: str, body: dict | None, key_suffix: str = "") -> Any:
        url = f"{self.base}{path}"
        return send(self.party, method, url, json=body, idempotency_key=f"{self.key}{key_suffix}",
                    **authentication(method, url, self.channel))


class WooCommerceChannel(ChannelProvider):
    CALL: ClassVar[type[ChannelCall]] = WooCommerceCall

    def shipped(self, c: ChannelCall) -> None:
        tracking, carrier = c.entry["tracking_number"], c.entry.get("carrier_id") or ""
        notes = c.send("GET", f"{API}/orders/{c.oid}/notes", None)
        if not any(tracking in (n.get("note") or "") for n in notes or [] if isinstance(n, dict)):
            c.send("POST", f"{API}/orders/{c.oid}/notes", woocommerce.shipped_note(tracking, carrier))
        if c.entry.get("order_shipped"):
            c.send("PUT", f"{API}/orders/{c.oid}", woocommerce.status_update("completed"), ":status")

    def cancelled(self, c: ChannelCall) -> None:
        c.send("PUT", f"{API}/orders/{c.oid}", woocommerce.status_update("cancelled"))

    def refunded(self, c: ChannelCall) -> None:
        made = c.send("GET", f"{API}/orders/{c.oid}/refunds", None)
        if any({"key": MARKER, "value": c.key} in [{"key": m.get("key"), "value": m.get("value")}
                                                   for m in r.get("meta_data") or [] if isinstance(m, dict)]
               for r in made or [] if isinstance(r, dict)):
            return
        body = woocommerce.refund_request(Decimal(c.entry["amount"]), refund_reason(c))
        c.send("POST", f"{API}/orders/{c.oid}/refunds", body | {"meta_data": [{"key": MARKER, "value": c.key}]})
