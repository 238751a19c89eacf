"""A simulated EasyPost account (REST API v2) that books for one of our carriers, and its
``tracker.updated`` webhooks.

- Authentication: HTTP Basic with an API key of the account (``api_keys``) as user name and any
  password (EasyPost's ``-u "KEY":``); anything else is 401.
- ``POST /v2/shipments`` ``{"shipment": {"reference"?, "to_address", "from_address", "parcel"}}``:
  both addresses need a ``country``, the to address a ``street1``, the parcel a positive ``weight``
  (ounces; a weight over 1120 oz, 70 lb, is refused as no rate can carry it), else 422 naming the
  field. The shipment gets ``rates`` (``RATES``: carrier, service, price, delivery days; prices grow
  with weight) and is answered 201. A ``reference`` may be used in place of the id.
- ``GET /v2/shipments/{id or reference}``, 404 when unknown.
- ``POST /v2/shipments/{id}/buy`` ``{"rate": {"id"}}``: one of the shipment's rates, else 422; a
  shipment already bought is refused 422 (nothing is bought twice). The bought shipment has
  ``selected_rate``, ``tracking_code``, ``postage_label.label_url`` (served at ``/labels/...``) and
  a ``tracker``, which EasyPost makes with every purchase.
- ``GET /v2/trackers?tracking_code=&carrier=`` lists trackers; ``POST /v2/trackers``
  ``{"tracker": {"tracking_code", "carrier"?}}`` makes one (201).
- ``track(tracking_code, steps)`` posts ``tracker.updated`` Events for the parcel to
  ``{callback_url}/v1/carriers/{carrier_id}/events``, signed ``X-Hmac-Signature`` with the webhook
  secret as EasyPost signs them (adapters/simulators/tracking_push.py), without a bearer token.
"""
from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from adapters.simulators import tracking_push
from adapters.simulators.callbacks import CallingParty
from adapters.simulators.server import Request, Response

# carrier, service, base price (USD), price per pound, delivery days
RATES = (("USPS", "GroundAdvantage", "5.93", "0.45", 5), ("USPS", "Priority", "7.33", "0.80", 2),
         ("USPS", "Express", "28.40", "1.10", 1), ("UPS", "Ground", "9.10", "0.60", 5),
         ("UPS", "NextDayAir", "31.20", "1.50", 1))
MAX_OUNCES = 1120


@dataclass
class EasyPostShipment:
    body: dict[str, Any]
    bought: bool = False
    trackers: list[str] = field(default_factory=list)


class EasyPostSimulator(CallingParty):
    """See the module docstring. ``shipments`` by id, ``trackers`` by id, ``purchases`` counts buys."""

    def __init__(self, callback_url: str | None, carrier_id: str, *, api_keys: set[str], webhook_secret: str,
                 step_delay: float = 0.02, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(callback_url, step_delay=step_delay, host=host, port=port)
        self.carrier_id, self.api_keys, self.webhook_secret = carrier_id, set(api_keys), webhook_secret
        self.shipments: dict[str, EasyPostShipment] = {}
        self.trackers: dict[str, dict[str, Any]] = {}
        self.purchases = 0
        self._seq = itertools.count(1)

    def track(self, tracking_code: str, steps=tracking_push.PROGRESS) -> None:
        """Post ``tracker.updated`` Events taking the parcel through ``steps``, in order."""
        if not self.callback_url:
            raise RuntimeError("EasyPostSimulator has no callback_url")
        url = f"{self.callback_url}/v1/carriers/{self.carrier_id}/events"
        self.callbacks.submit(tracking_push.updates("easypost", url, tracking_code, steps, self.webhook_secret))

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path.startswith("/labels/"):
            return Response(200, b"\x89PNG\r\n\x1a\n simulated label", "image/png")
        if not self._authenticated(request):
            return _error(401, "APIKEY.INACTIVE", "The API key provided is missing, disabled or not valid.")
        seg, method = request.segments, request.method
        if seg[:1] != ["v2"]:
            return _error(404, "NOT_FOUND", "The requested resource could not be found.")
        with self.lock:
            if seg[1:] == ["shipments"] and method == "POST":
                return self._create(request.body)
            if len(seg) == 3 and seg[1] == "shipments" and method == "GET":
                found = self._find(seg[2])
                return Response(200, found.body) if found else \
                    _error(404, "NOT_FOUND", "The requested resource could not be found.")
            if len(seg) == 4 and seg[1] == "shipments" and seg[3] == "buy" and method == "POST":
                return self._buy(seg[2], request.body)
            if seg[1:] == ["trackers"] and method == "GET":
                code, carrier = request.query.get("tracking_code"), request.query.get("carrier")
                listed = [t for t in self.trackers.values() if (not code or t["tracking_code"] == code)
                          and (not carrier or t["carrier"] == carrier)]
                return Response(200, {"trackers": listed, "has_more": False})
            if seg[1:] == ["trackers"] and method == "POST":
                wanted = (request.body or {}).get("tracker") if isinstance(request.body, dict) else None
                if not isinstance(wanted, dict) or not wanted.get("tracking_code"):
                    return _error(422, "PARAMETER.REQUIRED", "Missing required parameter: tracker.tracking_code.")
                return Response(201, self._tracker(str(wanted["tracking_code"]), wanted.get("carrier") or "USPS", None))
        return _error(404, "NOT_FOUND", "The requested resource could not be found.")

    def _authenticated(self, request: Request) -> bool:
        auth = request.headers.get("authorization") or ""
        if not auth.startswith("Basic "):
            return False
        try:
            user = base64.b64decode(auth[len("Basic "):]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            return False
        return user in self.api_keys

    def _find(self, key: str) -> EasyPostShipment | None:
        return self.shipments.get(key) or next(
            (s for s in self.shipments.values() if key and s.body.get("reference") == key), None)

    def _create(self, body: Any) -> Response:
        shipment = (body or {}).get("shipment") if isinstance(body, dict) else None
        if not isinstance(shipment, dict):
            return _error(422, "PARAMETER.REQUIRED", "Missing required parameter: shipment.")
        for name, needed in (("to_address", ("street1", "country")), ("from_address", ("country",))):
            address = shipment.get(name)
            if not isinstance(address, dict):
                return _error(422, "PARAMETER.REQUIRED", f"Missing required parameter: shipment.{name}.")
            missing = [k for k in needed if not address.get(k)]
            if missing:
                return _error(422, "ADDRESS.VERIFY.FAILURE", f"shipment.{name}.{missing[0]} is required.")
        parcel = shipment.get("parcel")
        weight = parcel.get("weight") if isinstance(parcel, dict) else None
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0:
            return _error(422, "PARCEL.WEIGHT.INVALID", "shipment.parcel.weight must be a positive number of ounces.")
        if weight > MAX_OUNCES:
            return _error(422, "PARCEL.WEIGHT.INVALID", "shipment.parcel.weight is over 1120 oz (70 lb).")
        shp = f"shp_{next(self._seq):032x}"
        pounds = Decimal(str(weight)) / 16
        rates = [{"id": f"rate_{next(self._seq):032x}", "object": "Rate", "mode": "test", "service": service,
                  "carrier": carrier, "rate": str((Decimal(base) + Decimal(per) * pounds).quantize(Decimal("0.01"))),
                  "currency": "USD", "delivery_days": days, "shipment_id": shp,
                  "carrier_account_id": f"ca_{carrier.lower():0>32}"[:35]}
                 for carrier, service, base, per, days in RATES]
        made = {"id": shp, "object": "Shipment", "mode": "test", "reference": shipment.get("reference"),
                "status": "unknown", "to_address": {"object": "Address", **shipment["to_address"]},
                "from_address": {"object": "Address", **shipment["from_address"]},
                "parcel": {"id": f"prcl_{next(self._seq):032x}", "object": "Parcel", **parcel},
                "rates": rates, "selected_rate": None, "postage_label": None, "tracking_code": None,
                "tracker": None, "messages": [],
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")}
        self.shipments[shp] = EasyPostShipment(made)
        return Response(201, made)

    def _buy(self, key: str, body: Any) -> Response:
        shipment = self._find(key)
        if shipment is None:
            return _error(404, "NOT_FOUND", "The requested resource could not be found.")
        if shipment.bought:
            return _error(422, "SHIPMENT.POSTAGE.EXISTS", "This shipment already has postage.")
        rate_id = ((body or {}).get("rate") or {}).get("id") if isinstance(body, dict) else None
        rate = next((r for r in shipment.body["rates"] if r["id"] == rate_id), None)
        if rate is None:
            return _error(422, "SHIPMENT.RATE.INVALID", "rate.id is not one of this shipment's rates.")
        code = f"9400{next(self._seq):018d}" if rate["carrier"] == "USPS" else f"1Z{next(self._seq):016d}"
        shipment.bought = True
        self.purchases += 1
        tracker = self._tracker(code, rate["carrier"], shipment.body["id"])
        shipment.body.update(
            status="unknown", selected_rate=rate, tracking_code=code, tracker=tracker,
            postage_label={"object": "PostageLabel", "id": f"pl_{next(self._seq):032x}", "label_file_type": "image/png",
                           "label_size": "4x6", "label_resolution": 300,
                           "label_url": f"{self.url}/labels/{shipment.body['id']}.png"})
        return Response(200, shipment.body)

    def _tracker(self, code: str, carrier: str, shipment_id: str | None) -> dict[str, Any]:
        tracker = {"id": f"trk_{next(self._seq):032x}", "object": "Tracker", "mode": "test", "tracking_code": code,
                   "status": "pre_transit", "carrier": carrier, "shipment_id": shipment_id, "tracking_details": []}
        self.trackers[tracker["id"]] = tracker
        return tracker


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message, "errors": []}})
