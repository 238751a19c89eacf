"""``ports.OrderLinks``: the customer's signed link to one order (an order-link token, see
tokens.py), as the router's e-mails carry it: ``<ROUTER_PUBLIC_URL>/customer/?token=...``."""
from __future__ import annotations

import time

from adapters.customer import tokens
from adapters.http.customer_auth import channel_secret
from config import get_settings

LINK_DAYS = 30  # how long a link in an e-mail stays good


class SignedOrderLinks:
    def order_link(self, channel: str, order_id: str) -> str | None:
        """The link, or None when the channel has no signing secret (it cannot vouch)."""
        secret = channel_secret(channel)
        if not secret:
            return None
        token = tokens.mint(secret, channel, order_id=order_id, exp=int(time.time()) + LINK_DAYS * 86400)
        return f"{get_settings().public_url.rstrip('/')}/customer/?token={token}"
