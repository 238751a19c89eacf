"""Inbound carrier tracking formats -> canonical TrackingUpdate lists.

``TRACKING_FORMATS`` maps a format name (``generic``, ``aftership``, ``easypost``,
``17track``) to its :class:`TrackingFormat`: ``parse(payload, received_at=None) ->
list[TrackingUpdate]`` raises PayloadError, never anything else, and maps a status word it
does not know to ``status=None`` with ``raw_status`` kept; ``verify(headers, raw_body,
secret, query=None)`` raises BadSignature and returns None (none of these signs a delivery
timestamp); it is None for ``generic`` (bearer token, checked by the HTTP layer).
"""

from __future__ import annotations

from adapters.tracking import aftership, easypost, generic, seventeen_track
from adapters.tracking.tracking_update import TrackingFormat, TrackingUpdate

TRACKING_FORMATS: dict[str, TrackingFormat] = {
    module.FORMAT.name: module.FORMAT for module in (generic, aftership, easypost, seventeen_track)
}

__all__ = ["TRACKING_FORMATS", "TrackingFormat", "TrackingUpdate"]
