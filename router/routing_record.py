"""The inputs of a routing decision as plain JSON data, and back, for replay.

``record_inputs`` keeps only what the decision could depend on: the order, the warehouses of
its merchants, its SKUs, the stock of those SKUs there, every carrier, the rules and the
exclusions. ``to_plain`` / ``from_plain`` convert the domain dataclasses generically from their
type hints (Decimals and datetimes as strings, sets as sorted lists), so fields added to
``router.model`` later are recorded too.
"""
from __future__ import annotations

import dataclasses
import enum
import operator
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from router.errors import InvalidDecisionRecord
from router.model import Carrier, Network, Order, Sku, StockLevel, Warehouse
from router.rules import RoutingRules

RECORD_SCHEMA = 1


_SCALARS = (str, int, float, bool, type(None))


def to_plain(value: Any) -> Any:
    """A domain value as JSON-serialisable data."""
    if type(value) in _SCALARS:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encoder(type(value))(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (frozenset, set)):
        return sorted(to_plain(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def _field_encoder(hint: Any):
    """A fast encoder for the common field types; ``to_plain`` for anything else."""
    args = set(typing.get_args(hint)) - {type(None)} if typing.get_origin(hint) in (typing.Union, types.UnionType) else {hint}
    if args <= set(_SCALARS):
        return None  # stored as is
    if args == {Decimal}:
        return lambda v: None if v is None else str(v)
    if typing.get_origin(hint) is frozenset and typing.get_args(hint) == (str,):
        return sorted
    return to_plain


@cache
def _encoder(cls: type):
    hints = _hints(cls)
    plan = [(f.name, _field_encoder(hints[f.name])) for f in dataclasses.fields(cls)]

    def encode(obj: Any) -> dict:
        return {name: getattr(obj, name) if enc is None else enc(getattr(obj, name)) for name, enc in plan}
    return encode


def to_rows(cls: type, objs: Sequence[Any]) -> dict:
    """Same-class dataclasses as ``{"columns": [...], "rows": [[...], ...]}``: compact and quick."""
    names = [f.name for f in dataclasses.fields(cls)]
    hints = _hints(cls)
    encoders = [_field_encoder(hints[n]) for n in names]
    rows: list[list[Any]]
    if all(e is None for e in encoders):
        get = operator.attrgetter(*names)
        rows = [list(get(o)) for o in objs] if len(names) > 1 else [[get(o)] for o in objs]
    else:  # read every field at C speed, then encode the few non-scalar columns
        get = operator.attrgetter(*names)
        special = [(i, e) for i, e in enumerate(encoders) if e is not None]
        rows = []
        for o in objs:
            row = list(get(o))
            for i, e in special:
                row[i] = e(row[i])
            rows.append(row)
    return {"columns": names, "rows": rows}


def from_rows(cls: type, table: Any, path: str) -> tuple:
    """The inverse of ``to_rows``. Raises InvalidDecisionRecord."""
    if not isinstance(table, Mapping) or "columns" not in table or "rows" not in table:
        raise InvalidDecisionRecord(path, "expected {columns, rows}")
    columns = table["columns"]
    out = []
    for i, row in enumerate(table["rows"]):
        try:
            fields = dict(zip(columns, row, strict=True))
        except ValueError:
            raise InvalidDecisionRecord(f"{path}.rows[{i}]", f"expected {len(columns)} values") from None
        out.append(from_plain(cls, fields, f"{path}.rows[{i}]"))
    return tuple(out)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(hint: Any, value: Any, path: str = "") -> Any:
    """The inverse of ``to_plain`` for a value of type ``hint``. Raises InvalidDecisionRecord."""
    try:
        return _from_plain(hint, value, path)
    except InvalidDecisionRecord:
        raise
    except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
        raise InvalidDecisionRecord(path or "<root>", str(exc)) from None


def _from_plain(hint: Any, value: Any, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _from_plain(next(a for a in args if a is not type(None)), value, path)
    if dataclasses.is_dataclass(hint):
        return _dataclass_from_plain(hint, value, path)
    if origin in (frozenset, set, tuple, list, dict, Mapping):
        return _collection_from_plain(origin, args, value, path)
    return _scalar_from_plain(hint, value, path)


def _dataclass_from_plain(hint: Any, value: Any, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise InvalidDecisionRecord(path, f"expected an object for {hint.__name__}")
    hints = _hints(hint)
    kwargs = {f.name: _from_plain(hints[f.name], value[f.name], f"{path}.{f.name}")
              for f in dataclasses.fields(hint) if f.name in value and f.init}
    return hint(**kwargs)


def _collection_from_plain(origin: Any, args: tuple, value: Any, path: str) -> Any:
    if origin in (frozenset, set):
        return frozenset(_from_plain(args[0], v, f"{path}[]") for v in value)
    if origin is tuple:
        return tuple(_from_plain(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is list:
        return [_from_plain(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    # dict or Mapping
    return {_from_plain(args[0], k, path): _from_plain(args[1], v, f"{path}.{k}") for k, v in value.items()}


def _scalar_from_plain(hint: Any, value: Any, path: str) -> Any:
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if hint is Decimal:
        return Decimal(value)
    if hint is datetime:
        return datetime.fromisoformat(value)
    if hint is float:
        return float(value)
    if hint in (int, str, bool) and not isinstance(value, hint):
        raise InvalidDecisionRecord(path, f"expected {hint.__name__}, got {value!r}")
    return value


def record_inputs(order: Order, stock: Mapping[tuple[str, str], StockLevel], network: Network,
                  rules: RoutingRules, exclude: frozenset[str], options: Mapping[str, Any] | None = None) -> dict:
    """Everything ``plan_fulfilments`` needs to reach the same decision again, as plain data.
    ``options``: its keyword arguments that differ from their defaults (``approved``,
    ``first_fulfilment``), recorded only when there are any."""
    merchants = {ln.merchant_id for ln in order.lines}
    skus = sorted({ln.sku for ln in order.lines})
    warehouses = [w for w in network.warehouses if w.merchant_ids & merchants]
    levels = [stock[(s, w.id)] for w in warehouses for s in skus if (s, w.id) in stock]
    return {
        "schema": RECORD_SCHEMA,
        "order": to_plain(order),
        "network": {"warehouses": to_rows(Warehouse, warehouses),
                    "skus": {s: to_plain(network.skus[s]) for s in skus if s in network.skus},
                    "carriers": to_plain(network.carriers)},
        "stock": to_rows(StockLevel, levels),
        "rules": rules.to_dict(),
        "exclude_warehouses": sorted(exclude),
        **({"options": dict(options)} if options else {}),
    }


def read_inputs(inputs: Any) -> tuple[Order, dict[tuple[str, str], StockLevel], Network, RoutingRules,
                                      frozenset[str]]:
    """The arguments of ``plan_fulfilments`` from a ``record_inputs`` dict.

    Raises ``InvalidDecisionRecord`` naming the field when the record is incomplete or malformed
    (and ``InvalidRoutingRules`` for bad rules).
    """
    if not isinstance(inputs, Mapping):
        raise InvalidDecisionRecord("inputs", "missing: the decision was made without record_inputs")
    for key in ("order", "network", "stock", "rules"):
        if key not in inputs:
            raise InvalidDecisionRecord(f"inputs.{key}", "is required")
    if inputs.get("schema") != RECORD_SCHEMA:
        raise InvalidDecisionRecord("inputs.schema", f"expected {RECORD_SCHEMA}, got {inputs.get('schema')!r}")
    order = from_plain(Order, inputs["order"], "inputs.order")
    net = inputs["network"]
    if not isinstance(net, Mapping):
        raise InvalidDecisionRecord("inputs.network", "expected an object")
    network = Network(warehouses=from_rows(Warehouse, net.get("warehouses"), "inputs.network.warehouses"),
                      skus=from_plain(dict[str, Sku], net.get("skus", {}), "inputs.network.skus"),
                      carriers=from_plain(tuple[Carrier, ...], net.get("carriers", []), "inputs.network.carriers"))
    levels = from_rows(StockLevel, inputs["stock"], "inputs.stock")
    stock = {(lv.sku, lv.warehouse_id): lv for lv in levels}
    rules = RoutingRules.from_dict(inputs["rules"])
    exclude = frozenset(from_plain(tuple[str, ...], inputs.get("exclude_warehouses", []), "inputs.exclude_warehouses"))
    return order, stock, network, rules, exclude


OPTIONS = {"approved": bool, "first_fulfilment": int}


def read_options(inputs: Any) -> dict[str, Any]:
    """The keyword arguments of ``plan_fulfilments`` a record holds besides the positional ones
    (none for a record made before options were recorded). Raises ``InvalidDecisionRecord``."""
    raw = inputs.get("options", {}) if isinstance(inputs, Mapping) else {}
    if not isinstance(raw, Mapping):
        raise InvalidDecisionRecord("inputs.options", "expected an object")
    unknown = set(raw) - set(OPTIONS)
    if unknown:
        raise InvalidDecisionRecord(f"inputs.options.{sorted(unknown)[0]}", "unknown option")
    for name, value in raw.items():
        if type(value) is not OPTIONS[name]:
            raise InvalidDecisionRecord(f"inputs.options.{name}", f"expected {OPTIONS[name].__name__}")
    return dict(raw)
