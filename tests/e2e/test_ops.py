"""Liveness, metrics and the OpenAPI document."""
from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


def test_health_metrics_and_openapi_are_served(api, seeded):
    assert httpx.get(f"{api}/healthz", timeout=5).json() == {"status": "ok"}
    httpx.get(f"{api}/v1/orders", timeout=5)
    metrics = httpx.get(f"{api}/metrics", timeout=5).text
    assert 'router_http_requests_total{endpoint="/v1/orders",method="GET",status="200"}' in metrics
    spec = httpx.get(f"{api}/openapi.json", timeout=5).json()
    for path in ("/v1/channels/{channel}/orders", "/v1/payments", "/v1/wms/{warehouse}/events",
                 "/v1/carriers/{carrier}/events", "/v1/orders", "/v1/orders/{order_id}", "/v1/stock",
                 "/v1/orders/{order_id}/cancel", "/v1/routing/simulate"):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/channels/{channel}/orders"]["post"]["requestBody"]
    assert "CanonicalOrder" in str(body)
