"""Outbound webhooks (admin): subscriptions, the delivery log, and replaying a delivery.

Each event is POSTed as JSON, signed (``X-Router-Signature: t=<unix seconds>,v1=<hex>``, the hex
HMAC-SHA256 of ``<t>.<raw body>`` with the subscription's secret) and named by
``X-Router-Event-Id`` (the body's ``id``), which a receiver keeps to drop repeats: delivery is at
least once, and an order's events come in order (``sequence`` increases).
"""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from adapters.http import auth
from adapters.http.errors import ApiError
from router.webhooks import DELIVERED, FAILED, PENDING, TOPICS
from services import webhooks

blp = Blueprint("webhooks", __name__, description="Outbound webhooks: subscriptions, delivery log, replay")

_ID = validate.Length(min=1, max=120)


class SubscriptionInSchema(Schema):
    class Meta:
        unknown = RAISE

    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000))
    topics = fields.List(fields.String(validate=validate.OneOf(TOPICS)), required=True,
                         validate=validate.Length(min=1, max=len(TOPICS)))
    secret = fields.String(load_default=None, validate=validate.Length(min=16, max=200),
                           metadata={"description": "signing secret; one is made when left out"})
    description = fields.String(load_default=None, validate=validate.Length(max=200))


class SubscriptionSchema(Schema):
    id = fields.String(required=True)
    url = fields.String(required=True)
    topics = fields.List(fields.String(), required=True)
    description = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    created_by = fields.String(allow_none=True)


class CreatedSubscriptionSchema(SubscriptionSchema):
    secret = fields.String(required=True, metadata={"description": "shown this once"})


class SubscriptionListSchema(Schema):
    subscriptions = fields.List(fields.Nested(SubscriptionSchema), required=True)


class DeliveryQuerySchema(Schema):
    subscription_id = fields.String(validate=_ID)
    order_id = fields.String(validate=_ID)
    status = fields.String(validate=validate.OneOf([PENDING, DELIVERED, FAILED]))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class AttemptSchema(Schema):
    at = fields.AwareDateTime()
    attempt = fields.Integer()
    status = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


class DeliverySchema(Schema):
    id = fields.String(required=True)
    subscription_id = fields.String(required=True)
    order_id = fields.String(required=True)
    event_id = fields.String(required=True)
    topic = fields.String(required=True)
    sequence = fields.Integer(required=True)
    status = fields.String(required=True)
    attempts = fields.Integer(required=True)
    next_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    delivered_at = fields.AwareDateTime(allow_none=True)
    error = fields.String(allow_none=True)
    log = fields.List(fields.Nested(AttemptSchema))


class DeliveryListSchema(Schema):
    deliveries = fields.List(fields.Nested(DeliverySchema), required=True)


def subscription_view(doc: dict, with_secret: bool = False) -> dict:
    view = {"id": doc["_id"], **{k: doc.get(k) for k in ("url", "topics", "description", "created_at", "created_by")}}
    return {**view, "secret": doc["secret"]} if with_secret else view


def delivery_view(doc: dict) -> dict:
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k not in ("_id", "body", "held_by")}}


@blp.route("/v1/webhooks/subscriptions", methods=["POST"])
@auth.role(auth.Role.ADMIN)
@blp.alt_response(403, response="FORBIDDEN")  # an operator token without the admin role
@blp.arguments(SubscriptionInSchema)
@blp.response(201, CreatedSubscriptionSchema)
def create_subscription(data: dict):
    """Subscribe a URL to topics; the answer carries the signing secret, shown this once."""
    actor = auth.require_role(auth.Role.ADMIN)
    doc = webhooks.subscribe(data["url"], data["topics"], data.get("secret"), f"operator:{actor}",
                             data.get("description"))
    return subscription_view(doc, with_secret=True)


@blp.route("/v1/webhooks/subscriptions", methods=["GET"])
@auth.role(auth.Role.ADMIN)
@blp.alt_response(403, response="FORBIDDEN")  # an operator token without the admin role
@blp.response(200, SubscriptionListSchema)
def list_subscriptions():
    return {"subscriptions": [subscription_view(s) for s in webhooks.subscriptions()]}


@blp.route("/v1/webhooks/subscriptions/<subscription_id>", methods=["DELETE"])
@auth.role(auth.Role.ADMIN)
@blp.alt_response(403, response="FORBIDDEN")  # an operator token without the admin role
@blp.response(204)
def delete_subscription(subscription_id: str):
    """Stop a subscription: nothing more is sent to it; its delivery log stays."""
    actor = auth.require_role(auth.Role.ADMIN)
    try:
        webhooks.unsubscribe(subscription_id[:120], f"operator:{actor}")
    except webhooks.NotFound as exc:
        raise ApiError(404, "not_found", f"unknown subscription {subscription_id[:120]!r}") from exc
    return None


@blp.route("/v1/webhooks/deliveries", methods=["GET"])
@auth.role(auth.Role.ADMIN)
@blp.alt_response(403, response="FORBIDDEN")  # an operator token without the admin role
@blp.arguments(DeliveryQuerySchema, location="query", unknown=RAISE)
@blp.response(200, DeliveryListSchema)
def list_deliveries(query: dict):
    """The delivery log, newest first: each event per subscription, its attempts and outcome."""
    rows = webhooks.deliveries(query.get("subscription_id"), query.get("order_id"), query.get("status"),
                               query["limit"])
    return {"deliveries": [delivery_view(d) for d in rows]}


@blp.route("/v1/webhooks/deliveries/<delivery_id>/replay", methods=["POST"])
@auth.role(auth.Role.ADMIN)
@blp.alt_response(403, response="FORBIDDEN")  # an operator token without the admin role
@blp.response(202, DeliverySchema)
def replay_delivery(delivery_id: str):
    """Send a delivery again now (a failed one, or one the receiver lost), with a new day of
    retries; the order's later events follow it."""
    actor = auth.require_role(auth.Role.ADMIN)
    try:
        return delivery_view(webhooks.replay(delivery_id[:300], f"operator:{actor}"))
    except webhooks.NotFound as exc:
        raise ApiError(404, "not_found", f"unknown delivery {delivery_id[:300]!r}") from exc
