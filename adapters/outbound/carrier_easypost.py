"""The ``easypost`` booking format: EasyPost's REST API v2 at the carrier's ``api_url``
(``https://api.easypost.com``), authenticated as EasyPost documents it: HTTP Basic with the API key
(the carrier's ``api_token``) as user name and an empty password.

A booking: ``POST /v2/shipments`` ``{"shipment": {"reference", "to_address", "from_address",
"parcel"}}`` (the parcel's ``weight`` in ounces and its dimensions in inches, as EasyPost takes
them), then ``POST /v2/shipments/{id}/buy`` ``{"rate": {"id"}}`` with the chosen rate: the
carrier's ``booking_service`` when configured, else among the rates of its ``booking_carrier``
(every carrier's when unset) the cheapest (an ``express`` order: the cheapest of the fastest);
the bought shipment's ``tracking_code`` and ``postage_label.label_url`` are the booking.
EasyPost takes no idempotency key; the fulfilment id is the shipment's ``reference``, which EasyPost
accepts in place of the id, so ``GET /v2/shipments/{reference}`` first: a shipment already made
(an answer lost) is bought if it is not yet, and a bought one is simply read back.

A tracker: ``GET /v2/trackers?tracking_code=&carrier=`` first (a bought shipment already has one,
EasyPost makes it with the purchase), else ``POST /v2/trackers`` ``{"tracker": {"tracking_code",
"carrier"}}``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.outbound.carrier import party
from adapters.outbound.policy import OutboundError, outbound_retry, send
from documents import reference
from services.ports import Booking

GRAMS_PER_OUNCE = Decimal("28.349523125")
MM_PER_INCH = Decimal("25.4")


class EasyPostCarrier:
    @outbound_retry
    def book_shipment(self, carrier: dict, payload: dict) -> Booking:
        shipment = self._shipment(carrier, payload["fulfilment_id"])
        if shipment is None:
            shipment = _call(carrier, "POST", "/v2/shipments", shipment_request(carrier, payload))
        if not (shipment.get("postage_label") or {}).get("label_url"):
            rate = choose_rate(shipment.get("rates") or [], carrier, payload.get("service_level") or "standard")
            if rate is None:
                raise OutboundError(party(carrier), "EasyPost offered no rate for this carrier and service",
                                    retryable=False)
            shipment = _call(carrier, "POST", f"/v2/shipments/{shipment['id']}/buy", {"rate": {"id": rate["id"]}})
        label = (shipment.get("postage_label") or {}).get("label_url")
        if not shipment.get("tracking_code") or not label:
            raise OutboundError(party(carrier), "EasyPost bought no label", retryable=False)
        return Booking(shipment["tracking_code"], label)

    @outbound_retry
    def register_tracker(self, carrier: dict, tracking_number: str, fulfilment_id: str) -> None:
        query = {"tracking_code": tracking_number}
        if carrier.get("booking_carrier"):
            query["carrier"] = carrier["booking_carrier"]
        listed = _call(carrier, "GET", "/v2/trackers", None, params=query)
        if any(t.get("tracking_code") == tracking_number for t in listed.get("trackers") or [] if isinstance(t, dict)):
            return
        _call(carrier, "POST", "/v2/trackers", {"tracker": query})

    def _shipment(self, carrier: dict, reference_id: str) -> dict | None:
        try:
            return _call(carrier, "GET", f"/v2/shipments/{reference_id}", None)
        except OutboundError as exc:
            if exc.status == 404:
                return None
            raise


def _call(carrier: dict, method: str, path: str, body: dict | None, params: dict | None = None) -> Any:
    return send(party(carrier), method, f"{carrier['api_url'].rstrip('/')}{path}", json=body,
                auth=(carrier.get("api_token") or "", ""), params=params)


def shipment_request(carrier: dict, payload: dict) -> dict:
    """``{"shipment": ...}`` for a generic booking payload (services.dispatch._book)."""
    parcel = (payload.get("parcels") or [{}])[0]
    return {"shipment": {"reference": payload["fulfilment_id"],
                         "to_address": to_address(payload["ship_to"]),
                         "from_address": from_address(payload["ship_from"]),
                         "parcel": parcel_of(parcel)}}


def parcel_of(parcel: dict) -> dict:
    """EasyPost's Parcel: ``weight`` in ounces (one decimal, at least 0.1), dimensions in inches."""
    ounces = max(Decimal("0.1"), (Decimal(parcel.get("weight_grams") or 0) / GRAMS_PER_OUNCE).quantize(Decimal("0.1")))
    out = {"weight": float(ounces)}
    for ours, theirs in (("length_mm", "length"), ("width_mm", "width"), ("height_mm", "height")):
        if parcel.get(ours):
            out[theirs] = float((Decimal(parcel[ours]) / MM_PER_INCH).quantize(Decimal("0.1")))
    return out


def to_address(address: dict) -> dict:
    street = [line for line in address.get("lines") or [] if line]
    region_code = address.get("region_code") or ""
    out = {"name": address.get("name") or "", "street1": street[0] if street else "",
           "street2": ", ".join(street[1:]), "city": address.get("city") or "",
           "state": region_code.split("-")[-1] if region_code else (address.get("region") or ""),
           "zip": address.get("postcode") or "", "country": address.get("country") or "",
           "phone": address.get("phone") or "", "email": address.get("email") or ""}
    return {k: v for k, v in out.items() if v}


def from_address(ship_from: dict) -> dict:
    """The warehouse as EasyPost's from address (its name, city, region and country)."""
    warehouse = reference.cached("warehouses", ship_from.get("warehouse_id") or "") or {}
    out = {"company": warehouse.get("name") or ship_from.get("warehouse_id") or "",
           "city": warehouse.get("city") or "", "state": ship_from.get("region") or warehouse.get("region") or "",
           "country": ship_from.get("country") or warehouse.get("country") or ""}
    return {k: v for k, v in out.items() if v}


def choose_rate(rates: list, carrier: dict, service_level: str) -> dict | None:
    """The rate to buy: ``booking_service``'s when configured, else the cheapest of the carrier's
    (``booking_carrier``) rates, the cheapest of the fastest for ``express``; ties by service name."""
    usable = [r for r in rates if isinstance(r, dict) and r.get("id") and r.get("rate") is not None
              and (not carrier.get("booking_carrier") or r.get("carrier") == carrier["booking_carrier"])]
    if carrier.get("booking_service"):
        return next((r for r in usable if r.get("service") == carrier["booking_service"]), None)

    def price(rate: dict) -> Decimal:
        return Decimal(str(rate["rate"]))

    if service_level == "express":
        return min(usable, key=lambda r: (r.get("delivery_days") or 99, price(r), r.get("service") or ""), default=None)
    return min(usable, key=lambda r: (price(r), r.get("service") or ""), default=None)
