"""``orderrouter token customer|order``: mint a customer token or an order link with the channel's
secret (``ROUTER_PARTY_SECRETS`` or the seed's), for the channel's backend to copy and for tests."""
from __future__ import annotations

import time
from typing import Callable

import click

from adapters.customer import tokens
from adapters.http import customer_auth
from config import get_settings


def token_group(connect: Callable[[], None]) -> click.Group:
    """The ``token`` command group; ``connect`` wires the process and connects the database."""

    @click.group("token")
    def token() -> None:
        """Mint customer tokens and order links (signed with the channel's secret)."""

    def _secret(channel: str) -> str:
        connect()
        secret = customer_auth.channel_secret(channel)
        if not secret:
            raise click.ClickException(f"channel {channel!r} is unknown or has no signing secret "
                                       f"(seed `secret` or ROUTER_PARTY_SECRETS=channel:{channel}:<secret>)")
        return secret

    def _print(token_text: str, path_hint: str) -> None:
        click.echo(token_text)
        click.echo(f"page: {get_settings().public_url.rstrip('/')}/customer/?token={token_text}", err=True)
        click.echo(f"API:  curl -H 'Authorization: Bearer {token_text}' {path_hint}", err=True)

    @token.command("customer")
    @click.option("--channel", required=True, help="the channel vouching for its customer")
    @click.option("--customer", "customer_id", required=True, help="the customer's id at that channel")
    @click.option("--minutes", default=60, show_default=True, type=click.IntRange(1, tokens.MAX_LIFETIME["customer"] // 60),
                  help="how long the token lives")
    def customer(channel: str, customer_id: str, minutes: int) -> None:
        """A token for one customer of CHANNEL: their orders, and what they may do."""
        token_text = tokens.mint(_secret(channel), channel, customer_id=customer_id, exp=int(time.time()) + minutes * 60)
        _print(token_text, f"{get_settings().public_url.rstrip('/')}/v1/customer/orders")

    @token.command("order")
    @click.option("--channel", required=True)
    @click.option("--order", "order_id", required=True, help="the router's order id")
    @click.option("--days", default=30, show_default=True, type=click.IntRange(1, tokens.MAX_LIFETIME["order_link"] // 86400))
    def order(channel: str, order_id: str, days: int) -> None:
        """An order link: that one order of CHANNEL, as the router's notices carry it."""
        token_text = tokens.mint(_secret(channel), channel, order_id=order_id, exp=int(time.time()) + days * 86400)
        _print(token_text, f"{get_settings().public_url.rstrip('/')}/v1/customer/orders/{order_id}")

    return token
