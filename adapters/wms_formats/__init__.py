"""Inbound WMS event formats -> canonical WmsUpdate lists, plus Qimen's outbound delivery order.

``WMS_FORMATS`` maps a format name (``generic``, ``qimen``, ``shiphero``) to its
:class:`WmsFormat`: ``parse(payload, received_at=None) -> list[WmsUpdate]`` raises
PayloadError and nothing else; an unknown event word gives ``type=None`` with ``raw_type``
kept. ``verify(headers, raw_body, secret)`` raises BadSignature; it is None for
``generic`` (bearer token) and ``qimen`` (signed in the query string: use
``qimen.verify_request(params, raw_body, secret)``).
"""

from __future__ import annotations

from adapters.wms_formats import generic, qimen, shiphero
from adapters.wms_formats.wms_update import WmsFormat, WmsUpdate

WMS_FORMATS: dict[str, WmsFormat] = {
    module.FORMAT.name: module.FORMAT for module in (generic, qimen, shiphero)
}

__all__ = ["WMS_FORMATS", "WmsFormat", "WmsUpdate"]
