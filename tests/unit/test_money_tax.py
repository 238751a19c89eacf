"""Money with tax, cash-on-delivery shares and refunds owed: router/money.py, router/after_sales.py
and the invariant checks (router/invariants.py), by hand and as hypothesis properties.

- payable = goods - discount + freight + tax where prices exclude the tax; the tax is contained
  (payable = goods - discount + freight) where they include it; every level (line, fulfilment,
  merchant, order) keeps its identity and the levels add up to the order, tax included;
- the cash-on-delivery shares of an order always add up to its payable;
- what an order owes back is never more than was paid, less what was refunded or promised."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router import after_sales, invariants
from router.errors import RefundExceedsPaid
from router.model import Address, FulfilmentLine, Order, OrderLine, PlannedFulfilment, RoutingDecision
from router.money import BACKORDERED, Amounts, cod_shares, currency_quantum, payable_of, price_order, split_amounts
from router.order_state import OrderState
from router.statuses import AfterSalesStatus, OrderStatus, PaymentStatus

pytestmark = pytest.mark.unit
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=timezone.utc)


def _order(lines, included=False, shipping_fee=None, shipping_tax="0", order_discount="0", currency="EUR"):
    return Order("O1", "web", "c1", currency, tuple(lines), Address("DE"), NOW, order_discount=D(order_discount),
                 shipping_fee=None if shipping_fee is None else D(shipping_fee), prices_include_tax=included,
                 shipping_tax=D(shipping_tax))


def _line(n, qty, price, discount="0", tax="0", merchant="m1"):
    return OrderLine(n, f"S{n}", merchant, qty, D(price), D(discount), tax=D(tax))


def _split(*groups):
    """A decision placing ``(fulfilment id, [(line_no, qty)])`` groups."""
    return RoutingDecision(tuple(PlannedFulfilment(fid, "m1", f"WH-{fid}", None,
                                                   tuple(FulfilmentLine(n, f"S{n}", q) for n, q in lines))
                                 for fid, lines in groups))


# --- by hand ------------------------------------------------------------------------------------

def test_a_tax_inclusive_order_contains_its_tax_the_woocommerce_case():
    # 2 x 25.00 with 5.00 off, 1 x 20.00, shipping 5.00: 19% VAT inside every figure
    o = _order([_line(1, 2, "25.00", "5.00", tax="7.18"), _line(2, 1, "20.00", tax="3.19")], included=True,
               shipping_fee="5.00", shipping_tax="0.80")
    p = price_order(o, _split(("F1", [(1, 2), (2, 1)])))
    assert p.order == Amounts(D("70.00"), D("5.00"), D("5.00"), D("70.00"), D("11.17"))
    assert p.tax_included and p.order.tax_included
    assert p.fulfilments["F1"] == p.order


def test_a_tax_exclusive_order_adds_its_tax_the_same_figures_cost_the_tax_more():
    lines = [_line(1, 2, "24.00", "4.80", tax="3.83"), _line(2, 3, "5.00", "1.50", tax="1.20")]
    exclusive = price_order(_order(lines, shipping_fee="7.00", shipping_tax="0.62"), RoutingDecision(()))
    inclusive = price_order(_order(lines, included=True, shipping_fee="7.00", shipping_tax="0.62"),
                            RoutingDecision(()))
    assert exclusive.order.payable == D("69.35") and exclusive.order.tax == D("5.65")
    assert exclusive.order.payable - inclusive.order.payable == exclusive.order.tax


def test_tax_on_freight_follows_the_freight_to_each_fulfilment():
    o = _order([_line(1, 2, "10.00", tax="1.60"), _line(2, 3, "10.00", tax="2.40")], shipping_fee="7.00",
               shipping_tax="0.56")
    p = price_order(o, _split(("F1", [(1, 2)]), ("F2", [(2, 3)])))
    # freight 7.00 and its tax 0.56 by goods 20 : 30
    assert (p.fulfilments["F1"].freight, p.fulfilments["F2"].freight) == (D("2.80"), D("4.20"))
    assert (p.fulfilments["F1"].tax, p.fulfilments["F2"].tax) == (D("1.82"), D("2.74"))
    assert (p.fulfilments["F1"].payable, p.fulfilments["F2"].payable) == (D("24.62"), D("36.94"))
    assert cod_shares(p) == {"F1": D("24.62"), "F2": D("36.94")}


def test_cod_shares_leave_the_backordered_rest_to_be_collected_when_it_ships():
    o = _order([_line(1, 2, "10.00", tax="2.00"), _line(2, 1, "30.00")], shipping_fee="5.00")
    p = price_order(o, _split(("F1", [(1, 1)])))
    shares = cod_shares(p)
    assert list(shares) == ["F1"]
    assert shares["F1"] + p.fulfilments[BACKORDERED].payable == p.order.payable


def test_amounts_read_back_from_storage_keep_their_tax_and_stored_amounts_without_it_have_none():
    a = Amounts.of(D("10.00"), D("1.00"), D("2.00"), D("0.95"), tax_included=True)
    assert Amounts.from_dict(a.to_dict()) == a and a.payable == D("11.00")
    assert Amounts.from_dict({"goods": "5", "discount": "0", "freight": "1", "payable": "6"}).tax == 0


def test_a_refund_owed_is_what_was_paid_less_refunded_promised_and_kept():
    paid = OrderState("O1", status=OrderStatus.CANCELLED, payment_status=PaymentStatus.PAID,
                      paid_amount=D("70.00"), refunded_amount=D("10.00"))
    promised = after_sales.AfterSalesCase("O1-AS1", "O1", after_sales.T.REFUND_ONLY, AfterSalesStatus.PENDING_REVIEW,
                                          NOW, D("5.00"))
    assert after_sales.refund_owed(paid, D("0"), [promised]) == D("55.00")
    assert after_sales.refund_owed(paid, D("60.00"), [promised]) == D("0")  # never negative
    change = after_sales.open_owed_refund(paid, "O1-AS2", D("55.00"), NOW, "operator:ann", ((1, 2),),
                                          "order cancelled", [promised])
    assert change.case.status is AfterSalesStatus.AWAITING_REFUND and change.case.amount == D("55.00")
    assert change.outcomes == (after_sales.CaseOutcome.REFUND,)
    with pytest.raises(RefundExceedsPaid):
        after_sales.open_owed_refund(paid, "O1-AS2", D("55.01"), NOW, "system", cases=[promised])
    with pytest.raises(ValueError):
        after_sales.open_owed_refund(paid, "O1-AS2", D("0"), NOW, "system")


# --- properties ---------------------------------------------------------------------------------

CENTS = st.integers(0, 50_000)


@st.composite
def taxed_orders(draw):
    """An order of 1-4 taxed lines, inclusive or exclusive, split over up to 3 fulfilments (the
    rest backordered), with channel freight and its tax or template freight."""
    currency = draw(st.sampled_from(["USD", "JPY", "KWD"]))
    q = currency_quantum(currency)
    included = draw(st.booleans())
    lines = []
    for n in range(1, draw(st.integers(1, 4)) + 1):
        qty = draw(st.integers(1, 5))
        price = q * draw(st.integers(0, 5_000))
        discount = min(price * qty, q * draw(st.integers(0, 500)))
        net = price * qty - discount
        tax = q * draw(st.integers(0, 2_000))
        if included:
            tax = min(tax, net)
        lines.append(OrderLine(n, f"S{n}", draw(st.sampled_from(["m1", "m2"])), qty, price, discount, tax=tax))
    fee = draw(st.one_of(st.none(), CENTS.map(lambda c: q * c)))
    shipping_tax = D(0) if fee is None else min(fee if included else q * 10**6, q * draw(st.integers(0, 300)))
    nets = sum((ln.goods - ln.discount for ln in lines), D(0))
    o = Order("O1", "web", "c1", currency, tuple(lines), Address("US"), NOW,
              order_discount=min(nets, q * draw(st.integers(0, 300))), shipping_fee=fee,
              prices_include_tax=included, shipping_tax=shipping_tax)
    fulfilments, placed = [], set()
    for k in range(draw(st.integers(0, 3))):
        taken = [FulfilmentLine(ln.line_no, ln.sku, draw(st.integers(1, ln.quantity))) for ln in lines
                 if ln.line_no not in placed and draw(st.booleans())]
        placed |= {t.line_no for t in taken}
        if taken:
            fulfilments.append(PlannedFulfilment(f"O1-F{k}", "m1", f"WH{k}", None, tuple(taken),
                                                 q * draw(st.integers(0, 999))))
    return o, RoutingDecision(tuple(fulfilments))


def _identity(a: Amounts, included: bool) -> bool:
    return a.payable == payable_of(a.goods, a.discount, a.freight, a.tax, included)


@settings(max_examples=300, deadline=None)
@given(taxed_orders())
def test_every_level_keeps_the_payable_identity_and_adds_up_tax_included(case):
    o, decision = case
    p = price_order(o, decision)
    q = currency_quantum(o.currency)
    assert p.tax_included is o.prices_include_tax
    for level in (p.lines, p.fulfilments, p.merchants):
        assert all(_identity(a, o.prices_include_tax) for a in level.values())
        total = sum(level.values(), Amounts())
        assert total == p.order
    assert _identity(p.order, o.prices_include_tax)
    # the tax is the channel's: every line's and the freight's, to the cent
    assert p.order.tax == sum((ln.tax for ln in o.lines), D(0)) + o.shipping_tax
    assert all(getattr(a, k) % q == 0 for a in p.fulfilments.values() for k in ("goods", "discount", "freight", "tax"))


@settings(max_examples=300, deadline=None)
@given(taxed_orders())
def test_inclusive_and_exclusive_differ_by_exactly_the_tax(case):
    o, decision = case
    inclusive = price_order(Order(**{**o.__dict__, "prices_include_tax": True}), decision)
    exclusive = price_order(Order(**{**o.__dict__, "prices_include_tax": False}), decision)
    assert exclusive.order.payable - inclusive.order.payable == exclusive.order.tax == inclusive.order.tax
    for key, a in exclusive.fulfilments.items():
        assert a.payable - inclusive.fulfilments[key].payable == a.tax


@settings(max_examples=300, deadline=None)
@given(taxed_orders())
def test_cod_shares_always_add_up_to_the_payable(case):
    o, decision = case
    p = price_order(o, decision)
    shares = cod_shares(p)
    rest = p.fulfilments[BACKORDERED].payable if BACKORDERED in p.fulfilments else D(0)
    assert sum(shares.values(), D(0)) + rest == p.order.payable
    assert set(shares) == {f.fulfilment_id for f in decision.fulfilments}
    assert all(shares[k] == p.fulfilments[k].payable for k in shares)


@settings(max_examples=200, deadline=None)
@given(taxed_orders(), st.lists(st.integers(0, 50), min_size=1, max_size=4))
def test_split_amounts_with_tax_adds_up_and_keeps_each_identity(case, weights):
    o, decision = case
    whole = price_order(o, decision).order
    parts = split_amounts(whole, [D(w) for w in weights], o.currency, o.prices_include_tax)
    assert sum(parts, Amounts()) == whole
    assert all(_identity(a, o.prices_include_tax) for a in parts)


@settings(max_examples=200, deadline=None)
@given(taxed_orders())
def test_every_taxed_order_priced_by_the_router_passes_the_money_check(case):
    o, decision = case
    p = price_order(o, decision)
    cod = cod_shares(p)
    rest = [{"line_no": 1, "quantity": 1}] if BACKORDERED in p.fulfilments else []  # what waits, unpriced here
    stored = {"_id": "O1", "currency": o.currency, "prices_include_tax": o.prices_include_tax,
              "payment_method": "cod", "payable": str(p.order.payable),
              "amounts": {**p.order.to_dict(), "currency": o.currency, "tax_included": p.tax_included},
              "routing": {"state": "routed", "backordered": rest},
              "fulfilments": [{"id": f.fulfilment_id, "amounts": p.fulfilments[f.fulfilment_id].to_dict(),
                               "cod_amount": str(cod[f.fulfilment_id])} for f in decision.fulfilments],
              "sub_orders": {m: a.to_dict() for m, a in p.merchants.items()},
              "line_amounts": {str(n): a.to_dict() for n, a in p.lines.items()}}
    assert invariants.check_money(stored) == []


# --- the checker --------------------------------------------------------------------------------

def _stored(included=False, **extra) -> dict:
    tax = "2.00"
    payable = "20.00" if included else "22.00"
    amounts = {"goods": "20.00", "discount": "0.00", "freight": "0.00", "tax": tax, "payable": payable}
    doc = {"_id": "O1", "currency": "EUR", "status": "awaiting_shipment", "payable": payable,
           "amounts": {**amounts, "currency": "EUR", "tax_included": included},
           "routing": {"state": "routed"}, "fulfilments": [{"id": "O1-F1", "amounts": dict(amounts)}],
           "paid_amount": payable, "refunded_amount": "0", "payments": []}
    doc.update(extra)
    return doc


def _kinds(order) -> list[str]:
    return sorted(v.kind for v in invariants.check_money(order))


def test_the_checker_applies_the_identity_the_order_was_priced_with():
    assert _kinds(_stored(included=False)) == []
    assert _kinds(_stored(included=True)) == []
    wrong = _stored(included=False)
    wrong["amounts"]["tax_included"] = True  # 22.00 is not 20.00 with its tax inside
    assert _kinds(wrong) == ["money_payable", "money_payable"]
    assert "tax 2.00 included" in str(invariants.check_money(wrong)[0])


def test_refunds_are_never_above_what_was_paid_and_are_the_refunds_recorded():
    ok = _stored(refunded_amount="5.00", payments=[{"type": "refunded", "amount": "5.00"}])
    assert _kinds(ok) == []
    over = _stored(paid_amount="22.00", refunded_amount="30.00", payments=[{"type": "refunded", "amount": "30.00"}])
    assert _kinds(over) == ["refund_exceeds_paid"]
    unrecorded = _stored(refunded_amount="5.00")
    assert _kinds(unrecorded) == ["refund_records"]


def test_cod_shares_must_each_be_their_fulfilments_payable_and_add_up_to_the_order():
    cod = _stored(payment_method="cod")
    cod["fulfilments"][0]["cod_amount"] = "22.00"
    assert _kinds(cod) == []
    cod["fulfilments"][0]["cod_amount"] = "44.00"  # the whole order's payable asked twice over
    assert _kinds(cod) == ["cod_share"]
    legacy = _stored(payment_method="cod")  # stored before cod_amount: collects its payable
    assert _kinds(legacy) == []
