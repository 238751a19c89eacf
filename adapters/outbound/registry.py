"""Providers found by format: a registry maps each format a party may be configured with to the
one provider that speaks it (a warehouse's ``wms_format``, a channel's ``format``; carriers
have one). The objects installed in :class:`services.ports.Outbound` are small dispatchers that
look a party's provider up here; the composition root (adapters/wiring.py) fills the registries.

A format no provider speaks is a refusal naming the party and the format: a non-retryable
:class:`~services.ports.OutboundError`, as the providers' own refusals are.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

from adapters.outbound.policy import OutboundError

P = TypeVar("P")


class Registry(Generic[P]):
    """``kind`` (``WMS``, ``carrier``, ``channel``) -> one provider per format name."""

    def __init__(self, kind: str, providers: Mapping[str, P]):
        self.kind = kind
        self._providers = dict(providers)

    @property
    def formats(self) -> list[str]:
        return sorted(self._providers)

    def __contains__(self, fmt: object) -> bool:
        return fmt in self._providers

    def provider(self, party: str, fmt: str) -> P:
        """The provider for ``fmt``; raises a non-retryable OutboundError for ``party`` when none speaks it."""
        try:
            return self._providers[fmt]
        except KeyError:
            raise OutboundError(party, self.unknown(fmt), retryable=False) from None

    def unknown(self, fmt: str) -> str:
        """Why a party configured with ``fmt`` cannot be called (no provider speaks it)."""
        return f"no {self.kind} provider for format {fmt!r} (known: {', '.join(self.formats)})"
