"""Routing rules (view, replace with validation and a new version), routing simulation, and the
replay of an order's stored routing decision."""
from __future__ import annotations

from flask import jsonify, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from adapters.http import auth
from adapters.http.errors import ApiError
from adapters.http.openapi import Open, responds
from adapters.http.rules_schema import RULES_SCHEMA
from adapters.http.schemas import ORDER_EXAMPLE, RulesSchema, RulesVersionSchema, SimulateQuerySchema
from adapters.http.views import plain
from adapters.schemas import CanonicalOrderSchema, to_domain
from documents import reference
from router.errors import InvalidDecisionRecord, InvalidRoutingRules
from router.rules import DEFAULT_RULES, RoutingRules
from services import routing as routing_service
from services import versioned_settings

blp = Blueprint("routing", __name__, description="Routing rules and simulation")


@blp.route("/v1/routing/rules", methods=["GET"])
@blp.alt_response(200, schema=RulesSchema, description="The rules in force", success=True)
def get_rules():
    auth.require_role(auth.Role.VIEWER)
    raw = reference.load_setting("routing_rules")
    return jsonify({"rules": raw or DEFAULT_RULES.to_dict(), "builtin": raw is None})


@blp.route("/v1/routing/rules", methods=["PUT"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": RULES_SCHEMA}}})
@blp.alt_response(200, schema=RulesVersionSchema, description="Stored: the version now in force", success=True)
@responds(403, 409)
def put_rules():
    """Replace the rules. They must parse and carry a version not used before."""
    actor = auth.require_role(auth.Role.ADMIN)
    raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise ApiError(400, "malformed_json", "body must be a JSON object of routing rules")
    try:
        stored = versioned_settings.replace(versioned_settings.ROUTING_RULES, raw, RoutingRules.from_dict, actor)
    except InvalidRoutingRules as exc:
        raise ApiError(422, "validation_failed", "the routing rules are invalid", {exc.field: [exc.message]}) from exc
    except versioned_settings.VersionUsed as exc:
        raise ApiError(409, "version_exists", f"rules version {exc.version!r} was used before: give a new one") from exc
    except versioned_settings.Replaced as exc:
        raise ApiError(409, "replaced_meanwhile", str(exc)) from exc
    return jsonify({"version": stored["version"]}), 200


@blp.route("/v1/routing/simulate", methods=["POST"])
@auth.role(auth.Role.VIEWER)
@blp.arguments(SimulateQuerySchema, location="query", unknown=RAISE, as_kwargs=True)
@blp.arguments(CanonicalOrderSchema, example=ORDER_EXAMPLE)
@blp.alt_response(200, schema=Open, description="The decision routing would take now; nothing reserved", success=True)
def simulate(data: dict, channel: str):
    """Route a posted canonical order against current stock and rules; nothing is reserved."""
    auth.require_role(auth.Role.VIEWER)
    return jsonify(plain(routing_service.simulate(to_domain("SIMULATION", channel, data))))


@blp.route("/v1/orders/<order_id>/routing/replay", methods=["GET"])
@blp.alt_response(200, schema=Open, description="The stored decision and its replay (same: true or false)", success=True)
@responds(409)
def replay_decision(order_id: str):
    """Re-run an order's routing decision from its recorded inputs with today's code: ``same``
    says whether it places the same units in the same warehouses with the same carriers. A
    changed rule set or network does not count: the recorded ones are used."""
    auth.require_role(auth.Role.VIEWER)
    try:
        return jsonify(routing_service.replay_decision(order_id))
    except routing_service.OrderNotFound as exc:
        raise ApiError(404, "not_found", f"unknown order {order_id!r}") from exc
    except routing_service.NoRecordedInputs as exc:
        raise ApiError(409, "no_recorded_inputs", f"order {order_id!r} has no recorded routing inputs "
                       "(not routed yet, rejected or held before routing, or its record was removed)") from exc
    except (InvalidDecisionRecord, InvalidRoutingRules) as exc:
        raise ApiError(409, "unreplayable", f"the recorded inputs cannot be replayed: {exc}") from exc
