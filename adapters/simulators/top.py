"""A simulated Taobao Open Platform gateway (``/router/rest``) for one app and one seller: the
trades and refunds the poller reads, and the consignments the router sends back.

Every call is checked as TOP checks it before anything runs (adapters/channels/top.check_request):
the ``app_key``, the ``sign`` over every parameter (system parameters in the query string or the
form body, the API's own in the form body; ``md5``, ``hmac`` or ``hmac-sha256``), ``v`` 2.0, the
seller's ``session`` and a ``timestamp`` within 10 minutes of the simulator's clock. A refused
call answers TOP's ``error_response`` (HTTP 200, as TOP does) and is kept in ``refusals``.

- ``taobao.trades.sold.increment.get`` (``fields``, ``start_modified``, ``end_modified`` at most a
  day apart, ``page_no``, ``page_size`` up to 100, default 40, ``use_has_next``): the trades
  modified in the window, newest first, with the asked fields; ``total_results``, or ``has_next``.
- ``taobao.trade.fullinfo.get`` (``fields``, ``tid``): ``{"trade": ...}``.
- ``taobao.refunds.receive.get`` (``fields``, ``status``, ``start_modified`` / ``end_modified``,
  paging as above): the buyers' refunds.
- ``taobao.logistics.offline.send`` (``tid``, ``out_sid``, ``company_code``, ``is_split`` /
  ``sub_tid``): consigns the trade's sub-orders (all, or those named) once: each gets its
  ``invoice_no`` and the trade moves to ``WAIT_BUYER_CONFIRM_GOODS`` (``SELLER_CONSIGNED_PART``
  while some are left) with a new ``modified``; a sub-order consigned already is refused
  (``isv.logistics-offline-service-error``). Accepted ones are kept in ``consignments``.
- any other method: error 22, Invalid Method.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from adapters.channels import top
from adapters.channels.top import TopError
from adapters.simulators.server import Request, Response, SimulatorServer, error

FIRST_REFUND_ID = 9_100_000_000_000


class TopSimulator(SimulatorServer):
    """Simulated TOP for the app ``app_key`` / ``secret`` and the seller's ``session``."""

    def __init__(self, app_key: str = "12345678", secret: str = "top-app-secret", session: str = "top-session",
                 host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        super().__init__(host, port)
        self.app_key, self.secret, self.session, self.clock = app_key, secret, session, clock
        self.trades: dict[str, dict[str, Any]] = {}  # tid -> the fullinfo trade
        self.refunds: list[dict[str, Any]] = []
        self.consignments: list[dict[str, str]] = []  # every accepted offline.send, all its parameters
        self.refusals: list[tuple[str, int]] = []  # (method, TOP error code) of each refused call

    # --- what a test sets up ------------------------------------------------------------------

    def add_trade(self, trade: dict[str, Any], modified: datetime | None = None) -> dict[str, Any]:
        """Hold ``trade`` (a fullinfo trade, bare or wrapped), modified now or at ``modified``."""
        trade = copy.deepcopy(trade.get("trade_fullinfo_get_response", trade))
        trade = trade.get("trade", trade)
        trade["modified"] = top.top_time(modified or self.clock())
        with self.lock:
            self.trades[str(trade.get("tid_str") or trade["tid"])] = trade
        return trade

    def buyer_refund(self, tid: str, oid: str, amount: str, status: str = "SUCCESS",
                     at: datetime | None = None) -> dict[str, Any]:
        """The buyer's refund of ``amount`` on sub-order ``oid`` (``SUCCESS``: the money went
        back); the sub-order's ``refund_status`` follows and the trade is modified."""
        stamp = top.top_time(at or self.clock())
        with self.lock:
            trade = self.trades[tid]
            refund = {"refund_id": str(FIRST_REFUND_ID + len(self.refunds)), "tid": tid, "oid": oid,
                      "refund_fee": amount, "status": status, "created": stamp, "modified": stamp,
                      "reason": "不想要了", "has_good_return": False, "good_status": "BUYER_NOT_RECEIVED",
                      "total_fee": trade.get("payment"), "buyer_nick": trade.get("buyer_nick")}
            self.refunds.append(refund)
            for sub in _subs(trade):
                if str(sub.get("oid")) == oid:
                    sub.update(refund_status=status, refund_id=refund["refund_id"])
            trade["modified"] = stamp
        return refund

    def consigned(self, tid: str) -> list[dict[str, str]]:
        """The accepted ``taobao.logistics.offline.send`` calls for ``tid``."""
        with self.lock:
            return [c for c in self.consignments if c.get("tid") == tid]

    # --- the gateway ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.segments != ["router", "rest"] or request.method not in ("GET", "POST"):
            return error(404, "not_found", request.path)
        params = {**request.query, **(request.body if isinstance(request.body, dict) else {})}
        params = {str(k): str(v) for k, v in params.items()}
        method = params.get("method", "")
        try:
            top.check_request(params, app_key=self.app_key, secret=self.secret, session=self.session,
                              now=self.clock())
            api = {"taobao.trades.sold.increment.get": self._increment,
                   "taobao.trade.fullinfo.get": self._fullinfo,
                   "taobao.refunds.receive.get": self._refunds,
                   "taobao.logistics.offline.send": self._offline_send}.get(method)
            if api is None:
                raise TopError(top.INVALID_METHOD, "Invalid Method")
            return Response(200, {top.response_key(method): api(params)})
        except TopError as exc:
            with self.lock:
                self.refusals.append((method, exc.code))
            return Response(200, exc.body())

    def _increment(self, p: dict[str, str]) -> dict[str, Any]:
        fields = _required(p, "fields").split(",")
        start, end = _window(p, required=True)
        with self.lock:
            found = [t for t in self.trades.values() if start <= top.parse_time(t["modified"]) <= end]
        found.sort(key=lambda t: top.parse_time(t["modified"]), reverse=True)  # newest first, as TOP does
        return _page(p, [_only(t, fields) for t in found], "trades", "trade")

    def _fullinfo(self, p: dict[str, str]) -> dict[str, Any]:
        fields = _required(p, "fields").split(",")
        with self.lock:
            trade = self.trades.get(_required(p, "tid"))
            if trade is None:
                raise TopError(top.REMOTE_SERVICE_ERROR, "Remote service error", "isv.trade-not-exist",
                               "trade does not exist")
            return {"trade": _only(trade, fields)}

    def _refunds(self, p: dict[str, str]) -> dict[str, Any]:
        fields = _required(p, "fields").split(",")
        start, end = _window(p, required=False)
        with self.lock:
            found = [r for r in self.refunds
                     if (not p.get("status") or r["status"] == p["status"])
                     and (start is None or start <= top.parse_time(r["modified"]) <= end)]
        found.sort(key=lambda r: top.parse_time(r["modified"]), reverse=True)
        return _page(p, [_only(r, fields) for r in found], "refunds", "refund")

    def _offline_send(self, p: dict[str, str]) -> dict[str, Any]:
        tid, out_sid, company = _required(p, "tid"), _required(p, "out_sid"), _required(p, "company_code")
        with self.lock:
            trade = self.trades.get(tid)
            if trade is None:
                raise TopError(top.REMOTE_SERVICE_ERROR, "Remote service error", "isv.trade-not-exist",
                               "trade does not exist")
            if trade.get("status") not in ("WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART"):
                raise TopError(top.REMOTE_SERVICE_ERROR, "Remote service error",
                               "isv.logistics-offline-service-error", f"trade is {trade.get('status')}")
            named = [s.strip() for s in p.get("sub_tid", "").split(",") if s.strip()]
            if p.get("is_split") == "1" and not named:
                raise TopError(top.MISSING_REQUIRED_ARGUMENTS, "Missing Required Arguments",
                               "isv.missing-parameter:sub_tid", "sub_tid is required when is_split is 1")
            subs = [s for s in _subs(trade) if not named or str(s.get("oid")) in named]
            if len(subs) < max(len(named), 1):
                raise TopError(top.INVALID_ARGUMENTS, "Invalid Arguments", "isv.invalid-parameter:sub_tid",
                               "sub_tid names a sub-order not in the trade")
            if any(s.get("invoice_no") for s in subs):
                raise TopError(top.REMOTE_SERVICE_ERROR, "Remote service error",
                               "isv.logistics-offline-service-error", "sub-order consigned already")
            stamp = top.top_time(self.clock())
            for s in subs:
                s.update(invoice_no=out_sid, logistics_company=company, consign_time=stamp,
                         status="WAIT_BUYER_CONFIRM_GOODS")
            left = [s for s in _subs(trade) if not s.get("invoice_no")]
            trade.update(status="SELLER_CONSIGNED_PART" if left else "WAIT_BUYER_CONFIRM_GOODS", modified=stamp,
                         consign_time=stamp)
            self.consignments.append(dict(p))
        return {"shipping": {"is_success": True}}


def _subs(trade: dict[str, Any]) -> list[dict[str, Any]]:
    orders = trade.get("orders")
    inner = orders.get("order") if isinstance(orders, dict) else orders
    return [inner] if isinstance(inner, dict) else list(inner or [])


def _required(p: dict[str, str], name: str) -> str:
    if not p.get(name):
        raise TopError(top.MISSING_REQUIRED_ARGUMENTS, "Missing Required Arguments", f"isv.missing-parameter:{name}",
                       f"{name} is required")
    return p[name]


def _window(p: dict[str, str], required: bool) -> tuple[Any, Any]:
    if not required and not p.get("start_modified") and not p.get("end_modified"):
        return None, None
    try:
        start, end = top.parse_time(_required(p, "start_modified")), top.parse_time(_required(p, "end_modified"))
    except ValueError:
        raise TopError(top.INVALID_ARGUMENTS, "Invalid Arguments", "isv.invalid-parameter",
                       "start_modified and end_modified are yyyy-MM-dd HH:mm:ss") from None
    if end < start or end - start > timedelta(days=1):
        raise TopError(top.INVALID_ARGUMENTS, "Invalid Arguments", "isv.invalid-parameter",
                       "end_modified must be after start_modified, at most one day")
    return start, end


def _page(p: dict[str, str], found: list[dict[str, Any]], plural: str, singular: str) -> dict[str, Any]:
    try:
        page_no, page_size = int(p.get("page_no") or 1), int(p.get("page_size") or 40)
    except ValueError:
        raise TopError(top.INVALID_ARGUMENTS, "Invalid Arguments", "isv.invalid-parameter",
                       "page_no and page_size are integers") from None
    if page_no < 1 or not 1 <= page_size <= 100:
        raise TopError(top.INVALID_ARGUMENTS, "Invalid Arguments", "isv.invalid-parameter",
                       "page_no from 1, page_size from 1 to 100")
    chunk = found[(page_no - 1) * page_size: page_no * page_size]
    answer: dict[str, Any] = {plural: {singular: chunk}} if chunk else {}
    if p.get("use_has_next") == "true":
        answer["has_next"] = page_no * page_size < len(found)
    else:
        answer["total_results"] = len(found)
    return answer


def _only(item: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    wanted = {f.strip() for f in fields}
    return copy.deepcopy({k: v for k, v in item.items() if k in wanted})
