"""Queue names, defined once. Each is prefixed by ``ROUTER_QUEUE_PREFIX`` so that several
installations (or test sessions) can share one RabbitMQ without seeing each other's messages."""
from adapters.settings import get_settings

_prefix = get_settings().queue_prefix

ORDERS = f"{_prefix}.orders"  # validate, route, reserve: CPU and MongoDB
DISPATCH = f"{_prefix}.dispatch"  # HTTP out to WMS and carriers: slow, retried
EVENTS = f"{_prefix}.events"  # payments, WMS and carrier events
SWEEPS = f"{_prefix}.sweeps"  # timers and the reconciler
SYNC = f"{_prefix}.sync"  # outbound notifications to channels

ALL = (ORDERS, DISPATCH, EVENTS, SWEEPS, SYNC)
