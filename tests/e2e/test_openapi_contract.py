"""The OpenAPI contract (issue 18, item 8): ``/openapi.json`` is public and a valid OpenAPI 3
document whose numbers are numbers, whose error answers are the API's real ``{"error": {...}}``
shape, and which declares every answer an operation gives; and schemathesis, run against the live
router with an admin token over every operation, finds no server error, no answer that breaks the
document and no valid request refused. Its figures are printed at the end of the run."""
from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path

import httpx
import jsonschema
import pytest
import schemathesis
from openapi_spec_validator import validate as validate_openapi
from schemathesis.engine import Status, events, from_schema

from router.money import currency_quantum
from router.risk import blacklist_key, normal
from tests.e2e.conftest import CONTRACT_FIGURES

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": "Bearer test-admin"}
NUMERIC = {"minimum", "maximum", "multipleOf", "minLength", "maxLength", "minItems", "maxItems",
           "minProperties", "maxProperties"}
MAX_EXAMPLES = 25  # per operation and phase: the whole run stays within a few minutes on 2 cores
ARTIFACT = Path(__file__).parents[1] / "artifacts" / "openapi-contract.json"
# The checks whose failures must be zero, by what they guard
SERVER_ERRORS = {"not_a_server_error"}
BROKEN_DOCUMENT = {"status_code_conformance", "content_type_conformance", "response_schema_conformance",
                   "response_headers_conformance", "unsupported_method", "allow_header_conformance"}
VALID_REFUSED = {"positive_data_acceptance"}


def _document(api: str) -> dict:
    response = httpx.get(f"{api}/openapi.json", timeout=10)  # no token: the document is public
    assert response.status_code == 200, response.text[:300]
    return response.json()


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield path, method, operation


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = spec["components"][kind][name]
    return node


def test_the_document_is_public_and_a_valid_openapi_3_document(api):
    spec = _document(api)
    validate_openapi(spec)  # raises on any violation of the OpenAPI 3.0 specification
    assert spec["openapi"].startswith("3.")
    assert httpx.get(f"{api}/openapi.json", headers={"Authorization": "Bearer nonsense"}, timeout=10).status_code == 200


def test_numbers_are_numbers_and_amounts_are_decimal_strings_with_their_rules(api):
    spec = _document(api)
    # Every numeric keyword holds a number (16 bounds were strings: "maximum": "100000000")
    wrong = [(".".join(map(str, path)), key, value) for path, node in _walk(spec) for key, value in node.items()
             if key in NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float)))]
    assert wrong == []
    # and every default has its schema's type
    kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list, "object": dict}
    mismatched = [".".join(map(str, path)) for path, node in _walk(spec)
                  if node.get("default") is not None and node.get("type") in kinds
                  and not isinstance(node["default"], kinds[node["type"]])]
    assert mismatched == []
    # A money amount is a decimal string: its places and its range are in the pattern
    amount = spec["components"]["schemas"]["PaymentNotice"]["properties"]["amount"]
    assert amount["type"] == "string"
    for good in ("0", "12.5", "12.3456", "99999999.9999", "100000000", "100000000.00"):
        assert re.fullmatch(amount["pattern"], good), good
    for bad in ("12.34567", "-1", "100000000.01", "100000001", "1e5", "", "12."):
        assert not re.fullmatch(amount["pattern"], bad), bad
    rate = spec["components"]["schemas"]["OrderLine"]["properties"]["tax_rate"]
    assert re.fullmatch(rate["pattern"], "0.123456") and not re.fullmatch(rate["pattern"], "1.5")
    # Ids in paths have the shape the API issues
    parameters = {p["name"]: p["schema"] for _, item in spec["paths"].items() for p in item.get("parameters", [])}
    assert re.fullmatch(parameters["order_id"]["pattern"], "O261204DAC4B95569")
    assert re.fullmatch(parameters["case_id"]["pattern"], "O261204DAC4B95569-AS2")
    assert not re.fullmatch(parameters["order_id"]["pattern"], "O1/../x")


def test_error_answers_are_declared_in_the_shape_the_api_gives(api, seeded):
    spec = _document(api)
    error_schema = spec["components"]["schemas"]["Error"]
    assert error_schema["required"] == ["error"]
    detail = _resolve(spec, error_schema["properties"]["error"])
    assert sorted(detail["required"]) == ["code", "details", "message"]
    # No catch-all: every error answer is declared by status, and is that shape
    for path, method, operation in _operations(spec):
        assert "default" not in operation["responses"], (method, path)
        for code, response in operation["responses"].items():
            if int(code) >= 400:
                declared = _inline(spec, _resolve(spec, response)["content"]["application/json"]["schema"])
                assert declared["required"] == ["error"], (method, path, code)
                assert sorted(declared["properties"]["error"]["required"]) == ["code", "details", "message"], \
                    (method, path, code)
    for code in ("429", "503"):
        assert spec["components"]["responses"][f"{_name(code)}"]["headers"]["Retry-After"]["required"]
    # The API's real error answers validate against it
    resolver_spec = {**error_schema, "components": spec["components"]}
    answers = [httpx.get(f"{api}/v1/orders/O000000000", headers=ADMIN, timeout=5),            # 404
               httpx.get(f"{api}/v1/orders", params={"limit": 0}, headers=ADMIN, timeout=5),  # 422
               httpx.get(f"{api}/v1/orders", timeout=5),                                      # 401
               httpx.post(f"{api}/v1/payments", content=b"x", headers={**ADMIN, "Content-Type": "text/plain"},
                          timeout=5),                                                         # 415
               httpx.request("TRACE", f"{api}/v1/orders", timeout=5)]                         # 405
    assert [a.status_code for a in answers] == [404, 422, 401, 415, 405]
    for answer in answers:
        jsonschema.validate(answer.json(), _inline(spec, resolver_spec))


def _name(code: str) -> str:
    return HTTPStatus(int(code)).name


def _inline(spec: dict, node):
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(spec, _resolve(spec, node))
        return {k: _inline(spec, v) for k, v in node.items() if k != "components"}
    if isinstance(node, list):
        return [_inline(spec, v) for v in node]
    return node


def test_every_operation_declares_what_it_can_answer(api):
    spec = _document(api)
    problems = []
    for path, method, operation in _operations(spec):
        codes = set(operation["responses"])
        where = f"{method.upper()} {path}"
        if not any(c.startswith("2") for c in codes):
            problems.append(f"{where}: no success answer")
        if path != "/healthz":
            if "401" not in codes or operation.get("security") != [{"bearerAuth": []}]:
                problems.append(f"{where}: no 401 / bearer security")
            if path != "/metrics" and "503" not in codes:
                problems.append(f"{where}: no 503")
        if "requestBody" in operation and not {"400", "413", "415", "422"} <= codes:
            problems.append(f"{where}: a body without 400 / 413 / 415 / 422")
        if method != "get" and "429" not in codes:
            problems.append(f"{where}: changes something without 429")
        if "{" in path and "404" not in codes:
            problems.append(f"{where}: names something without 404")
    assert problems == []
    assert spec["paths"]["/healthz"]["get"]["security"] == []


def test_trace_and_other_methods_a_path_does_not_take_are_405_with_allow(api):
    for path in ("/v1/orders", "/healthz", "/v1/payments", "/v1/orders/O261204DAC4B95569/cancel"):
        answer = httpx.request("TRACE", f"{api}{path}", headers=ADMIN, timeout=5)
        assert answer.status_code == 405, (path, answer.status_code)
        allowed = {m.strip() for m in answer.headers["Allow"].split(",")}
        assert allowed and "TRACE" not in allowed, (path, allowed)
        assert answer.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in httpx.request("TRACE", f"{api}/v1/payments", timeout=5).headers["Allow"]
    assert httpx.delete(f"{api}/v1/orders", headers=ADMIN, timeout=5).headers["Allow"]


# --- schemathesis against the live router ---------------------------------------------------------

def test_schemathesis_finds_no_server_error_no_broken_answer_and_no_valid_request_refused(
        api, seeded, settings_with, request):
    settings_with(rate_limit_per_second=0)  # a contract run, not a load test: no 429s to hide answers behind
    config = schemathesis.Config.from_dict({
        "headers": ADMIN,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        # Invalid requests are sent too (no 5xx, answers as declared); but a decimal the document
        # gives as a string is also read as a JSON number, by design, so that one check is off
        "checks": {"negative_data_rejection": {"enabled": False}},
        "cache": {"enabled": False},  # every run from scratch: nothing remembered in .schemathesis/
    })
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json", config=config)  # fetched without a token
    schema.hook(map_case)
    started = time.monotonic()
    figures = _run(schema)
    figures["seconds"] = round(time.monotonic() - started, 1)
    operations = {f"{m.upper()} {p}" for p, m, _ in _operations(_document(api))}
    figures["operations_in_document"] = len(operations)
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, indent=1))
    request.config.stash.setdefault(CONTRACT_FIGURES, []).append(_summary(figures))

    failures = figures["failures_by_check"]
    assert figures["errors"] == [], figures["errors"]
    assert operations <= set(figures["operations_tested"]), sorted(operations - set(figures["operations_tested"]))
    assert figures["cases"] >= 10 * len(operations)
    assert {c: n for c, n in failures.items() if c in SERVER_ERRORS | BROKEN_DOCUMENT | VALID_REFUSED} == {}, \
        "\n".join(figures["examples"])
    assert failures == {}, "\n".join(figures["examples"])


def _run(schema) -> dict:
    cases, tested, failures, examples, errors = 0, set(), Counter(), [], []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            tested.add(recorder.label)
            cases += len(recorder.cases)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE:
                        continue
                    failures[check.name] += 1
                    if len(examples) < 30 and check.failure_info is not None:
                        answer = recorder.interactions.get(case_id)
                        shown = "" if answer is None or answer.response is None else \
                            f" -> {answer.response.status_code} {answer.response.content[:300]!r}"
                        failure = check.failure_info.failure
                        examples.append(f"{check.name} {recorder.label}: {failure.title}: {failure.message[:400]}\n"
                                        f"  {check.failure_info.code_sample[:1500]}{shown}")
        elif isinstance(event, (events.NonFatalError, events.FatalError)):
            errors.append(f"{getattr(event, 'label', 'fatal')}: {getattr(event, 'value', None) or event.exception}"[:500])
    return {"cases": cases, "operations_tested": sorted(tested), "failures_by_check": dict(failures),
            "errors": errors, "examples": examples}


def _summary(figures: dict) -> str:
    by_check = ", ".join(f"{k} {v}" for k, v in sorted(figures["failures_by_check"].items())) or "none"
    labels = figures["operations_tested"]
    return (f"schemathesis (all operations, admin token, max {MAX_EXAMPLES} examples per operation and phase, "
            f"derandomized): {figures['cases']} cases over {len(labels)} scenarios "
            f"({figures['operations_in_document']} operations in the document) in {figures['seconds']} s; "
            f"failures by check: {by_check}; errors: {len(figures['errors'])}")


# --- rules the document states in prose, taught to the generator --------------------------------
# JSON Schema cannot say these (each is in its field's description, and the API answers 422 naming
# the field); a request schemathesis generates is brought within them before it is sent, so a 422
# is never "a valid request refused" for a rule the document could not state.

def map_case(context, case):
    meta = case.meta
    if meta is not None and not meta.generation.mode.is_positive:
        return case  # a negative case stays as generated
    label = f"{case.method.upper()} {case.operation.path}"
    body = case.body if isinstance(case.body, dict) else None
    if body is not None and label in ("POST /v1/channels/{channel}/orders", "POST /v1/routing/simulate"):
        _within_order_rules(body)
    if body is not None and label in ("PATCH /v1/orders/{order_id}/shipping-address",
                                      "PATCH /v1/customer/orders/{order_id}/shipping-address"):
        _within_address_rules(body.get("address"))
    if body is not None and label == "POST /v1/payments" and body.get("occurred_at"):
        body["occurred_at"] = _within(body["occurred_at"], _EARLIEST_EVENT, _now() + timedelta(hours=1))
    if body is not None and label == "PUT /v1/routing/rules":
        _within_rules_rules(body)
    if body is not None and label.endswith("/after-sales"):
        _within_case_rules(body)
    if body is not None and label == "PUT /v1/risk/rules":
        _within_risk_rules(body)
    query = case.query if isinstance(case.query, dict) else None
    if query is not None and label == "GET /v1/orders":
        query.pop("cursor", None)  # only a next_cursor the API gave out is one
        for key in ("placed_from", "placed_to"):
            if key in query:
                query[key] = _within(query[key], _EARLIEST_QUERY, _LATEST_QUERY)
    if query is not None and label.startswith("GET /v1/reports/"):
        _within_report_range(query)
    return case


_EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=timezone.utc)
_EARLIEST_QUERY = datetime(1900, 1, 1, tzinfo=timezone.utc)
_LATEST_QUERY = datetime(8999, 12, 31, tzinfo=timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _within(value, earliest: datetime, latest: datetime) -> str:
    """``value`` (an ISO time) when it is between the two, else the earliest allowed."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is not None and earliest <= moment <= latest:
            return value
    except (ValueError, OverflowError):
        pass
    return earliest.isoformat()


def _within_order_rules(order: dict) -> None:
    """An order placed from 2000 to a day ahead; a merchant for every line; amounts in the
    currency's minor unit; tax no more than a tax-inclusive price; shipping tax with a fee."""
    if "placed_at" in order:
        order["placed_at"] = _within(order["placed_at"], _EARLIEST_EVENT, _now())
    lines = [line for line in order.get("lines") or [] if isinstance(line, dict)]
    if not order.get("merchant_id") and any(not line.get("merchant_id") for line in lines):
        order["merchant_id"] = "m1"
    quantum = currency_quantum(order["currency"]) if isinstance(order.get("currency"), str) else Decimal("0.01")
    amounts = [(line, key) for line in lines for key in ("unit_price", "discount", "tax")]
    amounts += [(d, "amount") for d in order.get("discounts") or [] if isinstance(d, dict)]
    amounts += [(order, key) for key in ("shipping_fee", "shipping_tax", "stated_total")]
    for holder, key in amounts:
        if holder.get(key) is not None:
            holder[key] = str((Decimal(str(holder[key])) // quantum) * quantum)
    for line in lines:
        if order.get("prices_include_tax") and line.get("tax") is not None and line.get("unit_price") is not None:
            net = Decimal(line["unit_price"]) * line.get("quantity", 1) - Decimal(line.get("discount") or 0)
            if Decimal(line["tax"]) > max(net, Decimal(0)):
                line["tax"] = "0"
    fee, tax = order.get("shipping_fee"), Decimal(order.get("shipping_tax") or 0)
    if tax and (fee is None or (order.get("prices_include_tax") and tax > Decimal(fee))):
        order["shipping_tax"] = "0"
    _within_address_rules(order.get("shipping_address"))


def _within_address_rules(address) -> None:
    """A region code with a country part names the address's own country."""
    if isinstance(address, dict) and "-" in (address.get("region_code") or "") and address.get("country"):
        address["region_code"] = f"{address['country']}-{address['region_code'].split('-', 1)[1]}"


def _within_rules_rules(rules: dict) -> None:
    """Strategy names unique, min_order_value at most max_order_value, one template per owner,
    carrier rate cards keyed by a carrier id (not empty)."""
    if isinstance(rules.get("carrier_rates"), dict):
        rules["carrier_rates"] = {k: v for k, v in rules["carrier_rates"].items() if k}
    for i, strategy in enumerate(rules.get("strategies") or []):
        if isinstance(strategy, dict):
            strategy["name"] = f"{strategy.get('name')}-{i}"
            when = strategy.get("when")
            if isinstance(when, dict) and when.get("min_order_value") is not None \
                    and when.get("max_order_value") is not None \
                    and Decimal(when["min_order_value"]) > Decimal(when["max_order_value"]):
                when["min_order_value"], when["max_order_value"] = when["max_order_value"], when["min_order_value"]
    templates, owners = [], set()
    for template in rules.get("shipping_templates") or []:
        owner = (template.get("warehouse"), template.get("merchant") if template.get("warehouse") is None else None)
        if owner not in owners:
            owners.add(owner)
            templates.append(template)
    if "shipping_templates" in rules:
        rules["shipping_templates"] = templates


def _within_risk_rules(rules: dict) -> None:
    """A blacklist lists a value once (after normalising it); merchant ids are printable text."""
    if isinstance(rules.get("merchants"), dict):
        rules["merchants"] = {m: t for m, t in rules["merchants"].items()
                              if 0 < len(m) <= 100 and m.isprintable() and not m.startswith("$")}
    for kind, entries in (rules.get("blacklist") or {}).items():
        seen, kept = set(), []
        for entry in entries:
            key = (blacklist_key(kind, entry["value"].strip()), normal(str(entry.get("postcode") or "")))
            if key not in seen:
                seen.add(key)
                kept.append(entry)
        rules["blacklist"][kind] = kept


def _within_case_rules(case: dict) -> None:
    """A refund needs an amount above 0; lines are the order's own, which a generator cannot know."""
    if case.get("type") != "exchange" and Decimal(str(case.get("amount") or 0)) <= 0:
        case["amount"] = "0.01"
    case["lines"] = []


def _within_report_range(query: dict) -> None:
    """``from`` and ``to`` between 1900 and 9000, ``to`` after ``from`` and at most 3 years on:
    a day from ``from`` (when it is a time in range), else a day of 2026."""
    if "from" not in query and "to" not in query:
        return
    begin = datetime.fromisoformat(_within(query.get("from"), _EARLIEST_QUERY, _LATEST_QUERY).replace("Z", "+00:00"))
    if begin == _EARLIEST_QUERY:
        begin = datetime(2026, 1, 1, tzinfo=timezone.utc)
    query["from"], query["to"] = begin.isoformat(), (begin + timedelta(days=1)).isoformat()
