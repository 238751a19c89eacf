"""A simulated sales channel API, for the router's outbound sync: Shopify's and WooCommerce's REST
APIs as strict as the platforms, and a generic recorder for every other path.

Shopify, under ``/admin/api/<version>/`` (the Admin REST API):

- authentication by ``X-Shopify-Access-Token`` (one of ``shopify_tokens``), else 401 with Shopify's
  ``{"errors": "[API] Invalid API key or access token ..."}``; a bearer token is not one;
- the leaky bucket: ``bucket_size`` calls (Shopify: 40) leaking ``leak_rate`` a second (2); every
  answer says ``X-Shopify-Shop-Api-Call-Limit: <used>/<size>``, a call into a full bucket is 429
  with ``Retry-After`` (seconds) and has no effect;
- ``GET orders/{id}/fulfillment_orders.json`` for an order the shop holds (``add_order``: the REST
  Order, whose ``line_items`` become one open fulfillment order at ``location_id``), else 404;
- ``POST fulfillments.json`` with ``fulfillment.line_items_by_fulfillment_order`` (each open
  fulfillment order of the shop, each line item of it up to its ``fulfillable_quantity``, else
  422), ``tracking_info`` and ``notify_customer``: the fulfilment is made (201), the fulfillment
  order closed once nothing is left; no idempotency key is honoured (Shopify has none here), so a
  second POST is refused 422 when nothing is left to fulfil; ``GET orders/{id}/fulfillments.json``
  lists them. The legacy ``orders/{id}/fulfillments.json`` POST is gone (404), as in 2024-07;
- ``refunds.json`` ignores the Idempotency-Key (every POST is a new refund) and GET lists them;
  ``refunds/calculate.json`` answers what ``reply`` set; ``cancel.json`` is recorded.

WooCommerce, under ``/wp-json/wc/v3/``: over this plain-http server only OAuth 1.0a one-legged is
accepted (WooCommerce takes HTTP Basic over https alone): ``oauth_consumer_key`` (one of
``woocommerce_keys``: key -> secret), ``oauth_signature_method`` HMAC-SHA1 or HMAC-SHA256, a
``oauth_timestamp`` no older than 15 minutes, a ``oauth_nonce`` not seen before and the
``oauth_signature`` computed as ``WC_REST_Authentication`` checks it; else 401 with WooCommerce's
``woocommerce_rest_authentication_error``. Notes and refunds are new on every POST (WooCommerce
takes no idempotency key) and listed by GET; ``PUT orders/{id}`` sets the status.

Any other path: any POST, PUT, PATCH or DELETE is recorded; a POST answers 201 {"id": "CH-..."}
and the same Idempotency-Key again answers 200 with the same id; GET answers 404. Bearer tokens
are not checked there (a test asserts on the recorded headers).

``effects`` maps each distinct idempotency key (a repeat of a key where the platform makes a new
object each time: ``<key>#2``, ...; without a key: a generated id) to the request that made it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections import defaultdict
from urllib.parse import quote

from adapters.simulators.server import Request, Response, SimulatorServer, error

SHOPIFY_PREFIX = "/admin/api/"
WOO_PREFIX = "/wp-json/wc/v3/"
SHOPIFY_REFUNDS = "/refunds.json"
WOO_WINDOW = 15 * 60  # seconds: WooCommerce's OAuth timestamp window


class ChannelSimulator(SimulatorServer):
    """Simulated channel APIs; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, shopify_tokens: set[str] | None = None,
                 woocommerce_keys: dict[str, str] | None = None, bucket_size: int = 40,
                 leak_rate: float = 2.0) -> None:
        super().__init__(host, port)
        self.shopify_tokens = set(shopify_tokens or ())
        self.woocommerce_keys = dict(woocommerce_keys or {})
        self.bucket_size, self.leak_rate = bucket_size, leak_rate
        self.effects: dict[str, Request] = {}
        self.replies: dict[str, dict] = {}
        self.orders: dict[str, dict] = {}  # Shopify order id -> the REST Order
        self.fulfillment_orders: dict[str, list[dict]] = {}  # Shopify order id -> its fulfillment orders
        self.fulfillments: dict[str, list[dict]] = defaultdict(list)  # Shopify order id -> fulfillments made
        self.notes: dict[str, list[dict]] = defaultdict(list)  # WooCommerce order id -> notes
        self.refunds: dict[str, list[dict]] = defaultdict(list)  # WooCommerce order id -> refunds
        self.statuses: dict[str, str] = {}  # WooCommerce order id -> status set by PUT
        self.nonces: set[str] = set()
        self._level, self._leaked_at = 0.0, time.monotonic()
        self._ids: dict[str, str] = {}
        self._numbers = itertools.count(1)

    # -- set-up by tests ---------------------------------------------------------------------
    def reply(self, path_suffix: str, body: dict) -> None:
        """Answer writes to paths ending with `path_suffix` with 200 and `body` (a calculation,
        e.g. Shopify's refunds/calculate.json), recorded as calls but not as effects."""
        with self.lock:
            self.replies[path_suffix] = body

    def add_order(self, order: dict, location_id: int = 24826418) -> list[dict]:
        """Hold a Shopify REST Order (a webhook's body): its line items make one open fulfillment
        order, as Shopify does for an order assigned to one location. Returns its fulfillment orders."""
        oid = str(order["id"])
        with self.lock:
            fo_id = 1046000000 + next(self._numbers)
            items = [{"id": 1058700000 + next(self._numbers), "shop_id": 548380009, "fulfillment_order_id": fo_id,
                      "quantity": int(i.get("quantity") or 0), "line_item_id": i["id"],
                      "inventory_item_id": i.get("variant_id"), "fulfillable_quantity": int(i.get("quantity") or 0),
                      "variant_id": i.get("variant_id")}
                     for i in order.get("line_items") or []]
            self.orders[oid] = order
            self.fulfillment_orders[oid] = [{
                "id": fo_id, "shop_id": 548380009, "order_id": order["id"], "assigned_location_id": location_id,
                "request_status": "unsubmitted", "status": "open",
                "supported_actions": ["create_fulfillment", "move"], "line_items": items,
                "fulfill_at": None, "fulfill_by": None, "fulfillment_holds": [], "merchant_requests": []}]
            return self.fulfillment_orders[oid]

    def fill_bucket(self) -> None:
        """Fill the Shopify call bucket: the next call is over the limit (429)."""
        with self.lock:
            self._leak()
            self._level = float(self.bucket_size)

    # -- serving -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.startswith(SHOPIFY_PREFIX):
            return self._shopify(request)
        if request.path.startswith(WOO_PREFIX):
            return self._woocommerce(request)
        return self._generic(request)

    def received(self, contains: str = "") -> list:
        """Bodies of write calls whose path contains `contains`, in arrival order, retries included."""
        return [c.body for c in self.calls_to(contains=contains) if c.method != "GET"]

    def _generic(self, request: Request) -> Response:
        if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return error(404, "not_found", request.path)
        with self.lock:
            key = request.idempotency_key
            if key is not None and key in self._ids:
                return Response(200, {"id": self._ids[key]})
            new_id = self._record(request, key, repeatable=False)
        return Response(201 if request.method == "POST" else 200, {"id": new_id})

    def _record(self, request: Request, key: str | None, repeatable: bool) -> str:
        """Record an effect under ``key`` (a repeat of it, for a platform that makes a new object
        every time: ``key#n``); returns its id. Call with the lock held."""
        if key is not None and repeatable and key in self._ids:
            key = f"{key}#{sum(k == key or k.startswith(f'{key}#') for k in self._ids) + 1}"
        new_id = f"CH-{next(self._numbers):06d}"
        self._ids[key or new_id] = new_id
        self.effects[key or new_id] = request
        return new_id

    # -- Shopify -------------------------------------------------------------------------------
    def _leak(self) -> None:
        now = time.monotonic()
        self._level = max(0.0, self._level - (now - self._leaked_at) * self.leak_rate)
        self._leaked_at = now

    def _shopify(self, request: Request) -> Response:
        if request.headers.get("x-shopify-access-token") not in self.shopify_tokens:
            return Response(401, {"errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                                            "password)"})
        with self.lock:
            self._leak()
            if self._level + 1 > self.bucket_size:
                retry = (self._level + 1 - self.bucket_size) / self.leak_rate
                return Response(429, {"errors": "Exceeded 2 calls per second for api client. Reduce request rates "
                                                "to resume uninterrupted service."},
                                headers={"Retry-After": f"{retry:.1f}", **self._call_limit()})
            self._level += 1
            limit = self._call_limit()
            response = self._shopify_call(request)
        response.headers.update(limit)
        return response

    def _call_limit(self) -> dict[str, str]:
        return {"X-Shopify-Shop-Api-Call-Limit": f"{min(self.bucket_size, int(self._level + 0.999))}/{self.bucket_size}"}

    def _shopify_call(self, request: Request) -> Response:
        seg = request.segments[3:]  # after admin, api, <version>
        method = request.method
        if method == "POST" and seg == ["fulfillments.json"]:
            return self._fulfil(request)
        if len(seg) == 3 and seg[0] == "orders" and method == "GET":
            oid, what = seg[1], seg[2]
            if what == "fulfillment_orders.json":
                if oid not in self.fulfillment_orders:
                    return Response(404, {"errors": "Not Found"})
                return Response(200, {"fulfillment_orders": self.fulfillment_orders[oid]})
            if what == "fulfillments.json":
                return Response(200, {"fulfillments": self.fulfillments.get(oid, [])})
            if what == "refunds.json":
                return Response(200, {"refunds": [{"id": self._ids[k], **(r.body or {}).get("refund", {})}
                                                  for k, r in self.effects.items()
                                                  if r.path == request.path and r.method == "POST"]})
        if method == "GET":
            return Response(404, {"errors": "Not Found"})
        if request.path.endswith("/fulfillments.json"):
            return Response(404, {"errors": "Not Found"})  # the legacy endpoint, gone since 2023-07
        canned = next((body for suffix, body in self.replies.items() if request.path.endswith(suffix)), None)
        if canned is not None:
            return Response(200, canned)
        refunds = request.path.endswith(SHOPIFY_REFUNDS)
        key = request.idempotency_key
        if key is not None and key in self._ids and not refunds:
            return Response(200, {"id": self._ids[key]})
        new_id = self._record(request, key, repeatable=refunds)
        return Response(201 if method == "POST" else 200, {"id": new_id})

    def _fulfil(self, request: Request) -> Response:
        body = request.body if isinstance(request.body, dict) else {}
        fulfillment = body.get("fulfillment")
        if not isinstance(fulfillment, dict):
            return Response(400, {"errors": {"fulfillment": "Required parameter missing or invalid"}})
        groups = fulfillment.get("line_items_by_fulfillment_order")
        tracking = fulfillment.get("tracking_info") or {}
        if not isinstance(groups, list) or not groups or not isinstance(tracking, dict) or \
                not isinstance(fulfillment.get("notify_customer", False), bool):
            return Response(422, {"errors": ["line_items_by_fulfillment_order is required"]})
        by_id = {fo["id"]: (oid, fo) for oid, fos in self.fulfillment_orders.items() for fo in fos}
        plan: list[tuple[dict, int]] = []
        order_ids = set()
        for group in groups:
            found = by_id.get(group.get("fulfillment_order_id")) if isinstance(group, dict) else None
            if found is None:
                return Response(404, {"errors": "Not Found"})
            oid, fo = found
            order_ids.add(oid)
            if fo["status"] not in ("open", "in_progress"):
                return Response(422, {"errors": [f"Fulfillment order {fo['id']} has an unfulfillable status= "
                                                 f"{fo['status']}."]})
            wanted = group.get("fulfillment_order_line_items")
            items = {i["id"]: i for i in fo["line_items"]}
            pairs = [(i["id"], i["fulfillable_quantity"]) for i in fo["line_items"] if i["fulfillable_quantity"]] \
                if wanted is None else [(w.get("id"), w.get("quantity")) for w in wanted if isinstance(w, dict)]
            for item_id, quantity in pairs:
                item = items.get(item_id)
                if item is None or not isinstance(quantity, int) or not 0 < quantity <= item["fulfillable_quantity"]:
                    return Response(422, {"errors": ["Invalid fulfillment order line item quantity requested."]})
                plan.append((item, quantity))
        if len(order_ids) != 1 or not plan:
            return Response(422, {"errors": ["Fulfillment orders must belong to the same order."]})
        oid = order_ids.pop()
        for item, quantity in plan:
            item["fulfillable_quantity"] -= quantity
        for fo in self.fulfillment_orders[oid]:
            if all(i["fulfillable_quantity"] == 0 for i in fo["line_items"]):
                fo["status"] = "closed"
        number = tracking.get("number")
        made = {"id": 255858000 + next(self._numbers), "order_id": int(oid) if oid.isdigit() else oid,
                "status": "success", "tracking_company": tracking.get("company"), "tracking_number": number,
                "tracking_numbers": [number] if number else [], "tracking_url": tracking.get("url"),
                "notify_customer": fulfillment.get("notify_customer", False),
                "line_items": [{"id": item["line_item_id"], "quantity": quantity} for item, quantity in plan]}
        self.fulfillments[oid].append(made)
        self._record(request, request.idempotency_key, repeatable=True)
        return Response(201, {"fulfillment": made})

    # -- WooCommerce ---------------------------------------------------------------------------
    def _woocommerce(self, request: Request) -> Response:
        refused = self._woo_refusal(request)
        if refused:
            return Response(401, {"code": "woocommerce_rest_authentication_error", "message": refused,
                                  "data": {"status": 401}})
        seg, method = request.segments[3:], request.method  # after wp-json, wc, v3
        if len(seg) < 2 or seg[0] != "orders":
            return Response(404, {"code": "rest_no_route", "message": "No route was found matching the URL and "
                                                                       "request method.", "data": {"status": 404}})
        oid = seg[1]
        with self.lock:
            if len(seg) == 2 and method == "PUT":
                status = (request.body or {}).get("status") if isinstance(request.body, dict) else None
                if status:
                    self.statuses[oid] = status
                key = request.idempotency_key
                if not (key is not None and key in self._ids):
                    self._record(request, key, repeatable=False)
                return Response(200, {"id": int(oid) if oid.isdigit() else oid, "status": self.statuses.get(oid)})
            if len(seg) == 3 and seg[2] in ("notes", "refunds"):
                store = self.notes if seg[2] == "notes" else self.refunds
                if method == "GET":
                    return Response(200, store.get(oid, []))
                if method == "POST" and isinstance(request.body, dict):
                    made = {"id": 280 + next(self._numbers), **request.body}
                    store[oid].append(made)
                    self._record(request, request.idempotency_key, repeatable=True)
                    return Response(201, made)
        return Response(404, {"code": "rest_no_route", "message": "No route was found matching the URL and request "
                                                                   "method.", "data": {"status": 404}})

    def _woo_refusal(self, request: Request) -> str | None:
        """Why WooCommerce's OAuth 1.0a check refuses ``request`` (None: it passes)."""
        params = dict(request.query)
        needed = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
        if any(not params.get(name) for name in needed):
            return "Sorry, you cannot list resources."  # no OAuth parameters: unauthenticated (Basic is https only)
        secret = self.woocommerce_keys.get(params["oauth_consumer_key"])
        if secret is None:
            return "Consumer key is invalid."
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return "Invalid signature - signature method is invalid."
        given = params.pop("oauth_signature").replace(" ", "+")
        base_uri = _wc_encode(f"{self.url}{request.path}")
        query = "%26".join(_wc_encode(f"{_wc_encode(k)}={_wc_encode(v)}") for k, v in sorted(params.items()))
        to_sign = f"{request.method}&{base_uri}&{query}"
        digest = hmac.new(f"{secret}&".encode(), to_sign.encode(),
                          hashlib.sha256 if method == "HMAC-SHA256" else hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), given):
            return "Invalid signature - provided signature does not match."
        try:
            stamp = int(params["oauth_timestamp"])
        except ValueError:
            return "Invalid timestamp."
        if stamp < time.time() - WOO_WINDOW:
            return "Invalid timestamp."
        with self.lock:
            nonce = f"{params['oauth_consumer_key']}:{params['oauth_nonce']}"
            if nonce in self.nonces:
                return "Invalid nonce - nonce has already been used."
            self.nonces.add(nonce)
        return None


def _wc_encode(text: str) -> str:
    """``wc_rest_urlencode_rfc3986``: PHP's rawurlencode with ``~`` left as it is."""
    return quote(text, safe="~")
