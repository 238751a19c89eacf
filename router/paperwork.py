"""The documents operators know: receipt, shipping note, return slip, refund slip.

Each has a number derived from what it is about (the order, fulfilment or case), so writing one
twice - a replayed message - finds it already there: one document per fact.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class PaperKind(StrEnum):
    RECEIPT = "receipt"
    SHIPPING_NOTE = "shipping_note"
    RETURN_SLIP = "return_slip"
    REFUND_SLIP = "refund_slip"


PREFIX = {PaperKind.RECEIPT: "RC", PaperKind.SHIPPING_NOTE: "SN", PaperKind.RETURN_SLIP: "RS",
          PaperKind.REFUND_SLIP: "RF"}


def paper_number(kind: PaperKind, ref: str) -> str:
    """``RC-<order id>``, ``SN-<fulfilment id>``, ``RS-<case id>``, ``RF-<case id>``."""
    return f"{PREFIX[PaperKind(kind)]}-{ref}"


def with_paper(papers: list[dict], kind: PaperKind, ref: str, now: datetime, **details) -> list[dict]:
    """``papers`` with the ``kind`` document about ``ref`` added, unless it is there already."""
    number = paper_number(kind, ref)
    if any(p["number"] == number for p in papers):
        return papers
    return [*papers, {"number": number, "kind": PaperKind(kind).value, "ref": ref, "issued_at": now, **details}]
