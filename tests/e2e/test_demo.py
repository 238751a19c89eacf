"""``orderrouter demo`` (issue 19, item 5): with ``--url`` and ``--token`` it pushes generated orders
into a router already running (here the tests' API, worker and simulators, seeded with
examples/seed.yaml as ``orderrouter up`` seeds it), where they stay and settle; the throwaway
mode removes its ``.run/demo-<id>/`` directory when done (kept only when the caller says so)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters import cli, demo
from adapters.seed import load_world, read
from tests.helpers import http

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded_like_up(api, db, monkeypatch):
    """examples/seed.yaml with its WMS and carriers on the simulators ``up`` starts (free ports)."""
    monkeypatch.setattr(cli, "PARTY_TTL", 0.0)
    sims = cli._start_simulators(api, wms_port=0, carrier_port=0, step_delay=0.05)
    world = read("examples/seed.yaml")
    for w in world["warehouses"]:
        w["wms_url"] = sims[0].url
    for c in world["carriers"]:
        c["api_url"] = sims[1].url
    load_world(world)
    yield world
    for sim in sims:
        sim.stop()


def test_demo_with_url_pushes_into_the_running_router_and_its_orders_stay(api, worker, seeded_like_up):
    before = {o["order_id"] for o in http.get(f"{api}/v1/orders", params={"limit": 500}).json()["orders"]}
    out = CliRunner().invoke(cli.main, ["demo", "--url", api, "--token", "test-admin", "--orders", "6",
                                        "--timeout", "90"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "6 orders, 6 accepted, 0 refused" in out.output
    listed = http.get(f"{api}/v1/orders", params={"limit": 500, "channel": "manual"}).json()["orders"]
    mine = [o for o in listed if o["order_id"] not in before]
    assert len(mine) == 6 and all(o["channel_order_id"].startswith("DEMO-") for o in mine)
    assert all(demo.settled(http.get(f"{api}/v1/orders/{o['order_id']}").json()) for o in mine)
    again = CliRunner().invoke(cli.main, ["demo", "--url", api, "--token", "test-admin", "--orders", "2",
                                          "--timeout", "90"], catch_exceptions=False)
    assert "2 orders, 2 accepted" in again.output  # a second run makes new orders, not duplicates


def test_demo_with_url_needs_a_token_and_a_router(api):
    assert "--url needs --token" in CliRunner().invoke(cli.main, ["demo", "--url", api]).output
    out = CliRunner().invoke(cli.main, ["demo", "--url", "http://127.0.0.1:9", "--token", "x"])
    assert out.exit_code == 1 and "Error" in out.output


def test_throwaway_demo_removes_its_directory_when_done(mongo_url, broker, tmp_path):
    """The whole throwaway router as a user runs it (its own API and worker processes, simulators,
    a fresh database and queues), in a data directory of its own: nothing is left there after."""
    env = {**os.environ, "ROUTER_DATA_DIR": str(tmp_path), "ROUTER_MONGO_URL": mongo_url}
    run = subprocess.run([sys.executable, "-m", "adapters.cli", "demo", "--orders", "3", "--workers", "1",
                          "--timeout", "120"], env=env, capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[2])
    assert run.returncode == 0, run.stderr[-3000:]
    assert "3 orders, 3 accepted" in run.stdout
    assert not list(tmp_path.glob("demo-*")), list(tmp_path.iterdir())
