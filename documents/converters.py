"""Domain <-> storage, in one place: router dataclasses to and from the raw order and stock dicts."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal

from router.exceptions import flagged
from router.lifecycle import OrderState
from router.model import Address, Customer, Order, OrderLine, PlannedFulfilment, StockLevel
from router.money import Amounts
from router.statuses import (AfterSalesStatus, FulfilmentStatus, OrderStatus, PaymentMethod, PaymentStatus,
                             RoutingState, ShipmentStatus, ShippingMethod)


def new_order_document(order: Order, *, received_at: datetime, payment: dict, notes: str = "",
                       raw: dict | None = None, flags: Sequence[str] = ()) -> dict:
    """The stored shape of a freshly accepted order, before routing."""
    paid = payment.get("status") == PaymentStatus.PAID
    return {
        "_id": order.order_id,
        "channel": order.channel,
        "channel_order_id": order.channel_order_id,
        "currency": order.currency,
        "customer": asdict(order.customer),
        "address": {**asdict(order.address), "lines": list(order.address.lines)},
        "lines": [asdict(line) for line in order.lines],
        "merchant_ids": sorted({line.merchant_id for line in order.lines}),
        "skus": sorted({line.sku for line in order.lines}),
        "warehouse_ids": [],
        "order_discount": order.order_discount,
        "shipping_fee": order.shipping_fee,
        "prices_include_tax": order.prices_include_tax,
        "shipping_tax": order.shipping_tax,
        "stated_total": order.stated_total,
        "shipping_method": order.shipping_method.value,
        "payment_method": order.payment_method.value,
        "payment": {k: v for k, v in payment.items() if k != "status"},
        "b2b": order.b2b,
        "status": OrderStatus.PENDING_PAYMENT.value,
        "payment_status": (PaymentStatus.PAID if paid else PaymentStatus.UNPAID).value,
        "shipment_status": ShipmentStatus.UNSHIPPED.value,
        "after_sales_status": AfterSalesStatus.NONE.value,
        "routing": {"state": RoutingState.RECEIVED.value, "attempts": 0},
        "fulfilments": [],
        "payments": [],
        "after_sales": [],
        "timeline": [{"at": received_at, "actor": f"channel:{order.channel}", "event": "received",
                      "from": None, "to": OrderStatus.PENDING_PAYMENT.value, "details": {}}],
        "version": 0,
        "placed_at": order.placed_at,
        "created_at": received_at,
        "updated_at": received_at,
        "notes": notes,
        "raw": raw,
        "flags": list(flags),
    }


def order_from_document(doc: dict) -> Order:
    a = doc["address"]
    return Order(
        order_id=doc["_id"], channel=doc["channel"], channel_order_id=doc["channel_order_id"],
        currency=doc["currency"],
        lines=tuple(OrderLine(line_no=l["line_no"], sku=l["sku"], merchant_id=l["merchant_id"],
                              quantity=l["quantity"], unit_price=Decimal(l["unit_price"]),
                              discount=Decimal(l.get("discount") or 0), name=l.get("name", ""),
                              tax=Decimal(l.get("tax") or 0),
                              tax_rate=None if l.get("tax_rate") is None else Decimal(l["tax_rate"]))
                    for l in doc["lines"]),
        address=Address(country=a["country"], region=a.get("region", ""), city=a.get("city", ""),
                        district=a.get("district", ""), postcode=a.get("postcode", ""),
                        lines=tuple(a.get("lines") or ()), name=a.get("name", ""), phone=a.get("phone", ""),
                        lat=a.get("lat"), lon=a.get("lon"), region_code=a.get("region_code") or ""),
        placed_at=doc["placed_at"],
        customer=Customer(**{k: v for k, v in (doc.get("customer") or {}).items()
                             if k in ("id", "name", "email", "phone", "tier", "locale")}),
        shipping_method=ShippingMethod(doc.get("shipping_method", "standard")),
        payment_method=PaymentMethod(doc.get("payment_method", "online")),
        order_discount=Decimal(doc.get("order_discount") or 0),
        shipping_fee=None if doc.get("shipping_fee") is None else Decimal(doc["shipping_fee"]),
        b2b=bool(doc.get("b2b")),
        prices_include_tax=bool(doc.get("prices_include_tax")),
        shipping_tax=Decimal(doc.get("shipping_tax") or 0),
        stated_total=None if doc.get("stated_total") is None else Decimal(doc["stated_total"]),
    )


def stock_levels(rows: list[dict], own_holds: dict[tuple[str, str], int] | None = None) -> dict:
    """Stock rows as ``{(sku, warehouse): StockLevel}``.

    ``own_holds`` are units this very order already holds there (a replayed message): they are
    counted as available to it again, so that re-planning can reuse them instead of leaking them.
    """
    out = {}
    for r in rows:
        mine = (own_holds or {}).get((r["sku"], r["warehouse_id"]), 0)
        out[(r["sku"], r["warehouse_id"])] = StockLevel(
            sku=r["sku"], warehouse_id=r["warehouse_id"], on_hand=r.get("on_hand", 0),
            reserved=r.get("reserved", 0) - mine, safety_stock=r.get("safety_stock", 0))
    return out


def order_state(doc: dict):
    """The lifecycle's snapshot of a stored order."""
    return OrderState(
        order_id=doc["_id"], status=OrderStatus(doc["status"]), payment_status=PaymentStatus(doc["payment_status"]),
        shipment_status=ShipmentStatus(doc["shipment_status"]),
        after_sales_status=AfterSalesStatus(doc.get("after_sales_status", "none")),
        payment_method=PaymentMethod(doc.get("payment_method", "online")),
        fulfilments={f["id"]: FulfilmentStatus(f["status"]) for f in doc.get("fulfilments", [])},
        payable=charged(doc),
        paid_amount=Decimal(doc.get("paid_amount") or 0), refunded_amount=Decimal(doc.get("refunded_amount") or 0),
        cancel_requested=bool(doc.get("cancel_requested")), refund_due=bool(doc.get("refund_due")),
        flagged=flagged(doc.get("exceptions")),
        backordered_units=waiting_units(doc),
    )


def charged(doc: dict) -> Decimal:
    """What a stored order charges for: its payable, less what its cancelled backordered units
    carried (they will never ship: a paid order gets that money back, a cash-on-delivery or terms
    order is not asked for it)."""
    cancelled = (doc.get("routing") or {}).get("backorder_cancelled") or ()
    return Decimal((doc.get("amounts") or {}).get("payable", "0")) - sum(
        (Decimal(str((c.get("amounts") or {}).get("payable") or 0)) for c in cancelled), Decimal(0))


def waiting_units(doc: dict) -> int:
    """Units of a stored order backordered and still waiting for stock."""
    return sum(int(b.get("quantity") or 0) for b in (doc.get("routing") or {}).get("backordered") or ())


def change_fields(doc: dict, change, fulfilment_data: dict[str, dict] | None = None, now: datetime | None = None) -> dict:
    """The document fields a lifecycle ``Change`` writes: the state fields, and the fulfilments
    array with new statuses (stamped ``<status>_at``) and any extra per-fulfilment data."""
    fields = {k: (v.value if hasattr(v, "value") else v) for k, v in change.fields.items()}
    extra = fulfilment_data or {}
    if change.fulfilments or extra:
        fulfilments = []
        for f in doc.get("fulfilments", []):
            f = dict(f)
            if f["id"] in change.fulfilments:
                f["status"] = change.fulfilments[f["id"]].value
                if now is not None:
                    f[f"{f['status']}_at"] = now
            f.update(extra.get(f["id"], {}))
            fulfilments.append(f)
        fields["fulfilments"] = fulfilments
    return fields


def with_details(timeline, details: dict) -> list[dict]:
    """Timeline entries with the event's own details (ids, tracking numbers) added."""
    return [{**entry, "details": {**entry.get("details", {}), **details}} for entry in timeline]


def new_fulfilment_document(f: PlannedFulfilment, amounts: Amounts, cod_amount: Decimal | None = None,
                            hold_tag: str | None = None) -> dict:
    """A planned fulfilment as stored, reserved and not yet sent anywhere (one shape for the first
    routing, a backorder placed later and a re-route). ``cod_amount``: what the courier collects with
    it, None when the order is not paid on delivery; ``hold_tag``: set on fulfilments planned after
    the first routing (their stock holds carry it)."""
    out = {"id": f.fulfilment_id, "merchant_id": f.merchant_id, "warehouse_id": f.warehouse_id,
           "carrier_id": f.carrier_id, "status": FulfilmentStatus.RESERVED.value,
           "lines": [{"line_no": line.line_no, "sku": line.sku, "quantity": line.quantity} for line in f.lines],
           "amounts": amounts.to_dict(), "freight": str(f.freight),
           "cod_amount": None if cod_amount is None else str(cod_amount),
           "tracking_number": None, "wms_order_id": None, "tracking": []}
    if hold_tag is not None:
        out["hold_tag"] = hold_tag
    return out

