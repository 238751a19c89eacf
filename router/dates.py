"""Times the router accepts, and arithmetic on times that never overflows.

An order's ``placed_at`` must lie in a sane window: not before 2000-01-01, and not more than a day
ahead of now (clocks drift; a year 9999 is a typo or junk); so must the time a party says an event
happened. Any other time a party sends must at least have a UTC time (storage converts to it). Times an operator asks about (list
filters, report ranges) must lie between 1900 and 9000, far enough from the ends of what a
``datetime`` holds that the windows and day steps computed from them cannot overflow. Deadlines
computed from stored times (a timer, payment terms) saturate at the largest time instead of
raising ``OverflowError``.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

EARLIEST_PLACED = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST_AHEAD = timedelta(days=1)
EARLIEST_QUERY = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST_QUERY = datetime(9000, 1, 1, tzinfo=timezone.utc)
_MAX = datetime.max.replace(tzinfo=timezone.utc)
_MIN = datetime.min.replace(tzinfo=timezone.utc)


def placed_at_problem(placed_at: datetime, now: datetime) -> str | None:
    """Why ``placed_at`` (aware) is not a plausible time for an order placed as of ``now``, or None."""
    if placed_at < EARLIEST_PLACED:
        return f"must not be before {EARLIEST_PLACED.date().isoformat()}"
    if placed_at > now + LATEST_AHEAD:
        return "must not be more than a day ahead of now"
    return None


def event_time_problem(moment: datetime, now: datetime) -> str | None:
    """Why the time a party says something happened (a payment, a warehouse or carrier event) is
    not plausible as of ``now``: the window of ``placed_at``, or None."""
    return placed_at_problem(moment, now)


def representable(moment: datetime) -> bool:
    """Whether ``moment`` (aware) has a UTC time a datetime holds: storage converts to UTC, and
    9999-12-31T23:00-05:00 or 0001-01-01T00:30+05:00 has none."""
    try:
        moment.astimezone(timezone.utc)
    except OverflowError:
        return False
    return True


def query_time_problem(moment: datetime) -> str | None:
    """Why ``moment`` (aware) cannot bound a query or a report range, or None."""
    if not EARLIEST_QUERY <= moment < LATEST_QUERY:
        return (f"must be between {EARLIEST_QUERY.date().isoformat()} and "
                f"{LATEST_QUERY.date().isoformat()}")
    return None


def plus(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, saturated at the largest (or smallest) time a datetime holds, in
    ``moment``'s zone, instead of raising ``OverflowError``."""
    try:
        return moment + delta
    except OverflowError:
        end = _MAX if delta > timedelta(0) else _MIN
        return end if moment.tzinfo is not None else end.replace(tzinfo=None)
