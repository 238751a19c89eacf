"""Fixtures for browser tests: headless Chromium (Debian's ``chromium``) driven by Playwright,
the operator tokens the console signs in with, and the e2e world (API, worker, simulators)."""
from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

import config

from tests.e2e.conftest import carrier, seeded, wms  # noqa: F401  (the e2e fixtures, reused)
from tests.helpers import eventually

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TOKENS = {"operator": "op-token-1", "viewer": "view-token-1", "admin": "admin-token-1"}


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is missing: pip install playwright (no 'playwright install' needed)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def operator_tokens(settings_with):
    own = ",".join(f"{role}-user:{role}:{tok}" for role, tok in TOKENS.items())
    settings_with(api_tokens=f"{own},{config.get_settings().api_tokens}")  # keep the suite's own
    return TOKENS


@pytest.fixture
def page(browser, operator_tokens, request):
    context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() of cancel / bulk buttons
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=True)


def login(page, api: str, role: str = "operator") -> None:
    page.goto(f"{api}/console/orders")
    page.fill("input[name=token]", TOKENS[role])
    page.click("button[type=submit]")
    page.wait_for_selector("table#orders")


def api_get(api: str, path: str, **params) -> dict:
    response = httpx.get(f"{api}{path}", params=params, timeout=5,
                         headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    response.raise_for_status()
    return response.json()


def push_order(api: str, body: dict) -> str:
    response = httpx.post(f"{api}/v1/channels/manual/orders", json=body, timeout=5,
                          headers={"Authorization": f"Bearer {TOKENS['operator']}"})
    assert response.status_code == 202, response.text
    return response.json()["order_id"]


def routed(api: str, order_id: str) -> dict:
    return eventually(lambda: (o := api_get(api, f"/v1/orders/{order_id}"))["routing"]["state"] == "routed" and o,
                      what=f"{order_id} routed")
