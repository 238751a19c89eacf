"""Inbound WMS event formats -> canonical WmsUpdate lists, plus Qimen's outbound delivery order.

``WMS_FORMATS`` maps a format name (``generic``, ``qimen``, ``shiphero``) to its
:class:`WmsFormat`: ``parse(payload, received_at=None) -> list[WmsUpdate]`` raises
PayloadError and nothing else; an unknown event word gives ``type=None`` with ``raw_type``
kept. ``verify(headers, raw_body, secret, query=None)`` raises BadSignature and returns the
signed timestamp when the format signs one (Qimen: ``sign`` and ``timestamp`` in the query
string), else None; it is None for ``generic`` (bearer token).
"""

from __future__ import annotations

from adapters.wms_formats import generic, qimen, shiphero
from adapters.wms_formats.wms_update import WmsFormat, WmsUpdate

WMS_FORMATS: dict[str, WmsFormat] = {
    module.FORMAT.name: module.FORMAT for module in (generic, qimen, shiphero)
}

__all__ = ["WMS_FORMATS", "WmsFormat", "WmsUpdate"]
