"""The canonical order and the reference data routing works on, as plain frozen dataclasses.

These are the domain's own shapes: the wire schemas (adapters/) and the storage documents
(documents/) convert to and from them in one place each, and neither is generated from these.
Money is always ``decimal.Decimal`` in the order's currency; quantities are ``int``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from router.statuses import PaymentMethod, ShippingMethod


@dataclass(frozen=True)
class Address:
    country: str  # ISO 3166-1 alpha-2
    region: str = ""  # state / province
    city: str = ""
    district: str = ""
    postcode: str = ""
    lines: tuple[str, ...] = ()
    name: str = ""
    phone: str = ""
    lat: float | None = None
    lon: float | None = None
    # The ISO 3166-2 subdivision ("CN-ZJ") when known: routing rules and freight zones read it;
    # region, city and district stay as the customer wrote them (router/subdivisions.py).
    region_code: str = ""


@dataclass(frozen=True)
class Customer:
    id: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    tier: str = "standard"
    locale: str = ""  # the language of the router's e-mails to them (zh-CN, en, ...); "": the channel's


@dataclass(frozen=True)
class OrderLine:
    line_no: int  # 1-based, stable for the life of the order
    sku: str
    merchant_id: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Decimal("0")  # line-level discount, for the whole line
    name: str = ""
    # The line's tax, for the whole line after its discounts, as the channel charged it: added to
    # the payable, or contained in the prices (Order.prices_include_tax). The rate is as stated
    # (0.20 for 20%), recorded, not used to compute.
    tax: Decimal = Decimal("0")
    tax_rate: Decimal | None = None

    @property
    def goods(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Order:
    order_id: str
    channel: str
    channel_order_id: str
    currency: str
    lines: tuple[OrderLine, ...]
    address: Address
    placed_at: datetime
    customer: Customer = field(default_factory=Customer)
    shipping_method: ShippingMethod = ShippingMethod.STANDARD
    payment_method: PaymentMethod = PaymentMethod.ONLINE
    order_discount: Decimal = Decimal("0")  # order-level discounts, allocated to lines by routing
    shipping_fee: Decimal | None = None  # freight the channel already charged; None: price it from templates
    b2b: bool = False
    prices_include_tax: bool = False  # prices, discounts and freight hold their tax (contained, not added)
    shipping_tax: Decimal = Decimal("0")  # tax on the freight
    stated_total: Decimal | None = None  # what the channel says the customer pays; None: it does not say


@dataclass(frozen=True)
class Warehouse:
    id: str
    merchant_ids: frozenset[str]
    country: str
    region: str = ""
    lat: float | None = None
    lon: float | None = None
    rank: int = 100  # lower is preferred
    daily_capacity: int | None = None  # orders per day; None: unlimited
    orders_today: int = 0
    product_types: frozenset[str] = frozenset()  # empty: carries everything
    serves_regions: frozenset[str] = frozenset()  # "CN" or "CN-ZJ" style; empty: serves everywhere
    active: bool = True


@dataclass(frozen=True)
class Sku:
    sku: str
    merchant_id: str
    price: Decimal
    weight_grams: int = 500
    product_type: str = "general"
    name: str = ""
    low_stock_threshold: int = 5
    dimensions_mm: tuple[int, int, int] | None = None  # length, width, height of one packed unit


@dataclass(frozen=True)
class StockLevel:
    sku: str
    warehouse_id: str
    on_hand: int
    reserved: int
    safety_stock: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True)
class Carrier:
    id: str
    regions: frozenset[str] = frozenset()  # empty: serves everywhere
    service_levels: frozenset[ShippingMethod] = frozenset({ShippingMethod.STANDARD, ShippingMethod.EXPRESS})
    rank: int = 100


@dataclass(frozen=True)
class Network:
    """Everything routing needs to know about the world besides the order and stock."""

    warehouses: tuple[Warehouse, ...]
    skus: dict[str, Sku]
    carriers: tuple[Carrier, ...] = ()


@dataclass(frozen=True)
class FulfilmentLine:
    line_no: int
    sku: str
    quantity: int


@dataclass(frozen=True)
class PlannedFulfilment:
    fulfilment_id: str  # "<order_id>-F<n>"; never contains "." or "$"
    merchant_id: str
    warehouse_id: str
    carrier_id: str | None
    lines: tuple[FulfilmentLine, ...]
    freight: Decimal = Decimal("0")


@dataclass(frozen=True)
class RoutingDecision:
    """What routing decided, and why.

    ``fulfilments`` hold every routed unit; ``backordered`` every unit that could not be
    placed; ``held_reason`` is set when the order must wait for review; ``rejected_reason``
    when it can never be routed. ``explanation`` is the replayable record (candidates,
    filters, scores, rule version) stored on the order.
    """

    fulfilments: tuple[PlannedFulfilment, ...]
    backordered: tuple[FulfilmentLine, ...] = ()
    held_reason: str | None = None
    rejected_reason: str | None = None
    explanation: dict = field(default_factory=dict)
