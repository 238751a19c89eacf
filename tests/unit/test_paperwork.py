from datetime import datetime, timezone

import pytest

from router.paperwork import PaperKind, paper_number, with_paper

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 24, tzinfo=timezone.utc)


def test_each_document_has_a_number_derived_from_its_subject():
    assert paper_number(PaperKind.RECEIPT, "O1") == "RC-O1"
    assert paper_number(PaperKind.SHIPPING_NOTE, "O1-F2") == "SN-O1-F2"
    assert paper_number(PaperKind.RETURN_SLIP, "O1-AS1") == "RS-O1-AS1"
    assert paper_number(PaperKind.REFUND_SLIP, "O1-AS1") == "RF-O1-AS1"


def test_issuing_the_same_document_twice_keeps_one():
    once = with_paper([], PaperKind.RECEIPT, "O1", NOW, amount="20.00")
    twice = with_paper(once, PaperKind.RECEIPT, "O1", NOW, amount="20.00")
    assert twice == once and [p["number"] for p in twice] == ["RC-O1"]
    both = with_paper(twice, PaperKind.SHIPPING_NOTE, "O1-F1", NOW)
    assert [p["kind"] for p in both] == ["receipt", "shipping_note"]
