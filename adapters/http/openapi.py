"""The OpenAPI 3 document at ``/openapi.json``: public, valid, and saying what the API answers.

flask-smorest builds it from the views and their marshmallow schemas; this module makes it true:

- **errors in the router's shape**: every error response is ``{"error": {"code", "message",
  "details"}}`` (adapters/http/errors.py), declared per status (no catch-all ``default``), 429 and
  503 with their ``Retry-After`` header;
- **every response declared**: the answers every operation of a kind can give come from
  :class:`ContractPlugin` (401 without credentials, 400 / 413 / 415 / 422 for a body, 404 for a
  path naming something, 429 for a call that changes something, 503 when the database or broker is
  down), the rest from each view (its success answers, :func:`responds` for 403, 409, ...);
- **numbers as numbers, decimals as decimal strings**: a money amount is documented as the decimal
  string the API gives out, with its places and range in a ``pattern`` (``"12.50"``; a JSON number
  is read too), never as a number with string bounds;
- **ids as the API issues them**: each path parameter has its ``pattern`` (:data:`PATH_IDS`).

Rules that JSON Schema cannot state (an amount no finer than its currency's minor unit, an order
placed between 2000 and a day ahead, ``to`` after ``from``...) are in the fields' descriptions;
the API answers 422 naming the field.
"""
from __future__ import annotations

import http
from copy import deepcopy
from decimal import Decimal

from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields, validate

PUBLIC = {"/healthz"}  # and /openapi.json itself, which is no operation
NO_STORAGE = {"/healthz", "/metrics"}  # answer without the database or the broker
CHANGES = {"post", "put", "patch", "delete"}
BEARER = "bearerAuth"
JSON_ERRORS_WITH_BODY = (400, 413, 415, 422)

_NAME = r"[A-Za-z0-9_.~-]{1,100}"
_ORDER = r"O[0-9A-F]{6,20}"
# Path parameters, by name: the shape of what the API issues or is configured with. A value of
# another shape names nothing (404), except a malformed after-sales case id (422).
PATH_IDS = {
    "order_id": {"type": "string", "pattern": f"^{_ORDER}$", "example": "O261204DAC4B95569",
                 "description": "an order id as the API issued it"},
    "fulfilment_id": {"type": "string", "pattern": f"^{_ORDER}-F[0-9]{{1,4}}$", "example": "O261204DAC4B95569-F1"},
    "case_id": {"type": "string", "pattern": f"^{_ORDER}-AS[0-9]{{1,3}}$", "example": "O261204DAC4B95569-AS1"},
    "session_id": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                   "description": "the SHA-256 of a console session's cookie id (GET /v1/sessions)"},
    "message_id": {"type": "string", "pattern": "^[A-Za-z0-9-]{1,100}$",
                   "description": "a dead letter's message id (GET /v1/dead-letters)"},
    "number": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,60}$", "description": "a document's number"},
    "channel": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,60}$", "example": "manual",
                "description": "a channel configured in the seed (else 404)"},
    "warehouse": {"type": "string", "pattern": f"^{_NAME}$", "example": "WH-EAST"},
    "carrier": {"type": "string", "pattern": f"^{_NAME}$", "example": "fastship"},
}


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "machine-readable: not_found, validation_failed, ..."})
    message = fields.String(required=True)
    details = fields.Dict(required=True, metadata={
        "description": "each bad field's path with its messages; for a 409 the current state and the allowed commands"})


class ErrorSchema(Schema):
    """Every error the API answers: ``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorDetailSchema, required=True)


RETRY_AFTER = {"description": "seconds to wait before trying again", "required": True,
               "schema": {"type": "integer", "minimum": 1}}
HEADERS = {
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
    405: {"Allow": {"description": "the methods the path takes", "required": True, "schema": {"type": "string"}}},
}
DESCRIPTIONS = {
    400: "Malformed JSON, or JSON that is not UTF-8",
    401: "No valid credentials (bearer token, or the party's signature)",
    403: "The caller's role may not do this",
    404: "Nothing of that id (or not the caller's)",
    409: "The current state forbids it (details: the current state and the allowed commands)",
    413: "The body is larger than ROUTER_MAX_BODY_BYTES",
    415: "The body is not application/json in UTF-8",
    422: "Invalid fields (details: each field's path and messages)",
    429: "Over the caller's rate limit: try again after Retry-After",
    503: "The database or the broker cannot be reached: try again after Retry-After",
}


def decimal_pattern(places: int | None, minimum: Decimal | None, maximum: Decimal | None) -> str:
    """A regular expression for the decimal strings from ``minimum`` (0 or None) to ``maximum``
    with at most ``places`` decimal places; a power of ten as ``maximum`` is spelled exactly."""
    fraction = r"(?:\.[0-9]+)?" if places is None else (rf"(?:\.[0-9]{{1,{places}}})?" if places else "")
    zeros = "" if not places else rf"(?:\.0{{1,{places}}})?"
    sign = "-?" if minimum is None or minimum < 0 else ""
    exponent = None if maximum is None or maximum <= 0 else maximum.log10()
    if exponent is not None and exponent == exponent.to_integral_value():
        digits = int(exponent)
        whole = "0" if digits == 0 else f"[0-9]{{1,{digits}}}"
        return f"^(?:{sign}{whole}{fraction}|{int(maximum)}{zeros})$"
    return f"^{sign}[0-9]+{fraction}$"


class ContractConverter(OpenAPIConverter):
    """Marshmallow fields to OpenAPI: Decimal fields as decimal strings (places and range in the
    pattern, bounds never as strings), other bounds as numbers."""

    def init_attribute_functions(self):
        super().init_attribute_functions()
        self.attribute_functions.extend([self.decimal2string, self.choices2enum, self.url2pattern])

    def url2pattern(self, field, ret, **kwargs) -> dict:
        """A URL field: ``format: uri`` and a pattern of the absolute URLs with a domain name it takes."""
        if not isinstance(field, fields.Url) or "pattern" in ret:
            return {}
        schemes = sorted(next((v.schemes for v in field.validators if isinstance(v, validate.URL)), None)
                         or ("http", "https"))
        label = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
        return {"format": "uri", "pattern": (f"^(?:{'|'.join(schemes)})://(?:{label}\\.)+[a-z]{{2,6}}"
                                             "(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?$")}

    def choices2enum(self, field, ret, **kwargs) -> dict:
        """An Enum field narrowed by a OneOf validator lists the values it takes, not all the Enum's."""
        narrowed = [v for v in field.validators if isinstance(v, validate.OneOf)]
        if "enum" not in ret or not narrowed:
            return {}
        allowed = {getattr(choice, "value", choice) for v in narrowed for choice in v.choices}
        return {"enum": [value for value in ret["enum"] if value in allowed or value is None]}

    def field2range(self, field, ret) -> dict:
        if isinstance(field, fields.Decimal):
            return {}  # in decimal2string's pattern
        return super().field2range(field, ret)

    def decimal2string(self, field, ret, **kwargs) -> dict:
        if not isinstance(field, fields.Decimal):
            return {}
        ranges = [v for v in field.validators if isinstance(v, validate.Range)]
        places = next((v.places for v in field.validators if hasattr(v, "places")), None)
        low = max((Decimal(v.min) for v in ranges if v.min is not None), default=None)
        high = min((Decimal(v.max) for v in ranges if v.max is not None), default=None)
        out = {"type": "string", "pattern": decimal_pattern(places, low, high)}
        if "description" not in ret:
            span = f" from {low} to {high}" if low is not None and high is not None else ""
            fine = f", at most {places} decimal places" if places is not None else ""
            out["description"] = f"a decimal string{span}{fine} (a JSON number is read too)"
        return out


class ContractMarshmallowPlugin(MarshmallowPlugin):
    Converter = ContractConverter


class ContractPlugin(BasePlugin):
    """The answers every operation of a kind can give, path parameters' shapes, and who may call."""

    def init_spec(self, spec):
        super().init_spec(spec)
        spec.components.security_scheme(BEARER, {
            "type": "http", "scheme": "bearer",
            "description": "An operator token (ROUTER_API_TOKENS: viewer, operator or admin), the payment "
                           "service's, or a channel's, warehouse's or carrier's own token. Signed platform "
                           "webhooks (Shopify, WooCommerce, Taobao, Qimen, ShipHero, AfterShip, EasyPost, "
                           "17TRACK) are let in by their signature headers instead."})

    def path_helper(self, path=None, operations=None, parameters=None, **kwargs):
        for parameter in parameters or []:
            if isinstance(parameter, dict) and parameter.get("in") == "path" and parameter["name"] in PATH_IDS:
                parameter["schema"] = deepcopy(PATH_IDS[parameter["name"]])
        return None

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            declared = {str(code) for code in responses}

            def add(code: int, declared=declared, responses=responses) -> None:
                if str(code) not in declared:
                    responses[str(code)] = http.HTTPStatus(code).name
                    declared.add(str(code))

            if path in PUBLIC:
                operation["security"] = []
                continue
            operation["security"] = [{BEARER: []}]
            add(401)
            if "{" in path:
                add(404)
            if "requestBody" in operation:
                for code in JSON_ERRORS_WITH_BODY:
                    add(code)
            if method in CHANGES:
                add(429)
            if path not in NO_STORAGE:
                add(503)
            operation["responses"] = dict(sorted(responses.items(), key=lambda item: str(item[0])))


class RouterApi(Api):
    """flask-smorest's Api with the router's error shape and no catch-all ``default`` response."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self):
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": DESCRIPTIONS.get(status, status.phrase), "schema": self.ERROR_SCHEMA}
            if status in HEADERS:
                response["headers"] = deepcopy(HEADERS[status])
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


def create_api(app) -> RouterApi:
    return RouterApi(app, spec_kwargs={"marshmallow_plugin": ContractMarshmallowPlugin(),
                                       "extra_plugins": [ContractPlugin()]})


def responds(*codes: int):
    """Declare error answers a view gives beyond those of its kind (:class:`ContractPlugin`):
    ``@responds(403, 409)``. Documentation only."""
    def decorate(view):
        doc = deepcopy(getattr(view, "_apidoc", {}))
        responses = doc.setdefault("response", {}).setdefault("responses", {})
        for code in codes:
            responses.setdefault(code, []).append(http.HTTPStatus(code).name)
        view._apidoc = doc
        return view
    return decorate


class Open(Schema):
    """A response object: the fields listed are there, others may be too."""

    class Meta:
        unknown = INCLUDE
