"""A RabbitMQ cluster that loses a node: three private RabbitMQ nodes on this machine joined into
one cluster (tests/chaos/infra.RabbitCluster), the router on it with ``ROUTER_QUEUE_TYPE=quorum``
and ``ROUTER_AMQP_URL`` listing the three nodes; orders pushed and paid through the API, and the
node every client is connected to (the first listed, which also leads every queue) SIGKILLed once
a sixth of the orders' delivery orders reached the WMS. Afterwards every queue is a quorum queue led by
a surviving node, the clients are on a surviving node, every accepted order is settled exactly
once, no fulfilment reached the WMS twice or never, nothing is dead-lettered, stock and money are
conserved. About 1.5-2 minutes (the cluster takes about 25 s to form); CLUSTER_ORDERS sets the
orders (120)."""
from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter

import pytest

import config
from adapters.demo import generate_orders
from tests.chaos.harness import ADMIN_TOKEN, ChaosConfig, ChaosResult, chaos_router, check, push_and_pay
from tests.chaos.infra import RabbitCluster
from tests.settle_poll import wait_settled_in_db

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(480)]

LOST = 0  # the node lost: the first listed, so every client is on it and it leads every queue
KILL_WAIT_S = 90.0  # the node goes at a sixth of the delivery orders, or this long into the load
RESUME_WAIT_S = 90.0


@pytest.fixture
def isolated_settings(monkeypatch):
    """The run's own processes get their URLs explicitly; keep this process's defaults out."""
    monkeypatch.delenv("ROUTER_MONGO_URL", raising=False)
    config.use(None)
    yield
    config.use(None)


def _queues(cluster: RabbitCluster, prefix: str) -> list[dict]:
    return [q for q in cluster.list_queues("name", "type", "leader", "members", "online", "messages")
            if q["name"].startswith(prefix + ".")]


def _connections_by_node(cluster: RabbitCluster) -> dict[str, int]:
    """Client connections per node (each node has its own AMQP port)."""
    node_of = {n.port: n.node for n in cluster.nodes}
    via = next(n for n in cluster.nodes if n.alive())
    return dict(Counter(node_of.get(c["port"], str(c["port"]))
                        for c in json.loads(via.ctl("list_connections", "--formatter", "json", "port"))))


def _lose_a_node(cluster: RabbitCluster, router, orders: int, figures: dict, started: float) -> None:
    """Once a sixth of the delivery orders reached the WMS: note where the clients are, SIGKILL the
    node, and time how long until the next new delivery order reaches the WMS."""
    try:
        _lose(cluster, router, orders, figures, started)
    except Exception as exc:  # noqa: BLE001 - reported by the test's assertions with the figures
        figures["error"] = f"{type(exc).__name__}: {exc}"


def _lose(cluster: RabbitCluster, router, orders: int, figures: dict, started: float) -> None:
    deadline = time.monotonic() + KILL_WAIT_S
    while len(router.wms.delivery_orders) < orders // 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    figures["connections_before"] = _connections_by_node(cluster)
    at_kill = len(router.wms.delivery_orders)
    figures["delivery_orders_at_kill"] = at_kill
    killed = time.monotonic()
    figures["killed_at_s"] = round(killed - started, 1)
    cluster.kill(LOST)
    deadline = killed + RESUME_WAIT_S
    while len(router.wms.delivery_orders) == at_kill and time.monotonic() < deadline:
        time.sleep(0.05)
    if len(router.wms.delivery_orders) > at_kill:
        figures["next_delivery_order_after_s"] = round(time.monotonic() - killed, 2)


def test_orders_survive_losing_a_node_of_a_quorum_queue_cluster(tmp_path, isolated_settings):
    # Given the router on a three-node cluster, its queues declared as quorum queues
    chaos = ChaosConfig(orders=int(os.environ.get("CLUSTER_ORDERS", "120")), seed=16, wms_fail_rate=0.0,
                        settle_timeout=150.0)
    result, figures = ChaosResult(orders=chaos.orders), {}
    t0 = time.monotonic()
    with RabbitCluster(tmp_path / "cluster") as cluster, \
            chaos_router(chaos, tmp_path, rabbit=cluster, extra_env={"ROUTER_QUEUE_TYPE": "quorum"}) as router:
        figures["cluster_and_router_up_s"] = round(time.monotonic() - t0, 1)
        assert len(cluster.running_nodes()) == 3
        lost = cluster.nodes[LOST].node
        figures["leaders_on_lost_node"] = sum(q["leader"] == lost for q in _queues(cluster, router.prefix))
        orders = generate_orders(router.seed, chaos.orders, seed=chaos.seed)

        # When the orders are pushed and paid, and the node every client uses is lost meanwhile
        started = time.monotonic()
        loser = threading.Thread(target=_lose_a_node, args=(cluster, router, chaos.orders, figures, started),
                                 daemon=True)
        loser.start()
        accepted = push_and_pay(router.api, orders, ADMIN_TOKEN, chaos.concurrency,
                                deadline=started + max(180.0, chaos.orders * 0.6))
        figures["pushed_s"] = round(time.monotonic() - started, 1)
        loser.join(timeout=KILL_WAIT_S + RESUME_WAIT_S + 10)
        result.accepted = len(accepted)
        left = wait_settled_in_db(accepted, chaos.settle_timeout, poll=1.0)
        figures["settled_s"] = round(time.monotonic() - started, 1)
        figures["settled_after_kill_s"] = round(figures["settled_s"] - figures.get("killed_at_s", 0), 1)
        figures["unsettled_at_deadline"] = len(left)
        check(router, accepted, result, harvest_within=4 * chaos.sweep_interval)
        queues = _queues(cluster, router.prefix)
        figures["connections_after"] = _connections_by_node(cluster)
        figures["running_nodes_after"] = cluster.running_nodes()
    figures["total_s"] = round(time.monotonic() - t0, 1)
    summary = {**result.summary(), "cluster": figures,
               "queues": [{k: q[k] for k in ("name", "type", "leader", "online")} for q in queues]}
    (tmp_path / "result.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps(summary, default=str))

    # Then the node really went while orders were under way, with every client and queue leader on it
    assert "killed_at_s" in figures and 0 < figures["delivery_orders_at_kill"] < result.delivery_orders, summary
    assert set(figures["connections_before"]) == {lost} and figures["leaders_on_lost_node"] == 15, summary
    # And every queue (work, .DQ, .XQ of the five kinds) is a quorum queue led by a surviving node
    assert len(queues) == 15 and {q["type"] for q in queues} == {"quorum"}, summary
    assert all(q["leader"] != lost and lost not in q["online"] and len(q["members"]) == 3 for q in queues), summary
    # And the clients failed over to a surviving node
    assert lost not in figures["connections_after"] and len(figures["running_nodes_after"]) == 2, summary
    # And every accepted order exists once and is settled: nothing lost
    assert result.accepted == chaos.orders, summary
    assert result.missing_orders == [] and result.unsettled == [], summary
    # And no fulfilment reached the WMS twice or never
    assert result.double_dispatched == [], summary
    # And nothing was dead-lettered, and stock, holds and money are conserved
    assert result.dead_letters == 0 and result.dead_letters_in_broker == 0, summary
    assert result.violations == [], "\n".join(result.violations)
