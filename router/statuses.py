"""Every status vocabulary of the router, defined once.

The words are the public contract: the HTTP API (README's "HTTP API" section; the enums in
/openapi.json) and the stored documents carry them verbatim, so renaming one breaks callers and
stored data. The API, the documents, the state machines and the console all import them from here.
"""
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    AWAITING_SHIPMENT = "awaiting_shipment"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    ON_HOLD = "on_hold"
    REJECTED = "rejected"


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    FAILED = "failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class ShipmentStatus(StrEnum):
    UNSHIPPED = "unshipped"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"


class AfterSalesStatus(StrEnum):
    NONE = "none"
    PENDING_REVIEW = "pending_review"
    AWAITING_RETURN = "awaiting_return"
    AWAITING_REFUND = "awaiting_refund"
    AWAITING_EXCHANGE_RETURN = "awaiting_exchange_return"
    EXCHANGE_SHIPPING = "exchange_shipping"
    SUCCEEDED = "succeeded"
    REJECTED = "rejected"


class FulfilmentStatus(StrEnum):
    PLANNED = "planned"
    RESERVED = "reserved"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    PICKED = "picked"
    PACKED = "packed"
    PARTIALLY_SHIPPED = "partially_shipped"  # some boxes left (a partial WMS confirmation), more follow
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    CANCELLED = "cancelled"
    DISPATCH_FAILED = "dispatch_failed"


class RoutingState(StrEnum):
    """Where an order stands in the routing pipeline (internal, shown on the order)."""

    RECEIVED = "received"
    ROUTED = "routed"
    BACKORDERED = "backordered"
    HELD = "held"
    REJECTED = "rejected"
    EXTERNAL = "external"  # recorded, fulfilled by the channel itself (e.g. Amazon AFN)


class PaymentMethod(StrEnum):
    ONLINE = "online"
    CASH_ON_DELIVERY = "cod"
    TERMS = "terms"


class ShippingMethod(StrEnum):
    STANDARD = "standard"
    EXPRESS = "express"


class WmsEventType(StrEnum):
    ACCEPTED = "accepted"
    PICKED = "picked"
    PACKED = "packed"
    PARTIALLY_SHIPPED = "partially_shipped"  # some units left; the final confirmation (shipped) follows
    SHIPPED = "shipped"
    SHORT_PICKED = "short_picked"
    REJECTED = "rejected"
    INTERCEPTED = "intercepted"
    RETURN_RECEIVED = "return_received"


class TrackingStatus(StrEnum):
    """The canonical tracking vocabulary every carrier format is mapped onto."""

    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    EXPIRED = "expired"


class PaymentEventType(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    REFUNDED = "refunded"
